"""Supplier cost of a comparison, priced once for every plan: the period rows as columns,
each row priced at the cost book's price, and the sums per customer, model and provider.

Time of day: a model whose supplier price depends on the time of day (the cost book's
``time_of_day_edges``, e.g. DeepSeek's off-peak window 16:30-00:30 UTC) is never priced by the
day's majority price here. Its period rows are costed from the aggregates' time-of-day rows
(:func:`time_of_day_costs`): each slot between two window edges priced at the price in force at
its start, exactly, then summed into the period row of the slot's customer, model, band and
day. An event is priced at its own timestamp (a pre-aggregated row that spans an edge is priced
at the time it carries). The period rows' per-class ``cost`` (what cost-plus charges bill)
stays the price of the day, as the Rater bills daily usage, so revenue is what invoices say.

Service tiers: when the usage has tiers other than standard (``UsageAggregates.tiers``), each
daily tier row is priced at its tier's prices (the cost book's: a multiplier from the cost
file, genai-prices' own tier price, or the provider's built-in multiplier) and replaces, in its
period row, the standard price of the same tokens: in the row's cost (what cost-plus charges
bill) and in the supplier cost the report sums (a time-of-day model's from its time-of-day rows,
which carry the tier). The shares stay available per period row (:attr:`PricedRows.tiers`) for
the rate cards that bill each tier on its own line. Without such usage nothing here runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from billing.charges.columns import column
from billing.charges.totals import TierShare
from billing.compare.columns import _engine
from billing.costs import CostBook
from billing.costs.model import price_counts, price_token_columns
from billing.errors import CostBookError
from billing.money import ZERO
from billing.usage.aggregates import Counts
from billing.usage.keys import day_of

__all__ = ["Costs", "PricedRows", "TierRow", "TimeOfDayRows", "time_of_day_costs",
           "time_of_day_notes"]

_CLASSES = ("input", "cached_input", "cache_write", "output")


@dataclass(frozen=True, slots=True)
class Costs:
    """Supplier cost, priced once: per customer, per model, per provider, and the sums over
    customers that every plan's summary reads (they do not depend on the plan)."""

    by_customer: Mapping[str, Decimal]
    by_model: Mapping[str, Decimal]
    by_provider: Mapping[str, Decimal]
    tokens: Mapping[str, int]
    customers: Sequence[str]
    """Every customer, sorted: the order of every column of the comparison."""
    column: Sequence[Decimal]
    """Each customer's cost, in the customers' order."""
    total: Decimal
    """Summed in the customers' order."""
    total_tokens: int
    top1pct: Decimal
    """The cost of the costliest 1% of customers (at least one)."""

    @staticmethod
    def of(by_customer: Mapping[str, Decimal], by_model: Mapping[str, Decimal],
           by_provider: Mapping[str, Decimal], tokens: Mapping[str, int]) -> Costs:
        customers = sorted(by_customer)
        column = [by_customer[c] for c in customers]
        by_cost = sorted(column, reverse=True)
        top = max(1, math.ceil(len(by_cost) / 100)) if by_cost else 0
        return Costs(by_customer, by_model, by_provider, tokens, customers, column,
                      sum(column, ZERO), sum(tokens[c] for c in customers),
                      sum(by_cost[:top], ZERO))


@dataclass(frozen=True, slots=True)
class TierRow:
    """A period row's usage of one service tier other than standard: tokens per class,
    requests, and their supplier cost per class at the tier's prices."""

    tier: str
    tokens: tuple[int, int, int, int]
    requests: int
    cost: tuple[Decimal, Decimal, Decimal, Decimal]


