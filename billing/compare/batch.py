"""Rating every customer of one plan and period at once: :class:`PlanKernel`, column by column.

:meth:`PlanKernel.rate` rates one customer's per-model period totals with exact decimal
operations. :func:`rate_batch` performs the *same* operations, in the same order and the same
decimal contexts, on columns holding every customer's values (numpy arrays of Python objects:
each operation is one C loop over exact ``Decimal`` and ``int`` values, never a float). So it
bills what the kernel bills, customer for customer, without a Python call per customer and
charge; tests/compare/test_batch.py checks this on every plan the kernel takes.

Credits plans are not taken here (they burn day by day, see :meth:`PlanKernel.rate`).
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from billing.compare.columns import CapacityBatch
from billing.compare.kernel import _CLASSES, ModelTotals, PlanKernel, _Fixed
from billing.money import EXACT, MTOK, ZERO, in_exact_context, money_rounder
from billing.plans.model import (
    CapacityCharge,
    CapCharge,
    CommitmentCharge,
    FlatCharge,
    RateCardCharge,
    SeatsCharge,
    UsageCharge,
)
from billing.pricing import Tier
from billing.pricing.core import non_negative
from billing.rating.engine import METERED_KINDS
from billing.subscriptions import Subscription

__all__ = ["BatchResult", "PeriodColumns", "rate_batch"]

Column = Any
"""A one-dimensional numpy array of Python objects (``int`` or ``Decimal``), one per customer."""


def _column(values: Sequence[Any]) -> Column:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _filled(n: int, value: Any) -> Column:
    out = np.empty(n, dtype=object)
    out.fill(value)
    return out


_to_decimal: Callable[[Column], Column] = np.frompyfunc(Decimal, 1, 1)
_np: Any = np
"""numpy, untyped: its stubs know no arrays of ``Decimal`` (every call here is on those)."""


@dataclass(frozen=True, slots=True)
class PeriodColumns:
    """Every customer's per-model totals over one billing period, as columns.

    ``tokens[m][k]``: model ``models[m]``'s tokens of class ``k`` (input, cached_input,
    cache_write, output) per customer (Python ints), ``requests[m]`` likewise, ``cost[m][k]``
    the exact supplier cost. A customer who did not use a model has zeros there: every charge
    bills a zero row nothing (a rate card line of 0.00, no usage, no allowance consumed).
    """

    customers: tuple[str, ...]
    models: tuple[str, ...]
    tokens: tuple[tuple[Column, ...], ...]
    requests: tuple[Column, ...]
    cost: tuple[tuple[Column, ...], ...]
    present: tuple[Column, ...]
    """``present[m]``: which customers have usage rows of model ``m`` in the period."""

    @classmethod
    def of_lists(cls, customers: Sequence[str], models: Sequence[str],
                 tokens: Sequence[Sequence[Sequence[int]]], requests: Sequence[Sequence[int]],
                 cost: Sequence[Sequence[Sequence[Decimal]]], present: Sequence[Sequence[bool]]
                 ) -> PeriodColumns:
        """Columns from per-model lists (``tokens[m][k][i]``, ``requests[m][i]``,
        ``cost[m][k][i]``, ``present[m][i]``; ``models`` sorted)."""
        return cls(tuple(customers), tuple(models),
                   tuple(tuple(_column(c) for c in per) for per in tokens),
                   tuple(_column(r) for r in requests),
                   tuple(tuple(_column(c) for c in per) for per in cost),
                   tuple(np.asarray(p, dtype=bool) for p in present))

    @classmethod
    def build(cls, customers: Sequence[str], models: Sequence[str],
              totals: Callable[[str], Mapping[str, ModelTotals]]) -> PeriodColumns:
        """Columns from each customer's per-model totals."""
        ordered = tuple(sorted(models))
        where = {m: i for i, m in enumerate(ordered)}
        n = len(customers)
        tokens = [[[0] * n for _ in _CLASSES] for _ in ordered]
        requests = [[0] * n for _ in ordered]
        cost = [[[ZERO] * n for _ in _CLASSES] for _ in ordered]
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
        out: dict[str, ModelTotals] = {}
        for m, model in enumerate(self.models):
            if self.present[m][position]:
                t, c = self.tokens[m], self.cost[m]
                out[model] = ModelTotals(
                    (t[0][position], t[1][position], t[2][position], t[3][position]),
                    self.requests[m][position],
                    (c[0][position], c[1][position], c[2][position], c[3][position]))
        return out

    def take(self, index: Any) -> PeriodColumns:
        """The columns of the customers at positions ``index`` (a numpy index array)."""
        return PeriodColumns(
            tuple(self.customers[i] for i in index), self.models,
            tuple(tuple(c[index] for c in per) for per in self.tokens),
            tuple(r[index] for r in self.requests),
            tuple(tuple(c[index] for c in per) for per in self.cost),
            tuple(p[index] for p in self.present))


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What :meth:`PlanKernel.rate` returns, per customer (columns in the customers' order)."""

    total: Column
    lines: tuple[tuple[str | None, Column], ...]
    """Every rounded line, in the kernel's order, with its grade (graded plans only)."""
    reserved: Column | None
    covered: Column | None

    @staticmethod
    def gather(n: int, parts: Sequence[tuple[Sequence[int], BatchResult]]) -> BatchResult:
        """One result for ``n`` customers from results of some of them (at ``positions``);
        every part comes from the same plan, so they have the same lines."""
        first = parts[0][1]

        def merged(pick: Callable[[BatchResult], Column | None]) -> Column | None:
            if pick(first) is None:
                return None
            out = _filled(n, ZERO)
            for positions, part in parts:
                out[list(positions)] = pick(part)
            return out

        total = merged(lambda r: r.total)

        def line(i: int) -> Callable[[BatchResult], Column]:
            return lambda r: r.lines[i][1]

        lines = tuple((grade, merged(line(i))) for i, (grade, _) in enumerate(first.lines))
        return BatchResult(total, lines, merged(lambda r: r.reserved),
                           merged(lambda r: r.covered))


def _tiered(mode: str, quantity: Column, tiers: Sequence[Tier], per: int = 1) -> Column:
    """:func:`billing.pricing.graduated.price` / :func:`~billing.pricing.volume.price` amounts,
    column-wise, in :data:`EXACT` (exact: the order of the additions cannot change a sum)."""
    n = len(quantity)
    with decimal.localcontext(EXACT):
        units = quantity / Decimal(per)
        amount = _filled(n, Decimal(0))
        if mode == "graduated":
            lower = Decimal(0)
            for tier in tiers:
                reached = units > lower
                upper = units if tier.up_to is None else _np.minimum(units, tier.up_to)
                part = (upper - lower) * tier.unit_price
                if tier.flat_price:
                    part = part + tier.flat_price
                amount = _np.where(reached, amount + part, amount)
                if tier.up_to is None:
                    break
                lower = tier.up_to
            return amount
        done = units == 0
        for tier in tiers:
            here = ~done if tier.up_to is None else (~done) & (units <= tier.up_to)
            value = units * tier.unit_price
            if tier.flat_price:
                value = value + tier.flat_price
            amount = _np.where(here, value, amount)
            done = done | here
        return amount


@in_exact_context
def rate_batch(kernel: PlanKernel, sub: Subscription, period: Any, columns: PeriodColumns, *,
               fixed_fraction: Decimal | None = None, hours: Sequence[int] | None = None,
               capacity_usage: Mapping[str, CapacityBatch] | None = None
               ) -> BatchResult:
    """:meth:`PlanKernel.rate` for every customer of ``columns`` (all with ``sub``'s seats and
    dates): the same lines, rounded the same way, totalled in the same order."""
    plan = kernel.plan
    if kernel.credit_terms is not None:
        raise ValueError(f"plan {plan.id!r}: credits burn per customer (PlanKernel.rate)")
    terms = kernel.fixed(sub, period, fixed_fraction)
    n = len(columns.customers)
    currency, rounding = plan.currency, plan.rounding

    to_money = money_rounder(currency, rounding)
    widen: Any = np.frompyfunc(EXACT.plus, 1, 1)
    to_money_column: Any = np.frompyfunc(to_money, 1, 1)
    lines: list[tuple[str, Column, str | None]] = []

    def add(kind: str, amount: Column | Decimal, grade: str | None = None) -> None:
        # the kernel's round_money(EXACT.plus(amount)), column-wise without a Python call
        if isinstance(amount, Decimal):
            lines.append((kind, _filled(n, to_money(EXACT.plus(amount))), grade))
        else:
            lines.append((kind, to_money_column(widen(amount)), grade))

    reserved: Column | None = None
    covered: Column | None = None
    for index, charge in enumerate(plan.charges):
        if isinstance(charge, FlatCharge):
            add("flat", terms.flat[index])
        elif isinstance(charge, SeatsCharge):
            add("seats", EXACT.multiply(charge.price, terms.seats[index]))
        elif isinstance(charge, UsageCharge):
            add("usage", _usage(kernel, index, charge, columns, terms))
        elif isinstance(charge, RateCardCharge):
            _rate_card(kernel, index, charge, columns.models,
                       _values(kernel, index, charge, columns), terms, add, n)
        elif isinstance(charge, CapacityCharge):
            buckets = len(hours) if hours is not None else terms.buckets
            given = (capacity_usage or {}).get(charge.name)
            these_reserved, these_covered = _capacity(charge, buckets, given, n, add)
            reserved = (_filled(n, ZERO) if reserved is None else reserved) + these_reserved
            covered = (_filled(n, ZERO) if covered is None else covered) + these_covered
    spend: Column | None = None
    for charge in plan.charges:
        if isinstance(charge, CommitmentCharge | CapCharge) and spend is None:
            spend = _filled(n, ZERO)
            for kind, amount, _ in lines:
                if kind in METERED_KINDS:
                    spend = spend + amount
        if isinstance(charge, CommitmentCharge):
            assert spend is not None
            minimum = EXACT.multiply(charge.minimum, terms.fraction)
            with decimal.localcontext(EXACT):
                short = minimum - spend
            add("commitment_true_up", _np.where(short > 0, short, ZERO))
        elif isinstance(charge, CapCharge):
            assert spend is not None
            ceiling = EXACT.multiply(charge.maximum, terms.fraction)
            with decimal.localcontext(EXACT):
                over = spend - ceiling
            add("cap_discount", _np.where(over > 0, -over, ZERO))
    total = _filled(n, ZERO)
    for _, amount, _ in lines:
        total = total + amount
    return BatchResult(
        total=total,
        lines=tuple((grade, amount) for _, amount, grade in lines) if plan.grades else (),
        reserved=reserved, covered=covered,
    )


def _capacity(charge: CapacityCharge, buckets: int, given: CapacityBatch | None, n: int,
              add: Callable[..., None]) -> tuple[Column, Column]:
    """:func:`billing.pricing.capacity.price_grouped` for every customer: the baseload (the
    same for all), the spot amount per customer; returns (reserved, covered) columns."""
    reserve = non_negative(charge.baseload.per_bucket, "per_bucket")
    base_price = non_negative(charge.baseload.price_per_mtok, "baseload_price_per_mtok")
    covered = _filled(n, ZERO) if given is None else given.covered
    with decimal.localcontext(EXACT):
        reserved = buckets * reserve
        base_amount = reserved * base_price / MTOK
        spot = _filled(n, Decimal(0))
        for rate, tokens in sorted((given.excess_at if given is not None else {}).items()):
            spot = _np.where(tokens != 0, spot + tokens * rate / MTOK, spot)
    add("capacity_baseload", base_amount)
    add("capacity_spot", spot)
    return _filled(n, reserved), covered


def _usage(kernel: PlanKernel, index: int, charge: UsageCharge, columns: PeriodColumns,
           terms: _Fixed) -> Column:
    n = len(columns.customers)
    meter = charge.meter
    positions = [_CLASSES.index(c) for c in meter.tokens or []]
    quantity = _filled(n, 0)
    for m, model in enumerate(columns.models):
        if meter.models and not kernel._metered(index, charge, model):
            continue
        if meter.requests:
            quantity = quantity + columns.requests[m]
        else:
            for p in positions:
                quantity = quantity + columns.tokens[m][p]
    billable = _to_decimal(quantity)
    with decimal.localcontext(EXACT):
        if charge.included is not None:
            billable = billable - _np.minimum(billable, terms.included[index])
        if charge.per_unit is not None:
            spec = charge.per_unit
            return (billable / Decimal(spec.per)) * spec.unit_price
    if charge.tiers is not None:
        table = charge.tiers
        return _tiered(table.mode, billable, kernel._tiers[(index, "usage")], table.per)
    assert charge.package is not None
    pack = charge.package
    mode = decimal.ROUND_CEILING if pack.round == "up" else decimal.ROUND_FLOOR
    with decimal.localcontext(EXACT):
        packages = np.frompyfunc(lambda u: (u / pack.size).to_integral_value(rounding=mode),
                                 1, 1)(billable)
        return packages * pack.price


def _values(kernel: PlanKernel, index: int, charge: RateCardCharge, columns: PeriodColumns
            ) -> list[Column]:
    """Each model's usage value per customer (in ``columns.models`` order), as
    :meth:`PlanKernel._values` computes it."""
    n = len(columns.customers)
    out: list[Column] = []
    for m, model in enumerate(columns.models):
        value = _filled(n, ZERO)
        if charge.cost_plus is not None:
            factor = 1 + charge.cost_plus.markup
            for k in range(4):
                with decimal.localcontext(EXACT):
                    part = columns.cost[m][k] * factor
                value = value + part
        else:
            prices = kernel.rater.list_prices(index, charge, model)
            for k in range(4):
                with decimal.localcontext(EXACT):
                    part = columns.tokens[m][k] * prices[k]
                value = value + part / MTOK
        out.append(value)
    return out


def _rate_card(kernel: PlanKernel, index: int, charge: RateCardCharge, models: Sequence[str],
               values: list[Column], terms: _Fixed, add: Callable[..., None], n: int) -> None:
    """:meth:`PlanKernel._rate_card` (``models`` are sorted, as the kernel walks them)."""
    rater = kernel.rater
    included = _filled(n, ZERO if charge.included_amount is None
                       else terms.card_included[index])
    card_total = _filled(n, ZERO)
    for model, value in zip(models, values, strict=True):
        net = value - ZERO
        card_total = card_total + net
        covered = _np.minimum(net, included)
        positive = covered > 0
        included = _np.where(positive, included - covered, included)
        net = _np.where(positive, net - covered, net)
        add("rate_card", net, rater.grade(model))
    if charge.included_amount is not None and charge.overage_discount is not None:
        overage = _np.maximum(ZERO, card_total - terms.card_included[index])
        table = charge.overage_discount
        discounted = _tiered(table.mode, overage, kernel._tiers[(index, "overage_discount")])
        add("overage_discount", _np.where(discounted != overage, discounted - overage, ZERO))
    if charge.volume_discount is not None:
        table = charge.volume_discount
        positive = card_total > 0
        discounted = _tiered(table.mode, _np.where(positive, card_total, ZERO),
                             kernel._tiers[(index, "volume_discount")])
        add("volume_discount", _np.where(positive & (discounted != card_total),
                                        discounted - card_total, ZERO))
