"""The one-scan aggregation on a columnar engine: DuckDB (embedded) by default, through Ibis.

Two layers:

- **Reading and validating** a file uses the DuckDB connection directly
  (:mod:`billing.usage.duckdb_reader`: ``read_csv`` with ``all_varchar`` so bad rows survive
  to be reported, ``read_parquet`` with its record numbers). It applies the value rules of
  :mod:`billing.usage.mapping` in SQL, row for row the same as the pure-Python reader, and
  yields a table of valid rows:
  ``__row, id, customer_id, model, ts_us, ts_s, input, cached_input, cache_write, output,
  requests`` (64-bit integers; ``ts_s`` is epoch seconds, floored).
- **Dedupe and aggregation** are plain Ibis expressions over such a table
  (:mod:`billing.usage.groupings`: :func:`dedupe_table`, :func:`aggregate_table`, ...), with no
  DuckDB-only SQL, so the same expressions run on any Ibis backend (PySpark) where the events
  already live. Time is bucketed by integer arithmetic on epoch seconds; token sums stay
  integers in the engine; only the aggregate rows come back to Python, as Arrow tables.

The scans, on DuckDB: one check pass over every row (the bad rows counted, the distinct hashes of
the valid ids counted, so that the exact dedupe runs only when an id may repeat), then one
grouping by (customer, model, band, day), read back in key order (with tiers or reasoning
sums, that grouping is kept in a temporary table and each row kind read from it). Hourly rows
(asked for by capacity charges) are a grouping of their own by (customer, hour): two scans of
the events cost less than one grouping by hour kept in a table and grouped twice again. When
copies of ids were dropped, the deduped events are grouped once, by hour, into a temporary
table, and every row kind is read from it.

Time-of-day rows: for the trace's models whose supplier price depends on the time of day
(``time_of_day``, e.g. ``CostBook.time_of_day_edges``), the daily grouping adds the slot to its
key (``since_us``: the span between two consecutive price-window edges of those models, edges at
any microsecond, so DeepSeek's 16:30 edge is exact; 0 for every other model); the daily rows are
its slots added up, the time-of-day rows its rows of those models. Traces without such a model
pay nothing for it.

Service tiers: when the file has a ``service_tier`` column, the validated table has one too, and
every grouping by model adds it to its key (the daily rows are then summed over the tiers from
the finer rows, and the rows of tiers other than standard kept apart,
``UsageAggregates.tiers``; the hourly rows are summed over the tiers); a file without the column
is grouped exactly as before, at no cost.

Reasoning: when the file has a ``reasoning_tokens`` column, the validated table has a
``reasoning`` column, the grouping's kept sums (the "fine" table) carry its sum too, and the
reasoning rows by (customer, model, band, day) are read from them (``UsageAggregates.reasoning``);
the daily rows are unchanged. A file without the column is grouped exactly as before.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow.compute as pc

from billing.errors import TraceError
from billing.usage.aggregate_python import _check_thresholds
from billing.usage.aggregates import REASONING_COLUMNS, TIME_OF_DAY_COLUMNS, UsageAggregates
from billing.usage.duckdb_connect import connect
from billing.usage.duckdb_reader import (
    DuckReader,
    Validator,
    engine_message,
    quote_ident,
    raw_rows,
)
from billing.usage.events import SERVICE_TIERS
from billing.usage.groupings import (
    INT64_MAX,
    aggregate_table,
    by_day,
    check_sum_bound,
    dedupe_table,
    grouped,
    hours,
    reasoning_rows,
    split,
    sum_bound,
    tier_rows,
    time_of_day_rows,
    time_of_day_table,
    time_span,
)
from billing.usage.mapping import TraceSpec, micros_to_datetime
from billing.usage.readers import aggregate_trace_python
from billing.usage.results import Reject, TraceResult, TraceStats, first_rejects, write_rejects
from billing.usage.spark import quiet_pandas_check, spark_arrow, spark_backend, to_spark

__all__ = ["INT64_MAX", "TimeOfDayEdges", "aggregate_table", "aggregate_trace", "check_sum_bound",
           "dedupe_table", "sum_bound", "time_of_day_table", "time_span"]

TimeOfDayEdges = Callable[[str], Sequence[int]]
"""A model's price-window edges: microseconds after UTC midnight (0 < edge < 86,400,000,000)
at which its supplier price may change; empty for a model priced the same all day."""


# ---------------------------------------------------------------- the entry point


@contextmanager
def _duckdb(engine: Any) -> Iterator[Any]:
    if isinstance(engine, str):
        if engine != "duckdb":
            raise TraceError(f"unknown engine {engine!r}: use 'duckdb', 'python', 'spark', an "
                             "Ibis DuckDB or PySpark backend, or a SparkSession")
        backend = ibis.duckdb.from_connection(connect())
        try:
            yield backend
        finally:
            backend.disconnect()
        return
    if getattr(engine, "name", None) != "duckdb":
        raise TraceError("reading trace files needs the DuckDB backend; on another Ibis "
                         "backend, build the events table there and call aggregate_table()")
    yield engine


_DAILY_ORDER = ("customer_id", "model", "band", "day")
_TIER_ORDER = (*_DAILY_ORDER, "service_tier")
_SHOWN_REJECTS = 5


def aggregate_trace(spec: TraceSpec, *, thresholds: tuple[int, ...] = (), hourly: bool = False,
                    rejects_path: Path | None = None, engine: Any = "duckdb",
                    time_of_day: TimeOfDayEdges | None = None) -> TraceResult:
    """Read, validate, dedupe and aggregate a trace file in one pass over its events.

    ``engine`` is ``"duckdb"`` (a fresh embedded DuckDB), an Ibis DuckDB backend, or
    ``"python"`` (the pure-Python reader; same results, for small files), or Spark: ``"spark"``
    (the active SparkSession, else a new ``local[*]`` one), a SparkSession or an Ibis PySpark
    backend; the file is then validated by DuckDB here and deduplicated and aggregated by Spark
    (:mod:`billing.usage.spark`). Scans whose 64-bit sums could overflow are refused
    (:func:`check_sum_bound`). Bad rows, skipped
    rows and conflicting copies are written to ``rejects_path`` (CSV: file,row,reason,raw).
    ``time_of_day``: each model's price-window edges (e.g. ``CostBook.time_of_day_edges``);
    the trace's models that have some get time-of-day rows (``aggregates.time_of_day``, see
    :func:`time_of_day_table`), an event counted in the slot of its own timestamp.
    """
    thresholds = _check_thresholds(thresholds)
    if engine == "python":
        return aggregate_trace_python(spec, thresholds=thresholds, hourly=hourly,
                                      rejects_path=rejects_path, time_of_day=time_of_day)
    target = spark_backend(engine)
    with _duckdb("duckdb" if target is not None else engine) as backend:
        con = backend.con
        con.execute("SET TimeZone = 'UTC'")
        reader = DuckReader(con, spec)
        try:
            with warnings.catch_warnings():
                # Ibis 12 still calls DuckDB 2.0's deprecated fetch_arrow_table().
                warnings.filterwarnings("ignore", "fetch_arrow_table", DeprecationWarning)
                return _run(backend, reader, thresholds, hourly, rejects_path, target,
                            time_of_day)
        except duckdb.Error as exc:
            # A value the rules let through that the engine still refuses: one line naming
            # the file, never the SQL DuckDB quotes.
            raise TraceError(f"{spec.path}: cannot be read: {engine_message(exc)}") from None
        finally:
            reader.drop()


def _run(backend: Any, reader: DuckReader, thresholds: tuple[int, ...], hourly: bool,
         rejects_path: Path | None, target: Any = None,
         time_of_day: TimeOfDayEdges | None = None) -> TraceResult:
    con = backend.con
    spec = reader.spec
    before = _stamp(spec.path)
    source = reader.load()
    resolved = spec.resolve(source.columns)
    validator = Validator(resolved, source.types)
    checked = reader.name("checked")
    # Text files are validated once into a table (string rules are the costly part);
    # Parquet's typed columns are cheap to check, so they stay a view over the file.
    kind = "VIEW" if spec.file_format == "parquet" else "TABLE"
    con.execute(f"CREATE TEMP {kind} {checked} AS "
                f"{validator.select(source.relation, source.raw_expr is not None)}")
    reader.temp.append((kind, checked))
    # One pass for the rows to report and an exact check for repeated ids: when the 64-bit
    # hashes of the valid ids are all distinct, so are the ids (a collision only lowers the
    # count, and then the exact dedupe below runs).
    id_check = ("count(DISTINCT hash(id)) FILTER (WHERE __reason IS NULL)"
                if not resolved.derived_ids else "0")
    # With time-of-day prices asked for, it also lists the models: the slots of those with
    # price windows are then grouped in the one scan of the events below.
    models_sql = (", list(DISTINCT model) FILTER (WHERE __reason IS NULL)"
                  if time_of_day is not None else ", NULL")
    n_valid, n_bad, n_hashes, peak, first_us, last_us, models = con.execute(
        "SELECT count(*) FILTER (WHERE __reason IS NULL), "
        f"count(*) FILTER (WHERE __reason IS NOT NULL), {id_check}, "
        "max(greatest(input, cached_input, cache_write, output, requests)) "
        "FILTER (WHERE __reason IS NULL), "
        "min(ts_us) FILTER (WHERE __reason IS NULL), max(ts_us) FILTER (WHERE __reason IS NULL)"
        f"{models_sql} FROM {checked}").fetchall()[0]
    edges = (None if time_of_day is None
             else _edges_of([str(m) for m in models or ()], time_of_day))
    # The rows to report are read in a second pass, only when there are some: an ordered list
    # aggregate in the pass above made it half again as slow on a clean file.
    bad = [(int(r), str(reason)) for r, reason in con.execute(
        f"SELECT __row, __reason FROM {checked} WHERE __reason IS NOT NULL "
        "ORDER BY __row").fetchall()] if n_bad else []
    valid = reader.name("valid")
    if n_bad == 0 and kind == "VIEW":
        # Every row is valid: the scans below read the typed columns without the checks
        # (they would evaluate the rules, and read the id column, for nothing).
        rows_sql = f"({validator.select(source.relation, False, reasons=False)})"
    else:
        rows_sql = f"{checked} WHERE __reason IS NULL"
    con.execute(
        f"CREATE TEMP VIEW {valid} AS SELECT * EXCLUDE (__reason), "
        "(ts_us - ((ts_us % 1000000) + 1000000) % 1000000) // 1000000 AS ts_s "
        f"FROM {rows_sql}")
    reader.temp.append(("VIEW", valid))
    check_sum_bound(n_valid, peak or 0, thresholds, where=str(spec.path))
    dedupe = not resolved.derived_ids and n_hashes != n_valid
    if target is None:
        scanned = _scan(backend.table(valid), dedupe, thresholds, hourly, edges,
                        validator.constants)
    else:
        # Validated here, aggregated there: the same Ibis expressions on the Spark backend.
        rows = con.sql(f"SELECT * FROM {valid} ORDER BY __row").to_arrow_table()
        with to_spark(target, rows) as events, quiet_pandas_check():
            scanned = _scan(events, dedupe, thresholds, hourly, edges, validator.constants)
    copies_rows, daily, span, hourly_rows, slots, tiers, reasoning = scanned
    if reasoning is None and resolved.reasoning_known:  # (declared absent: known to be none)
        reasoning = _empty_reasoning()
    if _stamp(spec.path) != before:
        # A Parquet file is read more than once (checked, then grouped without the checks):
        # what was checked must be what was summed.
        raise TraceError(f"{spec.path}: the file changed while it was read; run again once it "
                         "is complete")
    if span is not None:  # copies were dropped: the span of the events kept
        first_us, last_us = span

    skipped = sum(1 for _, reason in bad if reason.startswith("skipped: "))
    duplicates = sum(1 for _, conflict in copies_rows if not conflict)
    conflicts = len(copies_rows) - duplicates
    event_count = int(pc.sum(daily.column("events")).as_py() or 0)
    unit = "record" if spec.file_format == "parquet" else "line"
    stats = TraceStats(
        rows=event_count + len(bad) + len(source.malformed) + len(copies_rows),
        events=event_count,
        rejected=len(bad) - skipped + len(source.malformed),
        duplicates=duplicates,
        conflicts=conflicts,
        skipped=skipped,
        start=micros_to_datetime(first_us) if first_us is not None else None,
        end=micros_to_datetime(last_us) if last_us is not None else None,
        customers=len(pc.unique(daily.column("customer_id"))),
        models=tuple(sorted(str(m) for m in pc.unique(daily.column("model")).to_pylist())),
        derived_ids=resolved.derived_ids,
        absent=resolved.absent,
        declared_absent=resolved.declared_absent,
        row_unit=unit,
        service_tier_column=resolved.service_tiers,
        service_tiers=_tier_counts(tiers),
    )
    reasons = [(row, reason, reason.startswith("skipped: ")) for row, reason in bad]
    reasons += [(row, "conflict", False) for row, conflict in copies_rows if conflict]
    if rejects_path is None:
        # Only the first few are shown: read the raw text of those alone.
        reasons = sorted(r for r in reasons if not r[2])[:_SHOWN_REJECTS]
    raws = raw_rows(con, reader, source, [r for r, _, _ in reasons])
    rejects = [Reject(str(spec.path), row, reason, raws.get(row, ""), skipped, unit)
               for row, reason, skipped in reasons]
    rejects += source.malformed
    if rejects_path is not None:
        write_rejects(rejects_path, rejects, unit)
    return TraceResult(UsageAggregates.from_arrow(daily, hourly_rows, time_of_day=slots,
                                                  tiers=tiers, reasoning=reasoning), stats,
                       rejects_path, first_rejects=first_rejects(rejects, _SHOWN_REJECTS))


def _tier_counts(tiers: Any) -> tuple[tuple[str, int], ...]:
    """Events per tier other than standard, in tier order."""
    if tiers is None or tiers.num_rows == 0:
        return ()
    found: dict[str, int] = {}
    for tier, n in zip(tiers.column("service_tier").to_pylist(),
                       tiers.column("events").to_pylist(), strict=True):
        found[tier] = found.get(tier, 0) + int(n)
    return tuple((t, found[t]) for t in SERVICE_TIERS if t in found)


def _stamp(path: Path) -> tuple[int, int] | None:
    """The file's size and modification time (None: it is gone)."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_size, found.st_mtime_ns


