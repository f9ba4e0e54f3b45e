"""The ledger's core: transactions, stored configuration, recording, reading, close, alerts.

:class:`billing.ledger.Ledger` adds the holds (``billing/ledger/holds.py``) to this class. See
``billing/ledger/ledger.py`` for what a ledger guarantees.

Why a little over 600 lines: every method here runs inside the same transaction helpers and the
cached configuration (``_write``, ``_cfg``); the holds, rows, columns, limits and schema already
live in their own modules, and the alerts (about 60 lines) are the next to move if it grows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

from billing.costs import CostBook
from billing.errors import BillingError, LedgerError, RatingError, UsageError
from billing.invoice import Invoice
from billing.ledger import limits as lim
from billing.ledger.columns import batch_events, batch_table, prepare_table, refuse_service_tiers
from billing.ledger.db import Cursor, Database, open_database, redact
from billing.ledger.model import Alert, RecordResult
from billing.ledger.rows import (
    _CHUNK,
    _EVENT_COLUMNS,
    _prepare,
    _Prepared,
)
from billing.ledger.schema import migrate
from billing.ledger.writes import add_hourly_from, insert_events, scan_sql, stage_batch
from billing.money import ZERO, in_exact_context
from billing.periods import Period, period_containing
from billing.plans.catalog import PlanCatalog
from billing.plans.model import (
    CapacityCharge,
    CapCharge,
    CreditsCharge,
    Plan,
)
from billing.rating.batch import PeriodRun, RaterCache, rate_period, subscription_period
from billing.rating.rater import RatingResult
from billing.subscriptions import Subscription
from billing.usage.aggregates import Counts, DailyKey, HourlyKey, UsageAggregates
from billing.usage.customer import CustomerUsage
from billing.usage.events import UsageEvent
from billing.usage.keys import epoch_micros, instant

__all__ = ["DEFAULT_HOLD_TTL", "LedgerCore", "usage_of"]


DEFAULT_HOLD_TTL = timedelta(minutes=10)
_SUMMED = ("sum(input), sum(cached_input), sum(cache_write), sum(output), sum(requests), "
           "sum(events)")
_COUNTED = "input, cached_input, cache_write, output, requests, events"
#: Every daily row: the kept rows and the recent sums not yet folded into them.
_ALL_DAILY = (f"(SELECT customer_id, model, band, day, {_COUNTED} FROM usage_daily UNION ALL "
              f"SELECT customer_id, model, band, day, {_COUNTED} FROM usage_recent) AS u")

class Clock:
    """Where the ledger's 'now' comes from (``billing.rating.meter.Clock`` is the protocol)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class _Config:
    """The catalog and subscriptions in force, as stored in the ledger."""

    def __init__(self, version: str, catalog: PlanCatalog, subs: list[Subscription],
                 costbook: CostBook | None, rules: dict[tuple[str, str], tuple[Decimal, ...]]
                 ) -> None:
        self.version = version
        self.catalog = catalog
        self.subscriptions = subs
        self.by_customer: dict[str, list[Subscription]] = {}
        for sub in subs:
            self.by_customer.setdefault(sub.customer_id, []).append(sub)
        self.raters = RaterCache(catalog, costbook=costbook)
        self.rules = rules
        capacity = {plan_id for plan_id in catalog.ids for plan in catalog.versions(plan_id)
                    if any(isinstance(c, CapacityCharge) for c in plan.charges)}
        self.hourly_customers = frozenset(s.customer_id for s in subs if s.plan in capacity)

    def subscription_at(self, customer_id: str, day: date) -> Subscription:
        for sub in self.by_customer.get(customer_id, []):
            if sub.start <= day and (sub.end is None or day < sub.end):
                return sub
        raise RatingError(f"customer {customer_id!r} has no subscription in force on {day}")

    def thresholds_for(self, customer_id: str, plan_id: str) -> tuple[Decimal, ...]:
        found = self.rules.get(("customer", customer_id))
        return found if found is not None else self.rules.get(("plan", plan_id), ())


