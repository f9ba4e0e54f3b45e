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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from billing.charges import Billing, CapacityUsage, PeriodTotals
from billing.charges.plan import bill_plan
from billing.charges.sinks import RoundedLine, RoundedLines
from billing.compare.kernel import PlanKernel
from billing.money import ZERO, in_exact_context
from billing.subscriptions import Subscription

__all__ = ["BatchResult", "PeriodColumns", "rate_batch"]

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
class BatchResult:
    """What :meth:`PlanKernel.rate` returns, per customer (columns in the customers' order)."""

    total: Column
    lines: tuple[tuple[str | None, Column], ...]
    """Every rounded line, in the kernel's order, with its grade (graded plans only)."""
    reserved: Column | None
    covered: Column | None
    detail: tuple[RoundedLine, ...] = ()
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


@in_exact_context
def rate_batch(kernel: PlanKernel, sub: Subscription, period: Any, columns: PeriodColumns, *,
               fixed_fraction: Decimal | None = None, hours: Sequence[int] | None = None,
               capacity_usage: Mapping[str, CapacityUsage] | None = None
               ) -> BatchResult:
    """Every customer of ``columns`` (all with ``sub``'s seats and dates) rated at once: the
    lines of :meth:`Rater.rate`, rounded the same way, totalled in the same order."""
    plan = kernel.plan
    if kernel.credit_terms is not None:
        raise ValueError(f"plan {plan.id!r}: credits burn per customer (PlanKernel.rate)")
    terms = kernel.fixed(sub, period, fixed_fraction)
    n = len(columns.customers)
    out = RoundedLines(n, plan.currency, plan.rounding)
    run = Billing(kernel.rater.compiled, columns, terms, out, kernel.rater.prices)
    run.capacity.update(capacity_usage or {})
    run.buckets = None if hours is None else len(hours)
    bill_plan(run)
    total = out.total()
    return BatchResult(
        total=total,
        lines=tuple((line.grade, line.amount) for line in out.lines) if plan.grades else (),
        reserved=_spread(n, run.reserved), covered=_spread(n, run.covered),
        detail=tuple(out.lines),
    )


def _spread(n: int, value: Column | Decimal | None) -> Column | None:
    """A figure of every customer as a column (one value for all: the same in every row)."""
    if value is None or isinstance(value, np.ndarray):
        return value
    return _filled(n, value)
