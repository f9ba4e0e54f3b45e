"""The online meter: events in one by one (or in batches), bill-to-date at any instant.

A SaaS backend keeps one :class:`Meter` in memory, records usage as requests complete, shows a
customer's bill to date and remaining credits, and closes a period into exactly the invoice the
batch path produces from the same events (same aggregates, same engine, same bytes).

Time comes from an injectable :class:`Clock`; the meter never reads the system clock itself
except through :class:`SystemClock`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal, Protocol

from billing.costs import CostBook
from billing.errors import RatingError
from billing.invoice import Invoice
from billing.periods import Period, period_containing
from billing.plans.catalog import PlanCatalog
from billing.plans.model import CapacityCharge
from billing.rating.batch import RaterCache
from billing.rating.engine import RatingResult
from billing.rating.usage import CustomerUsage
from billing.subscriptions import Subscription
from billing.usage.aggregate_python import band_of
from billing.usage.aggregates import Counts
from billing.usage.events import UsageEvent

__all__ = ["Clock", "FixedClock", "Meter", "MeterStats", "SystemClock"]

Outcome = Literal["new", "duplicate", "conflict"]
_DAY_US = 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Clock(Protocol):
    """Where the meter's 'now' comes from."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real UTC clock (freezegun controls it in tests)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(slots=True)
class FixedClock:
    """A clock that says what it is told: ``clock.at = datetime(...)``."""

    at: datetime

    def now(self) -> datetime:
        return self.at


@dataclass(slots=True)
class MeterStats:
    events: int = 0
    duplicates: int = 0
    conflicts: int = 0


def _content(event: UsageEvent) -> tuple[object, ...]:
    return (event.customer_id, event.timestamp, event.model, event.input_tokens,
            event.cached_input_tokens, event.cache_write_tokens, event.output_tokens,
            event.requests, event.session_id, tuple(sorted(event.properties.items())))