def _scan(events: ir.Table, dedupe: bool, thresholds: tuple[int, ...], hourly: bool,
          edges: dict[str, Sequence[int]] | None = None,
          constants: Mapping[str, int] | None = None) -> tuple[
        list[tuple[int, bool]], Any, tuple[int | None, int | None] | None, Any, Any, Any, Any]:
    """Dedupe (when ids repeat) and aggregate ``events`` on its backend; the aggregate rows
    come back as Arrow tables (Python objects are built only if a caller asks for them). The
    first and last event times come back too when copies were dropped (else None: the
    caller's scan of every valid event has them). ``constants``: the count columns that hold
    one value on every row (:func:`~billing.usage.groupings.token_sums`)."""
    copies_rows: list[tuple[int, bool]] = []
    span: tuple[int | None, int | None] | None = None
    if dedupe:
        copies, kept = dedupe_table(events)
        copies_rows = _copies(copies)
        if copies_rows:
            events = kept
            found = _arrow(time_span(events))
            span = (found.column("first_us")[0].as_py(), found.column("last_us")[0].as_py())
    if hourly and not copies_rows and events._find_backend().name == "duckdb":
        # The hours by customer straight from the events, the rest as without hours: two
        # groupings of the events (a scan each) cost less than one by hour kept in a table and
        # grouped twice again (on 10M events with hourly rows, about 0.6 s less). With copies
        # dropped, the events are a dedupe window, computed once below.
        _, daily_table, _, _, slots, tier_table, reasoning_table = _scan(
            events, False, thresholds, False, edges, constants)
        return (copies_rows, daily_table, span, _arrow(hours(events, constants)), slots,
                tier_table, reasoning_table)
    hourly_table = tier_table = reasoning_table = None
    tiered = "service_tier" in events.columns
    reasoned = "reasoning" in events.columns
    slots = None
    if edges and not (hourly or tiered or reasoned):
        # Only time-of-day slots: one grouped query in key order, slot last; the time-of-day
        # rows are those of the priced-by-time models, the daily rows their slots added up.
        fine_table = _arrow(grouped(events, thresholds, "day", edges, constants),
                            TIME_OF_DAY_COLUMNS[:5])
        daily_table = _days_of_slots(fine_table)
        slots = _arrow_filter_models(fine_table, edges)
    elif hourly or tiered or edges or reasoned:
        # Sums by hour (or by day and tier, or by time-of-day slot) are computed once and kept
        # on the backend (DuckDB: a temp table; Spark recomputes them, its path is for
        # correctness); days, hours, the tier rows and the time-of-day rows derive from them:
        # the events are scanned once.
        bucket = "hour" if hourly else "day"
        fine = grouped(events, thresholds, bucket, edges, constants)
        backend = fine._find_backend()
        kept_name = None
        if backend.name == "duckdb":
            kept_name = f"__billing_fine_{uuid.uuid4().hex[:12]}"
            fine = backend.create_table(kept_name, fine, temp=True)
        try:
            if hourly:
                daily_expr, hourly_expr = split(fine)
                hourly_table = _arrow(hourly_expr)  # read by key, never in order
            else:
                daily_expr = by_day(fine)
            daily_table = _arrow(daily_expr, _DAILY_ORDER)
            if tiered:
                tier_table = _arrow(tier_rows(fine, bucket), _TIER_ORDER)
            if reasoned:
                reasoning_table = _arrow(reasoning_rows(fine, bucket), _DAILY_ORDER)
            if edges:
                slots = _arrow(time_of_day_rows(fine, bucket, edges), (
                    *TIME_OF_DAY_COLUMNS[:5], *(("service_tier",) if tiered else ())))
        finally:
            if kept_name is not None:
                backend.con.execute(f"DROP TABLE IF EXISTS {kept_name}")
    else:
        daily_expr = grouped(events, thresholds, "day", constants=constants)
        daily_table = _arrow(daily_expr, _DAILY_ORDER)
    if edges is not None and slots is None:
        slots = _empty_time_of_day(tiered)
    return copies_rows, daily_table, span, hourly_table, slots, tier_table, reasoning_table


