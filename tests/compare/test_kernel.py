"""The comparison's per-customer path bills exactly what the rater bills.

:func:`billing.compare.rating.rate_customer` rates a customer's per-model period totals (a
credits plan burned down from integer debits by :class:`FirstPeriodBurn`); :meth:`Rater.rate`
rates the daily rows and builds the invoice. For every plan (the catalog's, the benchmark
variants, and plans written here to reach every charge option), random usage must give the same
invoice total and the same rounded amount per grade, to the cent. Capacity usage goes through
the engine-side sums (:func:`capacity_usage`) on one side and the hourly rows on the other.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.charges import ModelTotals, Terms
from billing.charges.credits import Debits, FirstPeriodBurn
from billing.compare.columns import capacity_usage, credit_debits
from billing.compare.rating import Rated, rate_customer
from billing.costs import CostBook
from billing.periods import Period, nth_period
from billing.plans import Plan, load_catalog, load_plan_text
from billing.plans.model import CapacityCharge
from billing.pricing.capacity import hours_between
from billing.rating.rater import Rater
from billing.subscriptions import Subscription
from billing.usage.aggregates import Counts, DailyKey, HourlyKey, UsageAggregates
from billing.usage.customer import CustomerUsage
from billing.usage.keys import day_index, day_of

REPO = Path(__file__).parents[2]
START = date(2026, 11, 1)
PERIOD = nth_period(START, "month", 0)
FIRST_DAY = day_index(START)
MODELS = ["claude-sonnet-4-5", "gpt-4o-mini", "deepseek-chat", "gpt-5", "gemini-2.5-flash"]

EXTRA_PLANS = {
    "floor-and-cap": """
id: floor-and-cap
version: 2026-11-01
currency: USD
interval: month
rounding: half_even
grades:
  premium: ["claude-*", "gpt-5*"]
charges:
  - kind: flat
    name: Access
    price: "99.99"
    proration: none
  - kind: rate_card
    name: Usage
    rates:
      - models: ["claude-*"]
        input: "3.333"
        output: "15.0015"
      - models: ["*"]
        input: "0.123456"
        cached_input: "0.0617"
        output: "0.987654"
    included_amount: "25.00"
    volume_discount:
      mode: graduated
      tiers:
        - { up_to: "100.00", rate: "1.00" }
        - { up_to: null, rate: "0.85" }
  - kind: commitment
    name: Minimum
    minimum: "150.00"
  - kind: cap
    name: Cap
    maximum: "900.00"
""",
    "meters": """
id: meters
version: 2026-11-01
currency: JPY
interval: month
charges:
  - kind: seats
    name: Seats
    price: "1500"
    proration: none
  - kind: usage
    name: Claude requests
    meter: { requests: true, models: ["claude-*"] }
    package: { size: 250, price: "40", round: down }
  - kind: usage
    name: Pooled tokens
    meter: { tokens: [input, output] }
    included: { per_seat: 3_000_000 }
    tiers:
      mode: volume
      per: 1_000_000
      tiers:
        - { up_to: 5, unit_price: "120", flat_price: "500" }
        - { up_to: null, unit_price: "95.5" }
  - kind: usage
    name: Cached reads
    meter: { tokens: [cached_input] }
    included: { amount: 1_000_000 }
    per_unit: { per: 1000, unit_price: "0.07" }
""",
}


def usage_of(customer: str, data: list[tuple[str, int, int, int, int, int]],
             hours: list[tuple[int, int, int, int]]) -> CustomerUsage:
    """A customer's usage from drawn rows: (model, day, fresh, cached, output, requests) daily,
    (hour, fresh, cached, output) hourly; days and hours counted from the period's start."""
    usage = CustomerUsage(customer)
    for model, day, fresh, cached, output, requests in data:
        key = (model, 0, FIRST_DAY + day)
        counts = Counts(fresh, cached, 0, output, requests, 1)
        if key in usage.daily:
            usage.daily[key].add(counts)
        else:
            usage.daily[key] = counts
    for hour, fresh, cached, output in hours:
        usage.hourly[FIRST_DAY * 24 + hour] = Counts(fresh, cached, 0, output, 1, 1)
    return usage


