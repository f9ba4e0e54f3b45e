"""What a comparison produces: per-customer and per-plan figures, and the report around them.

Money is exact ``Decimal`` in the report currency (the cost book's, USD). Ratios (margin %,
shares, utilization, HHI) and per-1M figures are statistics, not billed amounts: they are rounded
to :data:`RATIO_PLACES` decimal places where they are computed, so that reports are stable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Final, overload

from billing.compare.offpeak import OffpeakResult, OffpeakShift
from billing.compare.whatif import BreakEven, PriceChange
from billing.money import EXACT

__all__ = [
    "RATIO_PLACES",
    "Caveats",
    "CompareOptions",
    "CustomerResult",
    "CustomerRows",
    "GradeFigures",
    "OffpeakFigures",
    "PlanResult",
    "PriceChangeFigures",
    "TraceSummary",
    "WhatIf",
    "ratio",
]

RATIO_PLACES: Final = 6
_QUANTUM: Final = Decimal(1).scaleb(-RATIO_PLACES)
_ZERO: Final = Decimal(0)


def ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    """``numerator / denominator`` rounded half-even to 6 places; None when the denominator is 0."""
    if not denominator:
        return None
    return EXACT.divide(numerator, denominator).quantize(_QUANTUM, rounding=ROUND_HALF_EVEN,
                                                          context=EXACT)


ProgressCallback = Callable[[int, int], None]
"""Called with (ratings done, ratings in all) as plans rate customers."""


@dataclass(frozen=True)
class CompareOptions:
    """What the trace does not say and the user states (each repeated in the report)."""

    seats: int = 1
    """Seats of every customer on seat plans (``--seats N``)."""
    seats_by_customer: Mapping[str, int] = field(default_factory=dict)
    """Per-customer seats (``--seats FILE.csv`` with customer_id,seats); others get ``seats``."""
    fx: Mapping[str, Decimal] = field(default_factory=dict)
    """Report-currency units per unit of a plan currency (``EUR: Decimal("1.08")``)."""
    full_periods: bool = False
    """Bill whole periods even when the trace covers less (no proration to the trace span)."""
    plan_paths: Mapping[str, Path] = field(default_factory=dict)
    """Plan id -> the file it was loaded from (plan-relative files such as spot price series
    are read next to it); filled from the catalog when ``compare`` is given one."""
    workers: int | None = None
    """Worker processes rating plans in parallel (default: one per core; 1 = in this process).
    Results are the same whatever the number."""
    engine: str = "duckdb"
    """Aggregation engine: ``duckdb`` (default), ``spark`` (or a SparkSession), ``python``."""
    rejects_path: Path | None = None
    """Where bad and skipped trace rows are written (CSV)."""
    notes: Sequence[str] = ()
    """Extra assumptions to repeat in the report (the CLI adds the ones it was told)."""
    progress: ProgressCallback | None = field(default=None, compare=False)
    price_changes: Sequence[PriceChange] = ()
    """What-if: supplier prices of matching models scaled (``--supplier-price-change``)."""
    cache_hit_rate: Decimal | None = None
    """What-if: share of fresh input moved to cached input, for a trace without cache data
    (``--cache-hit-rate``)."""
    break_even: bool = True
    """Find each plan's break-even usage level (``--no-break-even`` skips it)."""
    offpeak_shifts: Sequence[OffpeakShift] = ()
    """What-if: a share of time-of-day models' usage moved into the day's cheapest price
    window (``--offpeak-shift``)."""


class _Margin:
    """``margin`` and ``margin_pct`` of anything with ``revenue`` and ``cost``."""

    __slots__ = ()
    revenue: Decimal
    cost: Decimal

    @property
    def margin(self) -> Decimal:
        return EXACT.subtract(self.revenue, self.cost)

    @property
    def margin_pct(self) -> Decimal | None:
        """margin / revenue; None when there is no revenue."""
        return ratio(self.margin, self.revenue)


@dataclass(frozen=True, slots=True)
class TraceSummary:
    path: str
    events: int
    customers: int
    rejected: int
    skipped: int
    start: datetime | None
    end: datetime | None
    tokens: int
    models: tuple[str, ...]
    synthetic: bool
    derived_ids: bool


@dataclass(frozen=True, slots=True)
class CustomerResult(_Margin):
    """One customer under one plan, over the whole trace (all periods)."""

    customer_id: str
    revenue: Decimal
    cost: Decimal
    tokens: int
    credit_breakage: Decimal | None
    reserved: Decimal | None
    covered: Decimal | None