class PricedRows:
    """The period rows (:func:`~billing.compare.columns.period_rows`) as columns of Python
    values, each row priced at supplier cost once: one cost book lookup per (model, band,
    segment), then :func:`billing.costs.model.price_tokens`'s arithmetic on every row, column
    by column (:func:`~billing.costs.model.price_token_columns`).

    ``time_of_day``: the aggregates' time-of-day rows (``UsageAggregates.time_of_day``); the
    supplier cost of a model with price windows comes from them (module docstring). Raises
    :class:`~billing.errors.CostBookError` when such a model has none, or when they do not add
    up to its period rows (never a silent fallback to the day's price)."""

    def __init__(self, table: Any, costbook: CostBook, time_of_day: Any = None,
                 tiers: Any = None) -> None:
        """``tiers``: the aggregates' rows of tiers other than standard
        (``UsageAggregates.tiers``; None: every token standard)."""
        import numpy as np

        self.table = table
        self.customer: list[str] = table.column("customer_id").to_pylist()
        self.model: list[str] = table.column("model").to_pylist()
        self.segment: list[int] = table.column("segment").to_pylist()
        self.tokens: tuple[list[int], ...] = tuple(
            table.column(f"{c}_sum").to_pylist() for c in _CLASSES)
        self.requests: list[int] = table.column("requests_sum").to_pylist()
        bands: list[int] = table.column("band").to_pylist()
        where: dict[tuple[str, int, int], int] = {}
        keys = [where.setdefault(key, len(where))
                for key in zip(self.model, bands, self.segment, strict=True)]
        levels = [costbook.level(model, band, day_of(segment))
                  for model, band, segment in where]
        n = len(keys)

        def column(values: Sequence[Any]) -> Any:
            out = np.empty(n, dtype=object)
            out[:] = values
            return out

        by_class, amounts = price_token_columns(
            [level.prices() for level in levels], np.asarray(keys, dtype=np.int64),
            [column(t) for t in self.tokens])
        self.cost: list[tuple[Decimal, Decimal, Decimal, Decimal]] = list(
            zip(*(c.tolist() for c in by_class), strict=True))
        amount: list[Decimal] = amounts.tolist()
        self.tiers: dict[int, list[TierRow]] = {}
        """The shares of tiers other than standard of each period row (by row position)."""
        if tiers is not None:
            self._by_tier(tiers, amount, bands, levels, keys, costbook)
        # Models with more than one price window on some day of their rows (a cost-file
        # entry prices a model the same all day, over the bundled windows).
        timed = sorted({model for model, _, segment in where
                        if costbook.time_of_day_edges(model)
                        and len(costbook.windows(model, day_of(segment))) > 1})
        if timed:
            self._by_time_of_day(amount, bands, set(timed), time_of_day, costbook)
        counted = [a + b + c + d for a, b, c, d in zip(*self.tokens, strict=True)]
        # Sums in row order, in the ambient context, as every sum of the report.
        by_customer: dict[str, Decimal] = {}
        tokens: dict[str, int] = {}
        start = 0
        for end in [*_runs(self.customer), n]:
            if end > start:
                customer = self.customer[start]
                by_customer[customer] = sum(amount[start:end], ZERO)
                tokens[customer] = sum(counted[start:end])
            start = end
        rows_of: dict[str, list[Decimal]] = {}
        rows_of_provider: dict[str, list[Decimal]] = {}
        for model, key, value in zip(self.model, keys, amount, strict=True):
            rows_of.setdefault(model, []).append(value)
            rows_of_provider.setdefault(levels[key].provider, []).append(value)
        by_model = {m: sum(values, ZERO) for m, values in rows_of.items()}
        by_provider = {p: sum(values, ZERO) for p, values in rows_of_provider.items()}
        self.costs = Costs.of(by_customer, by_model, by_provider, tokens)
        self.time_of_day_models: tuple[str, ...] = tuple(timed)
        """The models costed from time-of-day rows."""

    def _by_tier(self, tiers: Any, amount: list[Decimal], bands: Sequence[int],
                 levels: Sequence[Any], keys: Sequence[int], costbook: CostBook) -> None:
        """Price each daily row of a tier other than standard at its tier's prices, into its
        period row (the last of its customer, model and band starting on or before its day:
        an ASOF join): the row's cost per class and ``amount`` get the tier's price of those
        tokens instead of the standard one."""
        import numpy as np
        import pyarrow as pa

        periods = self.table.select(["customer_id", "model", "band", "segment"]).append_column(
            "row_", pa.array(np.arange(self.table.num_rows, dtype=np.int64)))
        with _engine(periods=periods, tiers=tiers) as con:
            matched = con.sql(
                "SELECT p.row_, t.* FROM tiers AS t ASOF LEFT JOIN periods AS p "
                "ON t.customer_id = p.customer_id AND t.model = p.model AND t.band = p.band "
                "AND t.day >= p.segment ORDER BY p.row_, t.service_tier, t.day").to_arrow_table()
        rows = matched.column("row_").to_pylist()
        if any(r is None for r in rows):
            raise CostBookError("service tier rows without daily usage: the aggregates were "
                                "changed after aggregation")
        found: dict[tuple[int, str], TierRow] = {}
        for row, model, band, day, tier, *counts in zip(rows, *(matched.column(n).to_pylist()
                                                              for n in (
                "model", "band", "day", "service_tier", *_CLASSES, "requests")), strict=True):
            tokens = Counts(*counts[:4])
            own = costbook.cost(model, tokens, band, day_of(day), tier).by_class
            standard = price_counts(levels[keys[row]], tokens).by_class
            before = found.get((row, tier))
            found[(row, tier)] = TierRow(
                tier, tuple(a + b for a, b in zip(
                    before.tokens if before else (0, 0, 0, 0), counts[:4], strict=True)),
                (before.requests if before else 0) + counts[4],
                tuple(a + c for a, (_, c) in zip(  # type: ignore[arg-type]
                    before.cost if before else (ZERO,) * 4, own, strict=True)))
            self.cost[row] = tuple(a - b + c for a, (_, b), (_, c) in
                                   zip(self.cost[row], standard, own, strict=True))
            amount[row] = amount[row] - sum((c for _, c in standard), ZERO) + sum(
                (c for _, c in own), ZERO)
        for (row, _), share in found.items():
            self.tiers.setdefault(row, []).append(share)

    def _by_time_of_day(self, amount: list[Decimal], bands: Sequence[int], timed: set[str],
                        time_of_day: Any, costbook: CostBook) -> None:
        """Replace the supplier cost of ``timed`` models' rows in ``amount`` by the sum of
        their time-of-day rows, each priced at its own window's price. A time-of-day row
        belongs to the period row of its customer, model and band whose segment (the first day
        of a run of days) is the last starting on or before its day: an ASOF join in DuckDB,
        which also checks that the rows of each period row add up to it, class by class."""
        import numpy as np
        import pyarrow as pa

        if time_of_day is None:
            raise CostBookError(
                f"the supplier price of {', '.join(sorted(timed))} depends on the time of day; "
                "the usage has no time-of-day rows to cost it exactly (aggregate the trace "
                "with time_of_day=costbook.time_of_day_edges)")
        periods = self.table.select(["customer_id", "model", "band", "segment",
                                     *(f"{c}_sum" for c in _CLASSES)]).append_column(
            "row_", pa.array(np.arange(self.table.num_rows, dtype=np.int64)))
        names = sorted(timed)
        with _engine(periods=periods, slots=time_of_day) as con:
            con.execute(
                "CREATE TEMP TABLE matched AS SELECT s.*, p.row_ FROM "
                "(SELECT * FROM slots WHERE model IN (SELECT unnest($1::VARCHAR[]))) AS s "
                "ASOF LEFT JOIN periods AS p ON s.customer_id = p.customer_id "
                "AND s.model = p.model AND s.band = p.band AND s.day >= p.segment", [names])
            lost = con.execute("SELECT customer_id, model, day FROM matched WHERE row_ IS NULL "
                               "LIMIT 1").fetchall()
            if lost:
                customer, model, day = lost[0]
                raise CostBookError(
                    f"time-of-day rows of {customer!r} {model} (day {day_of(day)}) have no daily "
                    "usage: the aggregates were changed after aggregation")
            sums = ", ".join(f"sum({c}) AS {c}" for c in _CLASSES)
            differ = " OR ".join(f"g.{c} IS DISTINCT FROM p.{c}_sum" for c in _CLASSES)
            wrong = con.execute(
                f"SELECT p.customer_id, p.model FROM periods AS p LEFT JOIN (SELECT row_, {sums} "
                "FROM matched GROUP BY row_) AS g ON g.row_ = p.row_ "
                f"WHERE p.model IN (SELECT unnest($1::VARCHAR[])) AND ({differ}) LIMIT 1",
                [names]).fetchall()
            if wrong:
                customer, model = wrong[0]
                raise CostBookError(
                    f"the time-of-day rows of {customer!r} {model} do not add up to its daily "
                    "usage: the aggregates were changed after aggregation")
            # Days with the same price schedule (every window's prices) price a slot alike:
            # the rows of a period row are summed per (slot, schedule) before pricing.
            pairs = con.execute("SELECT DISTINCT model, day FROM matched").fetchall()
            schedules: dict[Any, int] = {}
            ids = [schedules.setdefault(_schedule(costbook, model, day), len(schedules))
                   for model, day in pairs]
            con.execute("CREATE TEMP TABLE schedules AS SELECT unnest($1::VARCHAR[]) AS model, "
                        "unnest($2::BIGINT[]) AS day, unnest($3::BIGINT[]) AS schedule",
                        [[m for m, _ in pairs], [d for _, d in pairs], ids])
            # (by service tier too, when the rows have one)
            tier = ", m.service_tier" if "service_tier" in time_of_day.column_names else ""
            rows = con.sql(
                f"SELECT m.row_, m.customer_id, m.model, m.band, min(m.day) AS day, m.since_us{tier}, "
                + ", ".join(f"CAST(sum(m.{c}) AS BIGINT) AS {c}" for c in _CLASSES)
                + " FROM matched AS m JOIN schedules AS s ON m.model = s.model AND m.day = s.day "
                f"GROUP BY m.row_, m.customer_id, m.model, m.band, m.since_us, s.schedule{tier} "
                "ORDER BY m.row_").to_arrow_table()
        priced = np.empty(rows.num_rows, dtype=object)
        priced[:] = time_of_day_costs(TimeOfDayRows(rows), costbook)
        owner = rows.column("row_").to_numpy()
        if not len(owner):
            return
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        for row, total in zip(owner[starts].tolist(), np.add.reduceat(priced, starts).tolist(),
                              strict=True):
            amount[row] = total


    def tier_columns(self, start: int, end: int, models: Mapping[str, int],
                     customers: Mapping[str, int]) -> dict[int, tuple[TierShare, ...]]:
        """The shares of tiers other than standard of the period rows with ``start <= segment
        < end``, as columns of the batch (``models``: model -> position; ``customers``:
        customer -> position): what ``PeriodTotals.service`` holds."""
        if not self.tiers:
            return {}
        n = len(customers)
        found: dict[tuple[int, str], tuple[list[list[int]], list[int], list[list[Decimal]],
                                           list[bool]]] = {}
        for row, shares in sorted(self.tiers.items()):
            if not start <= self.segment[row] < end:
                continue
            m, i = models[self.model[row]], customers[self.customer[row]]
            for share in shares:
                tokens, requests, cost, present = found.setdefault(
                    (m, share.tier), ([[0] * n for _ in range(4)], [0] * n,
                                      [[ZERO] * n for _ in range(4)], [False] * n))
                for k in range(4):
                    tokens[k][i] += share.tokens[k]
                    cost[k][i] += share.cost[k]
                requests[i] += share.requests
                present[i] = True
        out: dict[int, list[TierShare]] = {}
        for (m, tier), (tokens, requests, cost, present) in sorted(found.items()):
            out.setdefault(m, []).append(TierShare(
                tier, tuple(column(t) for t in tokens), column(requests),
                tuple(column(c) for c in cost), np.asarray(present, dtype=bool)))
        return {m: tuple(shares) for m, shares in out.items()}


