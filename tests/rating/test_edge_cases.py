"""Calendar and credit edge cases, rated through the real loader and engine."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from billing.errors import UnpricedModelError
from billing.periods import Period
from billing.plans import PlanCatalog, load_plan_text
from billing.rating.batch import rate_period, subscription_period
from billing.subscriptions import Subscription
from billing.usage.aggregate_python import aggregate_events
from billing.usage.events import UsageEvent

from .conftest import event, rate_events

FLAT = """\
id: flat
version: 2026-01-01
currency: USD
charges:
  - { kind: flat, name: Fee, price: "31.00" }
"""


def test_month_end_anchor_bills_feb_29_in_a_leap_year_then_mar_31() -> None:
    catalog = PlanCatalog([load_plan_text(FLAT)])
    sub = Subscription(customer_id="c", plan="flat", start=date(2028, 1, 31))
    feb = subscription_period(catalog, sub, "2028-02")
    mar = subscription_period(catalog, sub, "2028-03")
    assert (feb.start, feb.end) == (date(2028, 2, 29), date(2028, 3, 31))
    assert (mar.start, mar.end) == (date(2028, 3, 31), date(2028, 4, 30))
    sub_2027 = Subscription(customer_id="c", plan="flat", start=date(2027, 1, 31))
    assert subscription_period(catalog, sub_2027, "2027-02").start == date(2027, 2, 28)


def test_plan_version_change_takes_effect_at_the_next_period() -> None:
    newer = FLAT.replace("2026-01-01", "2026-11-15").replace('"31.00"', '"45.00"')
    catalog = PlanCatalog([load_plan_text(FLAT), load_plan_text(newer)])
    sub = Subscription(customer_id="c", plan="flat", start=date(2026, 1, 1))
    aggregates, _ = aggregate_events([])
    november = rate_period(catalog, [sub], aggregates, "2026-11").invoices[0]
    december = rate_period(catalog, [sub], aggregates, "2026-12").invoices[0]
    assert november.total == Decimal("31.00")  # version of Nov 15 not in force on Nov 1
    assert december.total == Decimal("45.00")


def test_capacity_spot_follows_new_york_clock_across_the_dst_change() -> None:
    march = Period(date(2026, 3, 1), date(2026, 4, 1))
    events = [
        # Mon Mar 2, 13:30 UTC = 08:30 EST: off-peak (3.00). 25M weighted: 5M over x 3.00 = 15.00
        UsageEvent("a", "acme", datetime(2026, 3, 2, 13, 30, tzinfo=UTC), "m", input_tokens=25_000_000),
        # Mon Mar 9, 13:30 UTC = 09:30 EDT (DST began Mar 8): peak (6.00). 5M over x 6.00 = 30.00
        UsageEvent("b", "acme", datetime(2026, 3, 9, 13, 30, tzinfo=UTC), "m", input_tokens=25_000_000),
    ]
    result = rate_events("05-spot-baseload.yaml", events, period=march,
                         subscription=Subscription(customer_id="acme", plan="reserved-capacity",
                                                   start=date(2026, 3, 1)))
    lines = {line.kind: line.rounded_amount for line in result.invoice.lines}
    # March has 31 x 24 = 744 UTC hours (the local day of Mar 8 has 23: every UTC hour is priced)
    assert lines["capacity_baseload"] == Decimal("22320.00")  # 744 x 20M x 1.50/M
    assert lines["capacity_spot"] == Decimal("45.00")  # 15.00 + 30.00


CREDITS = """\
id: welcome
version: 2026-01-01
currency: USD
charges:
  - kind: rate_card
    name: Usage
    rates: [{ models: ["*"], input: "1.00", output: "1.00" }]
    paid_with: credits
  - kind: credits
    name: Credits
    unit_value: "0.01"
    grants:
      - { name: Welcome, amount: 500, every: period, expires: P10D, priority: 1, paid: true }
    overage: OVERAGE
