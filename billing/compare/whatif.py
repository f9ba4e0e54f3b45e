"""What-if analysis on a trace: a supplier price change, an assumed cache hit rate, break-even.

Three questions a product manager asks of a comparison, each answered exactly (``Decimal`` money,
integer tokens):

- **Supplier price change** (``PriceChange``, :class:`ScaledCostBook`): the cost book's prices of
  the models matching a glob are multiplied by ``1 + change`` (``-0.8``: 80% cheaper). The plans
  are then rated again on the same aggregates: "keep price" is that second rating (list prices
  unchanged; cost-plus charges read the scaled book, so their revenue follows cost on its own);
  "keep margin %" scales each plan's revenue so that its baseline margin % holds:
  ``revenue' = cost' x revenue / cost`` (= ``cost' / (1 - margin %)``).
- **Cache hit rate** (:func:`apply_cache_hit_rate`): on a trace without cache data,
  ``round_half_up(R x input)`` tokens of every aggregate row's fresh input are moved to cached
  input, before rating and costing, so every plan and the supplier cost see the same tokens.
- **Off-peak shift**: in :mod:`billing.compare.offpeak`.
- **Break-even** (:func:`break_even`): one representative customer (the whole trace's usage mix:
  models, token classes, long-context bands, days and hours) is scaled to a usage level of L
  tokens in one full billing period and rated; L doubles from 1 until the margin is negative,
  then a bisection on integer L finds the smallest level with a negative margin.
"""

from __future__ import annotations

import decimal
import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from billing.costs import CostBook
from billing.costs.model import ModelCost, price_tokens
from billing.errors import CostBookError, TraceError
from billing.money import UNROUNDED, ZERO, in_exact_context
from billing.periods import Period, nth_period
from billing.plans import Plan
from billing.rating.rater import Rater
from billing.subscriptions import Subscription
from billing.usage.aggregates import Counts, DailyKey, UsageAggregates
from billing.usage.customer import CustomerUsage
from billing.usage.keys import day_of

__all__ = [
    "BREAK_EVEN_METHOD",
    "MAX_BREAK_EVEN_TOKENS",
    "BreakEven",
    "PriceChange",
    "ScaledCostBook",
    "ScaledMix",
    "apply_cache_hit_rate",
    "break_even",
    "cached_input_tokens",
    "matched_models",
    "price_change_notes",
    "representative_usage",
]

# Exact or nothing (as the cost book's own arithmetic): a scaled price is never rounded.
_EXACT: Final = UNROUNDED

MAX_BREAK_EVEN_TOKENS: Final = 2**50
"""The largest usage level tried (about 1.1e15 tokens per period): above it, "never"."""

BREAK_EVEN_METHOD: Final = (
    "one representative customer with the whole trace's usage mix (models, token classes, "
    "long-context bands, days and hours of the first billing period), scaled to L tokens "
    "(each aggregate row x L / trace tokens, rounded half-up), rated for one full period "
    "(fees and allowances whole); margin = exact invoice line amounts - supplier cost; "
    "margins at L = 1, 2, 4, ... 2^50, then bisection on integer L between the last "
    "profitable level and the next: the smallest L with a negative margin above it"
)


# --- supplier price change --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceChange:
    """``models`` (a glob, case-insensitive) cost ``1 + change`` times the cost book's price."""

    models: str
    change: Decimal

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("the model glob is empty")
        if not self.change.is_finite() or self.change < -1:
            raise ValueError(f"change {self.change} must be a number >= -1 (-1: free)")

    @property
    def factor(self) -> Decimal:
        return 1 + self.change

    def matches(self, model: str) -> bool:
        return fnmatch.fnmatchcase(model.lower(), self.models.lower())

    @classmethod
    def parse(cls, text: str) -> PriceChange:
        """``'gpt-5*=-0.8'`` -> ``PriceChange('gpt-5*', Decimal('-0.8'))``; ValueError if bad."""
        glob, sep, value = (part.strip() for part in text.rpartition("="))
        if not sep or not glob or not value:
            raise ValueError("write MODELGLOB=CHANGE, e.g. 'gpt-5*=-0.8' (80% cheaper)")
        try:
            change = Decimal(value)
        except decimal.InvalidOperation:
            raise ValueError(f"CHANGE {value!r} is not a decimal fraction "
                             "(e.g. -0.8 for 80% cheaper, 0.1 for 10% dearer)") from None
        if not change.is_finite() or change < -1:
            raise ValueError(f"CHANGE {value} is below -1: a price cannot fall by more than 100%")
        return cls(glob, change)

    def label(self) -> str:
        pct = (self.change * 100).normalize()
        sign = "+" if self.change >= 0 else ""
        return f"{self.models} {sign}{format(pct, 'f')}% (x {format(self.factor.normalize(), 'f')})"