class CustomerRows(Sequence[CustomerResult]):
    """A plan's rows per customer, built from the plan's figures when first read: a comparison
    that writes only JSON needs their count, not 19,000 objects per plan."""

    __slots__ = ("_build", "_count", "_rows")

    def __init__(self, count: int, build: Callable[[], tuple[CustomerResult, ...]]) -> None:
        self._count = count
        self._build: Callable[[], tuple[CustomerResult, ...]] | None = build
        self._rows: tuple[CustomerResult, ...] | None = None

    def _all(self) -> tuple[CustomerResult, ...]:
        if self._rows is None:
            assert self._build is not None
            rows = self._build()
            if len(rows) != self._count:
                raise ValueError(f"{len(rows)} customer rows, {self._count} announced")
            self._rows, self._build = rows, None
        return self._rows

    @classmethod
    def of(cls, rows: Sequence[CustomerResult]) -> CustomerRows:
        """Rows already built."""
        built = tuple(rows)
        return cls(len(built), lambda: built)

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled (and deep-copied) as the rows themselves, built first
        return (CustomerRows.of, (self._all(),))

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> CustomerResult: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[CustomerResult, ...]: ...

    def __getitem__(self, index: int | slice) -> CustomerResult | tuple[CustomerResult, ...]:
        return self._all()[index]

    def __iter__(self) -> Iterator[CustomerResult]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CustomerRows | tuple):
            return self._all() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return f"CustomerRows({self._count} customers)"


@dataclass(frozen=True, slots=True)
class GradeFigures(_Margin):
    revenue: Decimal
    cost: Decimal


@dataclass(frozen=True, slots=True)
class PlanResult(_Margin):
    """A plan's figures on the trace; a field that does not apply is None."""

    id: str
    name: str
    version: str
    plan_currency: str
    fx_rate: Decimal
    proration: str
    customers: Sequence[CustomerResult]
    """One row per customer (a :class:`CustomerRows` built when first read, or a tuple)."""
    revenue: Decimal
    cost: Decimal
    tokens: int
    negative_margin_customers: int
    customer_margin_pct: Mapping[str, Decimal | None]
    top1pct_cost_share: Decimal | None
    revenue_per_mtok: Decimal | None
    cost_per_mtok: Decimal | None
    credit_breakage: Decimal | None
    baseload_utilization: Decimal | None
    by_grade: Mapping[str, GradeFigures] | None
    supplier_hhi: Decimal | None
    utilization_by_hour: tuple[tuple[int, Decimal], ...] = ()
    price_change: PriceChangeFigures | None = None
    """What-if figures under the supplier price change; None when none was asked."""
    break_even: BreakEven | None = None
    """Where the margin on one representative customer turns negative (baseline cost)."""
    break_even_after_change: BreakEven | None = None
    """The same under the supplier price change (keep price); None when none was asked."""
    credit_unused_prepaid: Decimal | None = None
    """Credits plans: paid credits left at the end of the trace, at the price paid per credit.
    Prorated comparisons leave them out of revenue (prepaid for later usage); with full
    periods they are revenue and breakage, as the invoices say."""
    reserved_tokens: Decimal | None = None
    """Capacity plans: weighted tokens reserved by every customer in every hour."""
    unused_reserved: Decimal | None = None
    """Capacity plans: reserved weighted tokens nobody used (reserved - covered)."""
    unused_reserved_revenue: Decimal | None = None
    """Capacity plans: the baseload revenue of :attr:`unused_reserved` (exact)."""
    offpeak_shift: OffpeakFigures | None = None
    """What-if figures under the off-peak shift; None when none was asked, or for a plan
    with capacity charges (it bills the hour of use, which the shift changes)."""

    @property
    def caveats(self) -> Caveats:
        """What qualifies the plan's margin (shown next to "best")."""
        return Caveats.of(self)


