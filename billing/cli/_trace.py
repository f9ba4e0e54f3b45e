"""Options shared by every command that reads a usage trace (``rate``, ``compare``): the
trace spec, the problems an option would solve (all of them at once), and what is shown of
the rejects."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from billing.errors import TraceError
from billing.usage.duckdb_connect import connect
from billing.usage.mapping import ISO_RE, OFFSET_RE, TraceSpec, parse_mapping
from billing.usage.readers import check_text_file
from billing.usage.results import Reject

__all__ = ["build_trace_spec", "input_problems", "parse_pairs", "rejects_lines", "trace_error"]

_ISO = re.compile(ISO_RE)
_OFFSET = re.compile(OFFSET_RE)
_SAMPLE = 50


def parse_pairs(items: list[str], what: str) -> dict[str, str]:
    """``["a=b", "c=d"]`` to a dict; a malformed item is a :class:`TraceError`."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value:
            raise TraceError(f"bad {what} {item!r}: write KEY=VALUE")
        out[key] = value
    return out


def build_trace_spec(
    path: Path,
    *,
    mapping: list[str],
    model: str | None,
    model_map: list[str],
    assume_tz: str | None,
    timestamp_unit: str,
    time_origin: str | None,
    round_tokens: bool,
    skip_when: list[str],
    absent: Sequence[str] = (),
    input_includes_cached: bool = False,
    usage_format: str | None = None,
) -> TraceSpec:
    """A :class:`TraceSpec` from command-line options, with one-line errors for bad ones."""
    origin = None
    if time_origin is not None:
        try:
            origin = datetime.fromisoformat(time_origin.replace("Z", "+00:00"))
        except ValueError:
            raise TraceError(f"--time-origin {time_origin!r} is not an ISO 8601 instant") from None
        if origin.tzinfo is None:
            raise TraceError(f"--time-origin {time_origin!r} needs a time zone (e.g. ...Z)")
    if not path.exists():
        raise TraceError(f"{path}: no such trace file")
    return TraceSpec(
        path=path,
        columns=parse_mapping(mapping, path=path),
        model=model,
        model_map=parse_pairs(model_map, "--model-map") if model_map else None,
        timestamp_unit=timestamp_unit,  # type: ignore[arg-type]
        time_origin=origin,
        assume_tz=assume_tz,
        round_tokens=round_tokens,
        skip_when=parse_pairs(skip_when, "--skip-when"),
        absent=tuple(name.strip() for item in absent for name in item.split(",") if name.strip()),
        input_includes_cached=input_includes_cached,
        usage_format=usage_format,  # type: ignore[arg-type]  # checked by TraceSpec
    )


def input_problems(spec: TraceSpec) -> list[str]:
    """What the trace needs the user to state, found before the run from its columns and first
    rows: every problem of the column mapping (``--map``, ``--model``, ``--absent``) and, when
    every sampled timestamp is naive, ``--assume-tz``. Empty when the file cannot be peeked at
    (the run itself then reports it, with its line)."""
    try:
        columns, sample = _peek(spec)
    except Exception:  # the run reports an unreadable file itself, with its line
        return []
    problems: list[str] = []
    try:
        resolved = spec.resolve(columns)
        column: str | None = resolved.sources["timestamp"][0]
    except TraceError as exc:
        prefix = f"{spec.path}: "
        text = str(exc)
        problems += (text[len(prefix):] if text.startswith(prefix) else text).split("; ")
        mapped = spec.columns.get("timestamp")
        column = mapped if isinstance(mapped, str) else (
            "timestamp" if "timestamp" in columns else None)
    if spec.assume_tz is None and spec.timestamp_unit == "iso":
        # The timestamp column, or (when it is not known yet) every column that holds dates.
        for candidate in ([column] if column in columns else columns):
            values = [str(row[candidate]).strip() for row in sample
                      if row.get(candidate) not in (None, "")]
            if values and all(_ISO.match(v) and not _OFFSET.search(v) for v in values):
                problems.append(f"no time zone in timestamps like {values[0]!r} (column "
                                f"{candidate!r}): --assume-tz ZONE (e.g. UTC)")
                break
    return problems


def trace_error(spec: TraceSpec, problems: Sequence[str]) -> TraceError:
    """One error naming the trace and every problem (the file's columns last)."""
    columns = [p for p in problems if ". Columns: " in p]
    rest = [p.split(". Columns: ")[0] for p in problems]
    tail = f". Columns: {columns[0].split('. Columns: ', 1)[1]}" if columns else ""
    return TraceError(f"{spec.path}: " + "; ".join(rest) + tail)


def _peek(spec: TraceSpec) -> tuple[list[str], list[dict[str, Any]]]:
    """The file's columns and its first rows (as the readers see them), cheaply."""
    path = spec.path
    fmt = spec.file_format
    if fmt != "parquet":
        check_text_file(path)  # UTF-16 and the like: the run names it (no columns to peek at)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pfile = pq.ParquetFile(path)
        names = list(pfile.schema_arrow.names)
        first = next(pfile.iter_batches(batch_size=_SAMPLE), None)
        rows = first.to_pylist() if first is not None else []
        for name in names:  # a naive timestamp type: every value is naive
            if str(pfile.schema_arrow.field(name).type).startswith("timestamp") \
                    and pfile.schema_arrow.field(name).type.tz is None:
                rows = [{**row, name: _naive_text(row.get(name))} for row in rows]
        return names, rows
    con = connect()
    try:
        p = "'" + str(path).replace("'", "''") + "'"
        if fmt == "csv":
            result = con.execute(f"SELECT * FROM read_csv({p}, all_varchar=true, header=true, "
                                 f"ignore_errors=true) LIMIT {_SAMPLE}")
            names = [d[0] for d in result.description]
            if not names or names == ["column0"]:
                raise TraceError(f"{path}: no header")  # the run says why, with its line
            return names, [dict(zip(names, row, strict=True)) for row in result.fetchall()]
        keys = con.execute(
            f"SELECT k FROM (SELECT rowid AS r, unnest(json_keys(j)) AS k, "
            f"generate_subscripts(json_keys(j), 1) AS i FROM (SELECT "
            f"TRY_CAST(l AS JSON) AS j FROM read_csv({p}, columns={{'l': 'VARCHAR'}}, "
            "delim=chr(1), quote='', escape='', header=false, auto_detect=false, "
            "ignore_errors=true)) WHERE json_type(j) = 'OBJECT') GROUP BY k "
            "ORDER BY min([r, i])").fetchall()
    finally:
        con.close()
    rows = []
    opener: Callable[..., Any] = open
    if path.name.lower().endswith(".gz"):
        import gzip

        opener = gzip.open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for line in itertools.islice(handle, _SAMPLE):
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):  # RecursionError: deeply nested JSON
                continue
            if isinstance(value, dict):
                rows.append(value)
    return [str(k) for (k,) in keys], rows


def _naive_text(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def rejects_lines(first: Sequence[Reject], total: int, *, written_to: Path | None,
                  asked: bool) -> list[str]:
    """What a command shows of its rejects on stderr: the first few (line or record, and the
    reason), how many more, and where the full list is (or how to get it)."""
    if total == 0:
        return []
    lines = [f"rejected: {reject}" for reject in first]
    if total > len(first):
        lines.append(f"... and {total - len(first):,} more")
    if asked and written_to is not None:
        lines.append(f"every rejected row is in {written_to}")
    elif written_to is not None:
        lines.append(f"every rejected row is in {written_to} (choose the file with --rejects)")
    else:
        lines.append("write every rejected row to a file with --rejects FILE")
    return lines
