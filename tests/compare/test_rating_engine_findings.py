"""A rating-engine finding from the comparison tool (the engine is not ours to edit).

``Rater.rate(..., fixed_fraction=f)`` documents that ``f`` prorates the fixed components "fees,
seats, allowances, grants". A rate card's ``included_amount`` (plan 03: the platform fee covers
the first 500.00 of usage) is such an allowance, but the engine applies it whole: on a trace that
covers half a period the fee is halved while the usage it includes is not, so the growth-hybrid
plan looks far cheaper on short traces than it is. This test fails until the engine prorates it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from billing.periods import Period
from billing.plans import load_plan
from billing.rating.engine import Rater
from billing.rating.usage import CustomerUsage, day_index
from billing.subscriptions import Subscription
from billing.usage.aggregates import Counts

from .conftest import PLANS


def test_rate_card_included_amount_is_prorated_by_fixed_fraction() -> None:
    plan = load_plan(PLANS / "03-base-plus-overage.yaml")
    usage = CustomerUsage("acme", {
        # "*" rate: 200M input x 2.00 per 1M = 400.00 of usage
        ("gpt-5", 0, day_index(date(2026, 11, 2))): Counts(input=200_000_000, requests=1,
                                                           events=1),
    })
    result = Rater(plan).rate(
        Subscription(customer_id="acme", plan=plan.id, start=date(2026, 11, 1)),
        Period(date(2026, 11, 1), date(2026, 12, 1)), usage, fixed_fraction=Decimal("0.5"),
    )
    lines = {line.kind: line.rounded_amount for line in result.invoice.lines}
    assert lines["flat"] == Decimal("250.00")  # 500.00 x 1/2: prorated, as documented
    # the included usage must shrink with the fee: 500.00 x 1/2 = 250.00 (the engine gives 400.00)
    assert lines["included_usage"] == Decimal("-250.00")
    # 250.00 fee + 400.00 usage - 250.00 included = 400.00
    assert result.invoice.total == Decimal("400.00")
