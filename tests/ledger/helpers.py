"""Shared set-up of the ledger tests: the test plans, subscriptions and a clock."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from billing.ledger import Ledger
from billing.plans import load_catalog
from billing.rating.meter import FixedClock
from billing.subscriptions import Subscription

PLANS = Path(__file__).parent / "plans"
NOV = date(2026, 11, 1)
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
SUBS = [
    Subscription(customer_id="cap-co", plan="capped", start=NOV),
    Subscription(customer_id="pre-co", plan="prepaid", start=NOV),
    Subscription(customer_id="open-co", plan="open", start=NOV),
]


def open_ledger(url: str, clock: FixedClock | None = None, **options: object) -> Ledger:
    """The ledger at ``url`` with the test plans and subscriptions stored in it."""
    ledger = Ledger.open(url, clock=clock or FixedClock(NOW), **options)  # type: ignore[arg-type]
    ledger.set_catalog(load_catalog([PLANS]))
    ledger.set_subscriptions(SUBS)
    return ledger
