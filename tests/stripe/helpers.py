"""Helpers for the Stripe tests: a test key and realistic invoices built line by line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from billing.invoice import Invoice, InvoiceLine, LineKind, invoice_id, make_line
from billing.money import Rounding
from billing.sinks.stripe import StripeSink

TEST_KEY = "sk_test_51TokenBillingSecretKeyForTests0123456789"

JAN = date(2025, 1, 1)
FEB = date(2025, 2, 1)


def _line(index: int, kind: LineKind, description: str, amount: str, currency: str) -> InvoiceLine:
    return make_line(
        index=index,
        kind=kind,
        charge=kind,
        description=description,
        quantity=Decimal(1),
        unit="fee",
        amount=Decimal(amount),
        currency=currency,
        rounding=Rounding.HALF_UP,
        period_start=JAN,
        period_end=FEB,
    )


def build_invoice(customer: str, currency: str, lines: list[tuple[LineKind, str, str]]) -> Invoice:
    built = tuple(
        _line(i, kind, desc, amount, currency) for i, (kind, desc, amount) in enumerate(lines, 1)
    )
    total = sum((line.rounded_amount for line in built), Decimal(0))
    return Invoice(
        id=invoice_id(customer, "pro", JAN, JAN, FEB),
        customer_id=customer,
        plan_id="pro",
        plan_version=JAN,
        currency=currency,
        period_start=JAN,
        period_end=FEB,
        lines=built,
        subtotal=total,
        total=total,
    )


SinkFactory = Callable[..., StripeSink]
"""``make_sink(state=None, sleeps=None, **PushOptions)`` -> a sink on the fake Stripe."""
