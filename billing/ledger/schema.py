"""The ledger's tables, and the migrations that build them version by version.

The ``meta`` table holds ``schema_version``. Opening a ledger applies the migrations it lacks
(an older ledger is upgraded in place, in one transaction); a ledger written by a newer version
of this library is refused, never read with the wrong layout.

Hourly rows are kept only for customers whose plan (in some version) has a capacity charge,
the only charge that reads them; they are rebuilt from the events when the subscriptions or
the catalog change.

Token counts are 64-bit integers (SQLite's CHECK constraints refuse a sum that would have
turned into a float); money is decimal text; instants are UTC microseconds since the epoch.
"""

from __future__ import annotations

from billing.errors import LedgerError
from billing.ledger.db import Cursor, Database

__all__ = ["SCHEMA_VERSION", "migrate", "sum_columns"]

_COUNTS = ("input", "cached_input", "cache_write", "output", "requests", "events")


def sum_columns(kind: str) -> str:
    """The six count columns of an aggregate table; SQLite's refuse a sum that turned to
    floating point."""
    if kind == "sqlite":
        return ", ".join(f"{c} INTEGER NOT NULL CHECK (typeof({c}) = 'integer')" for c in _COUNTS)
    return ", ".join(f"{c} BIGINT NOT NULL" for c in _COUNTS)


