"""Rating every customer of one plan and period at once: :class:`PlanKernel`, column by column.

:meth:`PlanKernel.rate` rates one customer's per-model period totals with exact decimal
operations. :func:`rate_batch` performs the *same* operations, in the same order and the same
decimal contexts, on columns holding every customer's values (numpy arrays of Python objects:
each operation is one C loop over exact ``Decimal`` and ``int`` values, never a float). So it
bills what the kernel bills, customer for customer, without a Python call per customer and
charge; tests/compare/test_batch.py checks this on every plan the kernel takes.

Credits plans are not taken here (they burn day by day, see :meth:`PlanKernel.rate`).
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from billing.charges import BILLERS, Billing, PeriodTotals
from billing.compare.columns import CapacityBatch
from billing.compare.kernel import PlanKernel
from billing.money import EXACT, MTOK, ZERO, in_exact_context, money_rounder
from billing.plans.model import (
    CapacityCharge,
)
from billing.pricing.core import non_negative
from billing.rating.engine import METERED_KINDS
from billing.subscriptions import Subscription

__all__ = ["BatchLine", "BatchResult", "PeriodColumns", "rate_batch"]

PeriodColumns = PeriodTotals
"""Every customer's per-model totals over one billing period, as columns (a batch)."""

Column = Any
"""A one-dimensional numpy array of Python objects (``int`` or ``Decimal``), one per customer."""


_np: Any = np
"""numpy, untyped: its stubs know no arrays of ``Decimal`` (every call here is on those)."""


def _filled(n: int, value: Any) -> Column:
    out = np.empty(n, dtype=object)
    out.fill(value)
    return out


@dataclass(frozen=True, slots=True)
class BatchLine:
    """One line of a batch: its rounded amount per customer, and where it exists (``present``:
    a column of booleans, or True for every customer)."""

    kind: str
    charge: str
    amount: Column
    present: Column | bool
    model: str | None
    grade: str | None


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What :meth:`PlanKernel.rate` returns, per customer (columns in the customers' order)."""

    total: Column
    lines: tuple[tuple[str | None, Column], ...]
    """Every rounded line, in the kernel's order, with its grade (graded plans only)."""
    reserved: Column | None
    covered: Column | None
    detail: tuple[BatchLine, ...] = ()
    """Every line, with its kind, charge, model and the customers it exists for."""

    @staticmethod
    def gather(n: int, parts: Sequence[tuple[Sequence[int], BatchResult]]) -> BatchResult:
        """One result for ``n`` customers from results of some of them (at ``positions``);
        every part comes from the same plan, so they have the same lines."""
        first = parts[0][1]

        def merged(pick: Callable[[BatchResult], Column | None]) -> Column | None:
            if pick(first) is None:
                return None
            out = _filled(n, ZERO)
            for positions, part in parts:
                out[list(positions)] = pick(part)
            return out

        total = merged(lambda r: r.total)

        def line(i: int) -> Callable[[BatchResult], Column]:
            return lambda r: r.lines[i][1]

        lines = tuple((grade, merged(line(i))) for i, (grade, _) in enumerate(first.lines))
        return BatchResult(total, lines, merged(lambda r: r.reserved),
                           merged(lambda r: r.covered))


class _ColumnLines:
    """The lines of a batch, rounded column-wise (a :class:`billing.charges.LineSink`)."""

    def __init__(self, n: int, currency: str, rounding: Any) -> None:
        self.n = n
        self.to_money = money_rounder(currency, rounding)
        self.to_money_column: Any = np.frompyfunc(self.to_money, 1, 1)
        self.lines: list[BatchLine] = []

    def add(self, kind: str, charge: str, amount: Column | Decimal, text: Any = None, *,
            present: Column | bool = True, model: str | None = None,
            grade: str | None = None) -> None:
        # round_money(EXACT.plus(amount)) of the invoice, column-wise without a Python call
        if isinstance(amount, np.ndarray):
            rounded = self.to_money_column(_widen(amount))
        else:
            rounded = _filled(self.n, self.to_money(EXACT.plus(amount)))
        self.lines.append(BatchLine(kind, charge, rounded, present, model, grade))

    def metered_spend(self) -> Column:
        spend = _filled(self.n, ZERO)
        for line in self.lines:
            if line.kind in METERED_KINDS:
                spend = spend + line.amount
        return spend


_widen: Any = np.frompyfunc(EXACT.plus, 1, 1)


@in_exact_context
def rate_batch(kernel: PlanKernel, sub: Subscription, period: Any, columns: PeriodColumns, *,
               fixed_fraction: Decimal | None = None, hours: Sequence[int] | None = None,
               capacity_usage: Mapping[str, CapacityBatch] | None = None
               ) -> BatchResult:
    """Every customer of ``columns`` (all with ``sub``'s seats and dates) rated at once: the
    lines of :meth:`Rater.rate`, rounded the same way, totalled in the same order."""
    plan = kernel.plan
    if kernel.credit_terms is not None:
        raise ValueError(f"plan {plan.id!r}: credits burn per customer (PlanKernel.rate)")
    terms = kernel.fixed(sub, period, fixed_fraction)
    n = len(columns.customers)
    out = _ColumnLines(n, plan.currency, plan.rounding)
    run = Billing(kernel.rater.compiled, columns, terms, out, kernel.rater.prices)

    def add(kind: str, amount: Column | Decimal, grade: str | None = None) -> None:
        out.add(kind, "", amount, grade=grade)

    reserved: Column | None = None
    covered: Column | None = None
    compiled = kernel.rater.compiled.charges
    for fee in compiled:
        charge = fee.spec  # type: ignore[attr-defined]
        if fee.applies_last:
            continue
        bill = BILLERS.get(type(fee))
        if bill is not None:
            bill(fee, run)
        elif isinstance(charge, CapacityCharge):
            buckets = len(hours) if hours is not None else terms.buckets
            given = (capacity_usage or {}).get(charge.name)
            these_reserved, these_covered = _capacity(charge, buckets, given, n, add)
            reserved = (_filled(n, ZERO) if reserved is None else reserved) + these_reserved
            covered = (_filled(n, ZERO) if covered is None else covered) + these_covered
    for fee in compiled:
        if fee.applies_last:
            BILLERS[type(fee)](fee, run)
    total = _filled(n, ZERO)
    for line in out.lines:
        total = total + line.amount
    return BatchResult(
        total=total,
        lines=tuple((line.grade, line.amount) for line in out.lines) if plan.grades else (),
        reserved=reserved, covered=covered, detail=tuple(out.lines),
    )


def _capacity(charge: CapacityCharge, buckets: int, given: CapacityBatch | None, n: int,
              add: Callable[..., None]) -> tuple[Column, Column]:
    """:func:`billing.pricing.capacity.price_grouped` for every customer: the baseload (the
    same for all), the spot amount per customer; returns (reserved, covered) columns."""
    reserve = non_negative(charge.baseload.per_bucket, "per_bucket")
    base_price = non_negative(charge.baseload.price_per_mtok, "baseload_price_per_mtok")
    covered = _filled(n, ZERO) if given is None else given.covered
    with decimal.localcontext(EXACT):
        reserved = buckets * reserve
        base_amount = reserved * base_price / MTOK
        spot = _filled(n, Decimal(0))
        for rate, tokens in sorted((given.excess_at if given is not None else {}).items()):
            spot = _np.where(tokens != 0, spot + tokens * rate / MTOK, spot)
    add("capacity_baseload", base_amount)
    add("capacity_spot", spot)
    return _filled(n, reserved), covered
