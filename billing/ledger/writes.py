"""Recording a batch with set-based SQL: the events inserted (first copy of an id wins) and
their sums added to the aggregate rows by the database, one statement per table, with no
Python object per event beyond the row handed to the driver.

- PostgreSQL: one statement per batch. The rows go as one JSON document (``json.dumps`` in
  C; psycopg dumped 11 arrays of 1,000 values in Python, about 15 ms a batch under a
  profiler against about 1 ms, and the server's ``jsonb_array_elements`` costs about 2 ms of
  its 25); a data-modifying ``WITH`` inserts the events (``ON CONFLICT (id) DO NOTHING RETURNING``)
  and groups exactly the rows it inserted into the daily (and hourly) rows, in key order (no
  lock cycles between batches). Aggregate rows carry a writer slot, ``shard`` (the server
  process id modulo :data:`SHARDS`), and readers sum the slots: concurrent batches add to
  different rows instead of waiting for each other's commit on a row they share.
- SQLite: one writer at a time, so the work under its lock is kept small. Before the lock
  is taken, a writer puts the batch's rows, and their sums per daily key, in its
  connection's own temporary tables (:func:`stage_batch`: binding every value from Python
  happens there, while another writer holds the lock). Under the lock, C copies them: the
  rows into ``events`` (ids already recorded, rare, are looked up only when some row was not
  new) and the sums *appended* to ``usage_recent`` in arrival order; every :data:`FOLD_ROWS`
  recent rows they are folded into ``usage_daily`` in customer order (:func:`fold_recent`).
  Adding 1,000 random (customer, day) keys to the daily rows directly wrote about 780 of
  their pages to the WAL per batch (and the checkpoint copied them again); the fold writes
  each page once per 40,000 rows. Readers add the unfolded rows of their customer (an index
  on it). ``meta.sum_bound`` bounds every key's total, so a fold can never pass 64 bits
  (:func:`_add_daily_sqlite`). The slot is always 0.

The keys are the one-scan aggregation's (:func:`billing.usage.groupings.aggregate_table`):
(customer, model, long-context band, UTC day) and (customer, UTC hour), days and hours floored
(events before 1970 included), the band ``prompt > threshold x max(requests, 1)`` decided in
integers without a product that could overflow.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import chain
from typing import Any

from billing.errors import UsageError
from billing.ledger.db import Cursor
from billing.ledger.schema import sum_columns
from billing.usage.keys import DAY_US, HOUR_US, band_of

__all__ = ["FOLD_ROWS", "SHARDS", "add_hourly_from", "fold_recent", "insert_events", "scan_sql",
           "stage_batch"]

SHARDS = 16
#: SQLite: recent sum rows folded into the daily rows at once (see :func:`fold_recent`).
FOLD_ROWS = 40_000
_EVENT_COLUMNS = ("id", "customer_id", "ts_us", "model", "input", "cached_input", "cache_write",
                  "output", "requests", "session_id", "properties")
_EVENT_TYPES = ("text", "text", "bigint", "text", "bigint", "bigint", "bigint", "bigint",
                "bigint", "text", "text")
_SUMS = ("input", "cached_input", "cache_write", "output", "requests", "events")
_INT64_MAX = 2**63 - 1


def _floor_div(expr: str, unit: int) -> str:
    """``floor(expr / unit)`` in integers on both databases (their ``/`` and ``%`` truncate
    toward zero; the numerator here is an exact multiple of ``unit``)."""
    return f"(({expr}) - ((({expr}) % {unit}) + {unit}) % {unit}) / {unit}"


def band_sql(thresholds: Sequence[int]) -> str:
    """How many thresholds ``t`` the prompt per request exceeds: ``prompt > t x per`` with
    ``per = max(requests, 1)``, written as ``q > t or (q = t and r > 0)`` for ``prompt = q x per
    + r`` so that no product can pass 64 bits (the same integers as ``band_of``)."""
    if not thresholds:
        return "0"
    per = "(CASE WHEN requests > 0 THEN requests ELSE 1 END)"
    prompt = "(input + cached_input + cache_write)"
    return " + ".join(
        f"(CASE WHEN {prompt} / {per} > {int(t)} OR ({prompt} / {per} = {int(t)} AND "
        f"{prompt} % {per} > 0) THEN 1 ELSE 0 END)" for t in thresholds)


def _shard(kind: str) -> str:
    return f"(pg_backend_pid() % {SHARDS})" if kind == "postgresql" else "0"


def _in_list(kind: str) -> str:
    """A condition ``customer_id`` is in the list bound to its one parameter."""
    if kind == "postgresql":
        return "customer_id = ANY(?::text[])"
    return "customer_id IN (SELECT value FROM json_each(?))"


def _list_param(kind: str, values: Sequence[str]) -> Any:
    return list(values) if kind == "postgresql" else json.dumps(list(values))


def _upsert(table: str, key: Sequence[str], *, shard: bool = True) -> str:
    """Add a row's sums to those of its key (and writer slot) if the key is already there."""
    update = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in _SUMS)
    target = [*key, "shard"] if shard else key
    return f"ON CONFLICT ({', '.join(target)}) DO UPDATE SET {update}"


