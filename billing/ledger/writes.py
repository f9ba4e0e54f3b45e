"""Recording a batch with set-based SQL: the events inserted (first copy of an id wins) and
their sums added to the aggregate rows by the database, one statement per table, with no
Python object per event beyond the row handed to the driver.

- PostgreSQL: one statement per batch. The columns go as arrays (``unnest``, sent in binary);
  a data-modifying ``WITH`` inserts the events (``ON CONFLICT (id) DO NOTHING RETURNING``)
  and groups exactly the rows it inserted into the daily (and hourly) rows, in key order (no
  lock cycles between batches). Aggregate rows carry a writer slot, ``shard`` (the server
  process id modulo :data:`SHARDS`), and readers sum the slots: concurrent batches add to
  different rows instead of waiting for each other's commit on a row they share.
- SQLite: one writer at a time, so the work under its lock is kept small: the batch's sums
  per key are made *before* the lock is taken (:func:`group_sums`: one numpy sort, one tuple
  per group), then, under the lock, the rows are inserted (ids already recorded, rare, are
  looked up only when some row was not new) and the sums are *appended* to ``usage_recent``
  in arrival order; every :data:`FOLD_ROWS` recent rows they are folded into
  ``usage_daily`` in key order (:func:`fold_recent`). Adding 1,000 random (customer, day)
  keys to the daily rows directly wrote about 780 of their pages to the WAL per batch (and
  the checkpoint copied them again); the fold writes each page once per 40,000 rows.
  Readers add the unfolded rows of their customer (an index on it). ``meta.sum_bound``
  bounds every key's total, so a fold can never pass 64 bits (:func:`_add_daily_sqlite`).
  The slot is always 0.

The keys are the one-scan aggregation's (:func:`billing.usage.groupings.aggregate_table`):
(customer, model, long-context band, UTC day) and (customer, UTC hour), days and hours floored
(events before 1970 included), the band ``prompt > threshold x max(requests, 1)`` decided in
integers without a product that could overflow.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from billing.ledger.db import Cursor
from billing.usage.keys import DAY_US, HOUR_US

__all__ = ["FOLD_ROWS", "SHARDS", "Sums", "add_hourly_from", "fold_recent", "group_sums",
           "insert_events", "scan_sql"]

SHARDS = 16
#: SQLite: recent sum rows folded into the daily rows at once (see :func:`fold_recent`).
FOLD_ROWS = 40_000
_EVENT_COLUMNS = ("id", "customer_id", "ts_us", "model", "input", "cached_input", "cache_write",
                  "output", "requests", "session_id", "properties")
_EVENT_TYPES = ("text", "text", "bigint", "text", "bigint", "bigint", "bigint", "bigint",
                "bigint", "text", "text")
_SUMS = ("input", "cached_input", "cache_write", "output", "requests", "events")
_INT64_MAX = 2**63 - 1
_COUNT_NAMES = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
                "requests")
#: A batch's daily rows, hourly rows and the largest sum in them (:func:`group_sums`).
Sums = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]


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


def scan_sql(source: str, thresholds: Sequence[int], *, hourly: bool = False,
             where: str = "true", extra: str = "") -> str:
    """The one-scan aggregation's grouping of ``source`` (the events table, or a ``WITH``
    name with its columns) as one query: ``customer_id, model, band, day`` (``hourly``:
    ``customer_id, hour``), then the sums ``input, cached_input, cache_write, output,
    requests, events`` (then ``extra``). The keys of
    :func:`billing.usage.groupings.aggregate_table`: UTC days and hours floored, the
    band as :func:`band_sql`."""
    keys = (f"customer_id, {_floor_div('ts_us', HOUR_US)}" if hourly else
            f"customer_id, model, {band_sql(thresholds)}, {_floor_div('ts_us', DAY_US)}")
    groups = "1, 2" if hourly else "1, 2, 3, 4"
    return (f"SELECT {keys}, {_sum_list()}{extra} FROM {source} WHERE {where} "
            f"GROUP BY {groups}")


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
                  sums: Sums | None = None) -> set[str]:
    """Insert ``rows`` (unique ids) into ``events``, the first copy of an id winning, and add
    the inserted ones to the aggregate rows (hourly: for ``hourly_customers``). Returns the
    ids that were already recorded (not inserted; nearly always none). SQLite: ``sums`` are
    :func:`group_sums` of all ``rows`` if already made."""
    if not rows:
        return set()
    names = ", ".join(_EVENT_COLUMNS)
    if kind == "postgresql":
        hourly = sorted({row[1] for row in rows} & hourly_customers)
        arrays = ", ".join(f"?::{t}[]" for t in _EVENT_TYPES)
        parts = [f"s ({names}) AS (SELECT * FROM unnest({arrays}))",
                 f"ins AS (INSERT INTO events ({names}) SELECT * FROM s ON CONFLICT (id) "
                 f"DO NOTHING RETURNING {names})",
                 f"d AS ({daily_sql(kind, 'ins', thresholds)})"]
        params: list[Any] = [list(column) for column in zip(*rows, strict=True)]
        if hourly:
            parts.append(f"h AS ({hourly_sql(kind, 'ins')})")
            params.append(_list_param(kind, hourly))
        # The ids not inserted (an anti-join on the server): nearly always none to send back.
        cur.execute(f"WITH {', '.join(parts)} SELECT s.id FROM s WHERE NOT EXISTS "
                    "(SELECT 1 FROM ins WHERE ins.id = s.id)", params)
        return {r[0] for r in cur.fetchall()}
    marks = ", ".join(["?"] * len(_EVENT_COLUMNS))
    insert = f"INSERT INTO events ({names}) VALUES ({marks})"
    # Nearly always every id is new: insert them all, and only if some were already recorded
    # (fewer rows changed) undo that and insert the new ones alone.
    cur.execute("SAVEPOINT batch")
    before = cur.connection.total_changes  # type: ignore[attr-defined]
    cur.executemany(insert.replace("INSERT", "INSERT OR IGNORE", 1), rows)
    if cur.connection.total_changes - before == len(rows):  # type: ignore[attr-defined]
        new: Sequence[tuple[Any, ...]] = rows
        recorded: set[str] = set()
        cur.execute("RELEASE batch")
    else:
        cur.execute("ROLLBACK TO batch")
        cur.execute("RELEASE batch")
        cur.execute("SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps([row[0] for row in rows]),))
        recorded = {r[0] for r in cur.fetchall()}
        new = [row for row in rows if row[0] not in recorded]
        sums = None
        cur.executemany(insert, new)
    if sums is None:
        sums = group_sums(new, thresholds, hourly_customers)
    daily, hourly_rows, peak = sums
    _add_daily_sqlite(cur, daily, peak)
    cur.executemany(f"INSERT INTO usage_hourly (customer_id, hour, shard, {', '.join(_SUMS)}) "
                    "VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?) "
                    + _upsert("usage_hourly", ("customer_id", "hour")), hourly_rows)
    return recorded


def _add_daily_sqlite(cur: Cursor, daily: Sequence[tuple[Any, ...]], peak: int) -> None:
    """SQLite: append a batch's daily sums to ``usage_recent`` (arrival order: a few pages at
    the end of the table and of its customer index), and fold the recent rows into
    ``usage_daily`` in key order once there are :data:`FOLD_ROWS` of them. ``meta.sum_bound``
    bounds every key's total (daily plus recent): a batch that could take it past 64 bits
    goes straight to the daily rows instead, where an overflow refuses it (the fold itself
    can never overflow), and the bound is then made exact again."""
    if not daily:
        return
    cur.execute("SELECT value FROM meta WHERE key = 'sum_bound'")
    bound = int(cur.fetchone()[0])
    if bound + peak <= _INT64_MAX and len(daily) <= FOLD_ROWS:
        cur.executemany(f"INSERT INTO usage_recent (customer_id, model, band, day, "
                        f"{', '.join(_SUMS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", daily)
        cur.execute("UPDATE meta SET value = ? WHERE key = 'sum_bound'", (str(bound + peak),))
        cur.execute("SELECT max(seq) FROM usage_recent")
        if cur.fetchone()[0] >= FOLD_ROWS:  # seq restarts at 1 after a fold: the row count
            fold_recent(cur)
        return
    fold_recent(cur)
    cur.executemany(f"INSERT INTO usage_daily (customer_id, model, band, day, shard, "
                    f"{', '.join(_SUMS)}) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?) "
                    + _upsert("usage_daily", ("customer_id", "model", "band", "day")), daily)
    cur.execute("UPDATE meta SET value = (SELECT CAST(coalesce(max(max(input, cached_input, "
                "cache_write, output, requests, events)), 0) AS TEXT) FROM usage_daily) "
                "WHERE key = 'sum_bound'")


def fold_recent(cur: Cursor) -> None:
    """Move the recent sums into the daily rows, grouped and in key order (one pass over the
    daily rows' pages instead of one random page per key and batch)."""
    cur.execute(f"INSERT INTO usage_daily (customer_id, model, band, day, shard, "
                f"{', '.join(_SUMS)}) SELECT customer_id, model, band, day, 0, "
                f"{', '.join(f'sum({c})' for c in _SUMS)} FROM usage_recent WHERE true "
                "GROUP BY customer_id, model, band, day ORDER BY customer_id, model, band, day "
                + _upsert("usage_daily", ("customer_id", "model", "band", "day")))
    cur.execute("DELETE FROM usage_recent")


def group_sums(rows: Sequence[tuple[Any, ...]], thresholds: Sequence[int],
               hourly_customers: frozenset[str], *, table: Any = None) -> Sums:
    """The sums of event ``rows`` per daily key and, for ``hourly_customers``, per hourly key:
    rows ``(*key, input, cached_input, cache_write, output, requests, events)``, and the
    largest of those sums. Sorted numpy sums in 64-bit integers when no sum can pass 64 bits
    (``rows x largest count``), else exact Python integers (the database then refuses a sum
    past 64 bits). ``table``: the same rows as a checked Arrow table
    (:func:`billing.ledger.columns.batch_table`, whose sums cannot pass 64 bits), read
    column by column instead of from the tuples."""
    if not rows:
        return [], [], 0
    import numpy as np

    if table is not None:
        customer, model = table.column("customer_id"), table.column("model")
        ts = table.column("ts_us").to_numpy()
        counts = [table.column(name).to_numpy() for name in _COUNT_NAMES]
    else:
        columns = list(zip(*rows, strict=True))
        peak = max(max(columns[i]) for i in range(4, 9))
        if peak * max(len(rows), 3) > _INT64_MAX:
            return _python_sums(rows, thresholds, hourly_customers)
        counts = [np.asarray(columns[i], dtype=np.int64) for i in range(4, 9)]
        ts = np.asarray(columns[2], dtype=np.int64)
        customer, model = columns[1], columns[3]
    per = np.maximum(counts[4], 1)
    prompt = counts[0] + counts[1] + counts[2]
    whole, left = np.divmod(prompt, per)
    band = np.zeros(len(rows), np.int64)
    for t in thresholds:  # prompt > t x per, without the product (see band_sql)
        band += (whole > t) | ((whole == t) & (left > 0))
    sums = [*counts, np.ones(len(rows), np.int64)]
    who, names = _codes(customer)
    daily, peak = _grouped([(who, names), (*_codes(model),), (band, None), (ts // DAY_US, None)],
                           sums)
    wanted = [i for i, name in enumerate(names) if name in hourly_customers]
    if not wanted:
        return daily, [], peak
    mask = np.isin(who, wanted)
    hourly, hour_peak = _grouped([(who[mask], names), ((ts // HOUR_US)[mask], None)],
                                 [c[mask] for c in sums])
    return daily, hourly, max(peak, hour_peak)


def _codes(values: Any) -> tuple[Any, list[str]]:
    """Strings (an Arrow column, or a Python sequence) as integer codes and the distinct
    strings."""
    import numpy as np
    import pyarrow as pa

    if not isinstance(values, pa.Array | pa.ChunkedArray):
        index: dict[str, int] = {}
        codes = [index.setdefault(value, len(index)) for value in values]
        return np.asarray(codes, dtype=np.int64), list(index)
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    encoded = array.dictionary_encode()
    return (np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64),
            encoded.dictionary.to_pylist())


def _grouped(keys: Sequence[tuple[Any, list[str] | None]], sums: Sequence[Any]
             ) -> tuple[list[tuple[Any, ...]], int]:
    """Rows ``(*key, *sums)`` per distinct key (integer key columns, decoded through their
    strings when given), in key order, and the largest sum: one sort and one ``reduceat``
    per column instead of a hash group-by and a Python object per cell."""
    import numpy as np

    if not len(sums[0]):
        return [], 0
    order = np.lexsort([column for column, _ in reversed(keys)])  # the first key sorts first
    ordered = [column[order] for column, _ in keys]
    change = np.zeros(len(order), bool)
    change[0] = True
    for column in ordered:
        change[1:] |= column[1:] != column[:-1]
    starts = np.flatnonzero(change)
    totals = [np.add.reduceat(column[order], starts) for column in sums]
    out: list[list[Any]] = []
    for column, (_, strings) in zip(ordered, keys, strict=True):
        firsts = column[starts].tolist()
        out.append([strings[i] for i in firsts] if strings is not None else firsts)
    peak = max(int(total.max()) for total in totals)
    return list(zip(*out, *(total.tolist() for total in totals), strict=True)), peak


def _python_sums(rows: Sequence[tuple[Any, ...]], thresholds: Sequence[int],
                 hourly_customers: frozenset[str]) -> Sums:
    daily: dict[tuple[Any, ...], list[int]] = {}
    hourly: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        counts = [*row[4:9], 1]
        per = max(row[8], 1)
        band = sum(1 for t in thresholds if row[4] + row[5] + row[6] > t * per)
        keys: list[tuple[dict[tuple[Any, ...], list[int]], tuple[Any, ...]]] = [
            (daily, (row[1], row[3], band, row[2] // DAY_US))]
        if row[1] in hourly_customers:
            keys.append((hourly, (row[1], row[2] // HOUR_US)))
        for table, key in keys:
            found = table.setdefault(key, [0] * 6)
            for i, value in enumerate(counts):
                found[i] += value
    peak = max(max(v) for table in (daily, hourly) for v in table.values())
    return ([(*k, *v) for k, v in daily.items()], [(*k, *v) for k, v in hourly.items()], peak)


def add_hourly_from(cur: Cursor, kind: str, customers: Sequence[str]) -> None:
    """Hourly rows of ``customers`` made from their recorded events (a configuration change
    put them on a capacity plan)."""
    if customers:
        cur.execute(hourly_sql(kind, "events"), (_list_param(kind, customers),))
