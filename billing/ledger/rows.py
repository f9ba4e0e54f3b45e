"""Event rows and aggregate sums as the ledger stores them, and bulk writes on both backends."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from billing.ledger.db import Cursor
from billing.usage.aggregate_python import band_of
from billing.usage.events import UsageEvent

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


@dataclass(slots=True)
class _Prepared:
    """A batch made ready outside the write lock: its unique rows (first copy of each id, in id
    order), the duplicates and conflicts within it, and the sums of all its rows."""

    rows: list[tuple[Any, ...]]
    duplicates: int
    conflicts: int
    conflict_ids: list[str]
    hourly_customers: frozenset[str] | None
    daily: list[tuple[Any, ...]] = field(default_factory=list)
    """Rows to add to ``usage_daily``: key then sums, in key order (no lock cycles)."""
    hourly: list[tuple[Any, ...]] = field(default_factory=list)
    """Likewise for ``usage_hourly``."""


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
                     prepared.conflict_ids, hourly_customers, sum_rows(daily),
                     sum_rows(hourly))


def sum_rows(sums: dict[Any, list[int]]) -> list[tuple[Any, ...]]:
    """``{key: sums}`` as rows ``(*key, *sums)`` in key order."""
    return [(*k, *v) for k, v in sorted(sums.items())]


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
