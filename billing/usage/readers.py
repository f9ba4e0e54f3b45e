"""The pure-Python trace reader: one :class:`UsageEvent` or :class:`Reject` per data row.

For small files and for tests; big traces go through :mod:`billing.usage.aggregate_engine`,
which applies the same rules (see :mod:`billing.usage.mapping`) without a Python object per
event. Rows are identified by the file's line number in CSV and JSONL (the header is line 1 of
a CSV file; a record whose quoted value spans lines is numbered by its first line) and by the
record number (from 1) in Parquet. A line that is not UTF-8 or longer than 2 MB is a reject of
that line, never the end of the run.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, cast
from zoneinfo import ZoneInfo

from billing.errors import TraceError, UsageError
from billing.usage.aggregate_python import Aggregator
from billing.usage.events import UsageEvent
from billing.usage.mapping import (
    COUNT_DEFAULTS,
    COUNT_FIELDS,
    LONG_LINE,
    MAX_COUNT,
    MAX_LINE_BYTES,
    NOT_UTF8,
    UNIT_MICROS,
    BadValue,
    ResolvedSpec,
    TraceSpec,
    checked,
    datetime_to_micros,
    fresh_input,
    in_range,
    parse_count,
    parse_service_tier,
    parse_timestamp,
    reasoning_above_output,
)
from billing.usage.providers import FILE_FORMATS, Term, file_counts, term_value
from billing.usage.results import Reject, TraceResult, first_rejects, write_rejects

__all__ = ["aggregate_trace_python", "check_text_file", "format_raw", "read_events",
           "read_numbered", "row_to_event"]


def _open_binary(path: Path) -> IO[bytes]:
    try:
        if path.name.lower().endswith(".gz"):
            return cast(IO[bytes], gzip.open(path, "rb"))
        return path.open("rb")
    except OSError as exc:
        raise TraceError(f"{path}: cannot open: {exc.strerror or exc}") from exc


_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16",
         b"\xfe\xff": "UTF-16"}


def check_text_file(path: Path) -> None:
    """Refuse a CSV or JSONL file that is not UTF-8 from its first line on (UTF-16 or UTF-32,
    NUL bytes): every line would be garbage, so this is one error, not a reject per line."""
    with _open_binary(path) as handle:
        try:
            start = handle.read(4096)
        except (OSError, EOFError) as exc:
            raise TraceError(f"{path}: cannot read: {exc}") from exc
    for bom, name in _BOMS.items():
        if start.startswith(bom):
            raise TraceError(f"{path}:1: not UTF-8 text ({name} byte order mark): save the file "
                             "as UTF-8")
    if b"\x00" in start.split(b"\n", 1)[0]:
        raise TraceError(f"{path}:1: not UTF-8 text (NUL bytes: UTF-16 or binary?): save the "
                         "file as UTF-8 text")


#: Stand-ins fed to the CSV parser for a line it must not see (too long, not UTF-8).
_LONG = "\x00billing-long-line\x00"
_NOT_UTF8 = "\x00billing-not-utf8\x00"
_RAW_LIMIT = 1_000  # characters of an oversized line kept in the rejects file


def _lines(path: Path) -> Iterator[tuple[str, str]]:
    """(text, raw) per line of a text file, line ends kept: a line that is not UTF-8 or longer
    than 2 MB comes as a stand-in, with what can be shown of it as ``raw``."""
    with _open_binary(path) as handle:
        try:
            for data in handle:
                if len(data.rstrip(b"\r\n")) > MAX_LINE_BYTES:
                    yield _LONG, data[:_RAW_LIMIT].decode("utf-8", "replace") + "..."
                    continue
                try:
                    yield data.decode("utf-8"), ""
                except UnicodeDecodeError:
                    yield _NOT_UTF8, data.rstrip(b"\r\n").decode("utf-8", "replace")
        except (OSError, EOFError) as exc:  # a truncated or corrupt gzip stream
            raise TraceError(f"{path}: cannot read: {exc}") from exc


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
        if value > MAX_COUNT:
            raise BadValue(f"{name} is too large: {value}")
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
        return checked(value)
    if isinstance(value, int) and not isinstance(value, bool) and spec.timestamp_unit != "iso":
        return in_range(datetime_to_micros(resolved.origin)
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
                raise BadValue(f"model value {model!r} is not in --model-map")
            model = spec.model_map[model]
    timestamp = _timestamp(values[src["timestamp"][0]], resolved)
    counts = {
        name: (_count(name, values[src[name][0]], spec.round_tokens) if name in src
               else COUNT_DEFAULTS[name])
        for name in COUNT_FIELDS
    }
    if spec.usage_format is not None:
        fmt = FILE_FORMATS[spec.usage_format]
        terms = {t.key: _count(t.label, values[t.column], spec.round_tokens) for t in fmt.terms}
        (counts["input_tokens"], counts["cached_input_tokens"], counts["cache_write_tokens"],
         counts["output_tokens"]) = file_counts(fmt, terms)
    if spec.input_includes_cached:
        counts["input_tokens"] = fresh_input(counts["input_tokens"],
                                             counts["cached_input_tokens"])
    session = None
    if "session_id" in src:
        session = _value_text(values[src["session_id"][0]]).strip(" ") or None
    tier = "standard"
    if "service_tier" in src:
        tier = parse_service_tier(_value_text(values[src["service_tier"][0]]),
                                  resolved.tier_aliases)
    reasoning = 0
    if "reasoning_tokens" in src:
        reasoning = _count("reasoning_tokens", values[src["reasoning_tokens"][0]],
                           spec.round_tokens)
        if reasoning > counts["output_tokens"]:
            raise BadValue(reasoning_above_output(str(reasoning), str(counts["output_tokens"])))
    try:
        return UsageEvent(
            id=event_id, customer_id=customer, timestamp=timestamp, model=model,
            input_tokens=counts["input_tokens"],
            cached_input_tokens=counts["cached_input_tokens"],
            cache_write_tokens=counts["cache_write_tokens"],
            output_tokens=counts["output_tokens"], requests=counts["requests"],
            session_id=session, service_tier=tier, reasoning_tokens=reasoning,
        )
    except UsageError as exc:  # pragma: no cover - the checks above come first
        raise BadValue(str(exc)) from exc


Row = tuple[int, dict[str, Any] | None, str, str]
"""(line or record number, values or None if unusable, raw text, reason if unusable)."""


def _rows(spec: TraceSpec) -> tuple[list[str], Iterator[Row]]:
    """(columns, iterator of rows)."""
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

        def parquet_rows() -> Iterator[Row]:
            row = 0
            for batch in pfile.iter_batches(batch_size=65_536):
                for record in batch.to_pylist():
                    row += 1
                    yield row, record, format_raw([record[n] for n in names]), ""

        return names, parquet_rows()
    check_text_file(path)
    if fmt == "csv":
        lines = _lines(path)
        first = next(lines, None)
        if first is None:
            raise TraceError(f"{path}: empty file (no header row)")
        if first[0] in (_LONG, _NOT_UTF8):
            raise TraceError(f"{path}:1: unreadable header: "
                             f"{LONG_LINE if first[0] == _LONG else NOT_UTF8}")
        try:
            header = next(csv.reader([first[0]]))
        except (csv.Error, StopIteration) as exc:
            raise TraceError(f"{path}:1: unreadable header: {exc}") from None
        return header, _csv_rows(lines, header)
    # JSONL: the columns are the union of every object's keys, in order of first appearance.
    records: list[Row] = []
    keys: dict[str, None] = {}
    for number, (text, raw) in enumerate(_lines(path), start=1):
        if text in (_LONG, _NOT_UTF8):
            records.append((number, None, raw, LONG_LINE if text == _LONG else NOT_UTF8))
            continue
        line = text.rstrip("\r\n")
        if not line.strip(" \t\r"):
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: deeply nested JSON
            value = None
        if isinstance(value, dict):
            keys.update(dict.fromkeys(value))
            records.append((number, value, line, ""))
        else:
            records.append((number, None, line, "unparseable line"))
    columns = list(keys)

    terms: tuple[Term, ...] = ()
    if spec.usage_format is not None:
        usage_fmt = FILE_FORMATS[spec.usage_format]
        terms = (*usage_fmt.terms, *((usage_fmt.tier,) if usage_fmt.tier is not None else ()))

    def json_rows() -> Iterator[Row]:
        for number, value, line, reason in records:
            values = None if value is None else {c: value.get(c) for c in columns}
            if values is not None and value is not None:
                for term in terms:  # the provider's counts, from nested objects
                    values[term.column] = term_value(value, term)
            yield number, values, line, reason

    return columns, json_rows()


def _csv_rows(lines: Iterator[tuple[str, str]], header: list[str]) -> Iterator[Row]:
    raws: dict[int, str] = {}
    consumed = 1  # the header

    def feed() -> Iterable[str]:
        nonlocal consumed
        for text, raw in lines:
            consumed += 1
            if raw:
                raws[consumed] = raw
            yield text

    reader = csv.reader(feed())
    while True:
        start = consumed + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield start, None, "", "unparseable line"
            continue
        if not fields:
            continue
        flagged = [r for r in (_LONG, _NOT_UTF8) if any(r in f for f in fields)]
        if flagged:
            reason = LONG_LINE if flagged[0] == _LONG else NOT_UTF8
            yield start, None, raws.pop(start, ""), reason
            continue
        raw = format_raw(fields)
        if len(fields) != len(header):
            yield start, None, raw, "unparseable line"
        else:
            yield start, dict(zip(header, fields, strict=True)), raw, ""


def read_events(spec: TraceSpec) -> Iterator[UsageEvent | Reject]:
    """Read a trace row by row: an event per good row, a :class:`Reject` per bad or skipped
    row (in file order). Dedupe is not done here (see :class:`Aggregator`)."""
    for _row, entry, _raw in read_numbered(spec):
        yield entry


def aggregate_trace_python(spec: TraceSpec, *, thresholds: tuple[int, ...] = (),
                           hourly: bool = False, rejects_path: Path | None = None,
                           time_of_day: Callable[[str], Sequence[int]] | None = None
                           ) -> TraceResult:
    """:func:`~billing.usage.aggregate_engine.aggregate_trace` on the pure-Python path
    (same rules, same results; one Python object per row, so for small files)."""
    columns, _ = _rows(spec)
    resolved = spec.resolve(columns)
    aggregator = Aggregator(thresholds=thresholds, hourly=hourly, time_of_day=time_of_day,
                            reasoning=resolved.reasoning_known)
    rejects: list[Reject] = []
    rejected = skipped = 0
    name = str(spec.path)
    unit = "record" if spec.file_format == "parquet" else "line"
    for row, entry, raw in read_numbered(spec):
        if isinstance(entry, Reject):
            rejects.append(entry)
            if entry.skipped:
                skipped += 1
            else:
                rejected += 1
        elif aggregator.add(entry) == "conflict":
            rejects.append(Reject(name, row, "conflict", raw, unit=unit))
    aggregates, stats = aggregator.result(rejected=rejected, skipped=skipped,
                                          derived_ids=resolved.derived_ids)
    stats = dataclasses.replace(stats, absent=resolved.absent,
                                declared_absent=resolved.declared_absent, row_unit=unit,
                                service_tier_column=resolved.service_tiers)
    if rejects_path is not None:
        write_rejects(rejects_path, rejects, unit)
    return TraceResult(aggregates, stats, rejects_path,
                       first_rejects=first_rejects(rejects))


def read_numbered(spec: TraceSpec) -> Iterator[tuple[int, UsageEvent | Reject, str]]:
    """:func:`read_events` with each entry's row (the file's line, or the record for Parquet)
    and its raw text, for callers that report on rows after the fact (conflicts)."""
    columns, rows = _rows(spec)
    resolved = spec.resolve(columns)
    name = str(spec.path)
    unit = "record" if spec.file_format == "parquet" else "line"
    for row, values, raw, reason in rows:
        if values is None:
            yield row, Reject(name, row, reason, raw, unit=unit), raw
            continue
        skip = resolved.skip_reason({c: _value_text(values.get(c)) for c in spec.skip_when})
        if skip is not None:
            yield row, Reject(name, row, skip, raw, skipped=True, unit=unit), raw
            continue
        try:
            yield row, row_to_event(values, row, resolved), raw
        except BadValue as exc:
            yield row, Reject(name, row, str(exc), raw, unit=unit), raw
