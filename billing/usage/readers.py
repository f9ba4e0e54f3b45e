"""The pure-Python trace reader: one :class:`UsageEvent` or :class:`Reject` per data row.

For small files and for tests; big traces go through :mod:`billing.usage.aggregate_engine`,
which applies the same rules (see :mod:`billing.usage.mapping`) without a Python object per
event. Rows are numbered from 1, header excluded.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from billing.errors import TraceError, UsageError
from billing.usage.aggregate_python import Aggregator
from billing.usage.events import UsageEvent
from billing.usage.mapping import (
    COUNT_DEFAULTS,
    COUNT_FIELDS,
    UNIT_MICROS,
    BadValue,
    ResolvedSpec,
    TraceSpec,
    datetime_to_micros,
    micros_to_datetime,
    parse_count,
    parse_timestamp,
)
from billing.usage.results import Reject, TraceResult, write_rejects

__all__ = ["aggregate_trace_python", "format_raw", "read_events", "row_to_event"]


def _open_text(path: Path) -> IO[str]:
    try:
        if path.name.lower().endswith(".gz"):
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
        return path.open("r", encoding="utf-8", newline="")
    except OSError as exc:
        raise TraceError(f"{path}: cannot open: {exc}") from exc


def format_raw(values: Sequence[object]) -> str:
    """A rejected row's values as one CSV line (what the rejects file's ``raw`` holds)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(["" if v is None else _text(v) for v in values])
    return out.getvalue()


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _value_text(value: object) -> str:
    """A typed (Parquet/JSON) value as the text the value rules read."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):  # float-ok: a token figure stored as a float in the file
        if not math.isfinite(value):
            return str(value)
        return format(Decimal(repr(value)), "f")
    return _text(value)


def _count(name: str, value: object, round_tokens: bool) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise BadValue(f"negative {name}: {value}")
        return value
    return parse_count(name, _value_text(value), round_tokens)


def _timestamp(value: object, resolved: ResolvedSpec) -> datetime:
    spec = resolved.spec
    if isinstance(value, datetime):
        if value.tzinfo is None:
            if spec.assume_tz is None:
                raise BadValue(f"naive timestamp {value.isoformat()!r} (no time zone; "
                               "state it with --assume-tz)")
            value = value.replace(tzinfo=ZoneInfo(spec.assume_tz))
        return value.astimezone(UTC)
    if isinstance(value, int) and not isinstance(value, bool) and spec.timestamp_unit != "iso":
        return micros_to_datetime(datetime_to_micros(resolved.origin)
                                  + value * UNIT_MICROS[spec.timestamp_unit])
    return parse_timestamp(_value_text(value), resolved)


def _text_field(name: str, value: object) -> str:
    text = _value_text(value).strip(" ")
    if not text:
        raise BadValue(f"missing {name}")
    return text


def row_to_event(values: Mapping[str, object], row: int, resolved: ResolvedSpec) -> UsageEvent:
    """Turn one row (column -> value) into an event; raise BadValue with the reject reason."""
    spec = resolved.spec
    src = resolved.sources
    event_id = (_text_field("id", values[src["id"][0]]) if "id" in src
                else resolved.derived_id(row))
    customer = "/".join(_text_field("customer_id", values[c]) for c in src["customer_id"])
    if spec.model is not None:
        model = spec.model
    else:
        model = _text_field("model", values[src["model"][0]])
        if spec.model_map is not None:
            if model not in spec.model_map:
                raise BadValue(f"model value {model!r} is not in model_map")
            model = spec.model_map[model]
    timestamp = _timestamp(values[src["timestamp"][0]], resolved)
    counts = {
        name: (_count(name, values[src[name][0]], spec.round_tokens) if name in src
               else COUNT_DEFAULTS[name])
        for name in COUNT_FIELDS
    }
    session = None
    if "session_id" in src:
        session = _value_text(values[src["session_id"][0]]).strip(" ") or None
    try:
        return UsageEvent(
            id=event_id, customer_id=customer, timestamp=timestamp, model=model,
            input_tokens=counts["input_tokens"],
            cached_input_tokens=counts["cached_input_tokens"],
            cache_write_tokens=counts["cache_write_tokens"],
            output_tokens=counts["output_tokens"], requests=counts["requests"],
            session_id=session,
        )
    except UsageError as exc:  # pragma: no cover - the checks above come first
        raise BadValue(str(exc)) from exc


def _rows(spec: TraceSpec) -> tuple[list[str], Iterator[tuple[int, dict[str, Any] | None, str]]]:
    """(columns, iterator of (row number, values or None if unparseable, raw text))."""
    path = spec.path
    if not path.exists():
        raise TraceError(f"{path}: no such file")
    fmt = spec.file_format
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pfile = pq.ParquetFile(path)
        except Exception as exc:
            raise TraceError(f"{path}: not a readable Parquet file: {exc}") from exc
        names = list(pfile.schema_arrow.names)

        def parquet_rows() -> Iterator[tuple[int, dict[str, Any] | None, str]]:
            row = 0
            for batch in pfile.iter_batches(batch_size=65_536):
                for record in batch.to_pylist():
                    row += 1
                    yield row, record, format_raw([record[n] for n in names])

        return names, parquet_rows()
    if fmt == "csv":
        with _open_text(path) as handle:
            try:
                header = next(csv.reader(handle))
            except StopIteration:
                raise TraceError(f"{path}: empty file (no header row)") from None
            except (csv.Error, UnicodeDecodeError) as exc:
                raise TraceError(f"{path}: unreadable header: {exc}") from exc

        def csv_rows() -> Iterator[tuple[int, dict[str, Any] | None, str]]:
            with _open_text(path) as handle:
                reader = csv.reader(handle)
                next(reader)
                row = 0
                while True:
                    try:
                        fields = next(reader)
                    except StopIteration:
                        return
                    except (csv.Error, UnicodeDecodeError):
                        row += 1
                        yield row, None, ""
                        continue
                    if not fields:
                        continue
                    row += 1
                    raw = format_raw(fields)
                    if len(fields) != len(header):
                        yield row, None, raw
                    else:
                        yield row, dict(zip(header, fields, strict=True)), raw

        return header, csv_rows()
    # JSONL: the columns are the keys of the first parseable object.
    with _open_text(path) as handle:
        lines = [line.rstrip("\r\n") for line in handle]
    records = [line for line in lines if line.strip()]
    columns: list[str] = []
    for line in records:
        try:
            first = json.loads(line)
        except ValueError:
            continue
        if isinstance(first, dict):
            columns = list(first)
            break

    def json_rows() -> Iterator[tuple[int, dict[str, Any] | None, str]]:
        for row, line in enumerate(records, start=1):
            try:
                value = json.loads(line)
            except ValueError:
                yield row, None, line
                continue
            if not isinstance(value, dict):
                yield row, None, line
                continue
            yield row, {c: value.get(c) for c in columns}, line

    return columns, json_rows()


def read_events(spec: TraceSpec) -> Iterator[UsageEvent | Reject]:
    """Read a trace row by row: an event per good row, a :class:`Reject` per bad or skipped
    row (in file order). Dedupe is not done here (see :class:`Aggregator`)."""
    for _row, entry, _raw in _numbered(spec):
        yield entry


def aggregate_trace_python(spec: TraceSpec, *, thresholds: tuple[int, ...] = (),
                           hourly: bool = False, rejects_path: Path | None = None
                           ) -> TraceResult:
    """:func:`~billing.usage.aggregate_engine.aggregate_trace` on the pure-Python path
    (same rules, same results; one Python object per row, so for small files)."""
    aggregator = Aggregator(thresholds=thresholds, hourly=hourly)
    rejects: list[Reject] = []
    rejected = skipped = 0
    name = str(spec.path)
    for row, entry, raw in _numbered(spec):
        if isinstance(entry, Reject):
            rejects.append(entry)
            if entry.skipped:
                skipped += 1
            else:
                rejected += 1
        elif aggregator.add(entry) == "conflict":
            rejects.append(Reject(name, row, "conflict", raw))
    columns, _ = _rows(spec)
    derived = spec.resolve(columns).derived_ids
    aggregates, stats = aggregator.result(rejected=rejected, skipped=skipped,
                                          derived_ids=derived)
    if rejects_path is not None:
        write_rejects(rejects_path, rejects)
    return TraceResult(aggregates, stats, rejects_path)


def _numbered(spec: TraceSpec) -> Iterator[tuple[int, UsageEvent | Reject, str]]:
    columns, rows = _rows(spec)
    resolved = spec.resolve(columns)
    name = str(spec.path)
    for row, values, raw in rows:
        if values is None:
            yield row, Reject(name, row, "unparseable line", raw), raw
            continue
        skip = resolved.skip_reason({c: _value_text(values.get(c)) for c in spec.skip_when})
        if skip is not None:
            yield row, Reject(name, row, skip, raw, skipped=True), raw
            continue
        try:
            yield row, row_to_event(values, row, resolved), raw
        except BadValue as exc:
            yield row, Reject(name, row, str(exc), raw), raw
