"""Reading and validating a trace file with DuckDB: the first layer of
:mod:`billing.usage.aggregate_engine`.

``read_csv`` with ``all_varchar`` keeps bad rows to report them; JSONL is read one line per row
and parsed with DuckDB's JSON functions (its columns are the union of every object's keys);
Parquet through ``read_parquet`` with its record numbers. :class:`Validator` applies the value
rules of :mod:`billing.usage.mapping` in SQL, row for row the same as the pure-Python reader.

Rows are numbered as the pure-Python reader numbers them: the file's line (CSV, JSONL; blank
and unreadable lines counted) or the record (Parquet). A line that is not UTF-8 or longer than
2 MB is one reject; no DuckDB message (which may quote our SQL) reaches the user unfiltered.
"""

from __future__ import annotations

import csv
import gzip
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, cast

from billing.errors import TraceError
from billing.usage.events import SERVICE_TIERS
from billing.usage.mapping import (
    COUNT_DEFAULTS,
    COUNT_FIELDS,
    ISO_RE,
    LONG_LINE,
    MAX_COUNT,
    MAX_US,
    MIN_US,
    NOT_UTF8,
    NUMBER_RE,
    OFFSET_RE,
    OUT_OF_RANGE,
    UNIT_MICROS,
    UNKNOWN_TIER,
    ResolvedSpec,
    TraceSpec,
    cached_above_input,
    datetime_to_micros,
)
from billing.usage.providers import FILE_FORMATS, FileFormat, Term
from billing.usage.readers import check_text_file, format_raw
from billing.usage.results import Reject

__all__ = ["DuckReader", "Source", "Validator", "engine_message", "quote_ident", "raw_rows"]

_COUNT_COLUMNS = {"input_tokens": "input", "cached_input_tokens": "cached_input",
                  "cache_write_tokens": "cache_write", "output_tokens": "output",
                  "requests": "requests"}
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                  "UINTEGER", "UBIGINT", "HUGEINT", "UHUGEINT")
_FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL")


def quote_ident(name: str) -> str:
    """A SQL identifier (a column name) quoted for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


_q = quote_ident
_REASONS = {"INVALID ENCODING": NOT_UTF8, "LINE SIZE OVER MAXIMUM": LONG_LINE}
_MAX_HEADER = 1_000_000
_SHOWN = 1_000  # characters of an unreadable line kept in the rejects file


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _open(path: Path) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _record_starts(path: Path) -> list[int]:
    """The first line of every non-blank record of a CSV file (the header excluded), read as
    the pure-Python reader reads it."""
    starts: list[int] = []
    with _open(path) as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text)
        next(reader, None)
        while True:
            start = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return starts
            except csv.Error:
                fields = [""]
            if fields:
                starts.append(start)


def engine_message(exc: BaseException) -> str:
    """What a DuckDB error says, for a user: its first line, without the SQL it may quote
    (``LINE 1: SELECT ...``) or the line it may copy (kilobytes of it)."""
    text = str(exc).split("\n", 1)[0].strip()
    for marker in (" LINE ", "Original Line:"):
        text = text.split(marker, 1)[0]
    return text if len(text) <= 200 else text[:200] + "..."


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _repr_sql(expr: str) -> str:
    """SQL for Python's ``repr`` of a str (single quotes unless the text holds one)."""
    return (f"CASE WHEN contains({expr}, '''') AND NOT contains({expr}, '\"') "
            f"THEN '\"' || {expr} || '\"' ELSE '''' || replace({expr}, '''', '\\''') || '''' END")


# ---------------------------------------------------------------- reading and validation


@dataclass(frozen=True, slots=True)
class Source:
    relation: str  # SQL relation with __row and the file's columns
    types: dict[str, str]  # column -> DuckDB type
    columns: list[str]
    malformed: list[Reject]  # lines the reader could not split into columns
    raw_expr: str | None  # SQL giving the raw text of a row (JSONL), else None