def _row_costs(usage: CustomerUsage) -> dict[tuple[str, int, int], tuple[Decimal, ...]]:
    """Exact supplier cost per class of each daily row (what the comparison prices once)."""
    return {key: tuple(a for _, a in COSTBOOK.cost(key[0], counts, key[1], day_of(key[2])).by_class)
            for key, counts in usage.daily.items()}


def period_totals(rows: dict[tuple[str, int, int], Counts],
                  costs: dict[tuple[str, int, int], tuple[Decimal, ...]],
                  period: Period) -> dict[str, ModelTotals]:
    """Per-model totals of the ``rows`` (model, band, day) in ``period``, with the exact
    supplier cost of each row in ``costs``, summed in row order (as the comparison sums them)."""
    sums: dict[str, list[Any]] = {}
    for key, counts in rows.items():
        if not period.start_day <= key[2] < period.end_day:
            continue
        values = (counts.input, counts.cached_input, counts.cache_write, counts.output,
                  counts.requests, *costs[key])
        into = sums.get(key[0])
        if into is None:
            sums[key[0]] = list(values)
        else:
            for i, n in enumerate(values):
                into[i] += n
    return {model: ModelTotals((v[0], v[1], v[2], v[3]), v[4], (v[5], v[6], v[7], v[8]))
            for model, v in sums.items()}


def _kernel_rate(plan: Plan, rater: Rater, sub: Subscription, totals: dict[str, ModelTotals],
                 *, fixed_fraction: Decimal | None = None, hours: list[int] | None = None,
                 capacity_usage: Any = None, debits: Debits | None = None) -> Rated:
    """What the comparison bills ``sub`` for PERIOD from the customer's period totals: one
    customer through billing.charges (the period burned down from ``debits``, with credits)."""
    terms = Terms.of(rater.compiled, sub, PERIOD, fixed_fraction)
    burner = FirstPeriodBurn(plan, rater) if rater.uses_credits else None
    burned = None
    if burner is not None:
        assert debits is not None and burner.burns_alone(sub, PERIOD)
        burned = burner.burn(sub, PERIOD, terms.fraction, debits)
    return rate_customer(rater, terms, sub.customer_id, totals, hours=hours,
                         capacity_usage=capacity_usage, burned=burned,
                         paying=None if burner is None else burner.paying)


def _plans() -> list[Plan]:
    catalog = load_catalog([REPO / "plans", REPO / "benchmarks" / "plans"])
    plans = [p for p in catalog if p.id != "credits"]
    plans += [load_plan_text(text, filename=f"{name}.yaml") for name, text in EXTRA_PLANS.items()]
    return plans


PLANS = _plans()
COSTBOOK = CostBook.default()

tokens = st.integers(min_value=0, max_value=3_000_000_000)
rows = st.lists(
    st.tuples(st.sampled_from(MODELS), st.integers(0, 29), tokens, tokens, tokens,
              st.integers(0, 50_000)),
    min_size=0, max_size=12,
)
hour_rows = st.lists(
    st.tuples(st.integers(0, 30 * 24 - 1), st.integers(0, 40_000_000),
              st.integers(0, 40_000_000), st.integers(0, 8_000_000)),
    max_size=15, unique_by=lambda r: r[0],
)
fractions = st.one_of(st.none(), st.fractions(min_value=0, max_value=1).map(
    lambda f: Decimal(f.numerator) / Decimal(f.denominator)))


def test_the_plans_reach_every_charge_option() -> None:
    ids = {p.id for p in PLANS}
    assert {"payg", "team-seats", "growth-hybrid", "reserved-capacity", "enterprise-cost-plus",
            "tiered-tokens", "cost-plus-50", "floor-and-cap", "meters"} <= ids
    assert "credits" not in ids


