"""Batch rating: every subscription of a billing period, from one aggregation of the events."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from billing.costs import CostBook
from billing.errors import RatingError, UnknownPlanError
from billing.invoice import Invoice
from billing.money import in_exact_context
from billing.periods import Period, PeriodError, label_span
from billing.plans.catalog import PlanCatalog
from billing.plans.model import Plan
from billing.rating.rater import Rater, RatingResult
from billing.subscriptions import Subscription
from billing.usage.aggregates import UsageAggregates
from billing.usage.customer import CustomerUsage, split_by_customer

__all__ = ["RaterCache", "apply_overrides", "invoices_to_json", "rate_period", "subscription_period"]


def apply_overrides(plan: Plan, overrides: Mapping[str, Mapping[str, Any]]) -> Plan:
    """The plan with a subscription's per-customer overrides (charge name -> field -> value),
    validated like a plan file: a misspelt charge or field is an error, never ignored."""
    if not overrides:
        return plan
    data = plan.model_dump(mode="python")
    names = [c["name"] for c in data["charges"]]
    for name, fields in overrides.items():
        if name not in names:
            raise RatingError(
                f"override for charge {name!r}, which plan {plan.id!r} does not have "
                f"(charges: {', '.join(names)})"
            )
        charge = data["charges"][names.index(name)]
        for key in fields:
            if key in ("kind", "name"):
                raise RatingError(f"override of {name!r}: {key!r} cannot be overridden")
        _deep_merge(charge, fields)
    try:
        return Plan.model_validate(data).with_charge_sources(plan.charge_sources)
    except Exception as exc:  # pydantic.ValidationError: say which subscription field is off
        raise RatingError(f"overrides of plan {plan.id!r} are invalid: {exc}") from None


def _deep_merge(into: dict[str, Any], fields: Mapping[str, Any]) -> None:
    """Override ``into`` key by key; nested mappings are merged, not replaced, so overriding
    ``per_unit.unit_price`` keeps ``per_unit.per``."""
    for key, value in fields.items():
        current = into.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            _deep_merge(current, value)
        else:
            into[key] = value


class RaterCache:
    """Compiled raters by plan version and overrides (compiling once per plan, not per customer)."""

    def __init__(self, catalog: PlanCatalog, *, costbook: CostBook | None = None,
                 ) -> None:
        self.catalog = catalog
        self.costbook = costbook
        self._raters: dict[tuple[str, Any, str], Rater] = {}

    def for_subscription(self, subscription: Subscription, period: Period) -> Rater:
        """The rater of the plan version in force at the period's start, with the
        subscription's overrides applied."""
        return self._rater(subscription.plan, subscription.overrides, period.start)

    def _rater(self, plan_id: str, overrides: Mapping[str, Mapping[str, Any]],
               day: date) -> Rater:
        plan = self.catalog.version_at(plan_id, day)
        key = (plan.id, plan.version, json.dumps(overrides, sort_keys=True, default=str))
        rater = self._raters.get(key)
        if rater is None:
            effective = apply_overrides(plan, overrides)
            rater = Rater(effective, costbook=self.costbook,
                          plan_path=self.catalog.sources.get((plan.id, plan.version)),
                          history=lambda when: self._rater(plan_id, overrides, when))
            self._raters[key] = rater
        return rater


def subscription_period(catalog: PlanCatalog, subscription: Subscription, label: str) -> Period:
    """The subscription's billing period named by ``label`` ("2026-11": the period that starts
    in November 2026, counted from its anchor), with the interval of the plan version in force
    when the label's span begins. The version in force at the period's start rates it, so a new
    version takes effect at the next period."""
    span = label_span(label)
    plan = catalog.version_at(subscription.plan, max(span.start, subscription.start))
    return subscription.period_for(label, plan.interval)


@dataclass(frozen=True, slots=True)
class PeriodRun:
    """The invoices of one billing period, and what could not be billed."""

    results: tuple[RatingResult, ...]
    unbilled_customers: tuple[str, ...]
    """Customers with usage but no subscription in force."""
    failures: tuple[tuple[str, str], ...]
    """(customer, reason) for subscriptions that could not be rated."""

    @property
    def invoices(self) -> tuple[Invoice, ...]:
        return tuple(r.invoice for r in self.results)

    @in_exact_context
    def totals_by_currency(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for invoice in self.invoices:
            totals[invoice.currency] = totals.get(invoice.currency, Decimal(0)) + invoice.total
        return dict(sorted(totals.items()))


@in_exact_context
def rate_period(catalog: PlanCatalog, subscriptions: Sequence[Subscription],
                aggregates: UsageAggregates, label: str, *, costbook: CostBook | None = None
                ) -> PeriodRun:
    """Rate every subscription whose period ``label`` overlaps it, in customer order."""
    cache = RaterCache(catalog, costbook=costbook)
    by_customer = split_by_customer(aggregates)
    results: list[RatingResult] = []
    failures: list[tuple[str, str]] = []
    billed: set[str] = set()
    for sub in sorted(subscriptions, key=lambda s: (s.customer_id, s.start)):
        try:
            period = subscription_period(catalog, sub, label)
            if period.clip(sub.start, sub.end) is None:
                continue
            rater = cache.for_subscription(sub, period)
            usage = by_customer.get(sub.customer_id, CustomerUsage(sub.customer_id))
            results.append(rater.rate(sub, period, usage))
            billed.add(sub.customer_id)
        except (RatingError, UnknownPlanError, PeriodError) as exc:
            failures.append((sub.customer_id, str(exc)))
            billed.add(sub.customer_id)
    unbilled = tuple(sorted(c for c in by_customer if c not in billed))
    return PeriodRun(tuple(results), unbilled, tuple(failures))


def invoices_to_json(invoices: Sequence[Invoice]) -> str:
    """A JSON list of invoices, deterministic byte for byte (what ``billing push`` reads)."""
    body = ",\n".join(inv.model_dump_json(indent=2) for inv in invoices)
    return "[\n" + body + "\n]\n" if invoices else "[]\n"