def _sum_list() -> str:
    return ("sum(input), sum(cached_input), sum(cache_write), sum(output), sum(requests), "
            "count(*)")


def scan_sql(source: str, thresholds: Sequence[int], *, hourly: bool = False,
             where: str = "true", extra: str = "") -> str:
    """The one-scan aggregation's grouping of ``source`` (the events table, or a ``WITH``
    name with its columns) as one query: ``customer_id, model, band, day`` (``hourly``:
    ``customer_id, hour``), then the sums ``input, cached_input, cache_write, output,
    requests, events`` (then ``extra``). The keys of
    :func:`billing.usage.groupings.aggregate_table`: UTC days and hours floored, the
    band as :func:`band_sql`."""
    keys = f"customer_id, {_floor_div('ts_us', HOUR_US)}" if hourly else _day_key(thresholds)
    groups = "1, 2" if hourly else "1, 2, 3, 4"
    return (f"SELECT {keys}, {_sum_list()}{extra} FROM {source} WHERE {where} "
            f"GROUP BY {groups}")


def key_sql(source: str, thresholds: Sequence[int]) -> str:
    """Each event of ``source`` with its daily key, ungrouped: ``customer_id, model, band,
    day, input, cached_input, cache_write, output, requests, 1``."""
    return (f"SELECT {_day_key(thresholds)}, input, cached_input, cache_write, output, "
            f"requests, 1 FROM {source}")


def _day_key(thresholds: Sequence[int]) -> str:
    """An event's daily key: customer, model, long-context band, UTC day (floored)."""
    return f"customer_id, model, {band_sql(thresholds)}, {_floor_div('ts_us', DAY_US)}"


def daily_sql(kind: str, source: str, thresholds: Sequence[int]) -> str:
    """Add the events of ``source`` (a table or ``WITH`` name with the events' columns) to
    the daily rows, in key order (no lock cycles between concurrent batches)."""
    return (f"INSERT INTO usage_daily (customer_id, model, band, day, {', '.join(_SUMS)}, shard) "
            f"{scan_sql(source, thresholds, extra=', ' + _shard(kind))} ORDER BY 1, 2, 3, 4 "
            + _upsert("usage_daily", ("customer_id", "model", "band", "day")))


def hourly_sql(kind: str, source: str) -> str:
    """Add the events of ``source`` whose customer is in the bound list to the hourly rows."""
    return (f"INSERT INTO usage_hourly (customer_id, hour, {', '.join(_SUMS)}, shard) "
            f"{scan_sql(source, (), hourly=True, where=_in_list(kind), extra=', ' + _shard(kind))}"
            " ORDER BY 1, 2 " + _upsert("usage_hourly", ("customer_id", "hour")))


