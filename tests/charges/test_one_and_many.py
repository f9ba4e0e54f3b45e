"""One customer rated alone gets the same invoice lines as inside a batch of many.

Every charge kind bills once (billing/charges/<kind>.py): :class:`Rater` runs it on one
customer's rows (a batch of one, building the invoice); ``billing compare`` runs it on columns
holding every customer of a period (a credits plan: each customer's period burned down first,
the last test). For every plan without credits (the catalog's, the benchmark
variants, and plans written to reach every charge option: floors, caps, packages, volume tiers,
per-seat and fixed allowances, a rate card falling back to cost plus), random usage of several
customers must give each customer, line by line, the kind, charge, model, grade and rounded
amount of its own invoice: not only the same total. Lines that exist only for some customers (a
model's line, a true-up, a discount) must exist in the batch for exactly those.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.charges import Billing, PeriodTotals, Prices, Terms
from billing.charges.credits import Debits, FirstPeriodBurn
from billing.charges.plan import bill_plan
from billing.charges.sinks import RoundedLines
from billing.charges.totals import ModelTotals
from billing.compare.columns import capacity_usage, credit_debits
from billing.compare.rating import rate_customers
from billing.plans import Plan, compile, load_plan_text
from billing.plans.model import CapacityCharge
from billing.pricing.capacity import hours_between
from billing.rating.rater import Rater
from billing.subscriptions import Subscription
from billing.usage.aggregates import Counts, DailyKey, HourlyKey, UsageAggregates
from billing.usage.customer import CustomerUsage
from billing.usage.keys import day_of
from tests.compare.test_kernel import (
    COSTBOOK,
    MODELS,
    PERIOD,
    PLANS,
    START,
    credit_plans,
    fractions,
    hour_rows,
    rows,
)
from tests.compare.test_kernel import usage_of as _usage_of

FALLBACK = load_plan_text("""
id: list-or-cost
version: 2026-11-01
currency: EUR
interval: month
grades:
  premium: ["claude-*"]
charges:
  - kind: rate_card
    name: Usage
    rates:
      - {models: ["claude-*"], input: "3.10", cached_input: "0.31", output: "15.70"}
      - {models: ["gpt-4o-mini"], input: "0.155", output: "0.62"}
    fallback:
      cost_plus: {markup: "17.5%"}
    volume_discount:
      mode: volume
      tiers:
        - { up_to: "50.00", rate: "1.00" }
        - { up_to: null, rate: "0.93" }
""", filename="list-or-cost.yaml")

ALL_PLANS = [*PLANS, FALLBACK]


def _period_totals(usage: CustomerUsage) -> dict[str, ModelTotals]:
    """The customer's per-model totals of the period with their exact supplier cost, summed
    from its daily rows (what the comparison's period rows sum to)."""
    out: dict[str, list[object]] = {}
    for (model, band, day), counts in sorted(usage.daily.items()):
        if not PERIOD.start_day <= day < PERIOD.end_day:
            continue
        cost = [a for _, a in COSTBOOK.cost(model, counts, band, day_of(day)).by_class]
        row = [counts.input, counts.cached_input, counts.cache_write, counts.output,
               counts.requests, *cost]
        found = out.get(model)
        out[model] = row if found is None else [a + b for a, b in zip(found, row, strict=True)]
    return {m: ModelTotals((v[0], v[1], v[2], v[3]), v[4], (v[5], v[6], v[7], v[8]))  # type: ignore[arg-type]
            for m, v in out.items()}


Line = tuple[str, str, str | None, str | None, Decimal]


@pytest.mark.parametrize("plan", ALL_PLANS, ids=[p.id for p in ALL_PLANS])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.lists(st.tuples(rows, hour_rows), min_size=1, max_size=6),
       seats=st.integers(0, 40), fraction=fractions)