@pytest.mark.parametrize("plan", PLANS, ids=[p.id for p in PLANS])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=rows, hours=hour_rows, seats=st.integers(0, 40), fraction=fractions)
def test_kernel_bills_what_the_rater_bills(plan: Plan, data: list[tuple[str, int, int, int, int, int]],
                                           hours: list[tuple[int, int, int, int]], seats: int,
                                           fraction: Decimal | None) -> None:
    usage = usage_of("c1", data, hours)
    first_hour = FIRST_DAY * 24
    if usage.daily and not usage.hourly:  # the aggregation gives hours whenever it gives days
        usage.hourly[first_hour] = Counts()
    sub = Subscription(customer_id="c1", plan=plan.id, start=START, seats=seats)
    rater = Rater(plan, costbook=COSTBOOK)
    slice_hours = hours_between(PERIOD.start_dt, PERIOD.end_dt) if fraction is not None else None
    expected = rater.rate(sub, PERIOD, usage, fixed_fraction=fraction, hours=slice_hours)

    costs = _row_costs(usage)
    given_capacity = None
    if any(isinstance(c, CapacityCharge) for c in plan.charges):
        aggregates = UsageAggregates(
            daily={DailyKey("c1", *k): c for k, c in usage.daily.items()},
            hourly={HourlyKey("c1", h): c for h, c in usage.hourly.items()})
        buckets = slice_hours or hours_between(PERIOD.start_dt, PERIOD.end_dt)
        given_capacity = {
            c.name: capacity_usage(aggregates, c, buckets, rater.spot_prices(c, buckets)).of("c1")
            for c in plan.charges if isinstance(c, CapacityCharge)}
    got = _kernel_rate(
        plan, rater, sub, period_totals(usage.daily, costs, PERIOD), fixed_fraction=fraction,
        hours=slice_hours, capacity_usage=given_capacity)

    assert got.total == expected.invoice.total
    if plan.grades:
        def by_grade(pairs: list[tuple[str | None, Decimal]]) -> dict[str | None, Decimal]:
            out: dict[str | None, Decimal] = {}
            for grade, amount in pairs:
                out[grade] = out.get(grade, Decimal(0)) + amount
            return out

        assert by_grade(list(got.grades)) == by_grade(
            [(line.grade, line.rounded_amount) for line in expected.invoice.lines])
    if expected.reserved is not None:
        assert (got.reserved, got.covered) == (expected.reserved, expected.covered)


CREDIT_PLANS = {
    "credits-bill": """
id: credits-bill
version: 2026-11-01
currency: USD
interval: month
grades:
  premium: ["claude-*"]
charges:
  - kind: flat
    name: Platform
    price: "19.00"
  - kind: rate_card
    name: Usage
    rates:
      - models: ["claude-*"]
        input: "3.3333"
        cached_input: "0.33"
        output: "16.5"
      - models: ["*"]
        input: "0.777"
        output: "3.1"
    paid_with: credits
  - kind: credits
    name: Wallet
    unit: credit
    unit_value: "0.001"
    grants:
      - { name: Welcome, amount: 2500, every: once, expires: never, priority: 2, paid: true }
      - { name: Monthly, amount: 40000, every: month, expires: end_of_period, priority: 1,
          paid: false }
    overage: bill
  - kind: commitment
    name: Minimum
    minimum: "45.00"
""",
    "credits-block": """
id: credits-block
version: 2026-11-01
currency: EUR
interval: month
charges:
  - kind: rate_card
    name: Usage
    rates:
      - models: ["*"]
        input: "2.5"
        cached_input: "0.5"
        output: "10"
    paid_with: credits
  - kind: credits
    name: Wallet
    unit: credit
    unit_value: "0.01"
    grants:
      - { name: Monthly, amount: 5000, every: month, expires: end_of_period, priority: 1,
          paid: false }
    packs:
      - { name: Pack 7k, amount: 7000, price: "63.333", expires_after: P6M, priority: 2 }
    auto_topup: { pack: Pack 7k, when_balance_below: 1500 }
    overage: block
""",
}


