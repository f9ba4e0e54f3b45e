"""A plan's customers rated for the comparison, through the one bill of :mod:`billing.charges`.

Every charge kind bills a batch of customers' per-model period totals: :func:`rate_customers`
gives it every customer of a period at once (columns of exact ``Decimal``, see
:mod:`billing.charges.columns`; a credits plan's period burned down customer by customer
first, :class:`billing.charges.credits.FirstPeriodBurn`), :func:`rate_customer` one customer
(a credits plan whose later periods the rater replays, the first one burned down alone).
Both bill the lines :meth:`billing.rating.rater.Rater.rate` bills, rounded the same way
(tests/charges/test_one_and_many.py compares them line by line, credits plans included), without building invoices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from billing.charges import Billing, CapacityUsage, CardValue, CreditLines, ModelTotals, Terms
from billing.charges.columns import column, filled
from billing.charges.credits import Burned
from billing.charges.plan import bill_plan
from billing.charges.sinks import RoundedLine, RoundedLines
from billing.charges.totals import PeriodTotals
from billing.money import ZERO, in_exact_context
from billing.rating.rater import Rater

__all__ = ["BatchResult", "Rated", "rate_customer", "rate_customers"]

Column = Any
"""A one-dimensional numpy array of Python objects (``int`` or ``Decimal``), one per customer."""

_NO_USAGE = ModelTotals((0, 0, 0, 0), 0, (ZERO, ZERO, ZERO, ZERO))


@dataclass(frozen=True, slots=True)
class Rated:
    """One customer's period: the invoice total (the sum of the rounded lines), the rounded
    amount of each line with its grade (graded plans), the capacity reservation, and the paid
    credits that expired (breakage) or are left unused, in money."""

    total: Decimal
    grades: tuple[tuple[str | None, Decimal], ...]
    reserved: Decimal | None
    covered: Decimal | None
    breakage_value: Decimal = ZERO
    unused_paid_value: Decimal = ZERO
    lines: tuple[RoundedLine, ...] = ()
    """The rounded lines, in invoice order (kind, charge, model, grade, amount)."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    """:class:`Rated` of every customer of a batch, as columns in the customers' order."""

    total: Column
    lines: tuple[tuple[str | None, Column], ...]
    """Every rounded line, in the plan's order, with its grade (graded plans only)."""
    reserved: Column | None
    covered: Column | None
    detail: tuple[RoundedLine, ...] = ()
    """Every line, with its kind, charge, model and the customers it exists for."""
    breakage_value: Column | None = None
    """Credits plans: the paid credits that expired in the period, in money (else None)."""
    unused_paid_value: Column | None = None
    """Credits plans: the paid credits left at the end of the period, in money."""

    @staticmethod
    def gather(n: int, parts: Sequence[tuple[Sequence[int], BatchResult]]) -> BatchResult:
        """One result for ``n`` customers from results of some of them (at ``positions``);
        every part comes from the same plan, so they have the same lines."""
        first = parts[0][1]

        def merged(pick: Callable[[BatchResult], Column | None]) -> Column | None:
            if pick(first) is None:
                return None
            out = filled(n, ZERO)
            for positions, part in parts:
                out[list(positions)] = pick(part)
            return out

        def line(i: int) -> Callable[[BatchResult], Column]:
            return lambda r: r.lines[i][1]

        lines = tuple((grade, merged(line(i))) for i, (grade, _) in enumerate(first.lines))
        return BatchResult(merged(lambda r: r.total), lines, merged(lambda r: r.reserved),
                           merged(lambda r: r.covered),
                           breakage_value=merged(lambda r: r.breakage_value),
                           unused_paid_value=merged(lambda r: r.unused_paid_value))


@in_exact_context
def rate_customers(rater: Rater, terms: Terms, columns: PeriodTotals, *,
                   hours: Sequence[int] | None = None,
                   capacity_usage: Mapping[str, CapacityUsage] | None = None,
                   burned: Sequence[Burned] | None = None, paying: int | None = None
                   ) -> BatchResult:
    """Every customer of ``columns`` (all with the seats and dates of ``terms``) at once; a
    credits plan also needs each customer's burn-down of the period (``burned``, in the
    customers' order, for the rate card at index ``paying``)."""
    plan = rater.plan
    if burned is None and rater.uses_credits:
        raise ValueError(f"plan {plan.id!r}: its credits need each customer's burn-down")
    n = len(columns.customers)
    out = RoundedLines(n, plan.currency, plan.rounding)
    run = Billing(rater.compiled, columns, terms, out, rater.prices)
    if burned is not None:
        if len(burned) != n:
            raise ValueError(f"{len(burned)} burn-downs for {n} customers")
        run.credit = CreditLines.of_burns(burned)
        if paying is not None:
            run.card_values[paying] = [
                CardValue(column([b.amounts.get(m, ZERO) for b in burned]), ())
                for m in columns.models]
            refused = sorted({m for b in burned for m in b.refused_value})
            run.refused = {m: column([b.refused_value.get(m, ZERO) for b in burned])
                           for m in refused}
    run.capacity.update(capacity_usage or {})
    run.buckets = None if hours is None else len(hours)
    bill_plan(run)
    return BatchResult(
        total=out.total(),
        lines=tuple((line.grade, line.amount) for line in out.lines) if plan.grades else (),
        reserved=_spread(n, run.reserved), covered=_spread(n, run.covered),
        detail=tuple(out.lines),
        breakage_value=None if burned is None else column([b.expired_value for b in burned]),
        unused_paid_value=None if burned is None else column([b.unused_value for b in burned]),
    )


@in_exact_context
def rate_customer(rater: Rater, terms: Terms, customer: str,
                  totals: Mapping[str, ModelTotals], *, hours: Sequence[int] | None = None,
                  capacity_usage: Mapping[str, CapacityUsage] | None = None,
                  burned: Burned | None = None, paying: int | None = None,
                  grades: dict[str, str | None] | None = None) -> Rated:
    """One customer's per-model ``totals`` of a period (a batch of one); a credits plan also
    needs the period's burn-down (``burned``, for the rate card at index ``paying``)."""
    plan = rater.plan
    if burned is None and rater.uses_credits:
        raise ValueError(f"plan {plan.id!r}: its credits need a burn-down")
    out = RoundedLines(None, plan.currency, plan.rounding)
    if burned is not None and not totals:  # (no charge reads the totals but the card)
        totals = {m: _NO_USAGE for m in burned.amounts}
    run = Billing(rater.compiled, PeriodTotals.of_models(customer, totals), terms, out,
                  rater.prices, {} if grades is None else grades)
    if burned is not None:
        run.credit = CreditLines([("", 0, ZERO, amount) for amount in burned.pack_amounts],
                                 burned.burned)
        if paying is not None:
            run.card_values[paying] = [CardValue(burned.amounts.get(m, ZERO), ())
                                       for m in run.totals.models]
            run.refused = burned.refused_value
    run.capacity.update(capacity_usage or {})
    run.buckets = None if hours is None else len(hours)
    bill_plan(run)
    return Rated(
        total=out.total(),
        grades=tuple((ln.grade, ln.amount) for ln in out.lines) if plan.grades else (),
        reserved=run.reserved, covered=run.covered,
        breakage_value=burned.expired_value if burned else ZERO,
        unused_paid_value=burned.unused_value if burned else ZERO,
        lines=tuple(out.lines),
    )


def _spread(n: int, value: Column | Decimal | None) -> Column | None:
    """A figure of every customer as a column (one value for all: the same in every row)."""
    if value is None or isinstance(value, np.ndarray):
        return value
    return filled(n, value)