class DuckReader:
    def __init__(self, con: Any, spec: TraceSpec) -> None:
        self.con = con
        self.spec = spec
        self.tag = uuid.uuid4().hex[:12]
        self.temp: list[tuple[str, str]] = []

    def name(self, base: str) -> str:
        return f"__billing_{base}_{self.tag}"

    def drop(self) -> None:
        for kind, name in reversed(self.temp):
            self.con.execute(f"DROP {kind} IF EXISTS {name}")

    def load(self) -> Source:
        path = self.spec.path
        if not path.exists():
            raise TraceError(f"{path}: no such file")
        fmt = self.spec.file_format
        p = _lit(str(path))
        if fmt == "parquet":
            view = self.name("src")
            try:
                self.con.execute(
                    f"CREATE TEMP VIEW {view} AS SELECT * EXCLUDE (file_row_number), "
                    f"file_row_number + 1 AS __row FROM read_parquet({p}, file_row_number=true)")
            except Exception as exc:
                raise TraceError(f"{path}: not a readable Parquet file: "
                                 f"{engine_message(exc)}") from None
            self.temp.append(("VIEW", view))
            return self._source(view, [], None)
        raw, rejects_table = self._read_text(fmt)
        bad = self.con.execute(
            f"SELECT line, error_type, csv_line FROM {rejects_table} ORDER BY line").fetchall()
        lines: dict[int, tuple[str, str]] = {}
        for line, error_type, csv_line in bad:
            lines.setdefault(int(line), (_REASONS.get(str(error_type), "unparseable line"),
                                         _shown(csv_line or "")))
        malformed = [Reject(str(path), line, reason, text) for line, (reason, text)
                     in sorted(lines.items())]
        row_expr = (self._csv_numbering(raw, sorted(lines)) if fmt == "csv"
                    else self._numbering(sorted(lines), 0))
        numbered = self.name("num")
        if fmt == "csv":
            self.con.execute(f"CREATE TEMP VIEW {numbered} AS SELECT *, {row_expr} AS __row "
                             f"FROM {raw} AS __r")
            self.temp.append(("VIEW", numbered))
            return self._source(numbered, malformed, None)
        # JSONL: blank lines are rows of the line table (so that rowid counts lines) and are
        # dropped here; the columns are the union of every object's keys (first seen first).
        lines_view = self.name("lines")
        self.con.execute(
            f"CREATE TEMP TABLE {lines_view} AS SELECT {row_expr} AS __row, __line, "
            f"TRY_CAST(__line AS JSON) AS __json FROM {raw} AS __r WHERE __line IS NOT NULL "
            "AND trim(__line, chr(32) || chr(9) || chr(13)) <> ''")
        self.temp.append(("TABLE", lines_view))
        keys = [str(k) for (k,) in self.con.execute(
            f"SELECT k FROM (SELECT __row, unnest(json_keys(__json)) AS k, "
            f"generate_subscripts(json_keys(__json), 1) AS i FROM {lines_view} "
            "WHERE json_type(__json) = 'OBJECT') GROUP BY k ORDER BY min([__row, i])"
        ).fetchall()]
        fields = "".join(
            f", CASE WHEN __ok THEN json_extract_string(__json, {_lit('$.' + _q(k))}) END "
            f"AS {_q(k)}" for k in keys)
        if self.spec.usage_format is not None:  # the provider's counts, from nested objects
            usage_fmt = FILE_FORMATS[self.spec.usage_format]
            terms = (*usage_fmt.terms, *((usage_fmt.tier,) if usage_fmt.tier is not None else ()))
            fields += "".join(f", CASE WHEN __ok THEN {_term_sql(term)} END AS {_q(term.column)}"
                              for term in terms)
        self.con.execute(
            f"CREATE TEMP VIEW {numbered} AS SELECT __row, __line, __ok{fields} FROM "
            f"(SELECT __row, __line, __json, coalesce(json_type(__json) = 'OBJECT', false) "
            f"AS __ok FROM {lines_view})")
        self.temp.append(("VIEW", numbered))
        return self._source(numbered, malformed, "__line")

    def _read_text(self, fmt: str) -> tuple[str, str]:
        """Load a CSV or JSONL file into a temp table (one row per record, or per line for
        JSONL); return it and the table of the lines DuckDB could not read."""
        path = self.spec.path
        check_text_file(path)
        p = _lit(str(path))
        raw, rejects_table, rejects_scan = (self.name("raw"), self.name("rej"),
                                            self.name("rejscan"))
        keep = (f"store_rejects=true, ignore_errors=true, rejects_table={_lit(rejects_table)}, "
                f"rejects_scan={_lit(rejects_scan)}")
        if fmt == "csv":
            reader = f"read_csv({p}, all_varchar=true, header=true, {keep})"
        else:
            reader = (f"read_csv({p}, columns={{'__line': 'VARCHAR'}}, delim=chr(1), "
                      f"quote='', escape='', header=false, auto_detect=false, {keep})")
        try:
            try:
                self.con.execute(f"CREATE TEMP TABLE {raw} AS SELECT * FROM {reader}")
            except Exception:
                if fmt != "csv":
                    raise
                # DuckDB's dialect sniffer gives up on a line it cannot read (one over 2 MB
                # among the first rows): read again with the header read here, so that such a
                # line is one reject like any other.
                for name in (raw, rejects_table, rejects_scan):
                    self.con.execute(f"DROP TABLE IF EXISTS {name}")
                columns = self._header()
                delim = "chr(9)" if ".tsv" in path.name.lower() else "','"
                spec = ", ".join(f"{_lit(c)}: 'VARCHAR'" for c in columns)
                self.con.execute(
                    f"CREATE TEMP TABLE {raw} AS SELECT * FROM read_csv({p}, header=true, "
                    f"auto_detect=false, delim={delim}, quote='\"', escape='\"', "
                    f"columns={{{spec}}}, {keep})")
        except TraceError:
            raise
        except Exception as exc:
            raise TraceError(f"{path}: cannot read as {fmt}: {engine_message(exc)}") from None
        self.temp += [("TABLE", raw), ("TABLE", rejects_table), ("TABLE", rejects_scan)]
        return raw, rejects_table

    def _header(self) -> list[str]:
        path = self.spec.path
        with _open(path) as handle:
            first = handle.readline(2 * _MAX_HEADER)
        if len(first) > _MAX_HEADER:
            raise TraceError(f"{path}:1: the header line is longer than {_MAX_HEADER:,} bytes")
        try:
            return next(csv.reader([first.decode("utf-8")]))
        except (UnicodeDecodeError, csv.Error, StopIteration):
            raise TraceError(f"{path}:1: unreadable header (not UTF-8 CSV)") from None

    def _csv_numbering(self, raw: str, unreadable: list[int]) -> str:
        """SQL giving each record of a CSV file its line. DuckDB skips blank lines and a quoted
        value may span lines, so when the file has more lines than records plus the header
        and the unreadable lines, the records' first lines are found by reading the file."""
        path = self.spec.path
        (records,) = self.con.execute(f"SELECT count(*) FROM {raw}").fetchone() or (0,)
        total = 0
        ends_open = False
        with _open(path) as handle:
            for chunk in iter(lambda: handle.read(1 << 24), b""):
                total += chunk.count(b"\n")
                ends_open = not chunk.endswith(b"\n")
        total += 1 if ends_open else 0
        if total == 1 + int(records) + len(unreadable):
            return self._numbering(unreadable, 1)
        skip = set(unreadable)
        good = [line for line in _record_starts(path) if line not in skip]
        if len(good) != int(records):  # the two parsers disagree: count lines as records
            return self._numbering(unreadable, 1)
        table = self.name("lines")
        self.con.execute(f"CREATE TEMP TABLE {table} (r BIGINT, line BIGINT)")
        self.temp.append(("TABLE", table))
        self.con.executemany(f"INSERT INTO {table} VALUES (?, ?)", list(enumerate(good)))
        return f"(SELECT m.line FROM {table} AS m WHERE m.r = __r.rowid)"

    def _numbering(self, gaps: list[int], header: int) -> str:
        """SQL giving a row's line: rowid + 1 + header, plus the gap lines (unreadable, blank)
        before it."""
        if not gaps:
            return f"__r.rowid + {1 + header}"
        table = self.name("gaps")
        self.con.execute(f"CREATE TEMP TABLE {table} (good_before BIGINT, k BIGINT)")
        self.temp.append(("TABLE", table))
        # The k-th gap at line L has L - k - header good rows before it.
        self.con.executemany(f"INSERT INTO {table} VALUES (?, ?)",
                             [(line - k - header, k) for k, line in enumerate(gaps, start=1)])
        return (f"__r.rowid + {1 + header} + coalesce((SELECT max(g.k) FROM {table} AS g "
                f"WHERE g.good_before < __r.rowid + 1), 0)")

    def _source(self, relation: str, malformed: list[Reject], raw_expr: str | None) -> Source:
        described = self.con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        hidden = {"__row", "__line", "__ok"}
        types = {str(r[0]): str(r[1]) for r in described if r[0] not in hidden}
        columns = [c for c in types if not c.startswith(_TERM_PREFIX)]
        return Source(relation, types, columns, malformed, raw_expr)


