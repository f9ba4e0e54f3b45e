"""A batch: the per-model period totals of one customer or of many, what every charge kind reads.

``tokens[m][k]`` is model ``models[m]``'s tokens of class ``k`` (input, cached_input,
cache_write, output), ``requests[m]`` its requests, ``cost[m][k]`` the exact supplier cost of
those tokens; ``present[m]`` says which customers have usage rows of the model in the period.
Each value is a :data:`~billing.charges.columns.Col`: plain numbers for a batch of one (one
customer's invoice), numpy object columns with one entry per customer otherwise. A customer
who did not use a model has zeros there: every charge bills a zero row nothing.

Service tiers: ``service[m]`` holds model ``m``'s shares served in a tier other than standard
(:class:`TierShare`: tokens, requests, their supplier cost at that tier's prices), empty when
the usage has none (the common case: nothing else changes). ``tokens`` and ``requests`` count
every tier, and ``cost`` prices each tier's tokens at its own prices; the standard share is the
total less the shares. Charges that do not price by tier (usage, allowances, credits, capacity)
read the totals; a rate card bills each share on its own line (:mod:`billing.charges.rate_card`).

Reasoning: ``reasoning[m]`` is the part of model ``m``'s output tokens that is reasoning (absent:
none), read only by a rate card whose rate prices reasoning apart from output; ``reasoning`` is
None when the usage's reasoning split is unknown (a trace without a reasoning column), which
such a card refuses. Output counts (usage tiers, allowances, discounts) include reasoning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from billing.charges.columns import Col, column
from billing.money import ZERO
from billing.usage.aggregates import Counts
from billing.usage.customer import CustomerUsage
from billing.usage.keys import day_of

if TYPE_CHECKING:
    from billing.costs import CostBook

__all__ = ["CLASSES", "ModelTotals", "PeriodTotals", "TierShare", "tier_costs"]

CLASSES = ("input", "cached_input", "cache_write", "output")
_NO_COST = (ZERO, ZERO, ZERO, ZERO)  # (a model no charge reads the cost of)
"""Token classes, in the order of ``tokens`` and ``cost``."""


@dataclass(frozen=True, slots=True)
class TierShare:
    """The part of a model's period totals served in service ``tier`` (not standard): tokens
    per class, requests, the supplier cost per class at the tier's prices (zeros where nobody
    asked for supplier costs), and which customers have some (plain values for one customer,
    columns for a batch, as :class:`PeriodTotals`)."""

    tier: str
    tokens: tuple[Col, ...]
    requests: Col
    cost: tuple[Col, ...]
    present: Col = True

    def take(self, index: Any) -> TierShare:
        return TierShare(self.tier, tuple(t[index] for t in self.tokens), self.requests[index],
                         tuple(c[index] for c in self.cost), self.present[index])

    def at(self, position: int) -> TierShare:
        """The share of the customer at ``position`` of a batch, as plain values."""
        return TierShare(self.tier, tuple(t[position] for t in self.tokens),
                         self.requests[position], tuple(c[position] for c in self.cost), True)


@dataclass(frozen=True, slots=True)
class ModelTotals:
    """A customer's usage of one model over one billing period: token sums per class (input,
    cached_input, cache_write, output), requests, and the exact supplier cost per class (every
    service tier's tokens at its own prices); ``tiers``: the shares of tiers other than
    standard (included in the sums)."""

    tokens: tuple[int, int, int, int]
    requests: int
    cost: tuple[Decimal, Decimal, Decimal, Decimal]
    tiers: tuple[TierShare, ...] = ()
    reasoning: int | None = None
    """The part of the output tokens that is reasoning (None: unknown)."""


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
    service: Mapping[int, tuple[TierShare, ...]] = field(default_factory=dict)
    """Shares of tiers other than standard, by model position (module docstring)."""
    reasoning: Mapping[int, Col] | None = None
    """Reasoning tokens by model position (absent: 0); None: the split is unknown."""

    @property
    def size(self) -> int:
        return len(self.customers)

    @classmethod
    def one(cls, customer: str, by_model: Mapping[str, Counts],
            cost: Mapping[str, Sequence[Decimal]] | None = None,
            tiers: Mapping[str, Sequence[TierShare]] | None = None,
            reasoning: Mapping[str, int] | None = None) -> PeriodTotals:
        """A batch of one: ``customer``'s token sums per model (and supplier cost per model and
        class of the models a charge prices at cost plus; ``tiers``: the shares of tiers other
        than standard per model; ``reasoning``: reasoning tokens per model, None when
        unknown)."""
        models = tuple(sorted(by_model))
        return cls(
            (customer,), models,
            tuple((c.input, c.cached_input, c.cache_write, c.output)
                  for c in (by_model[m] for m in models)),
            tuple(by_model[m].requests for m in models),
            None if cost is None else tuple(tuple(cost.get(m, _NO_COST)) for m in models),
            tuple(True for _ in models),
            {m: tuple(tiers[model]) for m, model in enumerate(models)
             if tiers and tiers.get(model)},
            None if reasoning is None else {m: reasoning[model] for m, model in enumerate(models)
                                            if reasoning.get(model)})

    @classmethod
    def of_models(cls, customer: str, totals: Mapping[str, ModelTotals]) -> PeriodTotals:
        """A batch of one from a customer's :class:`ModelTotals`."""
        models = tuple(sorted(totals))
        rows = [totals[m] for m in models]
        return cls((customer,), models, tuple(r.tokens for r in rows),
                   tuple(r.requests for r in rows), tuple(r.cost for r in rows),
                   tuple(True for _ in models),
                   {m: r.tiers for m, r in enumerate(rows) if r.tiers},
                   None if any(r.reasoning is None for r in rows) else
                   {m: r.reasoning for m, r in enumerate(rows) if r.reasoning})

    @classmethod
    def of_lists(cls, customers: Sequence[str], models: Sequence[str],
                 tokens: Sequence[Sequence[Sequence[int]]], requests: Sequence[Sequence[int]],
                 cost: Sequence[Sequence[Sequence[Decimal]]], present: Sequence[Sequence[bool]],
                 service: Mapping[int, tuple[TierShare, ...]] | None = None,
                 reasoning: Mapping[int, Sequence[int]] | None = None) -> PeriodTotals:
        """Columns from per-model lists (``tokens[m][k][i]``, ``requests[m][i]``,
        ``cost[m][k][i]``, ``present[m][i]``; ``models`` sorted; ``service``: shares of tiers
        other than standard, already columns; ``reasoning[m][i]``: reasoning tokens, None
        when unknown)."""
        return cls(tuple(customers), tuple(models),
                   tuple(tuple(column(c) for c in per) for per in tokens),
                   tuple(column(r) for r in requests),
                   tuple(tuple(column(c) for c in per) for per in cost),
                   tuple(np.asarray(p, dtype=bool) for p in present), dict(service or {}),
                   None if reasoning is None else {m: column(r) for m, r in reasoning.items()})

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
                if row.tiers:
                    raise ValueError("PeriodTotals.build carries no service tiers: use of_lists")
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
                    (c[0][position], c[1][position], c[2][position], c[3][position]),
                    tuple(s.at(position) for s in self.service.get(m, ())
                          if s.present[position]),
                    None if self.reasoning is None else (
                        int(self.reasoning[m][position]) if m in self.reasoning else 0))
        return out

    def take(self, index: Any) -> PeriodTotals:
        """The customers at positions ``index`` (a numpy index array)."""
        return PeriodTotals(
            tuple(self.customers[i] for i in index), self.models,
            tuple(tuple(c[index] for c in per) for per in self.tokens),
            tuple(r[index] for r in self.requests),
            None if self.cost is None else tuple(tuple(c[index] for c in per)
                                                 for per in self.cost),
            tuple(p[index] for p in self.present),
            {m: tuple(s.take(index) for s in shares) for m, shares in self.service.items()},
            None if self.reasoning is None else {m: r[index] for m, r in self.reasoning.items()})