class ScaledCostBook(CostBook):
    """A cost book whose prices for matching models are scaled; the base book is untouched.

    The first :class:`PriceChange` whose glob matches a model applies (like a plan's rate card).
    Prices are scaled in :meth:`lookup`, so :meth:`cost` (and every cost-plus charge rated with
    this book) sees the new prices, long-context levels included.
    """

    def __init__(self, base: CostBook, changes: Sequence[PriceChange]) -> None:
        super().__init__((), base=base)
        self.changes = tuple(changes)
        self._scaled: dict[tuple[str, date, int | None], ModelCost] = {}

    def change_for(self, model: str) -> PriceChange | None:
        return next((c for c in self.changes if c.matches(model)), None)

    def lookup(self, model: str, at: date, *, time_of_day: int | None = None) -> ModelCost:
        key = (model, at, time_of_day)
        found = self._scaled.get(key)
        if found is None:
            found = super().lookup(model, at, time_of_day=time_of_day)
            change = self.change_for(model)
            if change is not None:
                found = _scale(found, change.factor)
            self._scaled[key] = found
        return found

    def __repr__(self) -> str:
        return f"ScaledCostBook({', '.join(c.label() for c in self.changes)}; {self.base!r})"


def _scale(level: ModelCost, factor: Decimal) -> ModelCost:
    return replace(
        level,
        input=_EXACT.multiply(level.input, factor),
        cached_input=_EXACT.multiply(level.cached_input, factor),
        cache_write=_EXACT.multiply(level.cache_write, factor),
        output=_EXACT.multiply(level.output, factor),
        long=None if level.long is None else _scale(level.long, factor),
    )


# --- cache hit rate -----------------------------------------------------------------------------


def cached_input_tokens(aggregates: UsageAggregates) -> int:
    return sum(c.cached_input for c in aggregates.daily.values())


def _moved(counts: Counts, rate: Decimal) -> Counts:
    move = int((rate * counts.input).to_integral_value(rounding=ROUND_HALF_UP))
    return Counts(input=counts.input - move, cached_input=counts.cached_input + move,
                  cache_write=counts.cache_write, output=counts.output,
                  requests=counts.requests, events=counts.events)


@in_exact_context
def apply_cache_hit_rate(aggregates: UsageAggregates, rate: Decimal, *,
                         trace: str = "the trace") -> tuple[UsageAggregates, int]:
    """New aggregates with ``round_half_up(rate x input)`` of each row's fresh input moved to
    cached input (daily, hourly and time-of-day rows alike, each row on its own, except that
    a time-of-day model's daily row moves what its time-of-day rows moved); also the tokens
    moved (daily rows). The band of a row does not change (the prompt size is the same).

    Raises :class:`~billing.errors.TraceError` when the trace already has cached input tokens
    (its own cache data would be mixed with the assumption) or ``rate`` is outside 0..1.
    """
    if not rate.is_finite() or not 0 <= rate <= 1:
        raise TraceError(f"cache hit rate {rate} must be between 0 and 1")
    already = cached_input_tokens(aggregates)
    if already:
        raise TraceError(
            f"{trace}: has cache data ({already:,} cached input tokens); an assumed cache hit "
            "rate applies only to a trace without any: drop --cache-hit-rate"
        )
    slots, by_day = _moved_time_of_day(aggregates.time_of_day, rate)
    daily = {k: _moved(c, rate) if k not in by_day else
             Counts(input=c.input - by_day[k], cached_input=c.cached_input + by_day[k],
                    cache_write=c.cache_write, output=c.output, requests=c.requests,
                    events=c.events)
             for k, c in aggregates.daily.items()}
    hourly = {k: _moved(c, rate) for k, c in aggregates.hourly.items()}
    moved = sum(c.cached_input for c in daily.values())
    return UsageAggregates(daily=daily, hourly=hourly, time_of_day=slots,
                           reasoning=aggregates.reasoning), moved  # (output unchanged)