def _days_of_slots(fine: Any) -> Any:
    """Daily rows from rows by (customer, model, band, day, ``since_us``) in that order: the
    slots of each day added up (adjacent rows), the order kept. The sums are 64-bit
    (:func:`check_sum_bound` proved every total fits)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = fine.num_rows
    names = [c for c in fine.column_names if c != "since_us"]
    if n == 0:
        return fine.select(names)
    starts = np.zeros(n, dtype=bool)
    starts[0] = True
    for key in _DAILY_ORDER:
        column = fine.column(key)
        starts[1:] |= pc.not_equal(column.slice(1), column.slice(0, n - 1)).to_numpy(
            zero_copy_only=False)
    first = np.flatnonzero(starts)
    out = {}
    for name in names:
        column = fine.column(name)
        out[name] = (column.take(pa.array(first)) if name in _DAILY_ORDER else pa.array(
            np.add.reduceat(column.to_numpy(), first), type=column.type))
    return pa.table(out)


def _arrow_filter_models(table: Any, edges: dict[str, Sequence[int]]) -> Any:
    """The rows of ``table`` whose model has time-of-day edges."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return table.filter(pc.is_in(table.column("model"), value_set=pa.array(sorted(edges))))


def _edges_of(models: Sequence[str], time_of_day: TimeOfDayEdges) -> dict[str, Sequence[int]]:
    """The models with price-window edges, and theirs."""
    found = {str(m): tuple(time_of_day(str(m))) for m in models}
    return {m: e for m, e in found.items() if e}