def tier_costs(usage: CustomerUsage, costbook: CostBook | None,
               costs: Mapping[str, Sequence[Decimal]] | None
               ) -> tuple[Mapping[str, Sequence[Decimal]] | None, dict[str, list[TierShare]]]:
    """``usage``'s shares of tiers other than standard per model, and ``costs`` (supplier cost
    per model and class with every token at standard prices, as the Rater prices its daily rows)
    with each share's tokens priced at its tier's prices instead. A share's cost is priced for
    the models of ``costs`` only (zeros for the others: no charge reads them). Without such
    usage, ``costs`` comes back as it is."""
    if not usage.tiers:
        return costs, {}
    priced = {m: list(c) for m, c in (costs or {}).items()}
    found: dict[tuple[str, str], tuple[list[int], int, list[Decimal]]] = {}
    for (model, tier, band, day), counts in sorted(usage.tiers.items()):
        tokens, requests, cost = found.get((model, tier), ([0] * 4, 0, [ZERO] * 4))
        tokens = [a + b for a, b in zip(tokens, (counts.input, counts.cached_input,
                                                 counts.cache_write, counts.output), strict=True)]
        if model in priced:
            if costbook is None:
                raise ValueError("supplier costs of service tiers need a cost book")
            at = day_of(day)
            own = [c for _, c in costbook.cost(model, counts, band, at, tier).by_class]  # type: ignore[arg-type]
            standard = [c for _, c in costbook.cost(model, counts, band, at).by_class]
            cost = [a + b for a, b in zip(cost, own, strict=True)]
            priced[model] = [a - b + c for a, b, c in zip(priced[model], standard, own,
                                                          strict=True)]
        found[(model, tier)] = (tokens, requests + counts.requests, cost)
    shares: dict[str, list[TierShare]] = {}
    for (model, tier), (tokens, requests, cost) in sorted(found.items()):
        shares.setdefault(model, []).append(TierShare(tier, tuple(tokens), requests, tuple(cost)))
    return (None if costs is None else priced), shares

