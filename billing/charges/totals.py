"""A batch: the per-model period totals of one customer or of many, what every charge kind reads.

``tokens[m][k]`` is model ``models[m]``'s tokens of class ``k`` (input, cached_input,
cache_write, output), ``requests[m]`` its requests, ``cost[m][k]`` the exact supplier cost of
those tokens; ``present[m]`` says which customers have usage rows of the model in the period.
Each value is a :data:`~billing.charges.columns.Col`: plain numbers for a batch of one (one
customer's invoice), numpy object columns with one entry per customer otherwise. A customer
who did not use a model has zeros there: every charge bills a zero row nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from billing.charges.columns import Col, column
from billing.money import ZERO
from billing.usage.aggregates import Counts

__all__ = ["CLASSES", "ModelTotals", "PeriodTotals"]

CLASSES = ("input", "cached_input", "cache_write", "output")
_NO_COST = (ZERO, ZERO, ZERO, ZERO)  # (a model no charge reads the cost of)
"""Token classes, in the order of ``tokens`` and ``cost``."""


@dataclass(frozen=True, slots=True)
class ModelTotals:
    """A customer's usage of one model over one billing period: token sums per class (input,
    cached_input, cache_write, output), requests, and the exact supplier cost per class."""

    tokens: tuple[int, int, int, int]
    requests: int
    cost: tuple[Decimal, Decimal, Decimal, Decimal]


@dataclass(frozen=True, slots=True)
class PeriodTotals:
    """Per-model totals over one billing period of a batch of customers (see the module)."""

    customers: tuple[str, ...]
    models: tuple[str, ...]
    tokens: tuple[tuple[Col, ...], ...]
    requests: tuple[Col, ...]
    cost: tuple[tuple[Col, ...], ...] | None
    """None when the caller has no supplier costs (no charge of the plan reads them)."""
    present: tuple[Col, ...]

    @property
    def size(self) -> int:
        return len(self.customers)

    @classmethod
    def one(cls, customer: str, by_model: Mapping[str, Counts],
            cost: Mapping[str, Sequence[Decimal]] | None = None) -> PeriodTotals:
        """A batch of one: ``customer``'s token sums per model (and supplier cost per model and
        class of the models a charge prices at cost plus)."""
        models = tuple(sorted(by_model))
        return cls(
            (customer,), models,
            tuple((c.input, c.cached_input, c.cache_write, c.output)
                  for c in (by_model[m] for m in models)),
            tuple(by_model[m].requests for m in models),
            None if cost is None else tuple(tuple(cost.get(m, _NO_COST)) for m in models),
            tuple(True for _ in models))

    @classmethod
    def of_models(cls, customer: str, totals: Mapping[str, ModelTotals]) -> PeriodTotals:
        """A batch of one from a customer's :class:`ModelTotals`."""
        models = tuple(sorted(totals))
        rows = [totals[m] for m in models]
        return cls((customer,), models, tuple(r.tokens for r in rows),
                   tuple(r.requests for r in rows), tuple(r.cost for r in rows),
                   tuple(True for _ in models))

    @classmethod
    def of_lists(cls, customers: Sequence[str], models: Sequence[str],
                 tokens: Sequence[Sequence[Sequence[int]]], requests: Sequence[Sequence[int]],
                 cost: Sequence[Sequence[Sequence[Decimal]]], present: Sequence[Sequence[bool]]
                 ) -> PeriodTotals:
        """Columns from per-model lists (``tokens[m][k][i]``, ``requests[m][i]``,
        ``cost[m][k][i]``, ``present[m][i]``; ``models`` sorted)."""
        return cls(tuple(customers), tuple(models),
                   tuple(tuple(column(c) for c in per) for per in tokens),
                   tuple(column(r) for r in requests),
                   tuple(tuple(column(c) for c in per) for per in cost),
                   tuple(np.asarray(p, dtype=bool) for p in present))

    @classmethod
    def build(cls, customers: Sequence[str], models: Sequence[str],
              totals: Callable[[str], Mapping[str, ModelTotals]]) -> PeriodTotals:
        """Columns from each customer's per-model totals."""
        ordered = tuple(sorted(models))
        where = {m: i for i, m in enumerate(ordered)}
        n = len(customers)
        tokens = [[[0] * n for _ in CLASSES] for _ in ordered]
        requests = [[0] * n for _ in ordered]
        cost = [[[ZERO] * n for _ in CLASSES] for _ in ordered]
        present = [[False] * n for _ in ordered]
        for i, customer in enumerate(customers):
            for model, row in totals(customer).items():
                m = where[model]
                for k in range(4):
                    tokens[m][k][i] = row.tokens[k]
                    cost[m][k][i] = row.cost[k]
                requests[m][i] = row.requests
                present[m][i] = True
        return cls.of_lists(customers, ordered, tokens, requests, cost, present)

    def totals(self, position: int) -> dict[str, ModelTotals]:
        """The per-model totals of the customer at ``position`` (models it used)."""
        assert self.cost is not None
        out: dict[str, ModelTotals] = {}
        for m, model in enumerate(self.models):
            if self.present[m][position]:
                t, c = self.tokens[m], self.cost[m]
                out[model] = ModelTotals(
                    (t[0][position], t[1][position], t[2][position], t[3][position]),
                    self.requests[m][position],
                    (c[0][position], c[1][position], c[2][position], c[3][position]))
        return out

    def take(self, index: Any) -> PeriodTotals:
        """The customers at positions ``index`` (a numpy index array)."""
        return PeriodTotals(
            tuple(self.customers[i] for i in index), self.models,
            tuple(tuple(c[index] for c in per) for per in self.tokens),
            tuple(r[index] for r in self.requests),
            None if self.cost is None else tuple(tuple(c[index] for c in per)
                                                 for per in self.cost),
            tuple(p[index] for p in self.present))