class Meter:
    """In-memory metering and rating for live customers.

    >>> meter = Meter(catalog, subscriptions, costbook=CostBook.default())
    >>> meter.record(event)                      # "new", "duplicate" or "conflict"
    >>> meter.bill_to_date("acme").total         # Decimal, the period in force now
    >>> meter.close("acme", "2026-11")           # the period's invoice, as the batch path
    """

    def __init__(self, catalog: PlanCatalog, subscriptions: Iterable[Subscription], *,
                 costbook: CostBook | None = None, clock: Clock | None = None) -> None:
        self.catalog = catalog
        self.clock: Clock = clock or SystemClock()
        self.costbook = costbook
        self._thresholds = costbook.thresholds() if costbook is not None else ()
        self._raters = RaterCache(catalog, costbook=costbook)
        self._subscriptions: dict[str, list[Subscription]] = {}
        for sub in subscriptions:
            self._subscriptions.setdefault(sub.customer_id, []).append(sub)
        self._hourly = any(
            isinstance(charge, CapacityCharge)
            for plan_id in catalog.ids for plan in catalog.versions(plan_id)
            for charge in plan.charges
        )
        self._seen: dict[str, tuple[object, ...]] = {}
        self._usage: dict[str, CustomerUsage] = {}
        self.stats = MeterStats()

    # --- recording -----------------------------------------------------------------------------

    def record(self, event: UsageEvent) -> Outcome:
        """Add one event. The first event with an id wins; a later identical copy is a
        duplicate, a later different one a conflict (both ignored, both counted)."""
        content = _content(event)
        previous = self._seen.get(event.id)
        if previous is not None:
            if previous == content:
                self.stats.duplicates += 1
                return "duplicate"
            self.stats.conflicts += 1
            return "conflict"
        self._seen[event.id] = content
        self.stats.events += 1
        usage = self._usage.get(event.customer_id)
        if usage is None:
            usage = self._usage[event.customer_id] = CustomerUsage(event.customer_id)
        seconds = int((event.timestamp - _EPOCH).total_seconds())
        band = band_of(event.prompt_tokens, event.requests, self._thresholds) if self._thresholds else 0
        key = (event.model, band, seconds // _DAY_US)
        counts = usage.daily.get(key)
        if counts is None:
            counts = usage.daily[key] = Counts()
        counts.input += event.input_tokens
        counts.cached_input += event.cached_input_tokens
        counts.cache_write += event.cache_write_tokens
        counts.output += event.output_tokens
        counts.requests += event.requests
        counts.events += 1
        if self._hourly:
            hour = seconds // 3600
            hcounts = usage.hourly.get(hour)
            if hcounts is None:
                hcounts = usage.hourly[hour] = Counts()
            hcounts.input += event.input_tokens
            hcounts.cached_input += event.cached_input_tokens
            hcounts.cache_write += event.cache_write_tokens
            hcounts.output += event.output_tokens
            hcounts.requests += event.requests
            hcounts.events += 1
        return "new"

    def record_many(self, events: Iterable[UsageEvent]) -> MeterStats:
        """Add a batch; returns what this batch did (new, duplicates, conflicts)."""
        batch = MeterStats()
        for event in events:
            outcome = self.record(event)
            if outcome == "new":
                batch.events += 1
            elif outcome == "duplicate":
                batch.duplicates += 1
            else:
                batch.conflicts += 1
        return batch

    # --- questions -----------------------------------------------------------------------------

    def _subscription_at(self, customer_id: str, day: date) -> Subscription:
        for sub in self._subscriptions.get(customer_id, []):
            if sub.start <= day and (sub.end is None or day < sub.end):
                return sub
        raise RatingError(f"customer {customer_id!r} has no subscription in force on {day}")

    def _rate(self, sub: Subscription, period: Period) -> RatingResult:
        rater = self._raters.for_subscription(sub, period)
        usage = self._usage.get(sub.customer_id, CustomerUsage(sub.customer_id))
        return rater.rate(sub, period, usage)

    def period_at(self, customer_id: str, at: datetime | None = None) -> Period:
        moment = (at or self.clock.now()).astimezone(UTC)
        sub = self._subscription_at(customer_id, moment.date())
        interval = self.catalog.version_at(sub.plan, moment.date()).interval
        return period_containing(sub.anchor_date, interval, moment.date())

    def bill_to_date(self, customer_id: str, at: datetime | None = None) -> Invoice:
        """The invoice of the period in force at ``at`` (default: the clock's now), with the
        usage recorded so far: what the customer would owe if the period closed now."""
        moment = (at or self.clock.now()).astimezone(UTC)
        sub = self._subscription_at(customer_id, moment.date())
        return self._rate(sub, self.period_at(customer_id, moment)).invoice

    def remaining_credits(self, customer_id: str, at: datetime | None = None) -> Decimal:
        """Credits the customer can still use at ``at`` (grants and packs not yet expired)."""
        moment = (at or self.clock.now()).astimezone(UTC)
        invoice = self.bill_to_date(customer_id, moment)
        today = moment.date()
        # The invoice shows the period's closing state: credits that expire at the period's end
        # are "expired" there, but still usable before it.
        return sum(
            (b.remaining + b.expired for b in invoice.credits
             if b.expires is None or b.expires > today),
            Decimal(0),
        )

    def close(self, customer_id: str, label: str) -> Invoice:
        """The invoice of the period ``label`` ("2026-11"), identical to the batch path's."""
        from billing.rating.batch import subscription_period

        for sub in self._subscriptions.get(customer_id, []):
            period = subscription_period(self.catalog, sub, label)
            if period.clip(sub.start, sub.end) is not None:
                return self._rate(sub, period).invoice
        raise RatingError(f"customer {customer_id!r} has no subscription in period {label}")

    def customers(self) -> Sequence[str]:
        return sorted(self._usage)
