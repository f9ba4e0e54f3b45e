"""An invoice read by a person: quantities and amounts in its text are readable, never cut."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from billing.plans import PlanCatalog, load_plan_text
from billing.rating.batch import rate_period
from billing.subscriptions import Subscription
from billing.usage.aggregate_python import aggregate_events

PLAN = """
id: committed
version: 2026-01-01
currency: USD
charges:
  - kind: flat
    name: A platform fee with a long name that does not fit in seventy characters of text
    price: "300.00"
  - kind: commitment
    name: Minimum commitment
    minimum: "2000.00"
"""


def test_a_prorated_period_shows_readable_quantities_and_the_whole_description() -> None:
    catalog = PlanCatalog([load_plan_text(PLAN, filename="committed.yaml")])
    # starts on Nov 11: 20 of November's 30 days are billed, 2/3 = 0.6666... of the period
    sub = Subscription(customer_id="c", plan="committed", start=date(2026, 11, 11),
                       anchor=date(2026, 11, 1))
    invoice = rate_period(catalog, [sub], aggregate_events([])[0], "2026-11").invoices[0]
    fee, true_up = invoice.lines
    # 300.00 x 2/3 = 200.00; the minimum 2,000.00 x 2/3 = 1,333.33...: true-up 1,333.33
    assert fee.rounded_amount == Decimal("200.00")
    assert true_up.rounded_amount == Decimal("1333.33")
    # the description shows the prorated minimum to the cent, not its 60 exact digits
    assert true_up.description == "Minimum commitment: true-up to 1333.33"
    text = invoice.render()
    assert "~0.666667" in text  # the prorated quantity, rounded for reading and marked so
    assert "0.6666666666666" not in text
    # the long description is printed whole, its amount on the next line
    assert "A platform fee with a long name that does not fit in seventy characters of text (" in text
