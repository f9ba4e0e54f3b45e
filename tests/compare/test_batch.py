"""Rating a period's customers at once keeps each customer's own columns."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from billing.charges import PeriodTotals, Terms
from billing.compare.rating import rate_customers
from billing.rating.rater import Rater
from billing.subscriptions import Subscription
from billing.usage.aggregates import Counts
from tests.compare.test_kernel import COSTBOOK, FIRST_DAY, PERIOD, PLANS, START, period_totals


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
    columns = PeriodTotals.build(["a", "b"], ["gpt-4o-mini"], usage.__getitem__)
    rater = Rater(plan, costbook=COSTBOOK)
    sub = Subscription(customer_id="a", plan=plan.id, start=START, seats=1)
    terms = Terms.of(rater.compiled, sub, PERIOD, None)
    both = rate_customers(rater, terms, columns)
    only_b = rate_customers(rater, terms, columns.take(np.array([1])))
    assert list(both.total) == [Decimal("1.50"), Decimal("1.00")]
    assert list(only_b.total) == [Decimal("1.00")]
