"""Usage that ``billing rate`` does not bill, counted by reason (never dropped in silence).

A day of a customer's usage is billed when one of the customer's subscriptions covers it: the
day is in the subscription's billing period named by the label and between its start and end.
Every other day is one of:

- ``no subscription for the customer``: the customer has no subscription at all;
- ``outside the subscription's dates in period LABEL``: a subscription's period contains the
  day, but the subscription starts later or ended before (a failure when ``--strict``);
- ``outside period LABEL``: usage of another billing period (rate it with that period's label;
  not a failure, a trace often spans several periods).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from billing.errors import BillingError
from billing.periods import Period
from billing.plans import PlanCatalog
from billing.rating.batch import subscription_period
from billing.subscriptions import Subscription
from billing.usage.aggregates import UsageAggregates
from billing.usage.results import Reject

__all__ = ["NO_SUBSCRIPTION", "Unbilled", "unbilled_usage"]

NO_SUBSCRIPTION = "no subscription for the customer"
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Unbilled:
    """Events not billed for one reason and customer, over their first and last day."""

    reason: str
    customer_id: str
    events: int
    first: date
    last: date
    failure: bool
    """True when no subscription bills this usage at all (``--strict`` fails on it)."""

    def as_reject(self, file: str) -> Reject:
        days = f"{self.first}" if self.first == self.last else f"{self.first} to {self.last}"
        noun = "event" if self.events == 1 else "events"
        return Reject(file, 0, f"not billed: {self.reason}",
                      f"customer {self.customer_id}: {self.events:,} {noun}, {days}")


def unbilled_usage(catalog: PlanCatalog, subscriptions: Sequence[Subscription],
                   aggregates: UsageAggregates, label: str) -> list[Unbilled]:
    """Every customer's usage that no subscription bills for period ``label``, by reason."""
    by_customer: dict[str, list[Subscription]] = defaultdict(list)
    for sub in subscriptions:
        by_customer[sub.customer_id].append(sub)
    periods: dict[str, list[tuple[Period, Period | None]]] = {}
    for customer, subs in by_customer.items():
        found = []
        for sub in subs:
            try:
                period = subscription_period(catalog, sub, label)
            except BillingError:
                continue  # reported by the rating itself, as a failure
            found.append((period, period.clip(sub.start, sub.end)))
        periods[customer] = found
    events: dict[tuple[str, str], dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for key, counts in aggregates.daily.items():
        day = _EPOCH + timedelta(days=key.day)
        reason = _reason(periods.get(key.customer_id), day, label)
        if reason is not None:
            events[(reason, key.customer_id)][day] += counts.events
    return [Unbilled(reason, customer, sum(days.values()), min(days), max(days),
                     failure=not reason.startswith("outside period"))
            for (reason, customer), days in sorted(events.items())]


def _reason(found: list[tuple[Period, Period | None]] | None, day: date,
            label: str) -> str | None:
    if found is None:
        return NO_SUBSCRIPTION
    if any(clipped is not None and clipped.contains(day) for _, clipped in found):
        return None
    if any(period.contains(day) for period, _ in found):
        return f"outside the subscription's dates in period {label}"
    return f"outside period {label}"
