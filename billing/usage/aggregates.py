"""Usage aggregates: the only shape of usage that pricing ever sees.

The aggregation is the single step that touches every event, done once for all plans. It yields:

- ``daily``: token sums by (customer, model, band, day). ``day`` counts UTC days since
  1970-01-01. ``band`` is the number of the cost book's long-context thresholds (sorted, e.g.
  ``(128_000, 200_000)``) that the event's prompt per request (input + cached input + cache
  writes, divided by ``requests``) exceeds: 0 for ordinary requests. Suppliers price a request
  above a model's threshold entirely at the higher rate, so cost needs this split; the cost book
  knows which band starts each model's long-context price. Billing periods, credit burn-down and
  cost are all computed from these rows.
- ``hourly``: token sums by (customer, hour), ``hour`` counting UTC hours since the epoch; only
  when a capacity charge needs them.
- ``time_of_day``: for the models whose supplier price depends on the time of day (DeepSeek's
  off-peak window), token sums by (customer, model, band, day, since_us): ``since_us`` is the
  start, in microseconds after UTC midnight, of the slot between two price-window edges that
  holds the event's timestamp. They split those models' daily rows exactly (the slots of a daily
  row sum to it); only when asked (an Arrow table, :data:`TIME_OF_DAY_COLUMNS`).
- ``tiers``: the share of the daily rows served in a service tier other than ``standard``
  (``batch``, ``flex``, ``priority``), by (customer, model, band, day, service_tier)
  (:data:`TIER_COLUMNS`, an Arrow table). ``None`` when the usage has none: then every token is
  standard, and nothing else changes. When present, the daily rows still sum every tier (what
  tier-blind charges count: usage tiers, allowances, credits), the standard share of a daily
  row is the row less its tier rows, and the time-of-day rows carry a ``service_tier`` column
  too (their key includes it).

- ``reasoning``: the reasoning tokens (a part of ``output``) by (customer, model, band, day)
  (:data:`REASONING_COLUMNS`, an Arrow table, rows with some only). ``None`` when the reasoning
  split is unknown (a file without a reasoning column, not declared absent); an empty table
  when it is known to be none. Only a rate card that prices reasoning apart reads it.

Token sums are Python ints (exact, unbounded); engines sum them in 64-bit integers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["DAILY_COLUMNS", "HOURLY_COLUMNS", "REASONING_COLUMNS", "TIER_COLUMNS", "TIME_OF_DAY_COLUMNS", "Counts",
           "DailyKey", "HourlyKey", "UsageAggregates"]


@dataclass(slots=True)
class Counts:
    """Token sums of a group of events (mutable while aggregating)."""

    input: int = 0
    cached_input: int = 0
    cache_write: int = 0
    output: int = 0
    requests: int = 0
    events: int = 0

    def add(self, other: Counts) -> None:
        self.input += other.input
        self.cached_input += other.cached_input
        self.cache_write += other.cache_write
        self.output += other.output
        self.requests += other.requests
        self.events += other.events

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        return (self.input, self.cached_input, self.cache_write, self.output,
                self.requests, self.events)

    @property
    def total_tokens(self) -> int:
        return self.input + self.cached_input + self.cache_write + self.output


class DailyKey(NamedTuple):
    customer_id: str
    model: str
    band: int  # long-context thresholds exceeded by the prompt per request
    day: int  # UTC days since 1970-01-01


class HourlyKey(NamedTuple):
    customer_id: str
    hour: int  # UTC hours since 1970-01-01T00:00Z


DAILY_COLUMNS = ("customer_id", "model", "band", "day", "input", "cached_input", "cache_write",
                 "output", "requests", "events")
"""Columns of the daily rows as an Arrow table (one row per key, sorted by key)."""
HOURLY_COLUMNS = ("customer_id", "hour", "input", "cached_input", "cache_write", "output",
                  "requests", "events")
"""Columns of the hourly rows as an Arrow table (one row per key, sorted by key)."""
TIME_OF_DAY_COLUMNS = ("customer_id", "model", "band", "day", "since_us", "input", "cached_input",
                       "cache_write", "output", "requests", "events")
"""Columns of the time-of-day rows (one row per key, sorted by key); with ``service_tier``
after ``since_us`` when the usage has tiers other than standard."""
TIER_COLUMNS = ("customer_id", "model", "band", "day", "service_tier", "input", "cached_input",
                "cache_write", "output", "requests", "events")
"""Columns of the rows of usage served in a tier other than standard (sorted by key)."""
REASONING_COLUMNS = ("customer_id", "model", "band", "day", "reasoning")
"""Columns of the reasoning sums (sorted by key)."""


class UsageAggregates:
    """The union of what every plan needs, computed in one pass over the events.

    Built from dicts (the pure-Python aggregation, tests) or from the engine's Arrow tables
    (:meth:`from_arrow`). The Arrow form is what the comparison tool reads, column by column;
    the dicts of Python objects are built only when something asks for :attr:`daily` or
    :attr:`hourly` (millions of hourly rows cost seconds to turn into objects).
    """

    __slots__ = ("_daily", "_daily_arrow", "_hourly", "_hourly_arrow", "reasoning", "tiers",
                 "time_of_day")

    def __init__(self, daily: dict[DailyKey, Counts] | None = None,
                 hourly: dict[HourlyKey, Counts] | None = None, *,
                 time_of_day: Any = None, tiers: Any = None, reasoning: Any = None) -> None:
        self._daily = {} if daily is None else daily
        self._hourly = {} if hourly is None else hourly
        self._daily_arrow: Any = None
        self._hourly_arrow: Any = None
        self.tiers: Any = (None if tiers is None or tiers.num_rows == 0
                           else tiers.select(list(TIER_COLUMNS)))
        """The rows of usage served in a tier other than standard (Arrow,
        :data:`TIER_COLUMNS`); None: every token is standard."""
        columns = list(TIME_OF_DAY_COLUMNS)
        if self.tiers is not None:
            columns.insert(5, "service_tier")
        self.time_of_day: Any = (None if time_of_day is None else time_of_day.select(columns))
        """The time-of-day rows (Arrow, :data:`TIME_OF_DAY_COLUMNS`, keyed by service tier too
        when :attr:`tiers` is not None); None: not aggregated."""
        self.reasoning: Any = (None if reasoning is None
                               else reasoning.select(list(REASONING_COLUMNS)))
        """The reasoning sums (Arrow, :data:`REASONING_COLUMNS`); None: the split is unknown."""

    @classmethod
    def from_arrow(cls, daily: Any, hourly: Any = None, *,
                   time_of_day: Any = None, tiers: Any = None,
                   reasoning: Any = None) -> UsageAggregates:
        """Aggregates backed by Arrow tables with :data:`DAILY_COLUMNS`,
        :data:`HOURLY_COLUMNS`, :data:`TIME_OF_DAY_COLUMNS` and :data:`TIER_COLUMNS` (64-bit
        integer sums)."""
        made = cls(time_of_day=time_of_day, tiers=tiers, reasoning=reasoning)
        made._daily = None  # type: ignore[assignment]  # built on first use
        made._daily_arrow = daily.select(list(DAILY_COLUMNS))
        if hourly is not None:
            made._hourly = None  # type: ignore[assignment]
            made._hourly_arrow = hourly.select(list(HOURLY_COLUMNS))
        return made

    @property
    def daily(self) -> dict[DailyKey, Counts]:
        if self._daily is None:
            table = self._daily_arrow
            self._daily = {
                DailyKey(c, m, b, d): Counts(*counts)
                for c, m, b, d, *counts in zip(
                    *(table.column(n).to_pylist() for n in DAILY_COLUMNS), strict=True)
            }
        return self._daily

    @property
    def hourly(self) -> dict[HourlyKey, Counts]:
        if self._hourly is None:
            table = self._hourly_arrow
            self._hourly = {} if table is None else {
                HourlyKey(c, h): Counts(*counts)
                for c, h, *counts in zip(
                    *(table.column(n).to_pylist() for n in HOURLY_COLUMNS), strict=True)
            }
        return self._hourly

    def daily_arrow(self) -> Any:
        """The daily rows as an Arrow table (:data:`DAILY_COLUMNS`), built from the dicts when
        the aggregates did not come from an engine."""
        if self._daily_arrow is None:
            self._daily_arrow = _to_arrow(
                DAILY_COLUMNS, ((*k, *c.as_tuple()) for k, c in sorted(self._daily.items())))
        return self._daily_arrow

    def hourly_arrow(self) -> Any:
        """The hourly rows as an Arrow table (:data:`HOURLY_COLUMNS`)."""
        if self._hourly_arrow is None:
            self._hourly_arrow = _to_arrow(
                HOURLY_COLUMNS, ((*k, *c.as_tuple()) for k, c in sorted(self._hourly.items())))
        return self._hourly_arrow

    def tier_rows(self) -> dict[tuple[str, str, int, int, str], Counts]:
        """:attr:`tiers` as Python objects, keyed by (customer, model, band, day, tier)."""
        table = self.tiers
        if table is None:
            return {}
        return {(c, m, b, d, t): Counts(*counts) for c, m, b, d, t, *counts in zip(
            *(table.column(n).to_pylist() for n in TIER_COLUMNS), strict=True)}

    def reasoning_rows(self) -> dict[tuple[str, str, int, int], int] | None:
        """:attr:`reasoning` as Python objects keyed by (customer, model, band, day); None when
        the reasoning split is unknown."""
        table = self.reasoning
        if table is None:
            return None
        return {(c, m, b, d): r for c, m, b, d, r in zip(
            *(table.column(n).to_pylist() for n in REASONING_COLUMNS), strict=True)}

    def has_hourly(self) -> bool:
        if self._hourly is not None:
            return bool(self._hourly)
        return self._hourly_arrow is not None and self._hourly_arrow.num_rows > 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UsageAggregates):
            return NotImplemented
        return (self.daily == other.daily and self.hourly == other.hourly
                and self.tier_rows() == other.tier_rows()
                and self.reasoning_rows() == other.reasoning_rows())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        daily = (self._daily_arrow.num_rows if self._daily is None else len(self._daily))
        hourly = (len(self._hourly) if self._hourly is not None
                  else 0 if self._hourly_arrow is None else self._hourly_arrow.num_rows)
        return f"UsageAggregates({daily} daily rows, {hourly} hourly rows)"


def _to_arrow(columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> Any:
    import pyarrow as pa

    values = list(zip(*rows, strict=True)) or [()] * len(columns)
    types = {"customer_id": pa.string(), "model": pa.string(), "service_tier": pa.string()}
    return pa.table({name: pa.array(list(col), types.get(name, pa.int64()))
                     for name, col in zip(columns, values, strict=True)})
