"""The live ledger: a system of record for usage, holds, alerts and closed invoices.

One implementation over SQLite (embedded; ``sqlite://`` in memory, which is what
:class:`billing.Meter` is) and PostgreSQL (many workers on many machines). Everything a
decision reads and writes happens in one database transaction:

- ``record`` inserts events keyed by id (first one wins; a later copy is a duplicate or a
  conflict) and adds the new ones to the daily and hourly aggregate rows of the one-scan
  aggregation (customer, model, band, UTC day; customer, UTC hour) in the same transaction;
- ``authorize`` locks the customer (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the customer's row,
  ``FOR UPDATE``), rates the period with the rater that bills it, open holds included at their
  worst case, and inserts the hold only if no hard limit is crossed;
- ``settle`` records the real usage as an event (id: the request id) and closes the hold in the
  same transaction; ``release`` closes it unused; holds past their expiry are ignored by every
  decision and marked expired by the next one.

The catalog and the subscriptions live in the ledger too (``set_catalog``,
``set_subscriptions``); each process reloads them when another one changed them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from billing.costs import CostBook
from billing.errors import BillingError, LedgerError, RatingError, UsageError
from billing.invoice import Invoice
from billing.ledger import limits as lim
from billing.ledger.db import Cursor, Database, open_database, redact
from billing.ledger.model import Alert, Balance, Denial, Hold, RecordResult, Settlement
from billing.ledger.schema import migrate
from billing.money import ZERO, in_exact_context
from billing.periods import Period, period_containing
from billing.plans.catalog import PlanCatalog
from billing.plans.model import (
    CapacityCharge,
    CapCharge,
    CommitmentCharge,
    CreditsCharge,
    FlatCharge,
    Plan,
    RateCardCharge,
    SeatsCharge,
)
from billing.rating.batch import PeriodRun, RaterCache, rate_period, subscription_period
from billing.rating.engine import RatingResult
from billing.rating.usage import CustomerUsage
from billing.subscriptions import Subscription
from billing.usage.aggregate_python import band_of
from billing.usage.aggregates import Counts, DailyKey, HourlyKey, UsageAggregates
from billing.usage.events import UsageEvent

__all__ = ["DEFAULT_HOLD_TTL", "Ledger"]

DEFAULT_HOLD_TTL = timedelta(minutes=10)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_US = 86_400_000_000
_HOUR_US = 3_600_000_000
_CHUNK = 1_000
_PROMPT_CLASSES = ("input", "cached_input", "cache_write")
_EVENT_COLUMNS = ("id, customer_id, ts_us, model, input, cached_input, cache_write, output, "
                  "requests, session_id, properties")
_EVENT_TYPES = ("text", "text", "bigint", "text", "bigint", "bigint", "bigint", "bigint",
                "bigint", "text", "text")
_SUM_COLUMNS = ("input", "cached_input", "cache_write", "output", "requests", "events")


class Clock:
    """Where the ledger's 'now' comes from (``billing.rating.meter.Clock`` is the protocol)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _event_row(event: UsageEvent) -> tuple[Any, ...]:
    props = json.dumps(dict(event.properties), sort_keys=True) if event.properties else None
    return (event.id, event.customer_id, _micros(event.timestamp), event.model,
            event.input_tokens, event.cached_input_tokens, event.cache_write_tokens,
            event.output_tokens, event.requests, event.session_id, props)


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