class TimeOfDayRows:
    """The aggregates' time-of-day rows (:data:`~billing.usage.aggregates.TIME_OF_DAY_COLUMNS`)
    as columns of Python values."""

    def __init__(self, table: Any) -> None:
        self.customer: list[str] = table.column("customer_id").to_pylist()
        self.model: list[str] = table.column("model").to_pylist()
        self.band: list[int] = table.column("band").to_pylist()
        self.day: list[int] = table.column("day").to_pylist()
        self.since: list[int] = table.column("since_us").to_pylist()
        self.tier: list[str] = (table.column("service_tier").to_pylist()
                                if "service_tier" in table.column_names
                                else ["standard"] * table.num_rows)
        self.tokens: tuple[list[int], ...] = tuple(
            table.column(c).to_pylist() for c in _CLASSES)

    def __len__(self) -> int:
        return len(self.customer)


def time_of_day_costs(rows: TimeOfDayRows, costbook: CostBook) -> list[Decimal]:
    """The exact supplier cost of each time-of-day row: its tokens at the price in force at the
    start of its slot (``since_us`` after UTC midnight of its day) in its service tier, one
    cost book lookup per (model, band, day, slot, tier)."""
    import numpy as np

    where: dict[tuple[str, int, int, int, str], int] = {}
    keys = [where.setdefault(key, len(where)) for key in zip(
        rows.model, rows.band, rows.day, rows.since, rows.tier, strict=True)]
    prices = [costbook.level(model, band, day_of(day), tier,  # type: ignore[arg-type]
                             time_of_day=since).prices()
              for model, band, day, since, tier in where]
    n = len(keys)

    def column(values: Sequence[Any]) -> Any:
        out = np.empty(n, dtype=object)
        out[:] = values
        return out

    _, amounts = price_token_columns(prices, np.asarray(keys, dtype=np.int64),
                                     [column(t) for t in rows.tokens])
    found: list[Decimal] = amounts.tolist()
    return found