def test_a_customer_alone_and_in_a_batch_gets_the_same_lines(
        plan: Plan, data: list[tuple[list[tuple[str, int, int, int, int, int]],
                                     list[tuple[int, int, int, int]]]],
        seats: int, fraction: Decimal | None) -> None:
    usages = {f"c{number}": _usage_of(f"c{number}", days, hours)
              for number, (days, hours) in enumerate(data)}
    for usage in usages.values():
        if usage.daily and not usage.hourly:  # (an aggregation with hours has some)
            usage.hourly[PERIOD.start_day * 24] = Counts()
    names = sorted(usages)
    rater = Rater(plan, costbook=COSTBOOK)
    hours = hours_between(PERIOD.start_dt, PERIOD.end_dt) if fraction is not None else None

    # alone: each customer's invoice, from its own daily and hourly rows
    alone: dict[str, list[Line]] = {}
    for name in names:
        sub = Subscription(customer_id=name, plan=plan.id, start=START, seats=seats)
        invoice = rater.rate(sub, PERIOD, usages[name], fixed_fraction=fraction,
                             hours=hours).invoice
        alone[name] = [(ln.kind, ln.charge, ln.model, ln.grade, ln.rounded_amount)
                       for ln in invoice.lines]

    # in a batch: every customer at once, from columns of period totals (compare's path)
    totals = {name: _period_totals(u) for name, u in usages.items()}
    models = sorted({m for t in totals.values() for m in t})
    columns = PeriodTotals.build(names, models, totals.__getitem__)
    compiled = compile(plan)
    sub = Subscription(customer_id=names[0], plan=plan.id, start=START, seats=seats)
    out = RoundedLines(len(names), plan.currency, plan.rounding)
    run = Billing(compiled, columns, Terms.of(compiled, sub, PERIOD, fraction), out,
                  Prices(compiled))
    if any(isinstance(c, CapacityCharge) for c in plan.charges):
        aggregates = UsageAggregates(
            daily={DailyKey(c, *k): n for c, u in usages.items() for k, n in u.daily.items()},
            hourly={HourlyKey(c, h): n for c, u in usages.items() for h, n in u.hourly.items()})
        buckets = hours or hours_between(PERIOD.start_dt, PERIOD.end_dt)
        for charge in plan.charges:
            if isinstance(charge, CapacityCharge):
                run.capacity[charge.name] = capacity_usage(
                    aggregates, charge, buckets, rater.spot_prices(charge, buckets)
                ).columns(names)
    run.buckets = None if hours is None else len(hours)
    bill_plan(run)

    for position, name in enumerate(names):
        batched = [(ln.kind, ln.charge, ln.model, ln.grade, ln.amount)
                   for ln in out.of(position)]
        assert batched == alone[name], name


@pytest.mark.parametrize("plan", credit_plans(), ids=lambda p: p.id)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.lists(rows, min_size=1, max_size=6), fraction=fractions)
def test_credits_customers_alone_and_in_a_batch_get_the_same_lines(
        plan: Plan, data: list[list[tuple[str, int, int, int, int, int]]],
        fraction: Decimal | None) -> None:
    """A credits plan: each customer's period burned down on its own, then every customer
    billed at once (compare's path) gives each customer its own invoice's lines (packs bought
    by the top-up, credits applied per model, the card's refused usage) and its breakage."""
    usages = {}
    for number, drawn in enumerate(data):
        # smaller usage than the other test's (tokens / 40): some customers stay within their
        # credits, some top up, some run out
        usages[f"c{number}"] = _usage_of(
            f"c{number}", [(m, d, f // 40, c // 40, o // 40, r) for m, d, f, c, o, r in drawn],
            [])
    names = sorted(usages)
    rater = Rater(plan, costbook=COSTBOOK)
    alone = {}
    for name in names:
        sub = Subscription(customer_id=name, plan=plan.id, start=START, seats=1)
        alone[name] = rater.rate(sub, PERIOD, usages[name], fixed_fraction=fraction)

    burner = FirstPeriodBurn(plan, rater)
    sub = Subscription(customer_id=names[0], plan=plan.id, start=START, seats=1)
    assert burner.burns_alone(sub, PERIOD)
    aggregates = UsageAggregates(
        daily={DailyKey(c, *k): n for c, u in usages.items() for k, n in u.daily.items()})
    found = credit_debits(aggregates, burner.paying_prices(MODELS), PERIOD.start_day,
                          PERIOD.end_day)
    assert found is not None
    by_customer, places = found
    terms = Terms.of(rater.compiled, sub, PERIOD, fraction)
    burned = [burner.burn(sub, PERIOD, terms.fraction, by_customer.get(n) or Debits((), places))
              for n in names]
    totals = {name: _period_totals(u) for name, u in usages.items()}
    columns = PeriodTotals.build(names, sorted({m for t in totals.values() for m in t}),
                                 totals.__getitem__)
    batch = rate_customers(rater, terms, columns, burned=burned, paying=burner.paying)

    for position, name in enumerate(names):
        batched = [(ln.kind, ln.charge, ln.model, ln.grade, ln.amount[position])
                   for ln in batch.detail
                   if (ln.present if isinstance(ln.present, bool) else ln.present[position])]
        expected = alone[name]
        assert batched == [(ln.kind, ln.charge, ln.model, ln.grade, ln.rounded_amount)
                           for ln in expected.invoice.lines], name
        assert batch.total[position] == expected.invoice.total
        assert batch.breakage_value is not None and batch.unused_paid_value is not None
        assert batch.breakage_value[position] == expected.breakage_value
        assert batch.unused_paid_value[position] == expected.unused_paid_value