class Ledger:
    """A durable usage ledger. Open one with :meth:`open`; the same API on every backend.

    >>> ledger = Ledger.open("sqlite:///ledger.db", costbook=CostBook.default())
    >>> ledger.set_catalog(load_catalog(["plans"])); ledger.set_subscriptions(subs)
    >>> ledger.record(events)                       # RecordResult(new=..., duplicates=...)
    >>> hold = ledger.authorize("acme", "req-1", "gpt-5", 20_000, 2_000)
    >>> ledger.settle(hold.hold_id, {"input_tokens": 12_000, "output_tokens": 800})
    >>> ledger.bill_to_date("acme")                  # the invoice as billing rate gives it
    """

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
             on_alert: Callable[[Alert], None] | None = None) -> Ledger:
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

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_connection()

    # --- transactions --------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Cursor]:
        try:
            with self._db.write() as cur:
                yield cur
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
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {redact(self._db.url)}: {redact(str(exc))}") from None
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                if "out of range" in str(exc):
                    raise UsageError("a token sum would exceed 2**63 - 1; the ledger keeps "
                                     "64-bit sums") from None
                raise LedgerError(f"ledger {redact(self._db.url)}: "
                                  f"{redact(type(exc).__name__ + ': ' + str(exc))}") from None
            raise

    def _retrying(self, work: Callable[[Cursor], Any]) -> Any:
        """Run ``work`` in a write transaction; PostgreSQL deadlocks are retried."""
        for attempt in range(8):
            try:
                with self._write() as cur:
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
        rows = []
        for plan_id in catalog.ids:
            for plan in catalog.versions(plan_id):
                source = catalog.sources.get((plan.id, plan.version))
                body = json.dumps({"plan": json.loads(plan.model_dump_json()),
                                   "source": str(source) if source is not None else None})
                rows.append((plan.id, plan.version.isoformat(), body))

        def work(cur: Cursor) -> None:
            self._db.lock_config(cur, exclusive=True)
            cur.execute("DELETE FROM plans")
            cur.executemany("INSERT INTO plans (plan_id, version, body) VALUES (?, ?, ?)", rows)
            self._bump(cur)
            self._rebuild_hourly(cur)

        self._retrying(work)
        self._config = None

    def set_subscriptions(self, subscriptions: Iterable[Subscription]) -> None:
        """Store ``subscriptions`` (replacing the ledger's)."""
        rows = [(i, s.customer_id, s.model_dump_json()) for i, s in enumerate(subscriptions)]

        def work(cur: Cursor) -> None:
            self._db.lock_config(cur, exclusive=True)
            cur.execute("DELETE FROM subscriptions")
            cur.executemany("INSERT INTO subscriptions (position, customer_id, body) "
                            "VALUES (?, ?, ?)", rows)
            self._bump(cur)
            self._rebuild_hourly(cur)

        self._retrying(work)
        self._config = None

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
        for customer in sorted(wanted - have):
            cur.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE customer_id = ?",
                        (customer,))
            hourly: dict[tuple[str, int], list[int]] = {}
            for row in cur.fetchall():
                _sum_into(hourly, (customer, int(row[2]) // _HOUR_US), row)
            self._upsert_hourly(cur, hourly)

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
            plan = Plan.model_validate(data["plan"])
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
        if not batch:
            return RecordResult()
        fresh_alerts: list[Alert] = []
        # The Python work (rows, dedupe within the batch, sums) is done before the write lock
        # is taken, so other writers' transactions run meanwhile.
        config = self._config
        prepared = _prepare(batch, self._thresholds,
                            config.hourly_customers if config is not None else None)

        def work(cur: Cursor) -> RecordResult:
            fresh_alerts.clear()
            cfg = self._cfg(cur, self._db.lock_config(cur, exclusive=False))
            result, new = self._insert_events(cur, cfg, batch, prepared)
            if new and cfg.rules:
                now = self.clock.now()
                for customer in sorted({e.customer_id for e in new}):
                    fresh_alerts.extend(self._check_alerts(cur, cfg, customer, now))
            return result

        result: RecordResult = self._retrying(work)
        self._notify(fresh_alerts)
        return result

    def _insert_events(self, cur: Cursor, cfg: _Config, batch: Sequence[UsageEvent],
                       prepared: _Prepared | None = None
                       ) -> tuple[RecordResult, list[UsageEvent]]:
        if prepared is None:
            prepared = _prepare(batch, self._thresholds, cfg.hourly_customers)
        rows = prepared.rows
        duplicates, conflicts = prepared.duplicates, prepared.conflicts
        conflict_ids = list(prepared.conflict_ids)
        inserted: set[str] = set()
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start:start + _CHUNK]
            _bulk(cur, self._db.kind, "events", _EVENT_COLUMNS, _EVENT_TYPES, chunk,
                  "ON CONFLICT (id) DO NOTHING RETURNING id")
            inserted.update(r[0] for r in cur.fetchall())
        old = [row for row in rows if row[0] not in inserted]
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
        if old or prepared.hourly_customers != cfg.hourly_customers:
            new_rows = [row for row in rows if row[0] in inserted]
            prepared = _prepare_sums(prepared, new_rows, self._thresholds,
                                     cfg.hourly_customers)
        self._add_usage(cur, prepared.daily, prepared.hourly)
        # An id twice in the batch: only its first copy is new.
        unique: dict[str, UsageEvent] = {}
        for event in batch:
            if event.id in inserted:
                unique.setdefault(event.id, event)
        return (RecordResult(len(inserted), duplicates, conflicts, tuple(conflict_ids)),
                list(unique.values()))

    def _add_usage(self, cur: Cursor, daily: Mapping[tuple[Any, ...], list[int]],
                   hourly: Mapping[tuple[str, int], list[int]]) -> None:
        """Add summed event rows to the daily rows, and to the hourly rows of the customers
        on a capacity plan."""
        if not daily:
            return
        update = ", ".join(f"{c} = usage_daily.{c} + excluded.{c}" for c in _SUM_COLUMNS)
        _bulk(cur, self._db.kind, "usage_daily",
              "customer_id, model, band, day, " + ", ".join(_SUM_COLUMNS),
              ("text", "text", *["bigint"] * 8), [(*k, *v) for k, v in sorted(daily.items())],
              f"ON CONFLICT (customer_id, model, band, day) DO UPDATE SET {update}")
        self._upsert_hourly(cur, hourly)

    def _upsert_hourly(self, cur: Cursor, hourly: Mapping[tuple[str, int], list[int]]) -> None:
        if not hourly:
            return
        update = ", ".join(f"{c} = usage_hourly.{c} + excluded.{c}" for c in _SUM_COLUMNS)
        _bulk(cur, self._db.kind, "usage_hourly", "customer_id, hour, " + ", ".join(_SUM_COLUMNS),
              ("text", *["bigint"] * 7), [(*k, *v) for k, v in sorted(hourly.items())],
              f"ON CONFLICT (customer_id, hour) DO UPDATE SET {update}")

    # --- reading usage -------------------------------------------------------------------------

    def _usage(self, cur: Cursor, customer_id: str, *, hourly: bool = True) -> CustomerUsage:
        usage = CustomerUsage(customer_id)
        cur.execute("SELECT model, band, day, input, cached_input, cache_write, output, "
                    "requests, events FROM usage_daily WHERE customer_id = ?", (customer_id,))
        for model, band, day, *counts in cur.fetchall():
            usage.daily[(model, int(band), int(day))] = Counts(*map(int, counts))
        if not hourly:
            return usage
        cur.execute("SELECT hour, input, cached_input, cache_write, output, requests, events "
                    "FROM usage_hourly WHERE customer_id = ?", (customer_id,))
        for hour, *counts in cur.fetchall():
            usage.hourly[int(hour)] = Counts(*map(int, counts))
        return usage

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
            cur.execute("SELECT DISTINCT customer_id FROM usage_daily ORDER BY customer_id")
            return [r[0] for r in cur.fetchall()]

    def aggregates(self) -> UsageAggregates:
        """Every customer's aggregate rows (daily and hourly): what ``billing rate``'s one scan
        of the same events yields, read without a Python object per event."""
        daily: dict[DailyKey, Counts] = {}
        hourly: dict[HourlyKey, Counts] = {}
        with self._db.read() as cur:
            cur.execute("SELECT customer_id, model, band, day, input, cached_input, "
                        "cache_write, output, requests, events FROM usage_daily")
            for customer, model, band, day, *counts in cur.fetchall():
                daily[DailyKey(customer, model, int(band), int(day))] = Counts(*map(int, counts))
            cur.execute("SELECT customer_id, hour, input, cached_input, cache_write, output, "
                        "requests, events FROM usage_hourly")
            for customer, hour, *counts in cur.fetchall():
                hourly[HourlyKey(customer, int(hour))] = Counts(*map(int, counts))
        return UsageAggregates(dict(sorted(daily.items())), dict(sorted(hourly.items())))

    @in_exact_context
    def close(self, label: str) -> PeriodRun:
        """Rate every subscription for the period ``label`` (as ``billing rate`` does, through
        the same function) and store the invoices as closed. Re-closing replaces them."""
        with self._db.read() as cur:
            cfg = self._cfg(cur)
        run = rate_period(cfg.catalog, cfg.subscriptions, self.aggregates(), label,
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

    # --- holds ---------------------------------------------------------------------------------

    def _hold_usage(self, usage: CustomerUsage, rows: Iterable[Sequence[Any]]) -> CustomerUsage:
        """``usage`` plus each hold's worst case (model, prompt class, prompt, output, instant)
        as a request at the hold's instant."""
        merged = CustomerUsage(usage.customer_id,
                               {k: Counts(*c.as_tuple()) for k, c in usage.daily.items()},
                               {k: Counts(*c.as_tuple()) for k, c in usage.hourly.items()})
        for model, prompt_class, prompt, output, created_us in rows:
            prompt, output, created_us = int(prompt), int(output), int(created_us)
            counts = Counts(prompt if prompt_class == "input" else 0,
                            prompt if prompt_class == "cached_input" else 0,
                            prompt if prompt_class == "cache_write" else 0, output, 1, 1)
            band = band_of(prompt, 1, self._thresholds) if self._thresholds else 0
            merged.daily.setdefault((model, band, created_us // _DAY_US), Counts()).add(counts)
            merged.hourly.setdefault(created_us // _HOUR_US, Counts()).add(counts)
        return merged

    def _open_holds(self, cur: Cursor, customer_id: str, now_us: int,
                    *, exclude: str | None = None) -> list[tuple[Any, ...]]:
        cur.execute("SELECT request_id, model, prompt_class, prompt_tokens, output_tokens, "
                    "created_us, amount FROM holds WHERE customer_id = ? AND state = 'open' "
                    "AND expires_us > ?", (customer_id, now_us))
        return [tuple(r) for r in cur.fetchall() if r[0] != exclude]

    def _spend_limit(self, cur: Cursor, customer_id: str) -> Decimal | None:
        cur.execute("SELECT spend_limit FROM customers WHERE customer_id = ?", (customer_id,))
        row = cur.fetchone()
        return None if row is None or row[0] is None else Decimal(row[0])

    def _hold(self, row: Sequence[Any]) -> Hold:
        (request_id, customer_id, model, _cls, prompt, output, amount, currency, created_us,
         expires_us, state) = row
        return Hold(request_id, customer_id, model, int(prompt), int(output), Decimal(amount),
                    currency, _instant(int(created_us)), _instant(int(expires_us)), state)

    _HOLD_COLUMNS = ("request_id, customer_id, model, prompt_class, prompt_tokens, "
                     "output_tokens, amount, currency, created_us, expires_us, state")

    def _find_hold(self, cur: Cursor, request_id: str) -> tuple[Any, ...] | None:
        cur.execute(f"SELECT {self._HOLD_COLUMNS}, usage, settled_amount FROM holds "
                    "WHERE request_id = ?", (request_id,))
        row = cur.fetchone()
        return None if row is None else tuple(row)

    @in_exact_context
    def authorize(self, customer_id: str, request_id: str, model: str, max_input_tokens: int,
                  max_output_tokens: int, *, ttl: timedelta | None = None,
                  at: datetime | None = None) -> Hold | Denial:
        """Hold the worst-case cost of a request before making it.

        The worst case is ``max_input_tokens`` of prompt (priced in whichever prompt class,
        fresh, cached or cache write, costs the most) and ``max_output_tokens`` of output,
        priced by the customer's plan at this instant, on top of the usage so far and every
        open hold. It is reserved atomically: no interleaving of workers can grant two holds
        that together cross a hard limit (credits with ``overage: block``, a ``cap``, the
        customer's spending limit). Returns the :class:`Hold`, or a :class:`Denial` with the
        reason and what is still available. Idempotent by ``request_id``: asking again returns
        the same hold (in whatever state it is now)."""
        for name, value in (("max_input_tokens", max_input_tokens),
                            ("max_output_tokens", max_output_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise LedgerError(f"authorize {request_id!r}: {name} must be a whole number "
                                  f">= 0, got {value!r}")
        if not request_id or not customer_id or not model:
            raise LedgerError("authorize needs a customer id, a request id and a model")
        moment = self._moment(at)
        now_us = _micros(moment)

        def work(cur: Cursor) -> Hold | Denial:
            # Authorize writes no usage: it needs no lock on the configuration, only the
            # customer's (a configuration change racing it is ordered before or after it).
            limit_text, version = self._db.lock_customer(cur, customer_id)
            cfg = self._cfg(cur, version)
            spend_limit = None if limit_text is None else Decimal(limit_text)
            cur.execute(f"SELECT {self._HOLD_COLUMNS}, usage, settled_amount FROM holds "
                        "WHERE request_id = ? OR (customer_id = ? AND state = 'open' AND "
                        "expires_us > ?)", (request_id, customer_id, now_us))
            rows = [tuple(r) for r in cur.fetchall()]
            found = next((r for r in rows if r[0] == request_id), None)
            if found is not None:
                if found[1] != customer_id:
                    raise LedgerError(f"request id {request_id!r} is already a hold of "
                                      "another customer")
                return self._hold(self._expired(found, now_us)[:11])
            # Open holds at their worst case (model, prompt class, prompt, output, instant);
            # holds past their expiry are ignored (marked expired by expire_holds or a settle).
            holds = [(r[0], r[2], r[3], r[4], r[5], r[8], r[6]) for r in rows]
            usage = self._usage(cur, customer_id, hourly=customer_id in cfg.hourly_customers)
            try:
                sub, _period, before = self._rate_at(
                    cfg, self._hold_usage(usage, (h[1:6] for h in holds)), moment)
            except RatingError as exc:
                return Denial(request_id, customer_id, "no subscription", ZERO, ZERO, "",
                              str(exc))
            plan = cfg.raters.for_subscription(sub, _period).plan
            worst: tuple[Decimal, str, RatingResult] | None = None
            rater = cfg.raters.for_subscription(sub, _period)
            best = _worst_prompt_class(rater, model) if max_input_tokens else "input"
            classes: tuple[str, ...] = _PROMPT_CLASSES if best is None else (best,)
            for cls in classes:
                trial = self._hold_usage(usage, [*(h[1:6] for h in holds),
                                                 (model, cls, max_input_tokens,
                                                  max_output_tokens, now_us)])
                after = self._rate_at(cfg, trial, moment)[2]
                value = lim.exposure(after)
                if worst is None or value > worst[0] or (
                        value == worst[0] and after.refused_value > worst[2].refused_value):
                    worst = (value, cls, after)
            assert worst is not None
            amount = max(worst[0] - lim.exposure(before), ZERO)
            currency = plan.currency
            crossed = lim.crossed(plan, sub, before, worst[2], moment.date(), spend_limit)
            if crossed is not None:
                prior, _ = crossed
                return Denial(request_id, customer_id, prior.basis, amount, prior.available,
                              currency, f"request {request_id!r} of {customer_id!r} may cost "
                              f"{amount} {currency}; {prior.available} {currency} available "
                              f"under the {prior.basis}")
            life = ttl if ttl is not None else self.hold_ttls.get(sub.plan, self.hold_ttl)
            if life <= timedelta(0):
                raise LedgerError(f"authorize {request_id!r}: the hold's TTL must be positive")
            expires_us = now_us + _micros(_EPOCH + life)
            row = (request_id, customer_id, model, worst[1], max_input_tokens,
                   max_output_tokens, str(amount), currency, now_us, expires_us, "open")
            cur.execute(f"INSERT INTO holds ({self._HOLD_COLUMNS}) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            return self._hold(row)

        result: Hold | Denial = self._retrying(work)
        return result

    @staticmethod
    def _expired(row: tuple[Any, ...], now_us: int) -> tuple[Any, ...]:
        if row[10] == "open" and int(row[9]) <= now_us:
            return (*row[:10], "expired", *row[11:])
        return row

    def hold(self, hold_id: str, *, at: datetime | None = None) -> Hold | None:
        """The hold with that id, in its state now (None if there is none)."""
        now_us = _micros(self._moment(at))
        with self._db.read() as cur:
            row = self._find_hold(cur, hold_id)
        return None if row is None else self._hold(self._expired(row, now_us)[:11])

    def holds(self, customer_id: str | None = None, *, at: datetime | None = None
              ) -> list[Hold]:
        """Open (unexpired) holds, of one customer or of all."""
        now_us = _micros(self._moment(at))
        where, params = "state = 'open' AND expires_us > ?", [now_us]
        if customer_id is not None:
            where += " AND customer_id = ?"
            params.append(customer_id)  # type: ignore[arg-type]
        with self._db.read() as cur:
            cur.execute(f"SELECT {self._HOLD_COLUMNS} FROM holds WHERE {where} "
                        "ORDER BY request_id", params)
            return [self._hold(r) for r in cur.fetchall()]

    @in_exact_context
    def settle(self, hold_id: str, usage: Mapping[str, int], *,
               at: datetime | None = None) -> Settlement:
        """Record the request's real usage (``input_tokens``, ``cached_input_tokens``,
        ``cache_write_tokens``, ``output_tokens``; absent: 0) and free the hold, in one
        transaction. The usage is an event with the hold's id, at the hold's instant (so it
        lands in the period and day it was reserved in). The prompt may not exceed the hold's
        ``max_input_tokens`` nor the output its ``max_output_tokens``.

        Idempotent: settling again with the same usage returns the first settlement (marked
        duplicate); with other usage it is an error. A hold that expired is settled only if
        the usage still fits under the customer's limits now; otherwise nothing is recorded
        and :class:`~billing.errors.LedgerError` says so."""
        counts = _usage_counts(hold_id, usage)
        moment = self._moment(at)
        now_us = _micros(moment)
        fresh_alerts: list[Alert] = []

        def work(cur: Cursor) -> Settlement:
            fresh_alerts.clear()
            cur.execute("SELECT customer_id FROM holds WHERE request_id = ?", (hold_id,))
            owner = cur.fetchone()
            if owner is None:
                raise LedgerError(f"no hold {hold_id!r}")
            customer_id = owner[0]
            cfg = self._cfg(cur, self._db.lock_config(cur, exclusive=False))
            limit_text, _version = self._db.lock_customer(cur, customer_id)
            row = self._find_hold(cur, hold_id)
            assert row is not None
            state, stored_usage, settled = row[10], row[11], row[12]
            text = json.dumps(counts, sort_keys=True)
            currency = row[7]
            if state == "settled":
                if stored_usage != text:
                    raise LedgerError(f"hold {hold_id!r} was already settled with other usage "
                                      f"({stored_usage}); not settled again")
                return Settlement(hold_id, Decimal(settled), currency, duplicate=True)
            if state == "released":
                raise LedgerError(f"hold {hold_id!r} was released; it cannot be settled")
            prompt = counts["input_tokens"] + counts["cached_input_tokens"] + \
                counts["cache_write_tokens"]
            if prompt > int(row[4]) or counts["output_tokens"] > int(row[5]):
                raise LedgerError(
                    f"hold {hold_id!r}: usage ({prompt} prompt, {counts['output_tokens']} "
                    f"output tokens) exceeds what was authorized ({row[4]} prompt, {row[5]} "
                    "output); authorize the real maximum, or release the hold")
            event = UsageEvent(hold_id, customer_id, _instant(int(row[8])), row[2],
                               input_tokens=counts["input_tokens"],
                               cached_input_tokens=counts["cached_input_tokens"],
                               cache_write_tokens=counts["cache_write_tokens"],
                               output_tokens=counts["output_tokens"])
            usage_now = self._usage(cur, customer_id)
            sub, period, before = self._rate_at(cfg, usage_now, moment)
            expired = state == "expired" or int(row[9]) <= now_us
            if expired:
                others = self._open_holds(cur, customer_id, now_us, exclude=hold_id)
                base = self._hold_usage(usage_now, (h[1:6] for h in others))
                plan = cfg.raters.for_subscription(sub, period).plan
                trial = self._hold_usage(base, ())
                _add_event(trial, event, self._thresholds)
                over = lim.crossed(plan, sub, self._rate_at(cfg, base, moment)[2],
                                   self._rate_at(cfg, trial, moment)[2], moment.date(),
                                   None if limit_text is None else Decimal(limit_text))
                if over is not None:
                    cur.execute("UPDATE holds SET state = 'expired' WHERE request_id = ?",
                                (hold_id,))
                    raise LedgerError(
                        f"hold {hold_id!r} expired and its usage no longer fits under the "
                        f"customer's {over[0].basis}: nothing was recorded")
            result, _new = self._insert_events(cur, cfg, [event])
            if result.conflicts:
                raise LedgerError(f"hold {hold_id!r}: an event with id {hold_id!r} was already "
                                  "recorded with other content")
            after_usage = self._usage(cur, customer_id)
            after = self._rate_at(cfg, after_usage, moment)[2]
            amount = max(lim.exposure(after) - lim.exposure(before), ZERO)
            cur.execute("UPDATE holds SET state = 'settled', usage = ?, settled_amount = ? "
                        "WHERE request_id = ?", (text, str(amount), hold_id))
            if cfg.rules:
                fresh_alerts.extend(self._check_alerts(cur, cfg, customer_id, moment))
            return Settlement(hold_id, amount, currency)

        settlement: Settlement = self._retrying(work)
        self._notify(fresh_alerts)
        return settlement

    def release(self, hold_id: str) -> Hold:
        """Free a hold unused. Idempotent; a settled hold stays settled (returned as is)."""

        def work(cur: Cursor) -> Hold:
            row = self._find_hold(cur, hold_id)
            if row is None:
                raise LedgerError(f"no hold {hold_id!r}")
            if row[10] in ("open", "expired"):
                cur.execute("UPDATE holds SET state = 'released' WHERE request_id = ? AND "
                            "state IN ('open', 'expired')", (hold_id,))
                row = (*row[:10], "released", *row[11:])
            return self._hold(row[:11])

        result: Hold = self._retrying(work)
        return result

    def expire_holds(self, at: datetime | None = None) -> int:
        """Mark every hold past its expiry as expired (decisions already ignore them);
        returns how many."""
        now_us = _micros(self._moment(at))

        def work(cur: Cursor) -> int:
            cur.execute("UPDATE holds SET state = 'expired' WHERE state = 'open' AND "
                        "expires_us <= ? RETURNING request_id", (now_us,))
            return len(cur.fetchall())

        count: int = self._retrying(work)
        return count

    @in_exact_context
    def balance(self, customer_id: str, at: datetime | None = None) -> Balance:
        """Bill to date, usable credits, open holds and what may still be authorized."""
        moment = self._moment(at)
        now_us = _micros(moment)
        with self._db.read() as cur:
            cfg = self._cfg(cur)
            usage = self._usage(cur, customer_id)
            holds = self._open_holds(cur, customer_id, now_us)
            spend_limit = self._spend_limit(cur, customer_id)
        sub, period, result = self._rate_at(cfg, usage, moment)
        _, _, held = self._rate_at(cfg, self._hold_usage(usage, (h[1:6] for h in holds)),
                                   moment)
        plan = cfg.raters.for_subscription(sub, period).plan
        bounds = lim.limits(plan, sub, held, moment.date(), spend_limit)
        tight = min(bounds, key=lambda b: b.available) if bounds else None
        return Balance(
            customer_id=customer_id, currency=plan.currency, period_start=period.start,
            period_end=period.end, bill_to_date=result.invoice.total,
            remaining_credits=lim.usable_credits(result, moment.date()), open_holds=len(holds),
            held=sum((Decimal(h[6]) for h in holds), ZERO),
            available=None if tight is None else tight.available,
            limit_reason=None if tight is None else tight.basis)

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
        now_us = _micros(moment)
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
                          Decimal(lm), cur_, _instant(int(us)))
                    for s, c, p, t, b, u, lm, cur_, us in cur.fetchall()]


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


def _bulk(cur: Cursor, kind: str, table: str, columns: str, types: Sequence[str],
          rows: Sequence[Sequence[Any]], tail: str) -> None:
    """``INSERT INTO table (columns) <rows> tail`` in one statement: PostgreSQL takes one
    array per column (``unnest``: one round trip, whatever the number of rows); SQLite a
    multi-row VALUES list (rows of one batch are at most ``_CHUNK``)."""
    if not rows:
        return
    if kind == "postgresql":
        arrays = ", ".join(f"?::{t}[]" for t in types)
        cur.execute(f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays}) {tail}",
                    [list(column) for column in zip(*rows, strict=True)])
        return
    marks = "(" + ", ".join(["?"] * len(types)) + ")"
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start:start + _CHUNK]
        cur.execute(f"INSERT INTO {table} ({columns}) VALUES "
                    f"{', '.join([marks] * len(chunk))} {tail}",
                    [v for row in chunk for v in row])


def _worst_prompt_class(rater: Any, model: str) -> str | None:
    """The prompt class (fresh, cached or cache write) that costs the most for ``model`` when
    the plan prices tokens only through list-price rate cards (value linear in each class);
    None when another charge could price them (the caller then rates all three)."""
    totals = [ZERO, ZERO, ZERO]
    for index, charge in enumerate(rater.plan.charges):
        if isinstance(charge, RateCardCharge):
            if charge.cost_plus is not None or getattr(charge, "fallback", None) is not None:
                return None
            try:
                prices = rater.list_prices(index, charge, model)
            except BillingError:
                return None
            for i in range(3):
                totals[i] += prices[i]
        elif not isinstance(charge, FlatCharge | SeatsCharge | CreditsCharge
                            | CommitmentCharge | CapCharge):
            return None
    return _PROMPT_CLASSES[max(range(3), key=lambda i: (totals[i], -i))]


@dataclass(slots=True)
class _Prepared:
    """A batch made ready outside the write lock: its unique rows (first copy of each id, in id
    order), the duplicates and conflicts within it, and the sums of all its rows."""

    rows: list[tuple[Any, ...]]
    duplicates: int
    conflicts: int
    conflict_ids: list[str]
    hourly_customers: frozenset[str] | None
    daily: dict[tuple[Any, ...], list[int]] = field(default_factory=dict)
    hourly: dict[tuple[str, int], list[int]] = field(default_factory=dict)


def _prepare(batch: Sequence[UsageEvent], thresholds: tuple[int, ...],
             hourly_customers: frozenset[str] | None) -> _Prepared:
    first: dict[str, tuple[Any, ...]] = {}
    duplicates = conflicts = 0
    conflict_ids: list[str] = []
    for event in batch:
        row = _event_row(event)
        seen = first.get(event.id)
        if seen is None:
            first[event.id] = row
        elif seen == row:
            duplicates += 1
        else:
            conflicts += 1
            conflict_ids.append(event.id)
    rows = [first[key] for key in sorted(first)]
    prepared = _Prepared(rows, duplicates, conflicts, conflict_ids, None)
    if hourly_customers is None:
        return prepared  # sums once the configuration is known
    return _prepare_sums(prepared, rows, thresholds, hourly_customers)


def _prepare_sums(prepared: _Prepared, rows: Sequence[tuple[Any, ...]],
                  thresholds: tuple[int, ...], hourly_customers: frozenset[str]) -> _Prepared:
    daily: dict[tuple[Any, ...], list[int]] = {}
    hourly: dict[tuple[str, int], list[int]] = {}
    for row in rows:
        customer, ts_us, model = row[1], row[2], row[3]
        band = band_of(row[4] + row[5] + row[6], row[8], thresholds) if thresholds else 0
        _sum_into(daily, (customer, model, band, ts_us // _DAY_US), row)
        if customer in hourly_customers:
            _sum_into(hourly, (customer, ts_us // _HOUR_US), row)
    return _Prepared(prepared.rows, prepared.duplicates, prepared.conflicts,
                     prepared.conflict_ids, hourly_customers, daily, hourly)


def _sum_into(sums: dict[Any, list[int]], key: Any, row: Sequence[Any]) -> None:
    """Add an event row's counts (input, cached, write, output, requests; one event) to
    ``sums[key]``."""
    found = sums.get(key)
    if found is None:
        sums[key] = [int(row[4]), int(row[5]), int(row[6]), int(row[7]), int(row[8]), 1]
    else:
        found[0] += int(row[4])
        found[1] += int(row[5])
        found[2] += int(row[6])
        found[3] += int(row[7])
        found[4] += int(row[8])
        found[5] += 1


def _usage_counts(hold_id: str, usage: Mapping[str, int]) -> dict[str, int]:
    names = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
    unknown = sorted(set(usage) - set(names))
    if unknown:
        raise LedgerError(f"settle {hold_id!r}: unknown usage field(s) {', '.join(unknown)}; "
                          f"the fields are {', '.join(names)}")
    counts: dict[str, int] = {}
    for name in names:
        value = usage.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise LedgerError(f"settle {hold_id!r}: {name} must be a whole number >= 0, "
                              f"got {value!r}")
        counts[name] = value
    return counts


def _add_event(usage: CustomerUsage, event: UsageEvent, thresholds: tuple[int, ...]) -> None:
    micros = _micros(event.timestamp)
    band = band_of(event.prompt_tokens, event.requests, thresholds) if thresholds else 0
    counts = Counts(event.input_tokens, event.cached_input_tokens, event.cache_write_tokens,
                    event.output_tokens, event.requests, 1)
    usage.daily.setdefault((event.model, band, micros // _DAY_US), Counts()).add(counts)
    usage.hourly.setdefault(micros // _HOUR_US, Counts()).add(counts)