def _moved_time_of_day(table: Any, rate: Decimal) -> tuple[Any, dict[DailyKey, int]]:
    """The time-of-day rows with the share moved row by row, and the tokens moved per daily
    key: a time-of-day model's daily row moves the sum of its slots' moves, so the slots still
    add up to it (the supplier cost reads the slots, the plans the daily rows)."""
    if table is None or table.num_rows == 0:
        return table, {}
    import pyarrow as pa

    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    by_day: dict[DailyKey, int] = {}
    for i, fresh in enumerate(columns["input"]):
        move = int((rate * fresh).to_integral_value(rounding=ROUND_HALF_UP))
        columns["input"][i] = fresh - move
        columns["cached_input"][i] += move
        key = DailyKey(columns["customer_id"][i], columns["model"][i], columns["band"][i],
                       columns["day"][i])
        by_day[key] = by_day.get(key, 0) + move
    return pa.table({name: pa.array(values, table.schema.field(name).type)
                     for name, values in columns.items()}), by_day


# --- break-even -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BreakEven:
    """Where a plan's margin on one representative customer turns negative."""

    period: Period
    """The full billing period rated (the first period of the trace)."""
    average_customer_tokens: int
    """The trace's tokens in that period / customers (rounded down): where a typical customer is."""
    tokens_per_period: int | None
    """Above this usage level the margin is negative (the smallest level found with a negative
    margin above the last profitable level tried); 0: negative at every level tried; None:
    never negative up to :data:`MAX_BREAK_EVEN_TOKENS` (price grows with cost)."""
    margin_at_break_even: Decimal | None
    """The (negative) margin at ``tokens_per_period``."""
    margin_at_average: Decimal | None
    """The margin of a customer at ``average_customer_tokens``."""
    loses_from: int | None
    """When light usage loses money and more usage recovers it (e.g. a free credit grant: supplier
    cost, no revenue, until a pack is bought): the smallest level found losing money..."""
    profitable_from: int | None
    """... and the smallest level above it found with a margin >= 0 again; None otherwise."""
    ratings: int
    """How many scaled usages were rated (cost of the search)."""


def representative_usage(aggregates: UsageAggregates, period: Period) -> CustomerUsage:
    """Every customer's rows of ``period`` summed into one usage (by model, band, day; hour)."""
    from billing.compare.columns import representative_rows  # summed in Arrow, not in Python

    daily, hourly = representative_rows(aggregates, period.start_day, period.end_day)
    return CustomerUsage("representative", daily, hourly)


def _scaled_counts(counts: Counts, level: int, total: int) -> Counts:
    def s(n: int) -> int:  # n x level / total, rounded half-up, in integers (exact)
        return (2 * n * level + total) // (2 * total)

    return Counts(input=s(counts.input), cached_input=s(counts.cached_input),
                  cache_write=s(counts.cache_write), output=s(counts.output),
                  requests=max(1, s(counts.requests)) if counts.requests else 0,
                  events=counts.events)


