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

Token sums are Python ints (exact, unbounded); engines sum them in 64-bit integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["Counts", "DailyKey", "HourlyKey", "UsageAggregates"]


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


@dataclass(slots=True)
class UsageAggregates:
    """The union of what every plan needs, computed in one pass over the events."""

    daily: dict[DailyKey, Counts] = field(default_factory=dict)
    hourly: dict[HourlyKey, Counts] = field(default_factory=dict)
