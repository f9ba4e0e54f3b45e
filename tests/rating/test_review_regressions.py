"""Regressions found by reviewing the engine: each test is one confirmed bug, now fixed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from billing.errors import PlanValidationError, RatingError
from billing.periods import Period
from billing.plans import PlanCatalog, load_plan_text
from billing.rating.batch import rate_period, subscription_period
from billing.rating.rater import Rater
from billing.subscriptions import Subscription
from billing.usage.aggregate_python import aggregate_events
from billing.usage.customer import split_by_customer
from billing.usage.events import UsageEvent

NOV = Period(date(2026, 11, 1), date(2026, 12, 1))


def ev(n: int, day: int, tokens: int, model: str = "m", month: int = 11, hour: int = 12) -> UsageEvent:
    return UsageEvent(f"e{n}", "c", datetime(2026, month, day, hour, tzinfo=UTC), model,
                      input_tokens=tokens)


FEE_PLUS_USAGE = """\
id: p
version: 2026-01-01
currency: USD
charges:
  - { kind: flat, name: Fee, price: "100.00", proration: none }
  - kind: usage
    name: Tokens
    meter: { tokens: [input] }
    per_unit: { unit_price: "1.00", per: 1_000_000 }
"""


def test_usage_is_billed_only_under_the_subscription_active_when_it_happened() -> None:
    catalog = PlanCatalog([load_plan_text(FEE_PLUS_USAGE)])
    subs = [
        Subscription(customer_id="c", plan="p", start=date(2026, 11, 1), end=date(2026, 11, 10)),
        Subscription(customer_id="c", plan="p", start=date(2026, 11, 10), anchor=date(2026, 11, 1)),
    ]
    aggregates, _ = aggregate_events([ev(1, 2, 1_000_000), ev(2, 20, 2_000_000)])
    run = rate_period(catalog, subs, aggregates, "2026-11")
    # A: 100.00 fee (no proration) + 1M x 1.00 = 101.00; B: 100.00 + 2M x 1.00 = 102.00
    assert [i.total for i in run.invoices] == [Decimal("101.00"), Decimal("102.00")]
    assert run.invoices[0].id != run.invoices[1].id  # distinct ids: Stripe keys stay distinct


CAPPED = """\
id: capped
version: 2026-01-01
currency: USD
charges:
  - kind: rate_card
    name: Usage
    rates: [{ models: ["*"], input: "1.00", output: "1.00" }]
  - LIMIT
"""


@pytest.mark.parametrize(("limit", "tokens", "expected"), [
    # two models at 10.005 each: lines round to 10.01 + 10.01 = 20.02; capped at 15.00 exactly
    ('{ kind: cap, name: Cap, maximum: "15.00" }', 10_005_000, Decimal("15.00")),
    # two models at 10.004: 10.00 + 10.00 = 20.00; trued up to the 25.00 minimum exactly
    ('{ kind: commitment, name: Minimum, minimum: "25.00" }', 10_004_000, Decimal("25.00")),
])
def test_cap_and_minimum_land_exactly_on_their_amounts(limit: str, tokens: int,
                                                       expected: Decimal) -> None:
    plan = load_plan_text(CAPPED.replace("LIMIT", limit))
    aggregates, _ = aggregate_events([ev(1, 2, tokens, "a"), ev(2, 3, tokens, "b")])
    usage = split_by_customer(aggregates)["c"]
    sub = Subscription(customer_id="c", plan="capped", start=date(2026, 11, 1))
    assert Rater(plan).rate(sub, NOV, usage).invoice.total == expected


CREDITS_ONCE = """\
id: once
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
    grants: [{ name: Welcome, amount: 5000, every: once, expires: never }]
    overage: bill