def _empty_reasoning() -> Any:
    import pyarrow as pa

    return pa.table({name: pa.array([], pa.string() if name in ("customer_id", "model")
                                     else pa.int64()) for name in REASONING_COLUMNS})


def _empty_time_of_day(tiered: bool = False) -> Any:
    import pyarrow as pa

    names = list(TIME_OF_DAY_COLUMNS)
    if tiered:
        names.insert(5, "service_tier")
    return pa.table({name: pa.array([], pa.string() if name in (
        "customer_id", "model", "service_tier") else pa.int64()) for name in names})


def _arrow(expr: ir.Table, order: Sequence[str] = ()) -> Any:
    backend = expr._find_backend()
    if order:
        expr = expr.order_by(list(order))
    if backend.name == "pyspark":
        return spark_arrow(backend, expr)
    if backend.name == "duckdb":
        # DuckDB's own Arrow export, its 128-bit sums cast back to the 64 bits Ibis types them
        # as (a cast that does not fit fails: never a wrapped sum). Ibis's to_pyarrow() would
        # do the same with an extra pass over every column in Python.
        wide = [n for n, t in expr.schema().items() if t.is_integer()]
        cast = ", ".join(f"CAST({quote_ident(n)} AS BIGINT) AS {quote_ident(n)}" for n in wide)
        sql = f"SELECT * REPLACE ({cast}) FROM ({ibis.to_sql(expr, dialect='duckdb')})" \
            if wide else ibis.to_sql(expr, dialect="duckdb")
        if order:
            sql += " ORDER BY " + ", ".join(quote_ident(n) for n in order)
        return backend.con.sql(sql).to_arrow_table()
    return expr.to_pyarrow()


def _copies(copies: ir.Table) -> list[tuple[int, bool]]:
    table = _arrow(copies)
    return sorted(zip((int(r) for r in table.column("__row").to_pylist()),
                      (bool(c) for c in table.column("conflict").to_pylist()), strict=True))