class Validator:
    """Builds the SQL that mirrors the pure-Python value rules, column type by column type."""

    def __init__(self, resolved: ResolvedSpec, types: dict[str, str]) -> None:
        self.resolved = resolved
        self.spec = resolved.spec
        self.types = types
        self.constants: dict[str, int] = {}
        """The count columns that are the same constant on every row (a field the file does
        not have: 0 tokens, 1 request), known once :meth:`select` has run: a grouping counts
        the rows for them instead of summing a constant column."""

    def text(self, column: str) -> str:
        kind = self.types[column]
        value = _q(column) if kind == "VARCHAR" else f"CAST({_q(column)} AS VARCHAR)"
        # Trim spaces only where there are some: most values have none, and trimming every
        # value of every text column was a third of a Parquet scan's time.
        return (f"(CASE WHEN {value} IS NULL THEN '' WHEN starts_with({value}, ' ') OR "
                f"ends_with({value}, ' ') THEN trim({value}, ' ') ELSE {value} END)")

    def text_field(self, name: str, column: str) -> tuple[list[tuple[str, str]], str]:
        t = self.text(column)
        return [(f"{t} = ''", _lit(f"missing {name}"))], t

    def count(self, name: str, column: str) -> tuple[list[tuple[str, str]], str]:
        kind = self.types[column].split("(")[0]
        c = _q(column)
        if kind in _INTEGER_TYPES:
            return ([(f"{c} IS NULL", _lit(f"empty {name}")),
                     (f"{c} < 0", f"'negative {name}: ' || CAST({c} AS VARCHAR)"),
                     (f"{c} > {MAX_COUNT}", f"'{name} is too large: ' || CAST({c} AS VARCHAR)")],
                    f"TRY_CAST({c} AS BIGINT)")
        if kind in _FLOAT_TYPES or kind == "DECIMAL":
            text = f"CAST({c} AS VARCHAR)"
            checks = [(f"{c} IS NULL", _lit(f"empty {name}"))]
            if kind != "DECIMAL":
                checks.append((f"isnan({c}) OR isinf({c})",
                               f"'{name} is not a number: ' || {_repr_sql(text)}"))
            checks.append((f"{c} < 0", f"'negative {name}: ' || {text}"))
            whole = (f"(floor({c}) + CASE WHEN {c} - floor({c}) >= 0.5 THEN 1 ELSE 0 END)")
            if not self.spec.round_tokens:
                checks.append((f"{c} <> floor({c})",
                               f"'fractional {name}: ' || {text} || "
                               "' (pass --round-tokens to round it)'"))
            checks.append((f"{whole} > {MAX_COUNT}", f"'{name} is too large: ' || {text}"))
            return checks, f"TRY_CAST({whole} AS BIGINT)"
        t = self.text(column)
        int_part = f"regexp_extract({t}, '^[+-]?([0-9]*)', 1)"
        frac = f"regexp_extract({t}, '\\.([0-9]*)$', 1)"
        round_up = f"CASE WHEN left({frac}, 1) >= '5' THEN 1 ELSE 0 END"
        whole = f"TRY_CAST(TRY_CAST(('0' || {int_part}) AS HUGEINT) + {round_up} AS BIGINT)"
        checks = [
            (f"{t} = ''", _lit(f"empty {name}")),
            (f"NOT regexp_full_match({t}, {_lit(NUMBER_RE[1:-1])})",
             f"'{name} is not a number: ' || {_repr_sql(t)}"),
            (f"starts_with({t}, '-') AND regexp_matches({t}, '[1-9]')",
             f"'negative {name}: ' || {t}"),
        ]
        if not self.spec.round_tokens:
            checks.append((f"regexp_matches({frac}, '[1-9]')",
                           f"'fractional {name}: ' || {t} || ' (pass --round-tokens to round it)'"))
        checks.append((f"{whole} IS NULL", f"'{name} is too large: ' || {t}"))
        return checks, whole

    def timestamp(self, column: str) -> tuple[list[tuple[str, str]], str]:
        kind = self.types[column]
        c = _q(column)
        spec = self.spec
        origin_us = datetime_to_micros(self.resolved.origin)
        tz = _lit(spec.assume_tz) if spec.assume_tz is not None else None
        empty = (f"{c} IS NULL", "'empty timestamp'")
        if kind.startswith("TIMESTAMP WITH TIME ZONE"):
            return [empty], f"epoch_us({c})"
        if kind.startswith("TIMESTAMP") or kind == "DATE":
            if tz is None:
                iso = (f"strftime({c}::TIMESTAMP, '%Y-%m-%dT%H:%M:%S') || CASE WHEN "
                       f"epoch_us({c}::TIMESTAMP) % 1000000 <> 0 THEN "
                       f"strftime({c}::TIMESTAMP, '.%f') ELSE '' END")
                return [empty, ("true", f"'naive timestamp ''' || {iso} || "
                                        "''' (no time zone; state it with --assume-tz)'")], "NULL"
            return [empty], f"epoch_us(timezone({tz}, {c}::TIMESTAMP))"
        if spec.timestamp_unit != "iso" and kind.split("(")[0] in (*_INTEGER_TYPES,):
            unit = UNIT_MICROS[spec.timestamp_unit]
            return [empty], (f"TRY_CAST({origin_us}::HUGEINT + TRY_CAST({c} AS HUGEINT) * {unit} "
                             "AS BIGINT)")
        if spec.timestamp_unit != "iso" and kind.split("(")[0] in (*_FLOAT_TYPES, "DECIMAL"):
            unit = UNIT_MICROS[spec.timestamp_unit]
            return ([empty, (f"isnan({c}::DOUBLE) OR isinf({c}::DOUBLE)",
                             f"'unparseable timestamp: ' || {_repr_sql(f'CAST({c} AS VARCHAR)')}")],
                    f"TRY_CAST({origin_us}::HUGEINT + TRY_CAST(round({c} * {unit}) "
                    "AS HUGEINT) AS BIGINT)")
        t = self.text(column)
        bad = f"'unparseable timestamp: ' || {_repr_sql(t)}"
        checks = [(f"{t} = ''", "'empty timestamp'")]
        if spec.timestamp_unit != "iso":
            unit = UNIT_MICROS[spec.timestamp_unit]
            checks.append((f"NOT regexp_full_match({t}, {_lit(NUMBER_RE[1:-1])})", bad))
            number = f"TRY_CAST({t} AS DECIMAL(38, 9))"
            # Bounded before the product, which would overflow DECIMAL(38, 9) with an error.
            return checks, (f"CASE WHEN abs({number}) <= 1e20 THEN TRY_CAST({origin_us}::HUGEINT"
                            f" + round({number} * {unit})::HUGEINT AS BIGINT) END")
        has_offset = f"regexp_matches({t}, {_lit(OFFSET_RE)})"
        checks.append((f"NOT regexp_full_match({t}, {_lit(ISO_RE[1:-1])})", bad))
        if tz is None:
            checks.append((f"TRY_CAST({t} AS TIMESTAMP) IS NULL", bad))
            checks.append((f"NOT {has_offset}",
                           f"'naive timestamp ' || {_repr_sql(t)} || "
                           "' (no time zone; state it with --assume-tz)'"))
            return checks, f"epoch_us(TRY_CAST({t} AS TIMESTAMPTZ))"
        value = (f"CASE WHEN {has_offset} THEN TRY_CAST({t} AS TIMESTAMPTZ) "
                 f"ELSE timezone({tz}, TRY_CAST({t} AS TIMESTAMP)) END")
        checks.append((f"({value}) IS NULL", bad))
        return checks, f"epoch_us({value})"

    def _provider_counts(self, fmt: FileFormat, outputs: dict[str, str]
                         ) -> list[tuple[str, str]]:
        """:func:`~billing.usage.providers.file_counts` in SQL: the token columns of
        ``outputs`` from the provider's counts, and the checks (in the same order)."""
        checks: list[tuple[str, str]] = []
        value: dict[str, str] = {}
        for term in fmt.terms:
            more, value[term.key] = self.count(term.label, term.column)
            checks += more
        for key, reason in fmt.refuse:
            checks.append((f"({value[key]}) <> 0", f"{_lit(fmt.term(key).label + ' is ')} || "
                           f"CAST({value[key]} AS VARCHAR) || {_lit(': ' + reason)}"))
        whole = value[fmt.input]
        cached = value[fmt.cached] if fmt.cached else "CAST(0 AS BIGINT)"
        if fmt.input_includes_cached and fmt.cached:
            checks.append((f"({cached}) > ({whole})",
                           f"{_lit(fmt.term(fmt.cached).label + ' (')} || "
                           f"CAST({cached} AS VARCHAR) || "
                           f"{_lit(') is more than ' + fmt.term(fmt.input).label + ' (')} || "
                           f"CAST({whole} AS VARCHAR) || {_lit('), which includes them')}"))
            whole = f"({whole}) - ({cached})"
        outputs["input"] = " + ".join(f"({v})" for v in
                                      (whole, *(value[k] for k in fmt.input_extra)))
        outputs["cached_input"] = cached
        outputs["cache_write"] = value[fmt.write] if fmt.write else "CAST(0 AS BIGINT)"
        outputs["output"] = " + ".join(f"({value[k]})" for k in fmt.output)
        return checks

    def _service_tier(self, column: str, outputs: dict[str, str]) -> list[tuple[str, str]]:
        """The ``service_tier`` output (a tier, its aliases mapped) and its checks, as
        :func:`~billing.usage.mapping.parse_service_tier`."""
        t = self.text(column)
        aliases = self.resolved.tier_aliases
        tier = (f"CASE {t} " + " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}"
                                        for k, v in aliases.items())
                + f" ELSE {t} END") if aliases else t
        known = ", ".join(_lit(name) for name in SERVICE_TIERS)
        outputs["service_tier"] = tier
        prefix, suffix = UNKNOWN_TIER
        return [(f"{t} = ''", "'empty service_tier'"),
                (f"({tier}) NOT IN ({known})",
                 f"{_lit(prefix)} || {_repr_sql(t)} || {_lit(suffix)}")]

    def select(self, relation: str, has_ok: bool, *, reasons: bool = True) -> str:
        """SQL: every row with ``__reason`` (NULL when valid) and the typed event columns
        (``reasons=False``: the columns alone, for a file known to be valid)."""
        src = self.resolved.sources
        spec = self.spec
        checks: list[tuple[str, str]] = []
        if has_ok:
            checks.append(("NOT __ok", "'unparseable line'"))
        for column, value in spec.skip_when.items():
            checks.append((f"{self.text(column)} = {_lit(value)}",
                           _lit(f"skipped: {column}={value}")))
        outputs: dict[str, str] = {}
        if "id" in src:
            more, outputs["id"] = self.text_field("id", src["id"][0])
            checks += more
        else:
            outputs["id"] = f"{_lit(spec.path.name + ':')} || CAST(__row AS VARCHAR)"
        parts = []
        for column in src["customer_id"]:
            more, text = self.text_field("customer_id", column)
            checks += more
            parts.append(text)
        outputs["customer_id"] = parts[0] if len(parts) == 1 else f"concat_ws('/', {', '.join(parts)})"
        if spec.model is not None:
            outputs["model"] = _lit(spec.model)
        else:
            more, text = self.text_field("model", src["model"][0])
            checks += more
            if spec.model_map is not None:
                cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in
                                 spec.model_map.items())
                mapped = f"CASE {text} {cases} END"
                checks.append((f"({mapped}) IS NULL",
                               f"'model value ' || {_repr_sql(text)} || ' is not in --model-map'"))
                outputs["model"] = mapped
            else:
                outputs["model"] = text
        more, ts_us = self.timestamp(src["timestamp"][0])
        checks += more
        checks.append((f"({ts_us}) IS NULL OR ({ts_us}) < {MIN_US} OR ({ts_us}) > {MAX_US}",
                       _lit(OUT_OF_RANGE)))
        outputs["ts_us"] = ts_us
        for name in COUNT_FIELDS:
            if name in src:
                more, value = self.count(name, src[name][0])
                checks += more
            else:
                value = f"CAST({COUNT_DEFAULTS[name]} AS BIGINT)"
            outputs[_COUNT_COLUMNS[name]] = value
        if spec.usage_format is not None:
            checks += self._provider_counts(FILE_FORMATS[spec.usage_format], outputs)
        if spec.input_includes_cached:
            whole, cached = outputs["input"], outputs["cached_input"]
            checks.append((f"({cached}) > ({whole})", _cached_reason(
                f"CAST({cached} AS VARCHAR)", f"CAST({whole} AS VARCHAR)")))
            outputs["input"] = f"({whole}) - ({cached})"
        if "service_tier" in src:
            checks += self._service_tier(src["service_tier"][0], outputs)
        if "reasoning_tokens" in src:  # (a part of the output, as row_to_event checks it)
            more, reasoning = self.count("reasoning_tokens", src["reasoning_tokens"][0])
            checks += more
            output = outputs["output"]
            checks.append((f"({reasoning}) > ({output})", _lit("reasoning_tokens (")
                           + f" || CAST({reasoning} AS VARCHAR) || "
                           + _lit(") is more than output_tokens (")
                           + f" || CAST({output} AS VARCHAR) || "
                           + _lit("), which includes them")))
            outputs["reasoning"] = reasoning
        self.constants = {
            column: COUNT_DEFAULTS[name] for name, column in _COUNT_COLUMNS.items()
            if outputs[column] == f"CAST({COUNT_DEFAULTS[name]} AS BIGINT)"}
        reason = ("CASE " + " ".join(f"WHEN {cond} THEN {text}" for cond, text in checks)
                  + " END") if checks and reasons else "NULL"
        cols = ", ".join(f"{expr} AS {_q(name)}" for name, expr in outputs.items())
        return f"SELECT __row, {reason} AS __reason, {cols} FROM {relation}"





