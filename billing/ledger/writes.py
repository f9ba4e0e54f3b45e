"""Recording a batch with set-based SQL: the events inserted (first copy of an id wins) and
their sums added to the aggregate rows by the database, one statement per table, with no
Python object per event beyond the row handed to the driver.

- PostgreSQL: one statement per batch. The columns go as arrays (``unnest``, sent in binary);
  a data-modifying ``WITH`` inserts the events (``ON CONFLICT (id) DO NOTHING RETURNING``)
  and groups exactly the rows it inserted into the daily (and hourly) rows, in key order (no
  lock cycles between batches). Aggregate rows carry a writer slot, ``shard`` (the server
  process id modulo :data:`SHARDS`), and readers sum the slots: concurrent batches add to
  different rows instead of waiting for each other's commit on a row they share.
- SQLite: the batch is staged in a temporary table (``temp.ledger_stage``) *before* the
  database's write lock is taken (a temporary table is private to the connection, writing it
  locks nothing), then, under the lock, ``INSERT ... SELECT ... ON CONFLICT DO NOTHING
  RETURNING id`` and one grouped upsert per aggregate table read the stage. SQLite has one
  writer at a time, so the slot is always 0.

The keys are the one-scan aggregation's (:func:`billing.usage.aggregate_engine.aggregate_table`):
(customer, model, long-context band, UTC day) and (customer, UTC hour), days and hours floored
(events before 1970 included), the band ``prompt > threshold x max(requests, 1)`` decided in
integers without a product that could overflow.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from billing.errors import UsageError
from billing.ledger.db import Cursor

__all__ = ["SHARDS", "add_hourly_from", "insert_events", "stage"]

SHARDS = 16
_DAY_US = 86_400_000_000
_HOUR_US = 3_600_000_000
_EVENT_COLUMNS = ("id", "customer_id", "ts_us", "model", "input", "cached_input", "cache_write",
                  "output", "requests", "session_id", "properties")
_EVENT_TYPES = ("text", "text", "bigint", "text", "bigint", "bigint", "bigint", "bigint",
                "bigint", "text", "text")
_SUMS = ("input", "cached_input", "cache_write", "output", "requests", "events")
_STAGE = "temp.ledger_stage"


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


def _upsert(table: str, key: Sequence[str]) -> str:
    update = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in _SUMS)
    return f"ON CONFLICT ({', '.join(key)}, shard) DO UPDATE SET {update}"


def _sum_list() -> str:
    return ("sum(input), sum(cached_input), sum(cache_write), sum(output), sum(requests), "
            "count(*)")


def daily_sql(kind: str, source: str, thresholds: Sequence[int], where: str = "true") -> str:
    """Add the events of ``source`` (a table or ``WITH`` name with the events' columns) to
    the daily rows."""
    return (f"INSERT INTO usage_daily (customer_id, model, band, day, shard, {', '.join(_SUMS)}) "
            f"SELECT customer_id, model, {band_sql(thresholds)}, {_floor_div('ts_us', _DAY_US)}, "
            f"{_shard(kind)}, {_sum_list()} FROM {source} WHERE {where} "
            "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 "
            + _upsert("usage_daily", ("customer_id", "model", "band", "day")))


def hourly_sql(kind: str, source: str) -> str:
    """Add the events of ``source`` whose customer is in the bound list to the hourly rows."""
    return (f"INSERT INTO usage_hourly (customer_id, hour, shard, {', '.join(_SUMS)}) "
            f"SELECT customer_id, {_floor_div('ts_us', _HOUR_US)}, {_shard(kind)}, "
            f"{_sum_list()} FROM {source} WHERE {_in_list(kind)} "
            "GROUP BY 1, 2 ORDER BY 1, 2 " + _upsert("usage_hourly", ("customer_id", "hour")))


def stage(cur: Cursor, rows: Sequence[tuple[Any, ...]]) -> None:
    """SQLite: put a batch's rows in the connection's staging table (outside the write lock
    when the caller runs this before ``BEGIN IMMEDIATE``). Refuses a row whose prompt classes
    sum past 64 bits (SQLite would turn the sum into a float and band it approximately)."""
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS ledger_stage ({', '.join(_EVENT_COLUMNS)})")
    cur.execute(f"DELETE FROM {_STAGE}")
    marks = ", ".join(["?"] * len(_EVENT_COLUMNS))
    cur.executemany(f"INSERT INTO {_STAGE} VALUES ({marks})", rows)
    cur.execute(f"SELECT id FROM {_STAGE} WHERE typeof(input + cached_input + cache_write) "
                "<> 'integer' LIMIT 1")
    bad = cur.fetchone()
    if bad is not None:
        raise UsageError(f"event {bad[0]!r}: its prompt tokens sum past 2**63 - 1; the ledger "
                         "keeps 64-bit sums")


def insert_events(cur: Cursor, kind: str, rows: Sequence[tuple[Any, ...]],
                  thresholds: Sequence[int], hourly: Sequence[str], *,
                  staged: bool = False) -> set[str]:
    """Insert ``rows`` (unique ids) into ``events``, the first copy of an id winning, and add
    the inserted ones to the aggregate rows (hourly: for the customers in ``hourly``). Returns
    the ids inserted. SQLite reads the staged rows (``staged``: :func:`stage` already ran)."""
    if not rows:
        return set()
    names = ", ".join(_EVENT_COLUMNS)
    if kind == "postgresql":
        arrays = ", ".join(f"?::{t}[]" for t in _EVENT_TYPES)
        parts = [f"s ({names}) AS (SELECT * FROM unnest({arrays}))",
                 f"ins AS (INSERT INTO events ({names}) SELECT * FROM s ON CONFLICT (id) "
                 f"DO NOTHING RETURNING {names})",
                 f"d AS ({daily_sql(kind, 'ins', thresholds)})"]
        params: list[Any] = [list(column) for column in zip(*rows, strict=True)]
        if hourly:
            parts.append(f"h AS ({hourly_sql(kind, 'ins')})")
            params.append(_list_param(kind, hourly))
        cur.execute(f"WITH {', '.join(parts)} SELECT id FROM ins", params)
        return {r[0] for r in cur.fetchall()}
    if not staged:
        stage(cur, rows)
    cur.execute(f"INSERT INTO events ({names}) SELECT {names} FROM {_STAGE} WHERE true "
                "ON CONFLICT (id) DO NOTHING RETURNING id")
    inserted = {r[0] for r in cur.fetchall()}
    if len(inserted) < len(rows):  # ids already recorded: not summed again
        old = [row[0] for row in rows if row[0] not in inserted]
        cur.execute(f"DELETE FROM {_STAGE} WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(old),))
    if inserted:
        cur.execute(daily_sql(kind, _STAGE, thresholds))
        if hourly:
            cur.execute(hourly_sql(kind, _STAGE), (_list_param(kind, hourly),))
    return inserted


def add_hourly_from(cur: Cursor, kind: str, customers: Sequence[str]) -> None:
    """Hourly rows of ``customers`` made from their recorded events (a configuration change
    put them on a capacity plan)."""
    if customers:
        cur.execute(hourly_sql(kind, "events"), (_list_param(kind, customers),))
