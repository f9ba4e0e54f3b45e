"""Amounts in Stripe's minor units, by Stripe's own currency rules (docs.stripe.com/currencies)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.errors import StripeSyncError
from billing.sinks.stripe import plan_invoice, to_stripe_amount
from tests.stripe.helpers import build_invoice


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("12.50", "USD", 1250),  # 12.50 * 100
        ("-20.01", "USD", -2001),  # credits are negative items
        ("0", "EUR", 0),
        ("500", "JPY", 500),  # zero-decimal: 500 yen is 500
        ("-500", "JPY", -500),
        ("15000", "KRW", 15000),  # zero-decimal
        ("3000", "CLP", 3000),  # zero-decimal
        ("25000", "VND", 25000),  # zero-decimal
        ("5000", "UGX", 5000),  # zero-decimal in Stripe's list
        ("5", "ISK", 500),  # Stripe keeps ISK two-decimal: 5 * 100, whole kronur only
        ("10.45", "HUF", 1045),  # two-decimal for charges (zero-decimal only for payouts)
        ("30.50", "TWD", 3050),  # idem
        ("5.120", "KWD", 5120),  # three-decimal: 5.120 * 1000, last digit 0
        ("1.25", "BHD", 1250),  # three-decimal: 1.25 * 1000
    ],
)
def test_to_stripe_amount(amount: str, currency: str, expected: int) -> None:
    assert to_stripe_amount(Decimal(amount), currency) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "reason"),
    [
        ("12.5", "JPY", "more decimals than Stripe accepts for JPY (0)"),
        ("12.505", "USD", "more decimals than Stripe accepts for USD (2)"),
        ("5.50", "ISK", "Stripe accepts only whole ISK amounts"),
        ("5.124", "KWD", "last of the three decimals 0"),
    ],
)
def test_amounts_stripe_cannot_take_are_errors_not_rounded(
    amount: str, currency: str, reason: str
) -> None:
    with pytest.raises(StripeSyncError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        to_stripe_amount(Decimal(amount), currency)


def test_kwd_lines_are_rated_to_amounts_stripe_takes() -> None:
    invoice = build_invoice(
        "acme", "KWD", [("flat", "Pro", "10.000"), ("usage", "tokens", "1.234")]
    )
    # 1.234 KWD is rated to the nearest 0.010: 1.230, sent as 1230 fils
    assert [i.amount for i in plan_invoice(invoice).items] == [10000, 1230]


def test_plan_names_the_line_stripe_cannot_take() -> None:
    invoice = build_invoice(
        "acme", "KWD", [("flat", "Pro", "10.000"), ("usage", "tokens", "1.230")]
    )
    line = invoice.lines[1].model_copy(update={"rounded_amount": Decimal("1.234")})
    made_elsewhere = invoice.model_copy(update={"lines": (invoice.lines[0], line)})
    with pytest.raises(StripeSyncError, match=rf"invoice {invoice.id} line L002: 1.234 KWD"):
        plan_invoice(made_elsewhere)


def test_plan_of_a_jpy_invoice() -> None:
    invoice = build_invoice(
        "kk", "JPY", [("flat", "Pro", "4900"), ("credits_applied", "c", "-900")]
    )
    plan = plan_invoice(invoice)
    assert plan.currency == "jpy"
    assert [(i.line_id, i.amount) for i in plan.items] == [("L001", 4900), ("L002", -900)]
    assert plan.total == 4000  # 4900 - 900