_TERM_PREFIX: Final = "__usage_"


def _term_sql(term: Term) -> str:
    """SQL for :func:`~billing.usage.providers.term_value` on ``__json``: the first of the
    term's paths the line has as a value (not an object, not null), as text."""
    found = []
    for path in term.paths:
        p = _lit("$." + ".".join(_q(part) for part in path.split(".")))
        found.append(f"CASE WHEN json_type(__json, {p}) NOT IN ('OBJECT', 'NULL') THEN "
                     f"json_extract_string(__json, {p}) END")
    if not term.required:
        found.append(_lit(term.missing))
    return f"coalesce({', '.join(found)})" if len(found) > 1 else found[0]


def _cached_reason(cached: str, whole: str) -> str:
    """SQL for :func:`~billing.usage.mapping.cached_above_input`'s reason, from two SQL
    texts."""
    marker_c, marker_i = "\x00C\x00", "\x00I\x00"
    before, rest = cached_above_input(marker_c, marker_i).split(marker_c)
    middle, after = rest.split(marker_i)
    return f"{_lit(before)} || {cached} || {_lit(middle)} || {whole} || {_lit(after)}"


def raw_rows(con: Any, reader: DuckReader, source: Source,
              rows: Sequence[int]) -> dict[int, str]:
    """The original values of a few rows, formatted like the pure-Python reader does."""
    if not rows:
        return {}
    import pyarrow as pa

    wanted = reader.name("wanted")
    con.register(wanted, pa.table({"r": pa.array(sorted(set(rows)), pa.int64())}))
    if source.raw_expr is not None:
        select = source.raw_expr
    else:
        select = ", ".join(_q(c) for c in source.columns)
    result = con.execute(f"SELECT __row, {select} FROM {source.relation} "
                         f"WHERE __row IN (SELECT r FROM {wanted})").fetchall()
    out: dict[int, str] = {}
    con.unregister(wanted)
    for record in result:
        values = list(record[1:])
        out[int(record[0])] = (str(values[0]) if source.raw_expr is not None
                               else format_raw(values))
    return out