class LedgerCore:
    """Everything of a ledger but the holds; use :class:`billing.ledger.Ledger` (its
    docstring shows the API)."""

    def __init__(self, db: Database, *, costbook: CostBook | None = None,
                 clock: Any = None, hold_ttl: timedelta = DEFAULT_HOLD_TTL,
                 hold_ttls: Mapping[str, timedelta] | None = None,
                 on_alert: Callable[[Alert], None] | None = None) -> None:
        self._db = db
        self.costbook = costbook
        self.clock = clock or Clock()
        self.hold_ttl = hold_ttl
        self.hold_ttls = dict(hold_ttls or {})
        self.on_alert = on_alert
        self._config: _Config | None = None
        migrate(db)
        self._thresholds = self._fix_thresholds(costbook)

    @classmethod
    def open(cls, url: str, *, costbook: CostBook | None = None, clock: Any = None,
             hold_ttl: timedelta = DEFAULT_HOLD_TTL,
             hold_ttls: Mapping[str, timedelta] | None = None,
             on_alert: Callable[[Alert], None] | None = None) -> Self:
        """Open (and create or upgrade) the ledger at ``url``: ``sqlite:///path/ledger.db``,
        ``sqlite://`` (in memory) or ``postgresql://user:password@host:port/db``.

        ``costbook`` prices cost-plus plans and fixes the long-context bands usage is grouped
        by (stored in the ledger when it is created; a different cost book's bands are
        refused). ``hold_ttl`` is the default life of a hold, ``hold_ttls`` one per plan id.
        ``on_alert`` is called with each new alert after its transaction commits."""
        return cls(open_database(url), costbook=costbook, clock=clock, hold_ttl=hold_ttl,
                   hold_ttls=hold_ttls, on_alert=on_alert)

    def __repr__(self) -> str:
        return f"Ledger({redact(self._db.url)!r})"

    @property
    def backend(self) -> str:
        return self._db.kind

    def close_connection(self) -> None:
        """Close the database connection(s)."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_connection()

    # --- transactions --------------------------------------------------------------------------

    @contextmanager
    def _write(self, *, pipelined: bool = False) -> Iterator[Cursor]:
        with self._translated(), self._db.write(pipelined=pipelined) as cur:
            yield cur

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """The databases' errors as the library's: a sum past 64 bits is a
        :class:`UsageError`, anything else a :class:`LedgerError` without the URL's
        password."""
        try:
            yield
        except BillingError:
            raise
        except sqlite3.IntegrityError as exc:
            if "CHECK constraint" in str(exc):
                raise UsageError("a token sum would exceed 2**63 - 1; the ledger keeps 64-bit "
                                 "sums") from None
            raise LedgerError(f"ledger {redact(self._db.url)}: {redact(str(exc))}") from None
        except OverflowError:
            raise UsageError("a token sum would exceed 2**63 - 1; the ledger keeps 64-bit "
                             "sums") from None
        except UnicodeEncodeError as exc:  # a lone surrogate in some text, from the driver
            raise UsageError(f"text the ledger cannot store as UTF-8: {exc.object[exc.start:exc.end]!r} "
                             f"in {exc.object!r} ({exc.reason})") from None
        except sqlite3.Error as exc:
            if "integer overflow" in str(exc):  # sum() of a batch's counts
                raise UsageError("a token sum would exceed 2**63 - 1; the ledger keeps 64-bit "
                                 "sums") from None
            raise LedgerError(f"ledger {redact(self._db.url)}: {redact(str(exc))}") from None
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                if "out of range" in str(exc):
                    raise UsageError("a token sum would exceed 2**63 - 1; the ledger keeps "
                                     "64-bit sums") from None
                raise LedgerError(f"ledger {redact(self._db.url)}: "
                                  f"{redact(type(exc).__name__ + ': ' + ' '.join(str(exc).split()))}") from None
            raise

    def _retrying(self, work: Callable[[Cursor], Any], *, pipelined: bool = False) -> Any:
        """Run ``work`` in a write transaction (see ``Database.write``); PostgreSQL deadlocks
        are retried."""
        for attempt in range(8):
            try:
                with self._write(pipelined=pipelined) as cur:
                    return work(cur)
            except LedgerError as exc:
                if "DeadlockDetected" in str(exc) and attempt < 7:
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    # --- configuration -------------------------------------------------------------------------

    def _fix_thresholds(self, costbook: CostBook | None) -> tuple[int, ...]:
        wanted = tuple(costbook.thresholds()) if costbook is not None else None
        with self._write() as cur:
            cur.execute("SELECT value FROM meta WHERE key = 'band_thresholds'")
            row = cur.fetchone()
            if row is None:
                stored = wanted or ()
                cur.execute("INSERT INTO meta (key, value) VALUES ('band_thresholds', ?)",
                            (json.dumps(list(stored)),))
                return stored
            stored = tuple(json.loads(row[0]))
        if wanted is not None and wanted != stored:
            raise LedgerError(
                f"ledger {redact(self._db.url)} groups usage by the long-context thresholds "
                f"{list(stored)}, but the cost book given has {list(wanted)}: open it with the "
                "cost book it was created with")
        return stored

    def _bump(self, cur: Cursor) -> None:
        cur.execute("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
                    "WHERE key = 'config_version'")

    def set_catalog(self, catalog: PlanCatalog) -> None:
        """Store ``catalog`` (every version of every plan) as the ledger's catalog."""
        for plan_id in catalog.ids:  # (the ledger's rows keep no reasoning split yet)
            for plan in catalog.versions(plan_id):
                if plan.reasoning_rates():
                    raise LedgerError(
                        f"plan {plan.id!r} prices reasoning tokens apart from output "
                        f"({'; '.join(plan.reasoning_rates())}): the ledger does not store "
                        "reasoning tokens yet; rate such usage from a file with billing rate")
        rows = []
        for plan_id in catalog.ids:
            for plan in catalog.versions(plan_id):
                source = catalog.sources.get((plan.id, plan.version))
                body = json.dumps({"plan": json.loads(plan.model_dump_json()),
                                   "source": str(source) if source is not None else None,
                                   "charge_sources": dict(plan.charge_sources)})
                rows.append((plan.id, plan.version.isoformat(), body))

        def work(cur: Cursor) -> None:
            self._db.lock_config(cur, exclusive=True)
            cur.execute("DELETE FROM plans")
            cur.executemany("INSERT INTO plans (plan_id, version, body) VALUES (?, ?, ?)", rows)
            self._bump(cur)
            self._rebuild_hourly(cur)  # loads the new configuration, kept once committed

        self._configure(work)

    def set_subscriptions(self, subscriptions: Iterable[Subscription]) -> None:
        """Store ``subscriptions`` (replacing the ledger's)."""
        rows = [(i, s.customer_id, s.model_dump_json()) for i, s in enumerate(subscriptions)]

        def work(cur: Cursor) -> None:
            self._db.lock_config(cur, exclusive=True)
            cur.execute("DELETE FROM subscriptions")
            cur.executemany("INSERT INTO subscriptions (position, customer_id, body) "
                            "VALUES (?, ?, ?)", rows)
            self._bump(cur)
            self._rebuild_hourly(cur)  # loads the new configuration, kept once committed

        self._configure(work)

    def _configure(self, work: Callable[[Cursor], None]) -> None:
        try:
            self._retrying(work)
        except BaseException:
            self._config = None  # it may be the configuration of a rolled-back transaction
            raise

    def set_limit(self, customer_id: str, amount: Decimal | None) -> None:
        """A hard spending limit on the customer's invoice total per period (None: none)."""
        if amount is not None and (not isinstance(amount, Decimal) or not amount.is_finite()
                                   or amount < 0):
            raise LedgerError(f"spending limit of {customer_id!r} must be a non-negative "
                              f"Decimal, got {amount!r}")
        value = None if amount is None else str(amount)

        def work(cur: Cursor) -> None:
            cur.execute("INSERT INTO customers (customer_id, spend_limit) VALUES (?, ?) "
                        "ON CONFLICT (customer_id) DO UPDATE SET spend_limit = "
                        "excluded.spend_limit", (customer_id, value))

        self._retrying(work)

    def set_alerts(self, thresholds: Sequence[Decimal | int | str], *, plan: str | None = None,
                   customer: str | None = None) -> None:
        """Alert thresholds in percent of the credits, the cap or the spending limit (e.g.
        ``[50, 80, 100]``) for every customer of ``plan``, or for one ``customer`` (which wins
        over its plan's). Each crossing is written once per period (see :meth:`alerts`)."""
        if (plan is None) == (customer is None):
            raise LedgerError("set_alerts: give plan= or customer=, not both")
        values = sorted({Decimal(str(t)) for t in thresholds})
        if any(not v.is_finite() or v <= 0 for v in values):
            raise LedgerError(f"alert thresholds must be positive percentages: {thresholds}")
        scope, key = ("plan", plan) if plan is not None else ("customer", customer)

        def work(cur: Cursor) -> None:
            cur.execute("INSERT INTO alert_rules (scope, key, thresholds) VALUES (?, ?, ?) "
                        "ON CONFLICT (scope, key) DO UPDATE SET thresholds = "
                        "excluded.thresholds", (scope, key, json.dumps([str(v) for v in values])))
            self._bump(cur)

        self._retrying(work)

    def _rebuild_hourly(self, cur: Cursor) -> None:
        """Hourly rows for exactly the customers on a capacity plan, from their events (a
        configuration change is rare; recording keeps them up to date in between)."""
        self._config = None
        wanted = self._cfg(cur).hourly_customers
        cur.execute("SELECT DISTINCT customer_id FROM usage_hourly")
        have = {r[0] for r in cur.fetchall()}
        for customer in sorted(have - wanted):
            cur.execute("DELETE FROM usage_hourly WHERE customer_id = ?", (customer,))
        add_hourly_from(cur, self._db.kind, sorted(wanted - have))

    def _cfg(self, cur: Cursor, version: str | None = None) -> _Config:
        if version is None:
            cur.execute("SELECT value FROM meta WHERE key = 'config_version'")
            version = str(cur.fetchone()[0])
        if self._config is not None and self._config.version == version:
            return self._config
        cur.execute("SELECT body FROM plans ORDER BY plan_id, version")
        plans: list[Plan] = []
        sources: dict[tuple[str, date], Path] = {}
        for (body,) in cur.fetchall():
            data = json.loads(body)
            plan = Plan.model_validate(data["plan"]).with_charge_sources(
                data.get("charge_sources", {}))  # invoice lines name their plan line
            plans.append(plan)
            if data["source"] is not None:
                sources[(plan.id, plan.version)] = Path(data["source"])
        cur.execute("SELECT body FROM subscriptions ORDER BY position")
        subs = [Subscription.model_validate_json(body) for (body,) in cur.fetchall()]
        cur.execute("SELECT scope, key, thresholds FROM alert_rules")
        rules = {(scope, key): tuple(Decimal(v) for v in json.loads(text))
                 for scope, key, text in cur.fetchall()}
        self._config = _Config(version, PlanCatalog(plans, sources), subs, self.costbook, rules)
        return self._config

    def catalog(self) -> PlanCatalog:
        with self._db.read() as cur:
            return self._cfg(cur).catalog

    def subscriptions(self) -> list[Subscription]:
        with self._db.read() as cur:
            return list(self._cfg(cur).subscriptions)

    # --- recording -----------------------------------------------------------------------------

    @in_exact_context
    def record(self, events: UsageEvent | Iterable[UsageEvent]) -> RecordResult:
        """Record one event or many, durably (on disk or committed when this returns) and
        idempotently by event id, across processes and restarts: the first event with an id
        wins; a later identical copy is a duplicate, a later different one a conflict (both
        ignored, both counted)."""
        batch = [events] if isinstance(events, UsageEvent) else list(events)
        for event in batch:
            if not isinstance(event, UsageEvent):
                raise UsageError(f"record takes UsageEvent objects, got {type(event).__name__}")
            if event.service_tier != "standard":
                refuse_service_tiers(batch)
        if not batch:
            return RecordResult()
        # The Python work (rows, dedupe within the batch) is done before the write lock is
        # taken, so other writers' transactions run meanwhile; the sums are the database's.
        return self._record(_prepare(batch))

    @in_exact_context
    def record_batch(self, columns: Any) -> RecordResult:
        """Record a batch given as columns: the same rules and results as :meth:`record`,
        without a Python event per row (the batch is checked and summed with Arrow kernels).

        ``columns`` is a pyarrow Table or RecordBatch, or a mapping of equal-length lists,
        named ``id, customer_id, timestamp, model`` and optionally ``input_tokens,
        cached_input_tokens, cache_write_tokens, output_tokens`` (absent: 0), ``requests``
        (absent: 1) and ``session_id``; timestamps tz-aware. A bad row refuses the whole
        batch with :class:`~billing.errors.UsageError` naming the row (0-based) and why."""
        table = batch_table(columns)
        prepared = None if table is None else prepare_table(table)
        if prepared is None:  # counts near 64 bits, or ids repeated within the batch
            return self.record(batch_events(columns))
        return self._record(prepared)

    def _record(self, prepared: _Prepared) -> RecordResult:
        if not prepared.rows:
            return RecordResult(0, prepared.duplicates, prepared.conflicts,
                                tuple(prepared.conflict_ids))
        fresh_alerts: list[Alert] = []

        def work(cur: Cursor) -> RecordResult:
            fresh_alerts.clear()
            cfg = self._cfg(cur, self._db.lock_config(cur, exclusive=False))
            result, customers = self._insert_events(cur, cfg, prepared, staged=peak)
            if customers and cfg.rules:
                now = self.clock.now()
                for customer in sorted(customers):
                    fresh_alerts.extend(self._check_alerts(cur, cfg, customer, now))
            return result

        peak = None
        with self._db.session():
            if self._db.kind == "sqlite":
                # SQLite has one writer at a time: the batch is staged before its lock is
                # taken (billing/ledger/writes.py).
                with self._translated(), self._db.staging() as cur:
                    peak = stage_batch(cur, prepared.rows, self._thresholds)
            result: RecordResult = self._retrying(work)
        self._notify(fresh_alerts)
        return result

    def _insert_events(self, cur: Cursor, cfg: _Config, prepared: _Prepared, *,
                       staged: int | None = None) -> tuple[RecordResult, set[str]]:
        """Insert a prepared batch's rows and add the new ones to the aggregate rows; the
        first of an id wins. Returns the counts and, when alert rules exist (their only
        reader), the customers whose usage grew."""
        rows = prepared.rows
        duplicates, conflicts = prepared.duplicates, prepared.conflicts
        conflict_ids = list(prepared.conflict_ids)
        recorded = insert_events(cur, self._db.kind, rows, self._thresholds,
                                 cfg.hourly_customers, staged=staged)
        old = [row for row in rows if row[0] in recorded] if recorded else []
        for start in range(0, len(old), _CHUNK):
            chunk = old[start:start + _CHUNK]
            marks = ", ".join(["?"] * len(chunk))
            cur.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE id IN ({marks})",
                        [row[0] for row in chunk])
            stored = {r[0]: tuple(r) for r in cur.fetchall()}
            for row in chunk:
                if stored.get(row[0]) == row:
                    duplicates += 1
                else:
                    conflicts += 1
                    conflict_ids.append(row[0])
        customers = {row[1] for row in rows if row[0] not in recorded} if cfg.rules else set()
        return (RecordResult(len(rows) - len(old), duplicates, conflicts, tuple(conflict_ids)),
                customers)

    # --- reading usage -------------------------------------------------------------------------

    # Rows are split by writer slot, and SQLite's newest sums wait in usage_recent to be
    # folded (billing/ledger/writes.py): summed when read, in one statement (one snapshot).
    _DAILY_SQL = (f"SELECT model, band, day, {_SUMMED} FROM ("
                  f"SELECT model, band, day, {_COUNTED} FROM usage_daily WHERE customer_id = ? "
                  f"UNION ALL SELECT model, band, day, {_COUNTED} FROM usage_recent "
                  "WHERE customer_id = ?) AS u GROUP BY model, band, day")
    _HOURLY_SQL = (f"SELECT hour, {_SUMMED} FROM usage_hourly WHERE customer_id = ? "
                   "GROUP BY hour")

    def _usage(self, cur: Cursor, customer_id: str, *, hourly: bool = True) -> CustomerUsage:
        cur.execute(self._DAILY_SQL, (customer_id, customer_id))
        daily = cur.fetchall()
        hours: list[Any] = []
        if hourly:
            cur.execute(self._HOURLY_SQL, (customer_id,))
            hours = cur.fetchall()
        return usage_of(customer_id, daily, hours)

    def usage(self, customer_id: str) -> CustomerUsage:
        """The customer's aggregate rows (daily and hourly), as the rater reads them."""
        with self._db.read() as cur:
            return self._usage(cur, customer_id)

    def _rate_at(self, cfg: _Config, usage: CustomerUsage, moment: datetime
                 ) -> tuple[Subscription, Period, RatingResult]:
        day = moment.date()
        sub = cfg.subscription_at(usage.customer_id, day)
        interval = cfg.catalog.version_at(sub.plan, day).interval
        period = period_containing(sub.anchor_date, interval, day)
        rater = cfg.raters.for_subscription(sub, period)
        return sub, period, rater.rate(sub, period, usage)

    def _moment(self, at: datetime | None) -> datetime:
        moment = at or self.clock.now()
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise LedgerError(f"naive instant {moment.isoformat()}: give it a time zone")
        return moment.astimezone(UTC)

    @in_exact_context
    def bill_to_date(self, customer_id: str, at: datetime | None = None) -> Invoice:
        """The invoice of the period in force at ``at`` (default: now) with the usage recorded
        so far (open holds are not usage): what the customer would owe if it closed now."""
        moment = self._moment(at)
        with self._db.read() as cur:
            cfg = self._cfg(cur)
            return self._rate_at(cfg, self._usage(cur, customer_id), moment)[2].invoice

    @in_exact_context
    def remaining_credits(self, customer_id: str, at: datetime | None = None) -> Decimal:
        """Credits the customer can still use at ``at`` (grants and packs not yet expired)."""
        moment = self._moment(at)
        with self._db.read() as cur:
            cfg = self._cfg(cur)
            result = self._rate_at(cfg, self._usage(cur, customer_id), moment)[2]
        return lim.usable_credits(result, moment.date())

    def period_at(self, customer_id: str, at: datetime | None = None) -> Period:
        moment = self._moment(at)
        with self._db.read() as cur:
            cfg = self._cfg(cur)
        sub = cfg.subscription_at(customer_id, moment.date())
        interval = cfg.catalog.version_at(sub.plan, moment.date()).interval
        return period_containing(sub.anchor_date, interval, moment.date())

    @in_exact_context
    def invoice(self, customer_id: str, label: str) -> Invoice:
        """The customer's invoice for the period ``label`` ("2026-11"), as the batch path
        gives it (not stored; :meth:`close` stores every customer's)."""
        with self._db.read() as cur:
            cfg = self._cfg(cur)
            usage = self._usage(cur, customer_id)
        for sub in cfg.by_customer.get(customer_id, []):
            period = subscription_period(cfg.catalog, sub, label)
            if period.clip(sub.start, sub.end) is not None:
                rater = cfg.raters.for_subscription(sub, period)
                return rater.rate(sub, period, usage).invoice
        raise RatingError(f"customer {customer_id!r} has no subscription in period {label}")

    def customers(self) -> list[str]:
        """Customers with recorded usage."""
        with self._db.read() as cur:
            cur.execute(f"SELECT DISTINCT customer_id FROM {_ALL_DAILY} ORDER BY customer_id")
            return [r[0] for r in cur.fetchall()]

    def aggregates(self) -> UsageAggregates:
        """Every customer's aggregate rows (daily and hourly): what ``billing rate``'s one scan
        of the same events yields, read without a Python object per event."""
        daily: dict[DailyKey, Counts] = {}
        hourly: dict[HourlyKey, Counts] = {}
        with self._db.read() as cur:
            cur.execute(f"SELECT customer_id, model, band, day, {_SUMMED} FROM {_ALL_DAILY} "
                        "GROUP BY customer_id, model, band, day")
            for customer, model, band, day, *counts in cur.fetchall():
                daily[DailyKey(customer, model, int(band), int(day))] = Counts(*map(int, counts))
            cur.execute(f"SELECT customer_id, hour, {_SUMMED} FROM usage_hourly "
                        "GROUP BY customer_id, hour")
            for customer, hour, *counts in cur.fetchall():
                hourly[HourlyKey(customer, int(hour))] = Counts(*map(int, counts))
        return UsageAggregates(dict(sorted(daily.items())), dict(sorted(hourly.items())))

    def scan(self, catalog: PlanCatalog | None = None) -> UsageAggregates:
        """Every customer's usage made from the events by the one-scan aggregation, run by
        the database on its events table: one grouped query with ``billing rate``'s keys
        (:func:`billing.ledger.writes.scan_sql`), one Python tuple per aggregate row, never
        one per event. Hourly rows for every customer when ``catalog`` (default: the
        ledger's) has a capacity charge, as ``billing rate`` makes them. Sums are exact (a
        sum past 64 bits is an error on SQLite, exact on PostgreSQL)."""
        if catalog is None:
            catalog = self.catalog()
        hourly = any(isinstance(charge, CapacityCharge) for plan_id in catalog.ids
                     for plan in catalog.versions(plan_id) for charge in plan.charges)
        daily: dict[DailyKey, Counts] = {}
        hours: dict[HourlyKey, Counts] = {}
        with self._db.read() as cur:
            try:
                cur.execute(scan_sql("events", self._thresholds))
                for customer, model, band, day, *counts in cur.fetchall():
                    daily[DailyKey(customer, model, int(band), int(day))] = \
                        Counts(*map(int, counts))
                if hourly:
                    cur.execute(scan_sql("events", (), hourly=True))
                    for customer, hour, *counts in cur.fetchall():
                        hours[HourlyKey(customer, int(hour))] = Counts(*map(int, counts))
            except sqlite3.Error as exc:
                if "integer overflow" in str(exc):
                    raise UsageError("a token sum would exceed 2**63 - 1; the ledger keeps "
                                     "64-bit sums") from None
                raise LedgerError(f"ledger {redact(self._db.url)}: {redact(str(exc))}") from None
        return UsageAggregates(dict(sorted(daily.items())), dict(sorted(hours.items())))

    @in_exact_context
    def close(self, label: str) -> PeriodRun:
        """Rate every subscription for the period ``label`` (as ``billing rate`` does, through
        the same function, on the same one-scan aggregation of the events: :meth:`scan`) and
        store the invoices as closed. Re-closing replaces them."""
        with self._db.read() as cur:
            cfg = self._cfg(cur)
        run = rate_period(cfg.catalog, cfg.subscriptions, self.scan(cfg.catalog), label,
                          costbook=self.costbook)
        rows = [(inv.id, inv.customer_id, label, inv.model_dump_json()) for inv in run.invoices]

        def work(cur: Cursor) -> None:
            cur.executemany("INSERT INTO invoices (invoice_id, customer_id, period, body) "
                            "VALUES (?, ?, ?, ?) ON CONFLICT (invoice_id) DO UPDATE SET "
                            "body = excluded.body", rows)

        self._retrying(work)
        return run

    def closed_invoices(self, label: str) -> list[Invoice]:
        with self._db.read() as cur:
            cur.execute("SELECT body FROM invoices WHERE period = ? ORDER BY customer_id, "
                        "invoice_id", (label,))
            return [Invoice.model_validate_json(body) for (body,) in cur.fetchall()]

    def _spend_limit(self, cur: Cursor, customer_id: str) -> Decimal | None:
        cur.execute("SELECT spend_limit FROM customers WHERE customer_id = ?", (customer_id,))
        row = cur.fetchone()
        return None if row is None or row[0] is None else Decimal(row[0])

    # --- alerts --------------------------------------------------------------------------------

    def _check_alerts(self, cur: Cursor, cfg: _Config, customer_id: str, moment: datetime
                      ) -> list[Alert]:
        try:
            sub = cfg.subscription_at(customer_id, moment.date())
        except RatingError:
            return []
        thresholds = cfg.thresholds_for(customer_id, sub.plan)
        if not thresholds:
            return []
        sub, period, result = self._rate_at(cfg, self._usage(cur, customer_id), moment)
        plan = cfg.raters.for_subscription(sub, period).plan
        basis = _alert_basis(plan, sub, result, self._spend_limit(cur, customer_id))
        if basis is None:
            return []
        name, used, limit = basis
        out: list[Alert] = []
        now_us = epoch_micros(moment)
        for threshold in thresholds:
            if limit <= 0 or used * 100 < limit * threshold:
                continue
            cur.execute("INSERT INTO alerts (customer_id, period_start, threshold, basis, used, "
                        "limit_amount, currency, created_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (customer_id, period_start, threshold) DO NOTHING "
                        "RETURNING seq", (customer_id, period.start.isoformat(), str(threshold),
                                          name, str(used), str(limit), plan.currency, now_us))
            row = cur.fetchone()
            if row is not None:
                out.append(Alert(int(row[0]), customer_id, period.start, threshold, name, used,
                                 limit, plan.currency, moment))
        return out

    def _notify(self, alerts: Sequence[Alert]) -> None:
        if self.on_alert is not None:
            for alert in alerts:
                self.on_alert(alert)

    def alerts(self, since: int = 0) -> list[Alert]:
        """Alerts with a sequence number above ``since`` (the outbox), in order."""
        with self._db.read() as cur:
            cur.execute("SELECT seq, customer_id, period_start, threshold, basis, used, "
                        "limit_amount, currency, created_us FROM alerts WHERE seq > ? "
                        "ORDER BY seq", (since,))
            return [Alert(int(s), c, date.fromisoformat(p), Decimal(t), b, Decimal(u),
                          Decimal(lm), cur_, instant(int(us)))
                    for s, c, p, t, b, u, lm, cur_, us in cur.fetchall()]