"""


def test_an_anchor_after_the_start_keeps_credits_from_the_first_short_period() -> None:
    catalog = PlanCatalog([load_plan_text(CREDITS_ONCE)])
    sub = Subscription(customer_id="c", plan="once", start=date(2026, 11, 10),
                       anchor=date(2026, 12, 1))
    # Nov 15: 10.00 = 1,000 credits; Dec 5: 10.00 = 1,000 credits: both from the 5,000 grant
    aggregates, _ = aggregate_events([ev(1, 15, 10_000_000), ev(2, 5, 10_000_000, month=12)])
    assert subscription_period(catalog, sub, "2026-11") == Period(date(2026, 11, 1), date(2026, 12, 1))
    december = rate_period(catalog, [sub], aggregates, "2026-12")
    assert december.failures == ()
    assert december.invoices[0].total == Decimal("0.00")
    assert sum(b.remaining for b in december.invoices[0].credits) == Decimal(3000)


def test_monthly_grants_on_a_yearly_plan_are_refused_with_a_clear_message() -> None:
    text = CREDITS_ONCE.replace("every: once", "every: month").replace(
        "currency: USD", "currency: USD\ninterval: year")
    with pytest.raises(PlanValidationError, match="every: month` on a plan billed every year"):
        load_plan_text(text)


def test_discounts_on_usage_paid_with_credits_are_refused() -> None:
    text = CREDITS_ONCE.replace(
        "    paid_with: credits",
        "    paid_with: credits\n    volume_discount:\n      mode: volume\n"
        "      tiers: [{ up_to: \"100.00\", rate: \"1.00\" }, { up_to: null, rate: \"0.50\" }]")
    with pytest.raises(PlanValidationError, match="cannot apply to usage paid with credits"):
        load_plan_text(text)


def test_a_later_version_with_another_interval_leaves_earlier_periods_billable() -> None:
    yearly = FEE_PLUS_USAGE.replace("2026-01-01", "2027-01-01").replace(
        "currency: USD", "currency: USD\ninterval: year")
    catalog = PlanCatalog([load_plan_text(FEE_PLUS_USAGE), load_plan_text(yearly)])
    sub = Subscription(customer_id="c", plan="p", start=date(2026, 11, 15))
    aggregates, _ = aggregate_events([ev(1, 20, 1_000_000, month=12)])
    run = rate_period(catalog, [sub], aggregates, "2026-12")
    assert run.failures == ()
    # the Dec 15 - Jan 15 monthly period of the first version: 100.00 + 1M x 1.00 on Dec 20
    assert (run.invoices[0].period_start, run.invoices[0].total) == (date(2026, 12, 15), Decimal("101.00"))


def test_a_nested_override_keeps_the_fields_it_does_not_name() -> None:
    catalog = PlanCatalog([load_plan_text(FEE_PLUS_USAGE)])
    sub = Subscription(customer_id="c", plan="p", start=date(2026, 11, 1),
                       overrides={"Tokens": {"per_unit": {"unit_price": "3.00"}}})
    aggregates, _ = aggregate_events([ev(1, 2, 2_000_000)])
    # 100.00 fee + 2M x 3.00 per 1M (per: 1_000_000 kept) = 106.00
    assert rate_period(catalog, [sub], aggregates, "2026-11").invoices[0].total == Decimal("106.00")


def test_two_purchases_of_one_pack_on_one_day_are_two_grants(tmp_path: Path) -> None:
    text = CREDITS_ONCE.replace(
        "    overage: bill", "    overage: bill\n    packs: [{ name: Pack, amount: 1000, price: \"9.00\" }]")
    catalog = PlanCatalog([load_plan_text(text)])
    sub = Subscription.model_validate({
        "customer_id": "c", "plan": "once", "start": "2026-11-01",
        "packs": [{"date": "2026-11-20", "pack": "Pack"}, {"date": "2026-11-20", "pack": "Pack"}],
    })
    aggregates, _ = aggregate_events([])
    run = rate_period(catalog, [sub], aggregates, "2026-11")
    assert run.failures == ()
    assert run.invoices[0].total == Decimal("18.00")  # 2 packs x 9.00


def test_capacity_needs_hourly_rows_and_says_so() -> None:
    plan_text = (Path(__file__).parents[2] / "plans" / "05-spot-baseload.yaml").read_text()
    aggregates, _ = aggregate_events([ev(1, 2, 30_000_000)], hourly=False)
    usage = split_by_customer(aggregates)["c"]
    sub = Subscription(customer_id="c", plan="reserved-capacity", start=date(2026, 11, 1))
    with pytest.raises(RatingError, match="no hourly rows"):
        Rater(load_plan_text(plan_text)).rate(sub, NOV, usage)


def test_a_minimum_above_the_cap_is_refused() -> None:
    text = CAPPED.replace("  - LIMIT", '  - { kind: cap, name: Cap, maximum: "15.00" }\n'
                          '  - { kind: commitment, name: Minimum, minimum: "25.00" }')
    with pytest.raises(PlanValidationError, match="above the cap"):
        load_plan_text(text)


def test_compare_bills_an_event_exactly_at_a_period_start(tmp_path: Path) -> None:
    from billing.compare import CompareOptions, compare
    from billing.costs import CostBook
    from billing.usage.mapping import TraceSpec

    trace = tmp_path / "t.csv"
    trace.write_text(
        "id,customer_id,timestamp,model,input_tokens,output_tokens\n"
        "a,c,2026-11-01T00:00:00Z,gpt-4o-mini,1000000,0\n"
        "b,c,2026-12-01T00:00:00Z,gpt-4o-mini,1000000,0\n"
    )
    plans = [load_plan_text((Path(__file__).parents[2] / "plans" / "01-payg-rate-card.yaml")
                            .read_text())]
    report = compare(plans, TraceSpec(trace), costbook=CostBook.default(),
                     options=CompareOptions(workers=1, break_even=False))
    # payg gpt-4o-mini input 0.25 per 1M: 2 x 1M = 0.50 (the Dec 1 event was dropped before)
    assert report.plans[0].revenue == Decimal("0.50")


def test_a_flat_fee_without_proration_is_still_scaled_to_a_short_trace() -> None:
    plan = load_plan_text(FEE_PLUS_USAGE)
    sub = Subscription(customer_id="c", plan="p", start=date(2026, 11, 1))
    usage = split_by_customer(aggregate_events([ev(1, 2, 0)])[0])["c"]
    result = Rater(plan).rate(sub, NOV, usage, fixed_fraction=Decimal("0.1"))
    assert result.invoice.total == Decimal("10.00")  # 100.00 x 0.1: compare's stated proration


def test_credits_of_earlier_periods_replay_under_the_version_in_force_then() -> None:
    v1 = CREDITS_ONCE.replace("every: once", "every: period").replace("amount: 5000", "amount: 1000")
    v2 = v1.replace("2026-01-01", "2026-12-01").replace("amount: 1000", "amount: 5000")
    catalog = PlanCatalog([load_plan_text(v1), load_plan_text(v2)])
    sub = Subscription(customer_id="c", plan="once", start=date(2026, 11, 1))
    aggregates, _ = aggregate_events([])
    december = rate_period(catalog, [sub], aggregates, "2026-12").invoices[0]
    granted = {b.source: b.granted for b in december.credits}
    # November's grant came from version 1 (1,000); December's from version 2 (5,000)
    assert granted == {"Welcome 2026-11-01": Decimal(1000), "Welcome 2026-12-01": Decimal(5000)}


def test_meter_and_batch_put_an_event_in_the_same_day_before_1970() -> None:
    from billing.rating.meter import Meter

    catalog = PlanCatalog([load_plan_text(FEE_PLUS_USAGE.replace("2026-01-01", "1969-01-01"))])
    sub = Subscription(customer_id="c", plan="p", start=date(1969, 12, 1))
    # half a second before 1970: December 31 by the clock (truncating seconds toward zero
    # would have put it on January 1, in the next period)
    event = UsageEvent("x", "c", datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC), "m",
                       input_tokens=1_000_000)
    meter = Meter(catalog, [sub])
    meter.record(event)
    batch = rate_period(catalog, [sub], aggregate_events([event])[0], "1969-12").invoices[0]
    assert meter.close("c", "1969-12") == batch
    assert batch.total == Decimal("101.00")  # 100.00 fee + 1M x 1.00
