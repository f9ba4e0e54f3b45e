"""The comparison's inputs, cut from the engine's Arrow tables without a Python row per event
day or customer-hour.

- :func:`period_usage`: each customer's daily rows merged into one row per (model, band,
  segment), a segment being a run of days inside one billing period of every compared plan
  during which the supplier's price of the model stays the same. Every charge but credits is
  linear in the tokens of a period (rate cards, usage tiers on the period total, allowances,
  cost plus on exact supplier costs), so rating these rows bills exactly what rating the daily
  rows bills; credits burn day by day and keep the daily rows.
- :func:`capacity_usage`: a capacity charge's weighted tokens per customer-hour, within the
  baseload and above it per spot price, summed as 64-bit integers (weights scaled to whole
  numbers), then handed to the rater as exact decimals.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from billing.charges import CapacityUsage
from billing.charges.credits import Debits
from billing.costs import CostBook
from billing.errors import RatingError
from billing.money import ZERO
from billing.plans.model import CapacityCharge
from billing.pricing.capacity import hour_start
from billing.usage.aggregates import Counts, UsageAggregates
from billing.usage.customer import SnapshotUsage
from billing.usage.duckdb_connect import connect
from billing.usage.keys import day_of

__all__ = [
    "CapacityColumns",
    "capacity_usage",
    "credit_debits",
    "daily_usage",
    "period_rows",
    "period_usage",
    "representative_rows",
    "usage_of_rows",
]

_SUMS = ("input", "cached_input", "cache_write", "output", "requests", "events")
_INT64_LIMIT = 2**63 - 1


def period_usage(aggregates: UsageAggregates, costbook: CostBook,
                 boundaries: Sequence[int]) -> dict[str, SnapshotUsage]:
    """Each customer's usage as one row per (model, band, segment), keyed by the segment's first
    day. ``boundaries``: the first days (UTC day numbers) of every billing period of every plan
    compared, so that no segment straddles a period."""
    return usage_of_rows(period_rows(aggregates, costbook, boundaries))


def period_rows(aggregates: UsageAggregates, costbook: CostBook,
                boundaries: Sequence[int]) -> Any:
    """:func:`period_usage`'s rows as an Arrow table sorted by customer, model, band and
    segment, with the sums of :data:`_SUMS` as ``<name>_sum``."""
    table = aggregates.daily_arrow()
    with _engine(daily=table) as con:
        pairs = con.sql("SELECT DISTINCT model, day FROM daily").to_arrow_table()
        days_by_model: dict[str, list[int]] = {}
        for model, day in zip(pairs.column("model").to_pylist(),
                              pairs.column("day").to_pylist(), strict=True):
            days_by_model.setdefault(model, []).append(day)
        edges = sorted(set(boundaries))
        models: list[str] = []
        days: list[int] = []
        segments: list[int] = []
        for model, model_days in days_by_model.items():
            first = -1
            key: tuple[int, object] | None = None
            for day in sorted(model_days):
                level: object = costbook.lookup(model, day_of(day))  # equal prices, equal key
                here = (bisect.bisect_right(edges, day), level)
                if here != key:
                    first, key = day, here
                models.append(model)
                days.append(day)
                segments.append(first)
        # (from Python lists by DuckDB itself: building Arrow arrays imports pandas, 0.3 s)
        con.execute("CREATE TEMP TABLE segments AS SELECT unnest($1::VARCHAR[]) AS model, "
                    "unnest($2::BIGINT[]) AS day, unnest($3::BIGINT[]) AS segment",
                    [models, days, segments])
        return con.sql(
            "SELECT d.customer_id, d.model, d.band, s.segment, "
            + ", ".join(f"{_sum(f'd.{n}')} AS {n}_sum" for n in _SUMS)
            + " FROM daily AS d JOIN segments AS s ON d.model = s.model AND d.day = s.day "
            "GROUP BY d.customer_id, d.model, d.band, s.segment "
            "ORDER BY d.customer_id, d.model, d.band, s.segment").to_arrow_table()


@contextmanager
def _engine(**tables: Any) -> Iterator[Any]:
    """An embedded DuckDB reading the Arrow ``tables`` by name (in place, not copied)."""
    con = connect()
    try:
        for name, table in tables.items():
            con.register(name, table)
        yield con
    finally:
        con.close()


def _numpy(values: Any) -> Any:
    """An Arrow column of signed integers without nulls as a numpy array, read in place from its
    data buffer (pyarrow's ``to_numpy()`` gives the same array, but imports pandas first: 0.3 s
    that the comparison does not otherwise spend)."""
    import numpy as np
    import pyarrow as pa

    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not pa.types.is_signed_integer(array.type) or array.null_count:
        raise TypeError(f"expected signed integers without nulls, got {array.type}")
    dtype = np.dtype(f"int{array.type.bit_width}")
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array),
                         offset=array.offset * dtype.itemsize)


def _sum(column: str) -> str:
    """SQL: the sum of an integer column as a 64-bit integer (DuckDB sums into 128 bits; the
    cast fails, rather than wraps, a sum past 64 bits, which the trace's bound excludes)."""
    return f"CAST(sum({column}) AS BIGINT)"


def usage_of_rows(rows: Any, aggregates: UsageAggregates | None = None
                  ) -> dict[str, SnapshotUsage]:
    """:func:`period_rows` as each customer's usage (with the daily rows of service tiers
    other than standard of ``aggregates``, when it has some: a share of those rows)."""
    return _by_customer([rows.column(name).to_pylist() for name in
                         ("customer_id", "model", "band", "segment",
                          *(f"{s}_sum" for s in _SUMS))], aggregates)


def daily_usage(aggregates: UsageAggregates) -> dict[str, SnapshotUsage]:
    """Each customer's daily rows (model, band, day), read column by column from Arrow."""
    table = aggregates.daily_arrow()
    columns = [table.column(name).to_pylist() for name in
               ("customer_id", "model", "band", "day", *_SUMS)]
    return _by_customer(columns, aggregates)


def _by_customer(columns: list[list[Any]], aggregates: UsageAggregates | None = None
                 ) -> dict[str, SnapshotUsage]:
    """Rows sorted by customer (customer, model, band, day, *sums) grouped into usages, with
    the customers' rows of service tiers other than standard and their reasoning sums from
    ``aggregates``."""
    tiers: dict[str, dict[tuple[str, str, int, int], Counts]] = {}
    if aggregates is not None:
        for (who, model, band, day, tier), share in aggregates.tier_rows().items():
            tiers.setdefault(who, {})[(model, tier, band, day)] = share
    found = None if aggregates is None else aggregates.reasoning_rows()
    reasoning: dict[str, dict[tuple[str, int, int], int]] | None = None
    if found is not None:  # (the reasoning split is known: every customer has one)
        reasoning = {}
        for (who, model, band, day), tokens in found.items():
            reasoning.setdefault(who, {})[(model, band, day)] = tokens

    def made(customer: str, rows: dict[tuple[str, int, int], Counts]) -> SnapshotUsage:
        return SnapshotUsage(customer, rows, tiers=tiers.get(customer), reasoning=(
            None if reasoning is None else reasoning.get(customer, {})))

    out: dict[str, SnapshotUsage] = {}
    rows: dict[tuple[str, int, int], Counts] = {}
    current: str | None = None
    for customer, model, band, day, *counts in zip(*columns, strict=True):
        if customer != current:
            if current is not None:
                out[current] = made(current, rows)
            current, rows = customer, {}
        rows[(model, band, day)] = Counts(*counts)
    if current is not None:
        out[current] = made(current, rows)
    return out


def _between(table: Any, column: str, start: int, end: int) -> Any:
    """Rows of ``table`` with ``start <= column < end``, in order (DuckDB keeps the order of
    the rows it reads unless told otherwise)."""
    with _engine(rows=table) as con:
        return con.sql(f"SELECT * FROM rows WHERE {column} >= {int(start)} AND "
                       f"{column} < {int(end)}").to_arrow_table()


def representative_rows(aggregates: UsageAggregates, start_day: int, end_day: int
                        ) -> tuple[dict[tuple[str, int, int], Counts], dict[int, Counts]]:
    """Every customer's rows of days ``start_day <= day < end_day`` summed: by (model, band,
    day), and by hour."""

    with _engine(daily=aggregates.daily_arrow()) as con:
        summed = con.sql(
            "SELECT model, band, day, " + ", ".join(f"{_sum(n)} AS {n}_sum" for n in _SUMS)
            + f" FROM daily WHERE day >= {int(start_day)} AND day < {int(end_day)} "
            "GROUP BY model, band, day").to_arrow_table()
    rows = {
        (model, band, day): Counts(*counts)
        for model, band, day, *counts in sorted(zip(
            *(summed.column(n).to_pylist() for n in
              ("model", "band", "day", *(f"{s}_sum" for s in _SUMS))), strict=True))
    }
    hours: dict[int, Counts] = {}
    if aggregates.has_hourly():
        import numpy as np

        hourly = aggregates.hourly_arrow()
        hour = _numpy(hourly.column("hour"))
        keep = (hour >= start_day * 24) & (hour < end_day * 24)
        hour = hour[keep]
        if len(hour):
            # sums per hour of the period, as exact 64-bit integers (the engine's sums of the
            # same tokens fit, so do these)
            first = int(hour.min())
            codes = hour - first
            size = int(codes.max()) + 1
            sums = [_group_sum(codes, _numpy(hourly.column(n))[keep], size) for n in _SUMS]
            count = np.bincount(codes, minlength=size)
            hours = {first + h: Counts(*(int(v[h]) for v in sums))
                     for h in np.flatnonzero(count).tolist()}
    return rows, hours


def credit_debits(aggregates: UsageAggregates, prices: Mapping[str, Sequence[Decimal]],
                  start_day: int, end_day: int) -> tuple[dict[str, Debits], int] | None:
    """Each customer's usage value at list ``prices`` (per model: input, cached_input,
    cache_write, output per 1M tokens) by (day, model) for days ``start_day <= day <
    end_day``, as exact integers in units of 10^-(places + 6), and ``places``: prices scaled to
    whole numbers, tokens times prices summed in 64 bits. None when those sums could overflow
    (the caller then rates day by day in Python). Each customer's :class:`Debits` also carry
    their running total and their sum per model."""
    import numpy as np
    import pyarrow.compute as pc

    table = aggregates.daily_arrow()
    table = _between(table, "day", start_day, end_day)
    places = max((max(0, -int(p.as_tuple().exponent)) for ps in prices.values() for p in ps),
                 default=0)
    encoded = table.column("model").combine_chunks().dictionary_encode()
    names = encoded.dictionary.to_pylist()
    codes = _numpy(encoded.indices)
    value = np.zeros(table.num_rows, dtype=np.int64)
    bound = 0  # every sum below is at most all tokens of a class times its highest price
    for position, cls in enumerate(("input", "cached_input", "cache_write", "output")):
        scaled = [int(prices[name][position].scaleb(places)) for name in names]
        bound += int(pc.sum(table.column(cls)).as_py() or 0) * max(scaled, default=0)
        if bound > _INT64_LIMIT:
            return None
        value += _numpy(table.column(cls)) * np.asarray(scaled, dtype=np.int64)[codes]
    # One row per (customer, day, model), the bands summed, in that order (models by name):
    # sorted and summed in numpy (the values are exact 64-bit integers, their sum bounded).
    rank = np.empty(len(names), dtype=np.int64)
    rank[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
    ordered_names = sorted(names)
    model = rank[codes] if len(names) else codes.astype(np.int64)
    customers = table.column("customer_id").combine_chunks().dictionary_encode()
    customer = _numpy(customers.indices)
    day = _numpy(table.column("day"))
    order = np.lexsort((model, day, customer))
    customer, day, model, value = customer[order], day[order], model[order], value[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = ((customer[1:] != customer[:-1]) | (day[1:] != day[:-1])
               | (model[1:] != model[:-1]))
    firsts = np.flatnonzero(new)
    if len(firsts) == 0:
        return {}, places
    sums = np.add.reduceat(value, firsts)
    model_names = np.asarray(ordered_names, dtype=object)
    rows = list(zip(day[firsts].tolist(), model_names[model[firsts]].tolist(), sums.tolist(),
                    strict=True))
    owner = customer[firsts]
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    ends = np.r_[starts[1:], len(rows)]
    # running totals within each customer, and each customer's sum per model (with a count of
    # rows, so that a model used for nothing still has its zero)
    running = np.cumsum(sums)
    running -= np.repeat(running[starts] - sums[starts], ends - starts)
    width = len(ordered_names)
    index = np.repeat(np.arange(len(starts)), ends - starts) * width + model[firsts]
    per_model = _group_sum(index, sums, len(starts) * width)
    present = np.bincount(index, minlength=len(starts) * width)
    who = customers.dictionary.to_pylist()
    running_list = running.tolist()
    per_model_list = per_model.tolist()
    out: dict[str, Debits] = {}
    for number, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        base = number * width
        out[who[owner[start]]] = Debits(
            rows[start:end], places, running_list[start:end],
            {ordered_names[m]: per_model_list[base + m] for m in range(width)
             if present[base + m]})
    return out, places


class CapacityColumns:
    """One capacity charge's usage over the buckets ``hours``: per customer (for the rater and
    the kernels) and the weighted tokens within the baseload per hour, over all customers
    (utilization). Per customer it is kept as exact integers scaled by ``10^places``: within the
    baseload (``covered``) and above it per spot price (``excess[price]``)."""

    def __init__(self, names: Sequence[str], covered: Sequence[int],
                 excess: Mapping[Decimal, Sequence[int]], places: int,
                 covered_by_hour: Mapping[int, Decimal]) -> None:
        self.names = list(names)
        self.covered = covered
        self.excess = excess
        self.places = places
        self.covered_by_hour = covered_by_hour
        self._where = {name: i for i, name in enumerate(self.names)}

    def of(self, customer: str) -> CapacityUsage:
        """The customer's usage (nothing when it used no capacity in these hours)."""
        i = self._where.get(customer)
        if i is None:
            return CapacityUsage(ZERO, {})
        return CapacityUsage(_exact(self.covered[i], self.places),
                             {p: _exact(v[i], self.places)
                              for p, v in self.excess.items() if v[i]})

    def columns(self, customers: Sequence[str]) -> CapacityUsage:
        """The usage of ``customers`` as columns (a batch of many)."""
        import numpy as np

        where = self._where
        positions = [where.get(c, -1) for c in customers]

        def column(values: Sequence[int]) -> Any:
            out = np.empty(len(positions), dtype=object)
            out[:] = [ZERO if i < 0 else _exact(values[i], self.places) for i in positions]
            return out

        return CapacityUsage(column(self.covered),
                             {p: column(v) for p, v in sorted(self.excess.items())})


def _scale(weights: Mapping[str, Decimal]) -> tuple[int, dict[str, int]]:
    """Decimal places needed to make every weight a whole number, and the scaled weights."""
    places = max((max(0, -int(w.as_tuple().exponent)) for w in weights.values()), default=0)
    scaled = {cls: int(w.scaleb(places)) for cls, w in weights.items()}
    return places, scaled


def capacity_usage(aggregates: UsageAggregates, charge: CapacityCharge, hours: Sequence[int],
                   spot: Mapping[int, Decimal]) -> CapacityColumns:
    """Weighted tokens of ``charge`` per customer in the buckets ``hours``, summed as integers.

    ``spot``: the spot price of each hour (a price series may lack hours: an hour used above
    the baseload without a price is an error, as in :func:`billing.pricing.capacity.price`).
    """
    import numpy as np
    import pyarrow.compute as pc

    weights: dict[str, Decimal] = {
        cls: charge.meter.weights.get(cls, Decimal(1)) for cls in charge.meter.tokens}
    places, scaled = _scale(weights)
    reserve = charge.baseload.per_bucket * 10**places
    table = aggregates.hourly_arrow()
    span = pc.min_max(table.column("hour")).as_py()
    whole = (span["min"] is None or (
        len(hours) == len(set(hours)) and min(hours, default=0) <= span["min"]
        and max(hours, default=-1) >= span["max"]
        and max(hours) - min(hours) + 1 == len(hours)))
    if not whole:  # (hours that are one run covering every hour of the table keep it whole)
        # (the rows come back in any order: they are summed by key)
        with _engine(hourly=table) as con:
            table = con.sql("SELECT * FROM hourly WHERE hour IN (SELECT unnest($1::BIGINT[]))",
                            params=[list(hours)]).to_arrow_table()
    if table.num_rows == 0:
        return CapacityColumns([], [], {}, places, {})
    peak = sum(scaled[c] * int(pc.max(table.column(c)).as_py() or 0) for c in scaled)
    if peak * table.num_rows > _INT64_LIMIT:  # sums could overflow 64 bits: exact Python ints
        return _capacity_python(table, scaled, places, reserve, spot)
    used = np.zeros(table.num_rows, dtype=np.int64)
    for cls, weight in scaled.items():
        if weight:
            used += _numpy(table.column(cls)) * weight
    covered = np.minimum(used, reserve)
    excess = used - covered
    hour = _numpy(table.column("hour"))
    prices = sorted(set(spot.values()))
    index = {p: i for i, p in enumerate(prices)}
    first = int(hour.min())
    lookup = np.full(int(hour.max()) - first + 1, -1, dtype=np.int64)
    for h, p in spot.items():
        if first <= h < first + len(lookup):
            lookup[h - first] = index[p]
    price_of = lookup[hour - first]
    unpriced = (excess > 0) & (price_of < 0)
    if unpriced.any():
        missing = int(hour[unpriced].min())  # the first such hour, whatever the rows' order
        raise RatingError(f"no spot price for hour {hour_start(missing).isoformat()}")
    encoded = table.column("customer_id").combine_chunks().dictionary_encode()
    codes = _numpy(encoded.indices).astype(np.int64)
    names = encoded.dictionary.to_pylist()
    width = max(len(prices), 1)
    cov_sum = _group_sum(codes, covered, len(names))
    keys = codes * width + np.maximum(price_of, 0)
    exc_sum = _group_sum(keys, excess, len(names) * width)
    hour_codes = (hour - first).astype(np.int64)
    per_hour = _group_sum(hour_codes, covered, len(lookup))
    covered_by_hour = {first + i: _exact(int(v), places) for i, v in enumerate(per_hour) if v}
    by_price = exc_sum.reshape(len(names), width).T.tolist()
    return CapacityColumns(names, cov_sum.tolist(),
                           {p: by_price[i] for i, p in enumerate(prices)}, places,
                           covered_by_hour)


def _group_sum(keys: Any, values: Any, size: int) -> Any:
    """Exact sums of ``values`` (integers >= 0) per key in ``range(size)``.

    ``np.bincount`` sums in float64, which is exact while every partial sum stays below 2**53:
    it is used only when (count x largest value) does; then ``np.add.at`` in int64 while that
    bound fits 64 bits, else Python integers."""
    import numpy as np

    bound = (int(values.max()) if len(values) else 0) * len(values)
    if bound < 2**53:
        return np.rint(np.bincount(keys, weights=values, minlength=size)).astype(np.int64)
    exact = bound <= _INT64_LIMIT
    out = np.zeros(size, dtype=np.int64 if exact else object)
    np.add.at(out, keys, values if exact else values.astype(object))
    return out


def _exact(scaled: int, places: int) -> Decimal:
    return Decimal(scaled).scaleb(-places) if places else Decimal(scaled)


def _capacity_python(table: Any, scaled: Mapping[str, int], places: int, reserve: int,
                     spot: Mapping[int, Decimal]) -> CapacityColumns:
    """The same sums in Python integers, for the rare tables whose 64-bit sums could overflow."""
    covered: dict[str, int] = {}
    excess: dict[str, dict[Decimal, int]] = {}
    per_hour: dict[int, int] = {}
    columns = [table.column(n).to_pylist() for n in ("customer_id", "hour", *scaled)]
    for customer, hour, *tokens in zip(*columns, strict=True):
        used = sum(n * w for n, w in zip(tokens, scaled.values(), strict=True))
        within = min(used, reserve)
        covered[customer] = covered.get(customer, 0) + within
        per_hour[hour] = per_hour.get(hour, 0) + within
        if used > reserve:
            if hour not in spot:
                raise RatingError(f"no spot price for hour {hour_start(hour).isoformat()}")
            into = excess.setdefault(customer, {})
            into[spot[hour]] = into.get(spot[hour], 0) + used - reserve
    names = sorted(covered)
    prices = sorted({p for by in excess.values() for p in by})
    return CapacityColumns(
        names, [covered[c] for c in names],
        {p: [excess.get(c, {}).get(p, 0) for c in names] for p in prices}, places,
        {h: _exact(v, places) for h, v in per_hour.items() if v},
    )