def _schedule(costbook: CostBook, model: str, day: int) -> Any:
    """``model``'s prices on ``day``, window by window, as a hashable value (every long-context
    level included): equal for days that price every slot alike."""
    def flat(level: Any) -> Any:
        return None if level is None else (level.prices(), level.provider,
                                           level.long_context_threshold, flat(level.long))

    return tuple((start, flat(level)) for start, level in costbook.windows(model, day_of(day)))




def _runs(values: Sequence[str]) -> list[int]:
    """The positions where a run of equal values starts (the first excluded)."""
    return [i for i in range(1, len(values)) if values[i] != values[i - 1]]


def time_of_day_notes(costbook: CostBook, trace: Any) -> list[str]:
    """One report note per model of ``trace`` (a ``TraceResult``) whose supplier price depends
    on the time of day: how its cost was priced, with its windows on the trace's first day."""
    from billing.costs.genai import window_spans

    notes = []
    day = trace.stats.start.date() if trace.stats.start is not None else None
    for model in trace.stats.models:
        if day is None or not costbook.time_of_day_edges(model):
            continue
        windows = costbook.windows(model, day)
        if len(windows) == 1:  # priced the same all day (e.g. by a cost-file entry)
            continue
        shown = "; ".join(
            f"{span} input {level.input} cached {level.cached_input} output {level.output}"
            for span, level in window_spans(windows))
        notes.append(
            f"time-of-day supplier prices: {model} is costed per price window from each "
            f"event's own timestamp, never by the day's majority price (UTC windows on {day}, "
            f"USD per 1M tokens: {shown}); a pre-aggregated row spanning a window edge is "
            "priced at the time it carries; cost-plus charges bill the price in force for "
            "most of the UTC day, as invoices of daily usage do")
    return notes