"""


def _rate_credits(tmp_path: Path, overage: str) -> object:
    plan_file = tmp_path / "welcome.yaml"
    plan_file.write_text(CREDITS.replace("OVERAGE", overage))
    return rate_events(plan_file, [
        event(1, 3, "m", input=2_000_000),  # 2.00 = 200 credits, from the grant (500 -> 300)
        event(2, 15, "m", input=4_000_000),  # 4.00 = 400 credits: the grant expired on Nov 11
    ], subscription=Subscription(customer_id="acme", plan="welcome", start=date(2026, 11, 1)))


def test_a_grant_expiring_mid_period_is_breakage_and_later_usage_is_overage(tmp_path: Path) -> None:
    result = _rate_credits(tmp_path, "bill")
    invoice = result.invoice  # type: ignore[attr-defined]
    # usage 2.00 + 4.00 = 6.00 at list; credits applied -2.00; billed overage 4.00
    assert invoice.total == Decimal("4.00")
    grant = invoice.credits[0]
    assert (grant.burned, grant.expired, grant.remaining) == (Decimal(200), Decimal(300), Decimal(0))
    assert grant.expires == date(2026, 11, 11)  # Nov 1 + P10D
    assert invoice.breakage == Decimal("3.00")  # 300 paid credits x 0.01


def test_overage_block_refuses_usage_instead_of_billing_it(tmp_path: Path) -> None:
    result = _rate_credits(tmp_path, "block")
    invoice = result.invoice  # type: ignore[attr-defined]
    assert invoice.total == Decimal("0.00")  # 2.00 usage - 2.00 credits; 4.00 refused
    assert [(r.model, r.value, r.credits) for r in invoice.refused] == [
        ("m", Decimal("4.00"), Decimal(400))
    ]


def test_a_model_no_rate_matches_is_an_error_naming_it(tmp_path: Path) -> None:
    plan_file = tmp_path / "narrow.yaml"
    plan_file.write_text(
        "id: narrow\nversion: 2026-01-01\ncurrency: USD\ncharges:\n"
        "  - kind: rate_card\n    name: Usage\n    rates: [{ models: [\"gpt-*\"], input: \"1\", output: \"1\" }]\n"
    )
    with pytest.raises(UnpricedModelError, match="no rate matches model 'claude-3'"):
        rate_events(plan_file, [event(1, 3, "claude-3", input=10)],
                    subscription=Subscription(customer_id="acme", plan="narrow",
                                              start=date(2026, 11, 1)))


def test_override_of_an_unknown_charge_is_refused() -> None:
    catalog = PlanCatalog([load_plan_text(FLAT)])
    sub = Subscription(customer_id="c", plan="flat", start=date(2026, 11, 1),
                       overrides={"Platform fee": {"price": "1.00"}})
    aggregates, _ = aggregate_events([])
    run = rate_period(catalog, [sub], aggregates, "2026-11")
    assert run.invoices == ()
    assert run.failures == (("c", run.failures[0][1]),)
    assert "override for charge 'Platform fee'" in run.failures[0][1]


def test_a_short_trace_prorates_included_usage_commitment_and_cap_with_the_fee() -> None:
    half = Decimal("0.5")
    plan = load_plan_text((Path(__file__).parents[2] / "plans" / "03-base-plus-overage.yaml").read_text())
    from billing.rating.rater import Rater
    from billing.usage.aggregates import Counts
    from billing.usage.customer import CustomerUsage
    from billing.usage.keys import day_index

    usage = CustomerUsage("acme", {
        # "*" rate: 200M input x 2.00 per 1M = 400.00 of usage
        ("gpt-5", 0, day_index(date(2026, 11, 2))): Counts(input=200_000_000, requests=1, events=1),
    })
    result = Rater(plan).rate(
        Subscription(customer_id="acme", plan=plan.id, start=date(2026, 11, 1)),
        Period(date(2026, 11, 1), date(2026, 12, 1)), usage, fixed_fraction=half,
    )
    lines = {line.kind: line.rounded_amount for line in result.invoice.lines}
    assert lines["flat"] == Decimal("250.00")  # 500.00 x 1/2
    assert lines["overage"] == Decimal("150.00")  # 400.00 - 500.00 x 1/2 included
    assert result.invoice.total == Decimal("400.00")  # 250.00 fee + 150.00 beyond what it includes


def test_commitment_is_prorated_for_a_subscription_starting_mid_period() -> None:
    plan = """\
id: commit
version: 2026-01-01
currency: USD
charges:
  - kind: rate_card
    name: Usage
    rates: [{ models: ["*"], input: "1.00", output: "1.00" }]
  - { kind: commitment, name: Minimum, minimum: "300.00" }
"""
    catalog = PlanCatalog([load_plan_text(plan)])
    sub = Subscription(customer_id="c", plan="commit", start=date(2026, 11, 21),
                       anchor=date(2026, 11, 1))
    aggregates, _ = aggregate_events([])
    # 10 of 30 days: the minimum is 300.00 x 10/30 = 100.00
    assert rate_period(catalog, [sub], aggregates, "2026-11").invoices[0].total == Decimal("100.00")