@dataclass(frozen=True, slots=True)
class Caveats:
    """What a plan's margin owes to things other than usage served at a profit."""

    negative_margin_share: Decimal | None
    """Customers with a negative margin / customers."""
    unused_reserved_share: Decimal | None
    """Capacity plans: reserved weighted tokens nobody used / reserved."""
    unused_reserved_revenue: Decimal | None
    """Capacity plans: the baseload revenue of those tokens."""
    unused_reserved_revenue_share: Decimal | None
    """... / revenue."""
    breakage_share: Decimal | None
    """Credits plans: credit breakage / revenue."""
    margin_without_unused: Decimal
    """Margin less the unused reserved revenue and the breakage: the margin on what
    customers used."""
    notes: tuple[str, ...]
    """The caveats that apply, in words (empty when none)."""

    @staticmethod
    def of(plan: PlanResult) -> Caveats:
        customers = len(plan.customers)
        negative = plan.negative_margin_customers
        unused_revenue = plan.unused_reserved_revenue
        unused_share = (None if plan.reserved_tokens is None or plan.unused_reserved is None
                        else ratio(plan.unused_reserved, plan.reserved_tokens))
        breakage = plan.credit_breakage
        notes: list[str] = []
        if negative:
            notes.append(f"{negative:,} of {customers:,} customers "
                         f"({_pct(Decimal(negative) / customers)}) lose money")
        if unused_revenue is not None and unused_share is not None and unused_share > 0:
            notes.append(
                f"{_pct(unused_share)} of the reserved capacity unused: {_money(unused_revenue)}"
                f" ({_pct(unused_revenue / plan.revenue) if plan.revenue else '-'} of revenue) "
                "is baseload nobody used, paid because every customer is assumed to reserve "
                "the plan's baseload")
        if breakage:
            notes.append(f"{_money(breakage)} ({_pct(breakage / plan.revenue)} of revenue) is "
                         "credit breakage: credits paid and never used")
        if plan.credit_unused_prepaid:
            notes.append(f"{_money(plan.credit_unused_prepaid)} of paid credits left at the "
                         "end of the trace, not counted as revenue (prepaid for later usage)")
        return Caveats(
            negative_margin_share=ratio(Decimal(negative), Decimal(customers)),
            unused_reserved_share=unused_share,
            unused_reserved_revenue=unused_revenue,
            unused_reserved_revenue_share=(None if unused_revenue is None
                                           else ratio(unused_revenue, plan.revenue)),
            breakage_share=None if breakage is None else ratio(breakage, plan.revenue),
            margin_without_unused=plan.margin - (unused_revenue or _ZERO) - (breakage or _ZERO),
            notes=tuple(notes),
        )


def _pct(value: Decimal) -> str:
    shown = (value * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{shown if shown else abs(shown)}%"


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


@dataclass(frozen=True, slots=True)
class PriceChangeFigures:
    """One plan under a supplier price change, beside its baseline.

    ``keep_price``: the plan is unchanged and rated again with the changed cost book (cost-plus
    charges follow the new cost by themselves). ``keep_margin``: revenue scaled so that the
    baseline margin % holds: ``cost x baseline revenue / baseline cost``.
    """

    cost: Decimal
    keep_price_revenue: Decimal
    keep_price_negative_customers: int
    keep_margin_revenue: Decimal | None
    """None when the baseline cost is 0 (no margin % to keep on a cost)."""

    @property
    def keep_price_margin(self) -> Decimal:
        return EXACT.subtract(self.keep_price_revenue, self.cost)

    @property
    def keep_price_margin_pct(self) -> Decimal | None:
        return ratio(self.keep_price_margin, self.keep_price_revenue)

    @property
    def keep_margin_margin(self) -> Decimal | None:
        if self.keep_margin_revenue is None:
            return None
        return EXACT.subtract(self.keep_margin_revenue, self.cost)

    @property
    def keep_margin_margin_pct(self) -> Decimal | None:
        if self.keep_margin_revenue is None or self.keep_margin_margin is None:
            return None
        return ratio(self.keep_margin_margin, self.keep_margin_revenue)


@dataclass(frozen=True, slots=True)
class OffpeakFigures(_Margin):
    """One plan under an off-peak shift, beside its baseline: the supplier cost changes, the
    revenue does not (the usage stays on its UTC day, and the plan bills daily usage)."""

    cost: Decimal
    revenue: Decimal
    negative_margin_customers: int
    margin_change: Decimal
    """Margin after - margin before (= cost before - cost after)."""


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The what-if assumptions of a run (each also a note of the report)."""

    cache_hit_rate: Decimal | None = None
    cached_tokens_moved: int = 0
    price_changes: tuple[tuple[PriceChange, tuple[str, ...]], ...] = ()
    """Each change with the trace's models it applies to."""
    baseline_cost: Decimal | None = None
    changed_cost: Decimal | None = None
    offpeak: OffpeakResult | None = None
    """The off-peak shift asked for (``--offpeak-shift``) and its cost change."""
    offpeak_baseline_cost: Decimal | None = None
    offpeak_not_modelled: tuple[str, ...] = ()
    """Plans left out of the off-peak shift (capacity charges bill the hour of use)."""
