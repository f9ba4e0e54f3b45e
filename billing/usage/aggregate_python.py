"""Pure-Python aggregation: the online, event-at-a-time path, and the reference the engine
path is tested against.

Dedupe rule (the same on every path): the first event with an id (in arrival order) wins; a
later identical copy is a *duplicate* (counted, ignored); a later copy with different content
is a *conflict* (counted, ignored, reported).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from billing.usage.aggregates import (
    REASONING_COLUMNS,
    TIER_COLUMNS,
    TIME_OF_DAY_COLUMNS,
    Counts,
    DailyKey,
    HourlyKey,
    UsageAggregates,
)
from billing.usage.events import SERVICE_TIERS, UsageEvent
from billing.usage.keys import DAY_S, DAY_US, HOUR_S, band_of
from billing.usage.results import TraceStats

__all__ = ["AddOutcome", "Aggregator", "aggregate_events", "band_of"]

AddOutcome = Literal["new", "duplicate", "conflict"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _check_thresholds(thresholds: tuple[int, ...]) -> tuple[int, ...]:
    values = tuple(int(t) for t in thresholds)
    if list(values) != sorted(set(values)) or any(t < 0 for t in values):
        raise ValueError(f"thresholds must be distinct, non-negative and sorted: {thresholds}")
    return values


class Aggregator:
    """Incremental aggregation with dedupe, for the online meter.

    >>> agg = Aggregator(thresholds=(200_000,))
    >>> agg.add(event)        # "new", "duplicate" or "conflict"
    >>> aggregates, stats = agg.result()

    It keeps every accepted event's content keyed by id (the dedupe memory).
    """

    def __init__(self, *, thresholds: tuple[int, ...] = (), hourly: bool = False,
                 time_of_day: Callable[[str], Sequence[int]] | None = None,
                 reasoning: bool = False) -> None:
        self.thresholds = _check_thresholds(thresholds)
        self.hourly = hourly
        self.time_of_day = time_of_day
        """Each model's price-window edges (``CostBook.time_of_day_edges``): the events of the
        models that have some also make time-of-day rows, as the DuckDB engine's
        ``time_of_day_table`` sums them (slots between the edges of all those models).
        ``reasoning``: keep the events' reasoning tokens per daily key
        (``UsageAggregates.reasoning``; False: the reasoning split is unknown, as for a file
        without a reasoning column)."""
        self.reasoning = reasoning
        self._reasoning: dict[DailyKey, int] = {}
        self._edges: dict[str, tuple[int, ...]] = {}
        self._timed: list[tuple[str, str, int, int, int, str, Counts]] = []
        self._tiers: dict[tuple[str, str, int, int, str], Counts] = {}
        self._seen: dict[str, UsageEvent] = {}
        self._daily: dict[DailyKey, Counts] = {}
        self._hourly: dict[HourlyKey, Counts] = {}
        self._duplicates = 0
        self._conflicts = 0
        self._start: datetime | None = None
        self._end: datetime | None = None

    def add(self, event: UsageEvent) -> AddOutcome:
        first = self._seen.get(event.id)
        if first is not None:
            if first == event:
                self._duplicates += 1
                return "duplicate"
            self._conflicts += 1
            return "conflict"
        self._seen[event.id] = event
        delta = event.timestamp - _EPOCH
        seconds = delta.days * DAY_S + delta.seconds
        counts = Counts(event.input_tokens, event.cached_input_tokens, event.cache_write_tokens,
                        event.output_tokens, event.requests, 1)
        band = band_of(event.prompt_tokens, event.requests, self.thresholds)
        key = DailyKey(event.customer_id, event.model, band, seconds // DAY_S)
        self._daily.setdefault(key, Counts()).add(counts)
        if self.reasoning and event.reasoning_tokens:
            self._reasoning[key] = self._reasoning.get(key, 0) + event.reasoning_tokens
        if event.service_tier != "standard":
            self._tiers.setdefault((*key, event.service_tier), Counts()).add(counts)
        if self.hourly:
            hkey = HourlyKey(event.customer_id, seconds // HOUR_S)
            self._hourly.setdefault(hkey, Counts()).add(counts)
        if self.time_of_day is not None:
            edges = self._edges.get(event.model)
            if edges is None:
                edges = self._edges[event.model] = tuple(self.time_of_day(event.model))
            if edges:
                day, into = divmod(seconds, DAY_S)
                self._timed.append((event.customer_id, event.model, band, day,
                                    into * 1_000_000 + delta.microseconds, event.service_tier,
                                    counts))
        if self._start is None or event.timestamp < self._start:
            self._start = event.timestamp
        if self._end is None or event.timestamp > self._end:
            self._end = event.timestamp
        return "new"

    def result(self, *, rejected: int = 0, skipped: int = 0,
               derived_ids: bool = False) -> tuple[UsageAggregates, TraceStats]:
        """The aggregates so far (a copy) and their stats."""
        daily = {k: Counts(*v.as_tuple()) for k, v in sorted(self._daily.items())}
        hourly = {k: Counts(*v.as_tuple()) for k, v in sorted(self._hourly.items())}
        events = len(self._seen)
        by_tier: dict[str, int] = {}
        for (*_, tier), counts in self._tiers.items():
            by_tier[tier] = by_tier.get(tier, 0) + counts.events
        stats = TraceStats(
            rows=events + rejected + skipped + self._duplicates + self._conflicts,
            events=events,
            rejected=rejected,
            duplicates=self._duplicates,
            conflicts=self._conflicts,
            skipped=skipped,
            start=self._start,
            end=self._end,
            customers=len({k.customer_id for k in daily}),
            models=tuple(sorted({k.model for k in daily})),
            derived_ids=derived_ids,
            service_tiers=tuple((t, by_tier[t]) for t in SERVICE_TIERS if t in by_tier),
        )
        return UsageAggregates(daily=daily, hourly=hourly, time_of_day=self._time_of_day_rows(),
                               tiers=self._tier_rows(), reasoning=self._reasoning_rows()), stats

    def _reasoning_rows(self) -> Any:
        """The reasoning sums (Arrow, ``REASONING_COLUMNS``; rows with some only), None when
        the reasoning split is unknown."""
        if not self.reasoning:
            return None
        return _table(REASONING_COLUMNS, [(*k, v) for k, v in sorted(self._reasoning.items())])

    def _tier_rows(self) -> Any:
        """The rows of usage of a tier other than standard (Arrow, ``TIER_COLUMNS``), None
        when there are none."""
        if not self._tiers:
            return None
        return _table(TIER_COLUMNS, [(*k, *v.as_tuple()) for k, v in sorted(self._tiers.items())])

    def _time_of_day_rows(self) -> Any:
        """The time-of-day rows (Arrow, ``TIME_OF_DAY_COLUMNS``), None when not asked for."""
        if self.time_of_day is None:
            return None

        cuts = sorted({e for found in self._edges.values() for e in found})
        if any(not 0 < e < DAY_US for e in cuts):
            raise ValueError(f"time-of-day edges must be inside the day: {cuts}")
        # (keyed by service tier too when the usage has tiers other than standard)
        sums: dict[tuple[Any, ...], Counts] = {}
        tiered = bool(self._tiers)
        for customer, model, band, day, micros, tier, counts in self._timed:
            since = max((c for c in cuts if c <= micros), default=0)
            key = (customer, model, band, day, since, tier) if tiered else (
                customer, model, band, day, since)
            sums.setdefault(key, Counts()).add(counts)
        names = list(TIME_OF_DAY_COLUMNS)
        if tiered:
            names.insert(5, "service_tier")
        return _table(tuple(names), [(*k, *v.as_tuple()) for k, v in sorted(sums.items())])


def _table(names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Any:
    import pyarrow as pa

    columns = list(zip(*rows, strict=True)) or [()] * len(names)
    return pa.table({name: pa.array(list(values), pa.string() if name in (
        "customer_id", "model", "service_tier") else pa.int64())
        for name, values in zip(names, columns, strict=True)})


def aggregate_events(events: Iterable[UsageEvent], *, thresholds: tuple[int, ...] = (),
                     hourly: bool = False, reasoning: bool = False
                     ) -> tuple[UsageAggregates, TraceStats]:
    """Aggregate events in memory (first id wins; duplicates and conflicts counted);
    ``reasoning``: keep the events' reasoning split (``UsageEvent.reasoning_tokens``), which a
    rate card pricing reasoning apart needs."""
    aggregator = Aggregator(thresholds=thresholds, hourly=hourly, reasoning=reasoning)
    for event in events:
        aggregator.add(event)
    return aggregator.result()