class ScaledMix:
    """The representative usage of one period scaled to token levels, with its supplier cost;
    memoized per level, so plans of the same period share the work.

    A model whose supplier price depends on the time of day is costed from the period's
    time-of-day rows summed over customers, each slot scaled as the daily rows are (its tokens
    x L / trace tokens, rounded half-up) and priced at its own window's price; the plans rate
    the scaled daily rows (the two roundings may differ by a token per row)."""

    def __init__(self, aggregates: UsageAggregates, period: Period, costbook: CostBook) -> None:
        self.period = period
        self.costbook = costbook
        self.usage = representative_usage(aggregates, period)
        self.total = sum(c.total_tokens for c in self.usage.daily.values())
        self._daily: dict[int, tuple[dict[tuple[str, int, int], Counts], Decimal, int]] = {}
        self._levels: dict[tuple[str, int, int], tuple[Decimal, Decimal, Decimal, Decimal]] = {}
        self._hourly: dict[int, dict[int, Counts]] = {}
        self._slots = _representative_slots(aggregates, period, costbook,
                                            {key[0] for key in self.usage.daily})
        for key in self.usage.daily:
            if (key not in self._slots and costbook.time_of_day_edges(key[0])
                    and len(costbook.windows(key[0], day_of(key[2]))) > 1):
                raise CostBookError(f"{key[0]} on {day_of(key[2])}: no time-of-day rows for "
                                    "usage priced by time of day (the aggregates were changed "
                                    "after aggregation)")

    def _cost(self, key: tuple[str, int, int], counts: Counts, level: int) -> Decimal:
        """The supplier cost of one scaled daily row (its slots' when the model has price
        windows that day)."""
        slots = self._slots.get(key)
        if slots is None:
            return price_tokens(self._prices(key), (counts.input, counts.cached_input,
                                                     counts.cache_write, counts.output))[1]
        cost = ZERO
        for prices, tokens in slots:
            scaled = tuple((2 * n * level + self.total) // (2 * self.total) for n in tokens)
            cost += price_tokens(prices, scaled)[1]  # type: ignore[arg-type]
        return cost

    def _prices(self, key: tuple[str, int, int]) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        found = self._levels.get(key)
        if found is None:
            model, band, day = key
            found = self._levels[key] = self.costbook.level(model, band, day_of(day)).prices()
        return found

    def at(self, level: int, *, hourly: bool) -> tuple[CustomerUsage, Decimal, int]:
        """The usage scaled to ``level`` tokens, its exact supplier cost and its tokens."""
        found = self._daily.get(level)
        if found is None:
            daily = {k: _scaled_counts(c, level, self.total) for k, c in self.usage.daily.items()}
            # CostBook.cost's arithmetic, with each row's prices looked up once for all levels
            cost = sum((self._cost(key, counts, level) for key, counts in daily.items()), ZERO)
            found = self._daily[level] = (daily, cost, sum(c.total_tokens for c in daily.values()))
        hours: dict[int, Counts] = {}
        if hourly:
            hours = self._hourly.get(level) or {}
            if not hours and self.usage.hourly:
                hours = self._hourly[level] = {
                    h: _scaled_counts(c, level, self.total) for h, c in self.usage.hourly.items()}
        return CustomerUsage(self.usage.customer_id, found[0], hours), found[1], found[2]


def _representative_slots(aggregates: UsageAggregates, period: Period, costbook: CostBook,
                          models: set[str]) -> dict[tuple[str, int, int], list[
                              tuple[tuple[Decimal, Decimal, Decimal, Decimal], tuple[int, ...]]]]:
    """The period's time-of-day rows of ``models`` with price windows, summed over customers:
    per (model, band, day), each slot's prices and tokens by class."""
    timed = sorted(m for m in models if costbook.time_of_day_edges(m))
    if not timed:
        return {}
    table = aggregates.time_of_day
    if table is None:
        raise CostBookError(
            f"the supplier price of {', '.join(timed)} depends on the time of day; the usage "
            "has no time-of-day rows to cost it exactly (aggregate the trace with "
            "time_of_day=costbook.time_of_day_edges)")
    import pyarrow as pa
    import pyarrow.compute as pc

    day = table.column("day")
    inside = pc.and_(pc.and_(pc.greater_equal(day, period.start_day),
                             pc.less(day, period.end_day)),
                     pc.is_in(table.column("model"), value_set=pa.array(timed)))
    summed = table.filter(inside).group_by(["model", "band", "day", "since_us"]).aggregate(
        [(c, "sum") for c in ("input", "cached_input", "cache_write", "output")])
    out: dict[tuple[str, int, int], list[
        tuple[tuple[Decimal, Decimal, Decimal, Decimal], tuple[int, ...]]]] = {}
    columns = [summed.column(n).to_pylist() for n in (
        "model", "band", "day", "since_us", "input_sum", "cached_input_sum",
        "cache_write_sum", "output_sum")]
    for model, band, on, since, *tokens in sorted(zip(*columns, strict=True)):
        if len(costbook.windows(model, day_of(on))) < 2:
            continue  # priced the same all day (e.g. a cost-file entry)
        prices = costbook.level(model, band, day_of(on), time_of_day=since).prices()
        out.setdefault((model, band, on), []).append((prices, tuple(tokens)))
    return out


@in_exact_context
def break_even(plan: Plan, aggregates: UsageAggregates, *, start: date, customers: int,
               costbook: CostBook, fx_rate: Decimal, seats: int = 1,
               rater: Rater | None = None,
               mixes: dict[tuple[Period, int], ScaledMix] | None = None) -> BreakEven:
    """Scale the trace's usage mix, as one customer's, until ``plan`` loses money on it.

    See :data:`BREAK_EVEN_METHOD`. Margin = the exact (unrounded) amounts of the invoice lines,
    converted at ``fx_rate``, minus the supplier cost of the same scaled rows, for one full
    billing period from ``start``: cent rounding of tiny invoices is not a loss. Plans whose
    price grows at least as fast as cost (pay as you go above cost, cost-plus without a cap)
    give ``tokens_per_period=None``.
    """
    period = nth_period(start, plan.interval, 0)
    mixes = {} if mixes is None else mixes
    mix = mixes.get((period, id(costbook)))
    if mix is None:
        mix = mixes[(period, id(costbook))] = ScaledMix(aggregates, period, costbook)
    total = mix.total
    average = total // customers if customers else 0
    if total == 0:
        return BreakEven(period, 0, None, None, None, None, None, 0)
    rater = rater or Rater(plan, costbook=costbook)
    hourly = rater.needs_hourly
    sub = Subscription(customer_id=mix.usage.customer_id, plan=plan.id, start=period.start,
                       seats=seats)
    ratings = 0
    memo: dict[int, tuple[Decimal, int]] = {}

    def margin(level: int) -> Decimal:
        nonlocal ratings
        if level not in memo:
            ratings += 1
            scaled, cost, tokens = mix.at(level, hourly=hourly)
            # the lines' exact amounts, without building the invoice's texts
            lines = rater.rate_totals(sub, period, scaled).lines
            revenue = sum((line.amount for line in lines), ZERO) * fx_rate
            memo[level] = (revenue - cost, tokens)
        return memo[level][0]

    def first_where(low: int, high: int, negative: bool) -> int:
        """Smallest level in (low, high] with (margin < 0) == negative; high has it, low not."""
        while high - low > 1:
            middle = (low + high) // 2
            if (margin(middle) < 0) == negative:
                high = middle
            else:
                low = middle
        return high

    grid = [2**j for j in range(MAX_BREAK_EVEN_TOKENS.bit_length())]
    losing = [margin(level) < 0 for level in grid]
    loses_from = profitable_from = None
    if any(losing) and not all(losing[losing.index(True):]):
        # a loss at light use that a larger usage recovers (e.g. a free credit grant)
        j = losing.index(True)
        low = grid[j - 1] if j else 0
        loses_from = memo[first_where(low, grid[j], negative=True)][1] if j else memo[1][1]
        k = losing.index(False, j)
        profitable_from = memo[first_where(grid[k - 1], grid[k], negative=False)][1]
    if not losing[-1]:
        found = None
    elif all(losing):
        found = 0
    else:
        j = len(losing) - 1 - losing[::-1].index(False)  # the last profitable grid level
        found = first_where(grid[j], grid[j + 1], negative=True)
    at_average = margin(average) if average else None
    value = tokens = None
    if found is not None and found != 0:
        value, tokens = memo[found]
    return BreakEven(period, average, found if tokens is None else tokens, value, at_average,
                     loses_from, profitable_from, ratings)


def matched_models(changes: Sequence[PriceChange],
                   models: Sequence[str]) -> Mapping[PriceChange, list[str]]:
    """The trace's models each change applies to (the first matching change wins)."""
    out: dict[PriceChange, list[str]] = {c: [] for c in changes}
    for model in models:
        first = next((c for c in changes if c.matches(model)), None)
        if first is not None:
            out[first].append(model)
    return out


def price_change_notes(changes: Sequence[PriceChange], models: Sequence[str]) -> list[str]:
    """One note per change: what it scales and which of the trace's models it matched."""
    notes = []
    for change, matched in matched_models(changes, models).items():
        what = ", ".join(matched) if matched else "no model of the trace"
        notes.append(f"what-if: supplier prices of {change.label()}: applies to {what}")
    return notes

