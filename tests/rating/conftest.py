"""Helpers for rating tests: events in, invoices out, through the real loader and engine."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path

from billing.costs import CostBook
from billing.periods import Period
from billing.plans import load_plan
from billing.rating.rater import Rater, RatingResult
from billing.subscriptions import Subscription
from billing.usage.aggregate_python import aggregate_events
from billing.usage.customer import CustomerUsage, split_by_customer
from billing.usage.events import UsageEvent

PLANS = Path(__file__).parents[2] / "plans"
NOVEMBER = Period(date(2026, 11, 1), date(2026, 12, 1))


def event(n: int, day: int, model: str, *, hour: int = 12, customer: str = "acme",
          input: int = 0, cached: int = 0, write: int = 0, output: int = 0,
          requests: int = 1) -> UsageEvent:
    return UsageEvent(
        id=f"e{n}", customer_id=customer, timestamp=datetime(2026, 11, day, hour, tzinfo=UTC),
        model=model, input_tokens=input, cached_input_tokens=cached, cache_write_tokens=write,
        output_tokens=output, requests=requests,
    )


def rate_events(plan_file: str | Path, events: Iterable[UsageEvent], *,
                subscription: Subscription | None = None, period: Period = NOVEMBER,
                costbook: CostBook | None = None) -> RatingResult:
    path = plan_file if isinstance(plan_file, Path) else PLANS / plan_file
    plan = load_plan(path)
    rater = Rater(plan, costbook=costbook, plan_path=path)
    thresholds = costbook.thresholds() if costbook is not None else ()
    aggregates, _stats = aggregate_events(events, thresholds=thresholds, hourly=rater.needs_hourly)
    sub = subscription or Subscription(customer_id="acme", plan=plan.id, start=period.start)
    usage = split_by_customer(aggregates).get(sub.customer_id, CustomerUsage(sub.customer_id))
    return rater.rate(sub, period, usage)
