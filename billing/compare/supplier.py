"""Supplier cost of a comparison, priced once for every plan: the period rows as columns,
each row priced at the cost book's price, and the sums per customer, model and provider."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from billing.costs import CostBook
from billing.costs.model import price_token_columns
from billing.money import ZERO
from billing.rating.usage import day_of

__all__ = ["Costs", "PricedRows"]


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


class PricedRows:
    """The period rows (:func:`~billing.compare.columns.period_rows`) as columns of Python
    values, each row priced at supplier cost once: one cost book lookup per (model, band,
    segment), then :func:`billing.costs.model.price_tokens`'s arithmetic on every row, column
    by column (:func:`~billing.costs.model.price_token_columns`)."""

    def __init__(self, table: Any, costbook: CostBook) -> None:
        import numpy as np

        self.table = table
        self.customer: list[str] = table.column("customer_id").to_pylist()
        self.model: list[str] = table.column("model").to_pylist()
        self.segment: list[int] = table.column("segment").to_pylist()
        self.tokens: tuple[list[int], ...] = tuple(
            table.column(f"{c}_sum").to_pylist()
            for c in ("input", "cached_input", "cache_write", "output"))
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


def _runs(values: Sequence[str]) -> list[int]:
    """The positions where a run of equal values starts (the first excluded)."""
    return [i for i in range(1, len(values)) if values[i] != values[i - 1]]