def insert_events(cur: Cursor, kind: str, rows: Sequence[tuple[Any, ...]],
                  thresholds: Sequence[int], hourly_customers: frozenset[str], *,
                  staged: int | None = None) -> set[str]:
    """Insert ``rows`` (unique ids) into ``events``, the first copy of an id winning, and add
    the inserted ones to the aggregate rows (hourly: for ``hourly_customers``). Returns the
    ids that were already recorded (not inserted; nearly always none). SQLite: ``staged`` is
    what :func:`stage_batch` of these ``rows`` returned, if it already ran on this
    connection."""
    if not rows:
        return set()
    names = ", ".join(_EVENT_COLUMNS)
    if kind == "postgresql":
        refuse_nul(list(zip(*rows, strict=True)), rows)
        hourly = sorted({row[1] for row in rows} & hourly_customers)
        fields = ", ".join(f"(e->>{i})::{t}" for i, t in enumerate(_EVENT_TYPES))
        parts = [f"s ({names}) AS (SELECT {fields} FROM jsonb_array_elements(?::jsonb) AS e)",
                 f"ins AS (INSERT INTO events ({names}) SELECT * FROM s ON CONFLICT (id) "
                 f"DO NOTHING RETURNING {names})",
                 f"d AS ({daily_sql(kind, 'ins', thresholds)})"]
        params: list[Any] = [json.dumps(rows, ensure_ascii=False)]
        if hourly:
            parts.append(f"h AS ({hourly_sql(kind, 'ins')})")
            params.append(_list_param(kind, hourly))
        # The ids not inserted (an anti-join on the server): nearly always none to send back.
        cur.execute(f"WITH {', '.join(parts)} SELECT s.id FROM s WHERE NOT EXISTS "
                    "(SELECT 1 FROM ins WHERE ins.id = s.id)", params)
        return {r[0] for r in cur.fetchall()}
    peak = stage_batch(cur, rows, thresholds) if staged is None else staged
    # Nearly always every id is new: insert them all, and only if some were already recorded
    # (fewer rows changed) undo that and insert the new ones alone.
    insert = f"INSERT OR IGNORE INTO events ({names}) SELECT {names} FROM temp.ledger_batch"
    cur.execute("SAVEPOINT batch")
    before = cur.connection.total_changes  # type: ignore[attr-defined]
    cur.execute(insert)
    recorded: set[str] = set()
    if cur.connection.total_changes - before == len(rows):  # type: ignore[attr-defined]
        cur.execute("RELEASE batch")
    else:
        cur.execute("ROLLBACK TO batch")
        cur.execute("RELEASE batch")
        cur.execute("SELECT b.id FROM temp.ledger_batch AS b JOIN events AS e ON e.id = b.id")
        recorded = {r[0] for r in cur.fetchall()}
        # The batch's new rows are not in events since the rollback: this drops the others.
        cur.execute("DELETE FROM temp.ledger_batch WHERE id IN (SELECT id FROM events)")
        new = [row for row in rows if row[0] not in recorded]
        if not new:
            return recorded
        peak, exact = _bound(list(zip(*new, strict=True)))
        _stage_keys(cur, thresholds, exact=new if exact else None)
        cur.execute(insert)
    _add_daily_sqlite(cur, peak)
    hourly = sorted({row[1] for row in rows if row[0] not in recorded} & hourly_customers
                    ) if hourly_customers else []
    if hourly:
        cur.execute(hourly_sql(kind, "temp.ledger_batch"), (_list_param(kind, hourly),))
    return recorded


_SUM_UP = _upsert("ledger_sums", ("customer_id", "model", "band", "day"), shard=False)