def credit_plans() -> list[Plan]:
    catalog = load_catalog([REPO / "plans"])
    plans = [p for p in catalog if p.id == "credits"]
    plans += [load_plan_text(text, filename=f"{name}.yaml") for name, text in CREDIT_PLANS.items()]
    assert all(FirstPeriodBurn.handles(p) for p in plans)
    return plans


@pytest.mark.parametrize("plan", credit_plans(), ids=lambda p: p.id)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=rows, fraction=fractions)
def test_kernel_burns_credits_as_the_rater_does(
        plan: Plan, data: list[tuple[str, int, int, int, int, int]],
        fraction: Decimal | None) -> None:
    usage = CustomerUsage("c1")
    for model, day, fresh, cached, output, requests in data:
        key = (model, day % 2, FIRST_DAY + day)  # two bands: the kernel merges them per day
        counts = Counts(fresh // 40, cached // 40, 0, output // 40, requests, 1)
        if key in usage.daily:
            usage.daily[key].add(counts)
        else:
            usage.daily[key] = counts
    sub = Subscription(customer_id="c1", plan=plan.id, start=START, seats=1)
    rater = Rater(plan, costbook=COSTBOOK)
    expected = rater.rate(sub, PERIOD, usage, fixed_fraction=fraction)

    kernel = FirstPeriodBurn(plan, rater)
    assert kernel.burns_alone(sub, PERIOD)
    aggregates = UsageAggregates(daily={DailyKey("c1", *k): c for k, c in usage.daily.items()})
    found = credit_debits(aggregates, kernel.paying_prices(MODELS), PERIOD.start_day,
                          PERIOD.end_day)
    assert found is not None
    by_customer, places = found
    costs = _row_costs(usage)
    got = _kernel_rate(plan, rater, sub, period_totals(usage.daily, costs, PERIOD),
                      fixed_fraction=fraction,
                      debits=by_customer.get("c1") or Debits([], places))

    assert got.total == expected.invoice.total
    # line by line, not only the total: the same kinds, charges, models, grades and amounts
    assert [(ln.kind, ln.charge, ln.model, ln.grade, ln.amount) for ln in got.lines] == [
        (ln.kind, ln.charge, ln.model, ln.grade, ln.rounded_amount)
        for ln in expected.invoice.lines]
    assert got.breakage_value == expected.breakage_value
    assert got.unused_paid_value == expected.unused_paid_value
    if plan.grades:
        grades: dict[str | None, Decimal] = {}
        for grade, amount in got.grades:
            grades[grade] = grades.get(grade, Decimal(0)) + amount
        want: dict[str | None, Decimal] = {}
        for line in expected.invoice.lines:
            want[line.grade] = want.get(line.grade, Decimal(0)) + line.rounded_amount
        assert grades == want


def test_a_later_period_is_left_to_the_rater() -> None:
    """Credits carried over from an earlier period need the rater's replay."""
    plan = next(p for p in credit_plans() if p.id == "credits")
    kernel = FirstPeriodBurn(plan, Rater(plan, costbook=COSTBOOK))
    sub = Subscription(customer_id="c1", plan=plan.id, start=START, seats=1)
    assert kernel.burns_alone(sub, PERIOD)
    assert not kernel.burns_alone(sub, nth_period(START, "month", 1))


def test_capacity_sums_beyond_64_bits_stay_exact() -> None:
    """Weighted hourly sums that could pass 2**63 - 1 are taken in Python integers, and the
    kernel still bills what the rater bills."""
    plan = next(p for p in PLANS if p.id == "reserved-capacity")
    rater = Rater(plan, costbook=COSTBOOK)
    first_hour = FIRST_DAY * 24
    usage = CustomerUsage("c1")
    usage.daily[("gpt-5", 0, FIRST_DAY)] = Counts(3 * 10**17, 10**17, 0, 10**17, 3, 3)
    for offset, output in ((0, 10**17), (1, 0), (30, 7)):
        usage.hourly[first_hour + offset] = Counts(10**17, 10**17 // 3, 0, output, 1, 1)
    # output weighs 4 and cached input 0.1: scaled by 10, one hour is already
    # 10 x 10^17 + 1 x 3.3 x 10^16 + 40 x 10^17 = 5.03 x 10^18, and three of them pass 2^63
    aggregates = UsageAggregates(
        daily={DailyKey("c1", *k): c for k, c in usage.daily.items()},
        hourly={HourlyKey("c1", h): c for h, c in usage.hourly.items()})
    hours = hours_between(PERIOD.start_dt, PERIOD.end_dt)
    charge = next(c for c in plan.charges if isinstance(c, CapacityCharge))
    columns = capacity_usage(aggregates, charge, hours, rater.spot_prices(charge, hours))
    sub = Subscription(customer_id="c1", plan=plan.id, start=START, seats=1)
    expected = rater.rate(sub, PERIOD, usage, fixed_fraction=Decimal(1), hours=hours)
    costs = _row_costs(usage)
    got = _kernel_rate(
        plan, rater, sub, period_totals(usage.daily, costs, PERIOD), fixed_fraction=Decimal(1),
        hours=hours, capacity_usage={charge.name: columns.of("c1")})
    assert got.total == expected.invoice.total
    assert (got.reserved, got.covered) == (expected.reserved, expected.covered)
    # per hour, what the baseload covers: at most 20,000,000 weighted tokens each hour used
    assert columns.covered_by_hour == {first_hour + h: Decimal(20_000_000) for h in (0, 1, 30)}


def test_credit_debits_that_could_pass_64_bits_are_left_to_python() -> None:
    # 4 x 10^15 output tokens at 12.00 per 1M (scaled to 1200) is 4.8 x 10^18 per row: two rows
    # could pass 2^63 - 1 (9.2 x 10^18), so the columnar sum declines and the rater burns
    aggregates = UsageAggregates(daily={
        DailyKey("c1", "gpt-5", 0, FIRST_DAY): Counts(0, 0, 0, 4 * 10**15, 1, 1),
        DailyKey("c1", "gpt-5", 0, FIRST_DAY + 1): Counts(0, 0, 0, 4 * 10**15, 1, 1),
    })
    prices = {"gpt-5": (Decimal("3.00"), Decimal("0.75"), Decimal("3.00"), Decimal("12.00"))}
    assert credit_debits(aggregates, prices, PERIOD.start_day, PERIOD.end_day) is None
    small = UsageAggregates(daily={
        DailyKey("c1", "gpt-5", 0, FIRST_DAY): Counts(1_000, 0, 0, 500, 1, 1)})
    found = credit_debits(small, prices, PERIOD.start_day, PERIOD.end_day)
    # 1,000 x 300 + 500 x 1,200 = 900,000 in units of 10^-8: 0.009 dollars
    assert found is not None
    assert found[1] == 2
    assert found[0]["c1"].rows == [(FIRST_DAY, "gpt-5", 900_000)]
    assert found[0]["c1"].running == [900_000]
    assert found[0]["c1"].by_model == {"gpt-5": 900_000}


def test_grouped_sums_stay_exact_past_float_and_64_bit_range() -> None:
    """Sums per key are exact whatever their size: float64 counting only while every sum is
    below 2**53, 64-bit integers below 2**63, Python integers beyond."""
    import numpy as np

    from billing.compare.columns import _group_sum

    keys = np.array([0, 1, 0, 1], dtype=np.int64)
    small = np.array([1, 2, 3, 4], dtype=np.int64)
    assert _group_sum(keys, small, 2).tolist() == [4, 6]  # 1 + 3, 2 + 4
    # 2**53 + 1 is the first integer float64 cannot hold: summed as floats it would be lost
    big = np.array([2**53, 2, 1, 0], dtype=np.int64)
    assert _group_sum(keys, big, 2).tolist() == [2**53 + 1, 2]
    # two values near 2**62 on one key pass 2**63 - 1: Python integers
    huge = np.array([2**62 + 1, 5, 2**62 + 2, 7], dtype=np.int64)
    assert [int(v) for v in _group_sum(keys, huge, 2)] == [2**63 + 3, 12]
