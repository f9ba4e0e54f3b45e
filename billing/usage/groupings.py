"""The one-scan aggregation's groupings, as portable Ibis expressions over a table of valid
events (``customer_id, model, ts_us, ts_s, input, cached_input, cache_write, output, requests``,
with ``service_tier`` and ``reasoning`` when the trace has them): the dedupe, the daily, hourly,
time-of-day, tier and reasoning rows, and the bound that proves their 64-bit sums exact. No
backend-specific SQL: the same expressions run on DuckDB and on PySpark
(:mod:`billing.usage.aggregate_engine` runs them and reads their rows back)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ibis
import ibis.expr.types as ir

from billing.errors import TraceError
from billing.usage.aggregate_python import _check_thresholds
from billing.usage.keys import DAY_S, DAY_US, HOUR_S

__all__ = ["INT64_MAX", "TOKEN_COLUMNS", "aggregate_table", "band_expr", "by_day",
           "check_sum_bound", "dedupe_table", "grouped", "hours", "reasoning_rows", "resummed",
           "slot_expr", "split", "sum_bound", "tier_rows", "time_of_day_rows",
           "time_of_day_table", "time_span", "token_sums"]

TOKEN_COLUMNS = ("input", "cached_input", "cache_write", "output", "requests")
"""The count columns of the valid events that groupings sum."""


def dedupe_table(events: ir.Table) -> tuple[ir.Table, ir.Table]:
    """Split later copies of an event id off ``events`` (first ``__row`` wins).

    Returns ``(copies, kept)``: ``copies`` has ``__row`` and a boolean ``conflict`` (content
    differs from the first copy) for every later copy; ``kept`` is ``events`` without them.
    Portable Ibis only (no backend-specific SQL).
    """
    content = ["customer_id", "model", "ts_us", "input", "cached_input", "cache_write",
               "output", "requests"]
    if "service_tier" in events.columns:
        content.append("service_tier")
    if "reasoning" in events.columns:
        content.append("reasoning")
    repeated = (events.group_by("id")
                .aggregate(_n=events.count(), _first=events["__row"].min())
                .filter(lambda t: t["_n"] > 1))
    candidates = events.inner_join(repeated, "id")
    first = candidates.filter(candidates["__row"] == candidates["_first"]).select(
        "id", **{f"_f_{c}": candidates[c] for c in content})
    later = candidates.filter(candidates["__row"] != candidates["_first"])
    paired = later.inner_join(first, "id")
    differs = ibis.literal(False)
    for c in content:
        differs = differs | (paired[c] != paired[f"_f_{c}"])
    copies = paired.select("__row", conflict=differs)
    kept = events.anti_join(copies, "__row")
    return copies, kept


def aggregate_table(events: ir.Table, *, thresholds: tuple[int, ...] = (),
                    hourly: bool = False) -> tuple[ir.Table, ir.Table | None]:
    """The aggregation, expressed once in Ibis over valid, deduplicated events with columns
    ``customer_id, model, ts_us, ts_s, input, cached_input, cache_write, output, requests``.

    Returns ``(daily, hourly)`` expressions: daily sums by (customer, model, band, day), hourly
    sums by (customer, hour) or None. (The first and last event times are one aggregate over
    the events, :func:`time_span`, not a minimum and maximum per group.)
    """
    if "reasoning" in events.columns:  # (the reasoning sums are aggregate_trace's side table)
        events = events.drop("reasoning")
    if not hourly:
        daily = grouped(events, thresholds, "day")
        # (a ``service_tier`` column is summed over here; ``tier_rows`` keeps it apart)
        return (by_day(daily) if "service_tier" in events.columns else daily), None
    return split(grouped(events, thresholds, "hour"))


def time_span(events: ir.Table) -> ir.Table:
    """One row: ``first_us`` and ``last_us``, the first and last event times (epoch
    microseconds)."""
    return events.aggregate(first_us=events["ts_us"].min(), last_us=events["ts_us"].max())


def band_expr(events: ir.Table, thresholds: tuple[int, ...]) -> ir.IntegerValue:
    """The long-context band of each event (thresholds its prompt per request exceeds)."""
    thresholds = _check_thresholds(thresholds)
    prompt = events["input"] + events["cached_input"] + events["cache_write"]
    per = (events["requests"] == 0).ifelse(ibis.literal(1, "int64"), events["requests"])
    band: ir.IntegerValue = ibis.literal(0, "int64")
    for threshold in thresholds:
        band = band + (prompt > per * threshold).cast("int64")
    return band


def time_of_day_table(events: ir.Table, edges: dict[str, Sequence[int]], *,
                      thresholds: tuple[int, ...] = ()) -> ir.Table:
    """Sums of the events of the models of ``edges`` by (customer, model, band, day,
    ``since_us``): ``since_us`` is the largest edge of any of those models at or before the
    event's time of day (microseconds after UTC midnight), else 0. Every price window of every
    one of those models is a union of such slots, so each row has one price. Portable Ibis."""
    events = events.filter(events["model"].isin(sorted(edges)))
    day = events["ts_s"] // DAY_S
    since = slot_expr(events, edges)
    tier = ({"service_tier": events["service_tier"]} if "service_tier" in events.columns
            else {})
    return events.group_by(
        customer_id=events["customer_id"], model=events["model"],
        band=band_expr(events, thresholds), day=day, since_us=since, **tier,
    ).aggregate(**token_sums(events))


def slot_expr(events: ir.Table, edges: dict[str, Sequence[int]]) -> ir.IntegerValue:
    """The time-of-day slot of each event: the largest edge of any model of ``edges`` at or
    before the event's time of day (microseconds after UTC midnight), else 0."""
    cuts = sorted({int(e) for found in edges.values() for e in found})
    if any(not 0 < e < DAY_US for e in cuts):
        raise ValueError(f"time-of-day edges must be inside the day: {cuts}")
    since_midnight = events["ts_us"] - (events["ts_s"] // DAY_S) * DAY_US
    since: ir.IntegerValue = ibis.literal(0, "int64")
    for cut in cuts:
        since = (since_midnight >= cut).ifelse(ibis.literal(cut, "int64"), since)
    return since


def time_of_day_rows(fine: ir.Table, bucket: str, edges: dict[str, Sequence[int]]
                     ) -> ir.Table:
    """The time-of-day rows (as :func:`time_of_day_table`) from sums by (customer, model,
    band, ``bucket``, [tier,] ``since_us``) that carry every model's slot (0 for the models
    without edges)."""
    sums = resummed(fine)
    kept = fine.filter(fine["model"].isin(sorted(edges)))
    day = kept["hour"] // 24 if bucket == "hour" else kept["day"]
    tier = ({"service_tier": kept["service_tier"]} if "service_tier" in kept.columns else {})
    return kept.group_by(
        customer_id=kept["customer_id"], model=kept["model"], band=kept["band"], day=day,
        since_us=kept["since_us"], **tier,
    ).aggregate(**sums)


def token_sums(events: ir.Table, constants: Mapping[str, int] | None = None
               ) -> dict[str, ir.IntegerScalar]:
    """The 64-bit sums of the token columns and the count of ``events`` of a grouping
    (:func:`check_sum_bound` proved they fit; a cast that did not fit would fail).
    ``constants``: columns that hold the same value on every row (a field the file does not
    have): their sum is that value times the count, not a sum of the column (on 10M events, two
    constant columns summed cost a third of the hourly grouping's time)."""
    constants = constants or {}
    count = events.count().cast("int64")
    sums = {c: ((count * int(constants[c])).cast("int64") if c in constants
                else events[c].sum().cast("int64")) for c in TOKEN_COLUMNS}
    sums["events"] = count
    return sums


def resummed(fine: ir.Table) -> dict[str, ir.IntegerScalar]:
    """The sums of a grouping's own rows (``fine``: rows of :func:`grouped`) grouped again
    coarser: each token column and the event count added up, in 64 bits."""
    return {c: fine[c].sum().cast("int64") for c in (*TOKEN_COLUMNS, "events")}


def grouped(events: ir.Table, thresholds: tuple[int, ...], bucket: str,
            edges: dict[str, Sequence[int]] | None = None,
            constants: Mapping[str, int] | None = None) -> ir.Table:
    """Sums by (customer, model, band, ``bucket``): ``day`` or ``hour`` since the epoch (and
    by ``service_tier`` when the events have one; by time-of-day slot, ``since_us``, when
    ``edges`` are given: the models of ``edges`` get theirs, every other model 0).
    ``constants``: as :func:`token_sums`."""
    band = band_expr(events, thresholds)
    sums = token_sums(events, constants)
    if "reasoning" in events.columns:  # (kept apart from the daily rows: reasoning_rows)
        sums["reasoning"] = events["reasoning"].sum().cast("int64")
    seconds = DAY_S if bucket == "day" else HOUR_S
    tier = ({"service_tier": events["service_tier"]} if "service_tier" in events.columns
            else {})
    if edges:
        slot = events["model"].isin(sorted(edges)).ifelse(slot_expr(events, edges),
                                                          ibis.literal(0, "int64"))
        tier = {**tier, "since_us": slot}
    return events.group_by(
        customer_id=events["customer_id"], model=events["model"], band=band,
        **{bucket: events["ts_s"] // seconds}, **tier,
    ).aggregate(**sums)


def tier_rows(fine: ir.Table, bucket: str) -> ir.Table:
    """The rows of tiers other than standard by (customer, model, band, day, tier), from sums
    by (customer, model, band, ``bucket``, tier)."""
    sums = resummed(fine)
    kept = fine.filter(fine["service_tier"] != "standard")
    day = kept["hour"] // 24 if bucket == "hour" else kept["day"]
    return kept.group_by(
        customer_id=kept["customer_id"], model=kept["model"], band=kept["band"], day=day,
        service_tier=kept["service_tier"],
    ).aggregate(**sums)


def reasoning_rows(fine: ir.Table, bucket: str) -> ir.Table:
    """The reasoning sums by (customer, model, band, day), rows with some only, from sums by
    (customer, model, band, ``bucket``, ...) that carry a ``reasoning`` sum."""
    day = fine["hour"] // 24 if bucket == "hour" else fine["day"]
    return fine.group_by(
        customer_id=fine["customer_id"], model=fine["model"], band=fine["band"], day=day,
    ).aggregate(reasoning=fine["reasoning"].sum().cast("int64")).filter(
        lambda t: t["reasoning"] > 0)


def by_day(fine: ir.Table) -> ir.Table:
    """Daily sums over every tier from sums by (customer, model, band, day, tier)."""
    sums = resummed(fine)
    return fine.group_by(customer_id=fine["customer_id"], model=fine["model"],
                         band=fine["band"], day=fine["day"]).aggregate(**sums)


def hours(events: ir.Table, constants: Mapping[str, int] | None = None) -> ir.Table:
    """Sums by (customer, hour) of the events: the hourly rows (``constants``: as
    :func:`token_sums`)."""
    return events.group_by(customer_id=events["customer_id"],
                           hour=events["ts_s"] // HOUR_S).aggregate(
        **token_sums(events, constants))


def split(fine: ir.Table) -> tuple[ir.Table, ir.Table]:
    """Daily and hourly sums from sums by (customer, model, band, hour): one scan of the
    events feeds both (a day is 24 whole UTC hours)."""
    sums = resummed(fine)
    daily = fine.group_by(
        customer_id=fine["customer_id"], model=fine["model"], band=fine["band"],
        day=fine["hour"] // 24,
    ).aggregate(**sums)
    hourly = fine.group_by(customer_id=fine["customer_id"], hour=fine["hour"]).aggregate(**sums)
    return daily, hourly


# ---------------------------------------------------------------- 64-bit exactness

INT64_MAX = 2**63 - 1


def sum_bound(events: ir.Table) -> ir.Table:
    """One row: ``rows`` (valid events) and ``peak`` (the largest count of any column of any
    row), the inputs of :func:`check_sum_bound`. Portable Ibis; nothing in it can overflow."""
    peak = ibis.greatest(*(events[c] for c in TOKEN_COLUMNS)).max()
    return events.aggregate(rows=events.count(), peak=peak)


def check_sum_bound(rows: int, peak: int, thresholds: tuple[int, ...] = (), *,
                    where: str = "trace") -> None:
    """Refuse a scan whose 64-bit integer arithmetic could overflow, before it runs.

    Every sum in :func:`aggregate_table` adds at most ``rows`` values of at most ``peak``;
    the band test adds three counts of a row and multiplies requests by a threshold. So if
    ``peak x max(rows, 3, *thresholds) <= 2**63 - 1`` no engine can overflow, whether it raises
    (DuckDB, Spark in ANSI mode) or wraps (Spark without ANSI, numpy-based engines).
    Raises :class:`~billing.errors.TraceError` naming ``where`` otherwise.
    """
    factor = max(rows, 3, *thresholds)
    if peak * factor > INT64_MAX:
        raise TraceError(
            f"{where}: token sums could exceed 64-bit integers ({rows:,} events, largest "
            f"count in a row {peak:,}; {peak:,} x {factor:,} > 2**63 - 1): split the trace "
            "or use --engine python (engine='python' in Python: exact Python integers)")