def _v1(kind: str) -> list[str]:
    big = "INTEGER" if kind == "sqlite" else "BIGINT"
    # SQLite: keyed tables without a rowid are one B-tree instead of a table and an index.
    keyed = " WITHOUT ROWID" if kind == "sqlite" else ""
    return [
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE plans (plan_id TEXT NOT NULL, version TEXT NOT NULL, body TEXT NOT NULL, "
        "PRIMARY KEY (plan_id, version))",
        f"CREATE TABLE subscriptions (position {big} PRIMARY KEY, customer_id TEXT NOT NULL, "
        "body TEXT NOT NULL)",
        "CREATE TABLE customers (customer_id TEXT PRIMARY KEY, spend_limit TEXT)",
        f"CREATE TABLE events (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, ts_us {big} NOT "
        f"NULL, model TEXT NOT NULL, input {big} NOT NULL, cached_input {big} NOT NULL, "
        f"cache_write {big} NOT NULL, output {big} NOT NULL, requests {big} NOT NULL, "
        f"session_id TEXT, properties TEXT){keyed}",
        f"CREATE TABLE usage_daily (customer_id TEXT NOT NULL, model TEXT NOT NULL, band {big} "
        f"NOT NULL, day {big} NOT NULL, {sum_columns(kind)}, "
        f"PRIMARY KEY (customer_id, model, band, day)){keyed}",
        f"CREATE TABLE usage_hourly (customer_id TEXT NOT NULL, hour {big} NOT NULL, "
        f"{sum_columns(kind)}, PRIMARY KEY (customer_id, hour)){keyed}",
        f"CREATE TABLE holds (request_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, "
        f"model TEXT NOT NULL, prompt_class TEXT NOT NULL, prompt_tokens {big} NOT NULL, "
        f"output_tokens {big} NOT NULL, amount TEXT NOT NULL, currency TEXT NOT NULL, "
        f"created_us {big} NOT NULL, expires_us {big} NOT NULL, state TEXT NOT NULL, "
        "settled_amount TEXT, usage TEXT)",
        "CREATE INDEX holds_open ON holds (customer_id, state)",
        "CREATE TABLE invoices (invoice_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, "
        "period TEXT NOT NULL, body TEXT NOT NULL)",
    ]


def _v2(kind: str) -> list[str]:
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if kind == "sqlite" else "BIGSERIAL PRIMARY KEY"
    big = "INTEGER" if kind == "sqlite" else "BIGINT"
    return [
        "CREATE TABLE alert_rules (scope TEXT NOT NULL, key TEXT NOT NULL, thresholds TEXT NOT "
        "NULL, PRIMARY KEY (scope, key))",
        f"CREATE TABLE alerts (seq {serial}, customer_id TEXT NOT NULL, period_start TEXT NOT "
        "NULL, threshold TEXT NOT NULL, basis TEXT NOT NULL, used TEXT NOT NULL, "
        f"limit_amount TEXT NOT NULL, currency TEXT NOT NULL, created_us {big} NOT NULL, "
        "UNIQUE (customer_id, period_start, threshold))",
    ]


def _v3(kind: str) -> list[str]:
    """Aggregate rows split by a writer slot (``shard``; summed when read): on PostgreSQL
    concurrent batches then add to different rows instead of queueing on each other's row
    locks until commit. SQLite has one writer at a time and always writes slot 0."""
    if kind == "postgresql":
        return [statement
                for table, key in (("usage_daily", "customer_id, model, band, day"),
                                   ("usage_hourly", "customer_id, hour"))
                for statement in (
                    f"ALTER TABLE {table} ADD COLUMN shard INTEGER NOT NULL DEFAULT 0",
                    f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey",
                    f"ALTER TABLE {table} ADD PRIMARY KEY ({key}, shard)")]
    out = []
    for table, key, columns in (
            ("usage_daily", "customer_id, model, band, day",
             "customer_id TEXT NOT NULL, model TEXT NOT NULL, band INTEGER NOT NULL, "
             "day INTEGER NOT NULL"),
            ("usage_hourly", "customer_id, hour",
             "customer_id TEXT NOT NULL, hour INTEGER NOT NULL")):
        # SQLite cannot change a primary key in place: a new table, the rows, the name.
        out += [f"CREATE TABLE {table}_v3 ({columns}, shard INTEGER NOT NULL DEFAULT 0, "
                f"{sum_columns(kind)}, PRIMARY KEY ({key}, shard)) WITHOUT ROWID",
                f"INSERT INTO {table}_v3 ({key}, shard, {', '.join(_COUNTS)}) "
                f"SELECT {key}, 0, {', '.join(_COUNTS)} FROM {table}",
                f"DROP TABLE {table}",
                f"ALTER TABLE {table}_v3 RENAME TO {table}"]
    return out


def _v4(kind: str) -> list[str]:
    """Recent sums (``usage_recent``): SQLite appends each batch's sums in arrival order and
    folds them into the daily rows in key order every :data:`~billing.ledger.writes.FOLD_ROWS`
    rows (``billing/ledger/writes.py``); readers add the unfolded rows of their customer (the
    index). ``meta.sum_bound`` bounds every daily total plus its unfolded sums, so a fold can
    never pass 64 bits (a batch that could is recorded straight into the daily rows, where a
    sum past 64 bits refuses it). PostgreSQL has the table, empty."""
    serial = "INTEGER PRIMARY KEY" if kind == "sqlite" else "BIGSERIAL PRIMARY KEY"
    big = "INTEGER" if kind == "sqlite" else "BIGINT"
    largest = ("max(input, cached_input, cache_write, output, requests, events)"
               if kind == "sqlite" else
               "greatest(input, cached_input, cache_write, output, requests, events)")
    return [
        f"CREATE TABLE usage_recent (seq {serial}, customer_id TEXT NOT NULL, model TEXT NOT "
        f"NULL, band {big} NOT NULL, day {big} NOT NULL, {sum_columns(kind)})",
        "CREATE INDEX usage_recent_customer ON usage_recent (customer_id)",
        "INSERT INTO meta (key, value) SELECT 'sum_bound', "
        f"CAST(coalesce(max({largest}), 0) AS TEXT) FROM usage_daily",
    ]


MIGRATIONS = {1: _v1, 2: _v2, 3: _v3, 4: _v4}
SCHEMA_VERSION = max(MIGRATIONS)


def _version(cur: Cursor, db: Database) -> int | None:
    if db.kind == "sqlite":
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'")
    else:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename = 'meta'")
    if cur.fetchone() is None:
        return None
    cur.execute("SELECT value FROM meta WHERE key = 'schema_version'")
    row = cur.fetchone()
    return None if row is None else int(row[0])


def migrate(db: Database, *, upto: int = SCHEMA_VERSION) -> int:
    """Bring the ledger's schema to version ``upto`` (default: this library's); returns the
    version it had before (0 for a new ledger). A newer schema is refused."""
    with db.write() as cur:
        if db.kind == "postgresql":
            # Two processes creating one ledger at once: the second waits, then sees it made.
            cur.execute("SELECT pg_advisory_xact_lock(7216354)")
        found = _version(cur, db)
        current = 0 if found is None else found
        if current > SCHEMA_VERSION:
            raise LedgerError(
                f"this ledger has schema version {current}, newer than this library's "
                f"({SCHEMA_VERSION}); upgrade the billing package to open it")
        for version in range(current + 1, upto + 1):
            for statement in MIGRATIONS[version](db.kind):
                cur.execute(statement)
        if upto > current:
            cur.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(upto),))
            cur.execute("INSERT INTO meta (key, value) VALUES ('config_version', '0') "
                        "ON CONFLICT (key) DO NOTHING")
        return current