_STAGE_TABLES = (
    "CREATE TEMP TABLE IF NOT EXISTS ledger_batch (id TEXT NOT NULL, customer_id TEXT NOT NULL, "
    "ts_us INTEGER NOT NULL, model TEXT NOT NULL, input INTEGER NOT NULL, cached_input INTEGER "
    "NOT NULL, cache_write INTEGER NOT NULL, output INTEGER NOT NULL, requests INTEGER NOT NULL, "
    "session_id TEXT, properties TEXT)",
    # The batch's sums per daily key: a keyed table, so that adding a row to its key's sum
    # is one B-tree step (SQLite's GROUP BY sorts: 2.0 ms a batch against 0.9 ms). A sum
    # past 64 bits would turn to floating point: the CHECKs refuse it.
    "CREATE TEMP TABLE IF NOT EXISTS ledger_sums (customer_id TEXT NOT NULL, model TEXT NOT "
    f"NULL, band INTEGER NOT NULL, day INTEGER NOT NULL, {sum_columns('sqlite')}, "
    "PRIMARY KEY (customer_id, model, band, day)) WITHOUT ROWID",
)


def stage_batch(cur: Cursor, rows: Sequence[tuple[Any, ...]], thresholds: Sequence[int]
                ) -> int:
    """SQLite: put a batch's rows (unique ids, in id order) in this connection's own
    temporary tables: ``temp.ledger_batch`` as given, ``temp.ledger_sums`` with the sums per
    daily key (customer, model, band, day). Writing them takes no lock on the
    ledger's file, so a writer does this before it queues for the write lock, and
    :func:`insert_events` then copies them in C under the lock instead of binding every value
    from Python there. Returns a bound on what the batch adds to any key's sum: its largest
    column total (exact integers)."""
    for statement in _STAGE_TABLES:
        cur.execute(statement)
    cur.execute("DELETE FROM temp.ledger_batch")
    # Many rows per statement (one step instead of one per row), and the trailing text
    # columns only when some row has one: the driver binds None through its slow adapter path.
    # Both together cut this from about 2.9 ms to 0.8 ms per 1,000 rows.
    columns = list(zip(*rows, strict=True))
    refuse_nul(columns, rows)
    width = next((n for n in (11, 10) if columns[n - 1].count(None) < len(rows)), 9)
    narrow = rows if width == len(_EVENT_COLUMNS) else list(zip(*columns[:width], strict=True))
    per = 999 // width  # SQLite's smallest limit on a statement's parameters
    names = ", ".join(_EVENT_COLUMNS[:width])
    mark = "(" + ", ".join(["?"] * width) + ")"
    for start in range(0, len(rows), per):
        chunk = narrow[start:start + per]
        cur.execute(f"INSERT INTO temp.ledger_batch ({names}) VALUES "
                    + ", ".join([mark] * len(chunk)), list(chain.from_iterable(chunk)))
    peak, exact = _bound(columns)
    _stage_keys(cur, thresholds, exact=rows if exact else None)
    return peak


def _bound(columns: Sequence[Sequence[Any]]) -> tuple[int, bool]:
    """Of event rows given as ``columns``: the most they can add to one key's sum (the
    largest column total, or the row count for ``events``), and whether a prompt (input +
    cached + cache writes) may pass 64 bits, where SQLite's band arithmetic would turn to
    floating point (the rows are then keyed with Python's integers)."""
    totals = [int(sum(columns[i])) for i in range(4, 9)]
    return max(len(columns[0]), *totals), sum(totals[:3]) > _INT64_MAX


def refuse_nul(columns: Sequence[Sequence[Any]], rows: Sequence[tuple[Any, ...]]) -> None:
    """Refuse event rows (also given as ``columns``) whose id, customer, model or session
    holds a NUL character: PostgreSQL cannot store one in text, and SQLite's JSON functions
    would cut the text there. One scan of each column's joined text."""
    for index, name in ((0, "id"), (1, "customer_id"), (3, "model"), (9, "session_id")):
        if "\x00" in "".join(value for value in columns[index] if value is not None):
            row = next(row for row in rows if row[index] is not None and "\x00" in row[index])
            raise UsageError(f"record: event {row[0]!r}: {name} holds a NUL character "
                             "(\\x00), which the ledger cannot store")


