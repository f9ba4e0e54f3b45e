"""The online meter: a ledger in memory. Events in one by one (or in batches), bill-to-date at
any instant, and a period closed into exactly the invoice the batch path produces.

A :class:`Meter` is a :class:`billing.ledger.Ledger` opened on ``sqlite://`` (one implementation
of the online path, not two): the same recording, dedupe, aggregate rows and rating. Use a
ledger on a file or on PostgreSQL when usage must survive a restart or be shared by workers.

Time comes from an injectable :class:`Clock`; the meter never reads the system clock itself
except through :class:`SystemClock`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from billing.costs import CostBook
from billing.invoice import Invoice
from billing.money import in_exact_context
from billing.periods import Period
from billing.plans.catalog import PlanCatalog
from billing.subscriptions import Subscription
from billing.usage.events import UsageEvent

__all__ = ["Clock", "FixedClock", "Meter", "MeterStats", "SystemClock"]

Outcome = Literal["new", "duplicate", "conflict"]


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


class Meter:
    """Metering and rating for live customers, in memory: a ledger on ``sqlite://``.

    >>> meter = Meter(catalog, subscriptions, costbook=CostBook.default())
    >>> meter.record(event)                      # "new", "duplicate" or "conflict"
    >>> meter.bill_to_date("acme").total         # Decimal, the period in force now
    >>> meter.close("acme", "2026-11")           # the period's invoice, as the batch path
    """

    def __init__(self, catalog: PlanCatalog, subscriptions: Iterable[Subscription], *,
                 costbook: CostBook | None = None, clock: Clock | None = None) -> None:
        from billing.ledger import Ledger

        self.catalog = catalog
        self.clock: Clock = clock or SystemClock()
        self.costbook = costbook
        self.ledger = Ledger.open("sqlite://", costbook=costbook, clock=self.clock)
        self.ledger.set_catalog(catalog)
        self.ledger.set_subscriptions(subscriptions)
        self.stats = MeterStats()

    def _count(self, new: int, duplicates: int, conflicts: int) -> MeterStats:
        self.stats.events += new
        self.stats.duplicates += duplicates
        self.stats.conflicts += conflicts
        return MeterStats(new, duplicates, conflicts)

    # --- recording -----------------------------------------------------------------------------

    def record(self, event: UsageEvent) -> Outcome:
        """Add one event. The first event with an id wins; a later identical copy is a
        duplicate, a later different one a conflict (both ignored, both counted)."""
        done = self.record_many([event])
        return "new" if done.events else "duplicate" if done.duplicates else "conflict"

    def record_many(self, events: Iterable[UsageEvent]) -> MeterStats:
        """Add a batch; returns what this batch did (new, duplicates, conflicts)."""
        result = self.ledger.record(list(events))
        return self._count(result.new, result.duplicates, result.conflicts)

    def record_batch(self, columns: Any) -> MeterStats:
        """Add a batch given as columns.

        ``columns`` is a pyarrow Table or RecordBatch, or a mapping of equal-length lists, with
        the canonical names ``id, customer_id, timestamp, model`` and optionally
        ``input_tokens, cached_input_tokens, cache_write_tokens, output_tokens`` (absent: 0),
        ``requests`` (absent: 1) and ``session_id``. Timestamps must be tz-aware (an Arrow
        timestamp with a time zone, or aware datetimes). The same rules as :meth:`record`, in
        row order: the first event with an id wins, later copies are duplicates or conflicts,
        and the same aggregates result, so the same invoices, byte for byte.

        The batch is checked whole before anything is recorded: a bad row raises
        :class:`~billing.errors.UsageError` naming its row (0-based) and the reason, and the
        meter is left as it was. Returns what this batch did (new, duplicates, conflicts).
        """
        result = self.ledger.record_batch(columns)
        return self._count(result.new, result.duplicates, result.conflicts)

    # --- questions -----------------------------------------------------------------------------

    def period_at(self, customer_id: str, at: datetime | None = None) -> Period:
        return self.ledger.period_at(customer_id, at)

    @in_exact_context
    def bill_to_date(self, customer_id: str, at: datetime | None = None) -> Invoice:
        """The invoice of the period in force at ``at`` (default: the clock's now), with the
        usage recorded so far: what the customer would owe if the period closed now."""
        return self.ledger.bill_to_date(customer_id, at)

    @in_exact_context
    def remaining_credits(self, customer_id: str, at: datetime | None = None) -> Decimal:
        """Credits the customer can still use at ``at`` (grants and packs not yet expired)."""
        return self.ledger.remaining_credits(customer_id, at)

    @in_exact_context
    def close(self, customer_id: str, label: str) -> Invoice:
        """The invoice of the period ``label`` ("2026-11"), identical to the batch path's."""
        return self.ledger.invoice(customer_id, label)

    def customers(self) -> Sequence[str]:
        return self.ledger.customers()
