"""A plan's summary over every customer: revenue, cost, margins and their percentiles, grades,
credit breakage, baseload utilisation, supplier concentration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from billing.compare.model import (
    GradeFigures,
    PlanResult,
    ratio,
)
from billing.compare.periods import Slice, proration_text
from billing.compare.supplier import Costs
from billing.money import MTOK, ZERO, exact
from billing.plans import Plan
from billing.rating.rater import grade_of

__all__ = ["UNATTRIBUTED", "Figures", "summarise", "supplier_hhi"]


UNATTRIBUTED = "unattributed"


@dataclass(frozen=True, slots=True)
class Figures:
    """Each customer's figures under one plan, in the customers' order: what a plan's rating
    gives back (the customer's supplier cost and tokens do not depend on the plan)."""

    revenue: Sequence[Decimal]
    breakage: Sequence[Decimal] | None
    """Credit breakage (None: the plan has no credits)."""
    reserved: Sequence[Decimal | None]
    covered: Sequence[Decimal | None]
    unused_prepaid: Decimal | None = None
    """Credits plans: the value of the paid credits left at the end of the trace, summed over
    customers (read by the plan's summary only)."""
    unused_reserved_revenue: Decimal | None = None
    """Capacity plans: the baseload revenue of the reserved tokens nobody used (exact)."""


def _percentile(ordered: Sequence[Decimal], p: Decimal) -> Decimal | None:
    """Linear interpolation between closest ranks (numpy's default), exact in Decimal, of
    values in ascending order."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * p
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return ratio(value, Decimal(1))


def supplier_hhi(by_provider: Mapping[str, Decimal]) -> Decimal | None:
    total = sum(by_provider.values(), ZERO)
    if not total:
        return None
    return ratio(sum(((v / total) ** 2 for v in by_provider.values()), ZERO), Decimal(1))


def summarise(plan: Plan, fx_rate: Decimal, figures: Figures, slices: list[Slice],
               full: bool, costs: Costs, grade_revenue: Mapping[str, Decimal],
               hhi: Decimal | None, per_bucket: int,
               hourly_covered: Mapping[int, Decimal]) -> PlanResult:
    """The plan's figures over every customer (its rows per customer are added after)."""
    revenues = figures.revenue
    revenue = sum(revenues, ZERO)
    cost = costs.total
    margins = [r - c for r, c in zip(revenues, costs.column, strict=True)]
    pcts = sorted(exact(m / r) for m, r in zip(margins, revenues, strict=True) if r)
    by_grade: dict[str, GradeFigures] | None = None
    if plan.grades:
        grade_cost: dict[str, Decimal] = {}
        for model, amount in costs.by_model.items():
            key = grade_of(plan, model) or UNATTRIBUTED
            grade_cost[key] = grade_cost.get(key, ZERO) + amount
        by_grade = {
            key: GradeFigures(grade_revenue.get(key, ZERO), grade_cost.get(key, ZERO))
            for key in sorted({*plan.grades, UNATTRIBUTED, *grade_revenue, *grade_cost})
        }
    reserved = sum((r for r in figures.reserved if r is not None), ZERO)
    covered = sum((c for c in figures.covered if c is not None), ZERO)
    is_capacity = any(r is not None for r in figures.reserved)
    series: tuple[tuple[int, Decimal], ...] = ()
    if is_capacity and per_bucket:
        hours = sorted({h for s in slices for h in (s.hours or ())})
        if not hours:
            hours = sorted(hourly_covered)
        capacity_per_hour = Decimal(per_bucket * len(revenues))
        series = tuple((h, ratio(hourly_covered.get(h, ZERO), capacity_per_hour) or ZERO)
                       for h in hours)
    return PlanResult(
        id=plan.id, name=plan.name or plan.id, version=plan.version.isoformat(),
        plan_currency=plan.currency, fx_rate=fx_rate,
        proration=proration_text(plan, slices, full), customers=(),
        revenue=revenue, cost=cost, tokens=costs.total_tokens,
        negative_margin_customers=sum(1 for m in margins if m < 0),
        customer_margin_pct={
            "p5": _percentile(pcts, Decimal("0.05")),
            "p50": _percentile(pcts, Decimal("0.5")),
            "p95": _percentile(pcts, Decimal("0.95")),
        },
        top1pct_cost_share=ratio(costs.top1pct, cost),
        revenue_per_mtok=ratio(revenue * MTOK, Decimal(costs.total_tokens)),
        cost_per_mtok=ratio(cost * MTOK, Decimal(costs.total_tokens)),
        credit_breakage=(None if figures.breakage is None
                         else sum((b or ZERO for b in figures.breakage), ZERO)),
        baseload_utilization=ratio(covered, reserved) if is_capacity else None,
        by_grade=by_grade, supplier_hhi=hhi, utilization_by_hour=series,
        credit_unused_prepaid=figures.unused_prepaid,
        reserved_tokens=reserved if is_capacity else None,
        unused_reserved=reserved - covered if is_capacity else None,
        unused_reserved_revenue=figures.unused_reserved_revenue if is_capacity else None,
    )