def _stage_keys(cur: Cursor, thresholds: Sequence[int],
                exact: Sequence[tuple[Any, ...]] | None = None) -> None:
    """The staged rows' sums per daily key (``temp.ledger_sums``, in key order). ``exact``:
    the staged rows, keyed in Python instead (:func:`billing.usage.keys.band_of`)."""
    cur.execute("DELETE FROM temp.ledger_sums")
    add = ("INSERT INTO temp.ledger_sums (customer_id, model, band, day, "
           f"{', '.join(_SUMS)}) ")
    if exact is None:
        cur.execute(add + key_sql("temp.ledger_batch", thresholds) + " WHERE true " + _SUM_UP)
        return
    bands = tuple(thresholds)
    cur.executemany(add + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1) " + _SUM_UP,
                    [(r[1], r[3], band_of(r[4] + r[5] + r[6], r[8], bands), r[2] // DAY_US,
                      *r[4:9]) for r in exact])


def _add_daily_sqlite(cur: Cursor, peak: int) -> None:
    """SQLite: append the staged sums per daily key (``temp.ledger_sums``) to
    ``usage_recent`` (arrival order: a few pages at the end of the table), and fold the
    recent rows into ``usage_daily`` in customer order once there are :data:`FOLD_ROWS`. ``meta.sum_bound`` bounds every key's total (daily plus
    recent); ``peak`` bounds what this batch adds to any key. A batch that could take a total
    past 64 bits goes straight to the daily rows instead, grouped, where an overflow refuses
    it (the fold itself can never overflow), and the bound is then made exact again."""
    cur.execute("SELECT value FROM meta WHERE key = 'sum_bound'")
    bound = int(cur.fetchone()[0])
    sums = ", ".join(_SUMS)
    if bound + peak <= _INT64_MAX:
        cur.execute(f"INSERT INTO usage_recent (customer_id, model, band, day, {sums}) "
                    f"SELECT customer_id, model, band, day, {sums} FROM temp.ledger_sums")
        cur.execute("UPDATE meta SET value = ? WHERE key = 'sum_bound'", (str(bound + peak),))
        cur.execute("SELECT max(seq) FROM usage_recent")
        if (cur.fetchone()[0] or 0) >= FOLD_ROWS:  # seq restarts at 1 after a fold: the count
            fold_recent(cur)
        return
    fold_recent(cur)
    cur.execute(f"INSERT INTO usage_daily (customer_id, model, band, day, shard, {sums}) "
                f"SELECT customer_id, model, band, day, 0, {sums} FROM temp.ledger_sums "
                "WHERE true " + _upsert("usage_daily", ("customer_id", "model", "band", "day")))
    cur.execute("UPDATE meta SET value = (SELECT CAST(coalesce(max(max(input, cached_input, "
                "cache_write, output, requests, events)), 0) AS TEXT) FROM usage_daily) "
                "WHERE key = 'sum_bound'")


def fold_recent(cur: Cursor) -> None:
    """Add the recent rows to the daily rows and empty them: read in customer order (their
    index) and added one by one. A pass over the daily rows' pages in customer order, with
    no sort: grouping the 40,000 rows first (a sort) cost more than the additions it saved
    (106 ms against 111 ms for all the additions of a fold; through the index 83 ms)."""
    cur.execute(f"INSERT INTO usage_daily (customer_id, model, band, day, shard, "
                f"{', '.join(_SUMS)}) SELECT customer_id, model, band, day, 0, "
                f"{', '.join(_SUMS)} FROM usage_recent INDEXED BY usage_recent_customer "
                "WHERE customer_id >= '' "
                + _upsert("usage_daily", ("customer_id", "model", "band", "day")))
    cur.execute("DELETE FROM usage_recent")


def add_hourly_from(cur: Cursor, kind: str, customers: Sequence[str]) -> None:
    """Hourly rows of ``customers`` made from their recorded events (a configuration change
    put them on a capacity plan)."""
    if customers:
        cur.execute(hourly_sql(kind, "events"), (_list_param(kind, customers),))
