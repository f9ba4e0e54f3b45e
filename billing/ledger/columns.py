"""A batch of events given as columns (a pyarrow Table or RecordBatch, or a mapping of lists):
checked whole with Arrow kernels, then recorded without building a Python event per row
(one row tuple per event for the database driver; the sums are the database's)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from billing.errors import UsageError
from billing.ledger.rows import _Prepared
from billing.usage.events import UsageEvent
from billing.usage.keys import epoch_micros
from billing.usage.mapping import MAX_COUNT

__all__ = ["batch_events", "batch_table", "prepare_table", "refuse_service_tiers"]

_NO_TIERS = ("the ledger does not store service tiers yet: record only standard-tier usage "
             "here (rate batch, flex or priority usage from a file with billing rate)")


def refuse_service_tiers(events: Any, *, where: str = "record") -> None:
    """Refuse events (or a ``service_tier`` column's values) of a tier other than standard:
    the ledger's rows have no tier, and recording them would price them at list silently."""
    for row, event in enumerate(events):
        tier = event.service_tier if isinstance(event, UsageEvent) else event
        if tier is not None and tier != "standard":
            name = f"event {event.id!r}" if isinstance(event, UsageEvent) else f"row {row}"
            raise UsageError(f"{where}: {name} has service tier {tier!r}: {_NO_TIERS}")



_COUNT_COLUMNS: tuple[str, ...] = ("input_tokens", "cached_input_tokens", "cache_write_tokens",
                                   "output_tokens", "requests")
_COUNT_DEFAULTS = {"input_tokens": 0, "cached_input_tokens": 0, "cache_write_tokens": 0,
                   "output_tokens": 0, "requests": 1}
_TEXT_COLUMNS = ("id", "customer_id", "model")
_BATCH_COLUMNS = (*_TEXT_COLUMNS, "timestamp", *_COUNT_COLUMNS, "session_id")
#: Columns of a dedupe record, in the order of :func:`_content` (properties come last, empty).
_CONTENT_COLUMNS = ("customer_id", "ts_us", "model", *_COUNT_COLUMNS, "session_id")


def _as_columns(columns: Any) -> tuple[dict[str, Any], int]:
    """The batch's columns by name (Arrow arrays or Python sequences) and its length."""
    import pyarrow as pa

    if isinstance(columns, pa.Table | pa.RecordBatch):
        named = {name: columns.column(name) for name in columns.column_names}
        length = columns.num_rows
    elif isinstance(columns, Mapping):
        named = {str(k): v for k, v in columns.items()}
        lengths = {name: len(values) for name, values in named.items()}
        if len(set(lengths.values())) > 1:
            raise UsageError("record_batch: columns differ in length: "
                             + ", ".join(f"{k}={n}" for k, n in lengths.items()))
        length = next(iter(lengths.values()), 0)
    else:
        raise UsageError("record_batch takes a pyarrow Table or RecordBatch, or a mapping of "
                         f"column name to list; got {type(columns).__name__}")
    if "service_tier" in named:
        tiers = named.pop("service_tier")
        refuse_service_tiers(tiers.to_pylist() if hasattr(tiers, "to_pylist") else tiers,
                             where="record_batch")
    unknown = sorted(set(named) - set(_BATCH_COLUMNS))
    if unknown:
        raise UsageError(f"record_batch: unknown column(s) {', '.join(unknown)}; the columns "
                         f"are {', '.join(_BATCH_COLUMNS)}")
    missing = [name for name in ("id", "customer_id", "timestamp", "model") if name not in named]
    if missing:
        raise UsageError(f"record_batch: missing column(s) {', '.join(missing)}")
    return named, length


def _row_values(named: Mapping[str, Any], row: int) -> dict[str, Any]:
    import pyarrow as pa

    values: dict[str, Any] = {}
    for name, column in named.items():
        value = column[row]
        values[name] = value.as_py() if isinstance(value, pa.Scalar) else value
    return values


def _row_event(named: Mapping[str, Any], row: int) -> UsageEvent:
    """Row ``row`` as a :class:`UsageEvent`; its checks give the reason of a bad row."""
    values = _row_values(named, row)
    try:
        return UsageEvent(**values)
    except UsageError as exc:
        raise UsageError(f"record_batch row {row}: {exc}") from None
    except TypeError as exc:  # pragma: no cover - columns are checked by name above
        raise UsageError(f"record_batch row {row}: {exc}") from None


def _first_bad(named: Mapping[str, Any], row: int | None, reason: str) -> UsageError:
    if row is not None:
        try:
            _row_event(named, row)
        except UsageError as exc:
            return exc
        return UsageError(f"record_batch row {row}: {reason}")
    return UsageError(f"record_batch: {reason}")


def batch_events(columns: Any) -> list[UsageEvent]:
    named, length = _as_columns(columns)
    return [_row_event(named, row) for row in range(length)]


def _first_true(mask: Any) -> int | None:
    import pyarrow.compute as pc

    index = pc.index(mask, True).as_py()
    return None if index is None or index < 0 else int(index)


def batch_table(columns: Any) -> Any:
    """Check a batch and return it as an Arrow table ``id, customer_id, model, ts_us,
    <counts>, session_id`` (64-bit integers), or None when a count does not fit 64 bits (the
    caller then takes the one-event-at-a-time path, which refuses it clearly)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    named, length = _as_columns(columns)
    out: dict[str, Any] = {}
    for name in _TEXT_COLUMNS:
        column = named[name]
        if not isinstance(column, pa.Array | pa.ChunkedArray):
            bad = next((i for i, v in enumerate(column) if not isinstance(v, str) or not v), None)
            if bad is not None:
                raise _first_bad(named, bad, f"{name} must be a non-empty string")
            column = pa.array(column, pa.string())
        elif not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            try:
                column = column.cast(pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise UsageError(f"record_batch: column {name} must hold strings, not "
                                 f"{column.type}") from None
        empty = pc.fill_null(pc.equal(pc.utf8_length(column), 0), True)
        bad = _first_true(empty)
        if bad is not None:
            raise _first_bad(named, bad, f"{name} is missing")
        out[name] = column
    stamps = named["timestamp"]
    if isinstance(stamps, pa.Array | pa.ChunkedArray):
        kind = stamps.type
        if not pa.types.is_timestamp(kind) or kind.tz is None:
            raise _first_bad(named, 0 if length else None,
                             f"column timestamp must be a tz-aware Arrow timestamp, not {kind}")
        bad = _first_true(pc.is_null(stamps))
        if bad is not None:
            raise _first_bad(named, bad, "timestamp is missing")
        try:
            out["ts_us"] = stamps.cast(pa.timestamp("us", "UTC")).cast(pa.int64())
        except pa.ArrowInvalid:
            raise UsageError("record_batch: timestamps finer than a microsecond") from None
    else:
        micros: list[int] = []
        for row, moment in enumerate(stamps):
            if not isinstance(moment, datetime) or moment.utcoffset() is None:
                raise _first_bad(named, row, "timestamp must be a tz-aware datetime")
            micros.append(epoch_micros(moment))
        out["ts_us"] = pa.array(micros, pa.int64())
    for name in _COUNT_COLUMNS:
        if name not in named:
            out[name] = pa.array([_COUNT_DEFAULTS[name]] * length, pa.int64())
            continue
        column = named[name]
        if not isinstance(column, pa.Array | pa.ChunkedArray):
            bad = next((i for i, v in enumerate(column)
                        if isinstance(v, bool) or not isinstance(v, int)), None)
            if bad is not None:
                raise _first_bad(named, bad, f"{name} must be a whole number")
            if any(v > MAX_COUNT or v < -MAX_COUNT for v in column):
                return None
            column = pa.array(column, pa.int64())
        elif not pa.types.is_integer(column.type):
            raise _first_bad(named, 0 if length else None,
                             f"column {name} must hold integers, not {column.type}")
        bad = _first_true(pc.is_null(column))
        if bad is not None:
            raise _first_bad(named, bad, f"{name} is missing")
        if length and pc.max(column).as_py() > MAX_COUNT:
            return None
        column = column.cast(pa.int64())
        bad = _first_true(pc.less(column, 0))
        if bad is not None:
            raise _first_bad(named, bad, f"{name} is negative")
        out[name] = column
    if "session_id" in named:
        sessions = named["session_id"]
        if not isinstance(sessions, pa.Array | pa.ChunkedArray):
            bad = next((i for i, v in enumerate(sessions)
                        if v is not None and not isinstance(v, str)), None)
            if bad is not None:
                raise _first_bad(named, bad, "session_id must be a string or None")
            sessions = pa.array(sessions, pa.string())
        else:
            sessions = sessions.cast(pa.string())
        out["session_id"] = sessions
    else:
        out["session_id"] = pa.nulls(length, pa.string())
    return pa.table(out)


def prepare_table(table: Any) -> _Prepared | None:
    """A checked batch (:func:`batch_table`) as the ledger's rows, in id order (the database
    makes the sums). None when an id repeats within the batch (the caller then takes the
    event-by-event path, which sorts the copies out)."""
    table = table.sort_by("id")  # the rows in id order, as the ledger inserts them
    columns = [table.column(name).to_pylist() for name in
               ("id", "customer_id", "ts_us", "model", *_COUNT_COLUMNS, "session_id")]
    if len(set(columns[0])) != len(columns[0]):
        return None
    return _Prepared(list(zip(*columns, [None] * table.num_rows, strict=True)), 0, 0, [])