def usage_of(customer_id: str, daily: Iterable[Sequence[Any]], hourly: Iterable[Sequence[Any]]
              ) -> CustomerUsage:
    """A customer's usage from the rows of ``_DAILY_SQL`` and ``_HOURLY_SQL``."""
    usage = CustomerUsage(customer_id)
    for model, band, day, *counts in daily:
        usage.daily[(model, int(band), int(day))] = Counts(*map(int, counts))
    for hour, *counts in hourly:
        usage.hourly[int(hour)] = Counts(*map(int, counts))
    return usage


def _alert_basis(plan: Plan, sub: Subscription, result: RatingResult,
                 spend_limit: Decimal | None) -> tuple[str, Decimal, Decimal] | None:
    """What an alert threshold is a percentage of: the cap, else the spending limit, else the
    period's credits (burned against granted, in currency)."""
    for charge in plan.charges:
        if isinstance(charge, CapCharge):
            fraction = sub.active_fraction(Period(result.invoice.period_start,
                                                  result.invoice.period_end))
            return "cap", lim.metered_before_cap(result), charge.maximum * fraction
    if spend_limit is not None:
        return "limit", result.invoice.total, spend_limit
    for charge in plan.charges:
        if isinstance(charge, CreditsCharge):
            burned = sum((b.burned for b in result.invoice.credits), ZERO) * charge.unit_value
            granted = sum((b.granted for b in result.invoice.credits), ZERO) * charge.unit_value
            return "credits", burned, granted
    return None
