"""Rating a whole period's customers column by column bills what the kernel bills for each.

:func:`rate_batch` repeats :meth:`PlanKernel.rate` on columns of every customer's totals; for
every plan the kernel takes (credits aside), random usage of several customers must give each
customer the kernel's total, the same rounded amount per grade and the same capacity figures.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.compare.batch import PeriodColumns, rate_batch
from billing.compare.columns import capacity_usage
from billing.compare.kernel import PlanKernel, period_totals
from billing.plans import Plan
from billing.plans.model import CapacityCharge
from billing.pricing.capacity import hours_between
from billing.rating.engine import Rater
from billing.subscriptions import Subscription
from billing.usage.aggregates import Counts, DailyKey, HourlyKey, UsageAggregates
from tests.compare.test_kernel import (
    COSTBOOK,
    FIRST_DAY,
    PERIOD,
    PLANS,
    START,
    _row_costs,
    fractions,
    hour_rows,
    rows,
    usage_of,
)

customers = st.lists(st.tuples(rows, hour_rows), min_size=1, max_size=5)


def _grades(pairs: list[tuple[str | None, Decimal]]) -> dict[str | None, Decimal]:
    """Amount per grade; grades with nothing billed left out (a column has a zero line for
    every model some customer used)."""
    out: dict[str | None, Decimal] = {}
    for grade, amount in pairs:
        out[grade] = out.get(grade, Decimal(0)) + amount
    return {grade: amount for grade, amount in out.items() if amount}


@pytest.mark.parametrize("plan", PLANS, ids=[p.id for p in PLANS])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=customers, seats=st.integers(0, 40), fraction=fractions)
def test_batch_bills_what_the_kernel_bills(
        plan: Plan, data: list[tuple[list[tuple[str, int, int, int, int, int]],
                                     list[tuple[int, int, int, int]]]],
        seats: int, fraction: Decimal | None) -> None:
    usages = {f"c{number}": usage_of(f"c{number}", days, hours)
              for number, (days, hours) in enumerate(data)}
    rater = Rater(plan, costbook=COSTBOOK)
    kernel = PlanKernel(plan, rater)
    sub = Subscription(customer_id="c0", plan=plan.id, start=START, seats=seats)
    slice_hours = hours_between(PERIOD.start_dt, PERIOD.end_dt) if fraction is not None else None
    totals = {c: period_totals(u.daily, _row_costs(u), PERIOD) for c, u in usages.items()}
    names = sorted(usages)
    models = sorted({m for t in totals.values() for m in t})
    capacity: dict[str, dict[str, object]] = {}
    if any(isinstance(c, CapacityCharge) for c in plan.charges):
        aggregates = UsageAggregates(
            daily={DailyKey(c, *k): n for c, u in usages.items() for k, n in u.daily.items()},
            hourly={HourlyKey(c, h): n for c, u in usages.items() for h, n in u.hourly.items()})
        buckets = slice_hours or hours_between(PERIOD.start_dt, PERIOD.end_dt)
        capacity = {ch.name: {"columns": capacity_usage(aggregates, ch, buckets,
                                                        rater.spot_prices(ch, buckets))}
                    for ch in plan.charges if isinstance(ch, CapacityCharge)}

    def given_of(customer: str) -> dict[str, object] | None:
        if not capacity:
            return None
        return {name: found["columns"].of(customer)  # type: ignore[attr-defined]
                for name, found in capacity.items()}

    columns = PeriodColumns.build(names, models, totals.__getitem__)
    batch = rate_batch(
        kernel, sub, PERIOD, columns, fixed_fraction=fraction, hours=slice_hours,
        capacity_usage=None if not capacity else {
            name: found["columns"].columns(names)  # type: ignore[attr-defined]
            for name, found in capacity.items()})
    for i, customer in enumerate(names):
        expected = kernel.rate(sub, PERIOD, totals[customer], fixed_fraction=fraction,
                               hours=slice_hours,
                               capacity_usage=given_of(customer))  # type: ignore[arg-type]
        assert batch.total[i] == expected.total, customer
        if plan.grades:
            assert _grades([(g, a[i]) for g, a in batch.lines]) == _grades(list(expected.grades))
        if expected.reserved is not None:
            assert batch.reserved is not None and batch.covered is not None
            assert (batch.reserved[i], batch.covered[i]) == (expected.reserved, expected.covered)
        else:
            assert batch.reserved is None


def test_a_subset_of_customers_keeps_their_columns() -> None:
    plan = next(p for p in PLANS if p.id == "payg")
    usage = {
        # gpt-4o-mini at 0.25 input and 1.00 output per 1M: 2M in + 1M out = 0.50 + 1.00 = 1.50
        "a": {"gpt-4o-mini": period_totals(
            {("gpt-4o-mini", 0, FIRST_DAY): Counts(2_000_000, 0, 0, 1_000_000, 1, 1)},
            {("gpt-4o-mini", 0, FIRST_DAY): (Decimal(0),) * 4}, PERIOD)["gpt-4o-mini"]},
        # 4M input tokens of gpt-4o-mini: 4 x 0.25 = 1.00
        "b": {"gpt-4o-mini": period_totals(
            {("gpt-4o-mini", 0, FIRST_DAY): Counts(4_000_000, 0, 0, 0, 1, 1)},
            {("gpt-4o-mini", 0, FIRST_DAY): (Decimal(0),) * 4}, PERIOD)["gpt-4o-mini"]},
    }
    columns = PeriodColumns.build(["a", "b"], ["gpt-4o-mini"], usage.__getitem__)
    kernel = PlanKernel(plan, Rater(plan, costbook=COSTBOOK))
    sub = Subscription(customer_id="a", plan=plan.id, start=START, seats=1)
    both = rate_batch(kernel, sub, PERIOD, columns)
    only_b = rate_batch(kernel, sub, PERIOD, columns.take(np.array([1])))
    assert list(both.total) == [Decimal("1.50"), Decimal("1.00")]
    assert list(only_b.total) == [Decimal("1.00")]
