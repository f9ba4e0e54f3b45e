"""What an invoice becomes in Stripe, computed offline: Stripe's currency rules and limits, the
amounts in minor units, and the deterministic idempotency keys (no Stripe SDK needed, so
``billing push --dry-run`` and the checks load nothing else).

Amounts are checked against Stripe's rules before anything is sent (:func:`check_invoice`, also
what ``billing push --dry-run`` reports): minor units per Stripe's currency list, the last digit
0 for three-decimal currencies, whole ISK, and at most 8 digits of minor units per item and per
invoice (12 for IDR).

An invoice Stripe takes but cannot charge is a warning, not a refusal
(:func:`charge_warnings`): a total above zero but below Stripe's minimum charge amount for the
currency (0.50 USD). Stripe's invoice API reference: "If the amount due for the invoice is less
than Stripe's minimum allowed charge per currency, the invoice is automatically marked paid, and
we add the amount due to the customer's credit balance which is applied to the next invoice." So
nothing is charged now, the amount is collected with the customer's next Stripe invoice, and
never if there is none.

Idempotency keys are ASCII and at most 255 characters for any id: characters outside printable
ASCII (and ``%`` and ``/``) are percent-encoded (UTF-8), and a key longer than 255 is replaced by
its SHA-256.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from billing.errors import StripeSyncError
from billing.invoice import Invoice
from billing.money import TEN_MINOR_UNIT_CURRENCIES, check_currency

__all__ = [
    "KEY_PREFIX",
    "MAX_AMOUNT",
    "METADATA_CUSTOMER",
    "METADATA_INVOICE",
    "METADATA_LINE",
    "MINIMUM_CHARGE",
    "THREE_DECIMAL_CURRENCIES",
    "WHOLE_UNIT_TWO_DECIMAL_CURRENCIES",
    "ZERO_DECIMAL_CURRENCIES",
    "PlannedInvoice",
    "PlannedItem",
    "charge_warnings",
    "check_invoice",
    "customer_idempotency_key",
    "idempotency_key",
    "max_amount",
    "plan_invoice",
    "stripe_minor_units",
    "to_stripe_amount",
]

# Stripe's own currency rules (docs.stripe.com/currencies), not CLDR's: they differ (CLDR gives
# ISK 0 digits, Stripe 2; CLDR gives HUF and TWD 2 digits, as does Stripe for charges).
ZERO_DECIMAL_CURRENCIES: frozenset[str] = frozenset(
    {
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
        "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
    }
)  # fmt: skip
"""Amounts are whole units: 500 JPY is sent as 500."""

THREE_DECIMAL_CURRENCIES: frozenset[str] = TEN_MINOR_UNIT_CURRENCIES
"""Amounts are in thousandths, and Stripe requires the last digit to be 0 (5.120 KWD is 5120):
rating rounds their lines to the nearest 0.010 (:data:`billing.money.TEN_MINOR_UNIT_CURRENCIES`)."""

MAX_AMOUNT = 99_999_999
"""Stripe's largest amount, in minor units, for most currencies: eight digits (999,999.99 USD)."""

_MAX_AMOUNT_BY_CURRENCY: dict[str, int] = {"IDR": 999_999_999_999}
"""Currencies Stripe allows more digits: IDR up to twelve (9,999,999,999.99 IDR)."""

WHOLE_UNIT_TWO_DECIMAL_CURRENCIES: frozenset[str] = frozenset({"ISK"})
"""Two-decimal in the API for backwards compatibility, but only whole units (5 ISK is 500)."""

MINIMUM_CHARGE: dict[str, int] = {
    "AED": 200, "AUD": 50, "BGN": 100, "BRL": 50, "CAD": 50, "CHF": 50, "CZK": 1500,
    "DKK": 250, "EUR": 50, "GBP": 30, "HKD": 400, "HUF": 17500, "INR": 50, "JPY": 50,
    "MXN": 1000, "MYR": 200, "NOK": 300, "NZD": 50, "PLN": 200, "RON": 200, "SEK": 300,
    "SGD": 50, "USD": 50,
}  # fmt: skip
"""Stripe's minimum charge amount per currency, in Stripe's minor units (0.50 USD is 50, 50 JPY
is 50, 175.00 HUF is 17500), from docs.stripe.com/currencies ("Minimum and maximum charge
amounts"). Stripe applies the minimum of the account's settlement currency: the table is exact
for an invoice in that currency, and a guide for another (Stripe converts it first). Currencies
not listed are not checked."""

METADATA_CUSTOMER = "billing_customer_id"
METADATA_INVOICE = "billing_invoice_id"
METADATA_LINE = "billing_line_id"
KEY_PREFIX = "token-billing/v1"


# --- amounts ------------------------------------------------------------------------------------


def stripe_minor_units(currency: str) -> int:
    """Decimal places Stripe expects for ``currency``: JPY 0, USD 2, ISK 2, KWD 3."""
    code = check_currency(currency)
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def to_stripe_amount(amount: Decimal, currency: str) -> int:
    """``amount`` (already rounded) as the integer Stripe expects, or :class:`StripeSyncError`.

    Never rounds: an amount with more decimals than Stripe takes for the currency is an error,
    because rounding belongs to rating (where the invoice line is produced), not to the sink.
    """
    code = check_currency(currency)
    digits = stripe_minor_units(code)
    scaled = amount.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise StripeSyncError(
            f"{amount} {code} has more decimals than Stripe accepts for {code} ({digits})"
        )
    value = int(scaled)
    if code in THREE_DECIMAL_CURRENCIES and value % 10:
        raise StripeSyncError(
            f"{amount} {code}: Stripe requires {code} amounts rounded to the nearest 0.010 "
            "(last of the three decimals 0); `billing rate` rounds every line so, re-rate the "
            "period (an invoice made by another tool must round its lines the same way)"
        )
    if code in WHOLE_UNIT_TWO_DECIMAL_CURRENCIES and value % 100:
        raise StripeSyncError(f"{amount} {code}: Stripe accepts only whole {code} amounts")
    return value


def max_amount(currency: str) -> int:
    """Stripe's largest amount in minor units for ``currency`` (99,999,999; IDR 999,999,999,999)."""
    return _MAX_AMOUNT_BY_CURRENCY.get(check_currency(currency), MAX_AMOUNT)


def _over_limit(amount: Decimal, value: int, code: str) -> str | None:
    limit = max_amount(code)
    if abs(value) <= limit:
        return None
    return (f"{amount} {code} is {abs(value)} minor units, Stripe's maximum is {limit} "
            f"({len(str(limit))} digits); split it across invoices")


def check_invoice(invoice: Invoice) -> list[str]:
    """Every reason Stripe would refuse ``invoice`` (empty when it can be pushed), one message per
    line or total: amounts Stripe cannot take in the currency, duplicate line ids, amounts past
    Stripe's maximum, lines that do not add up to the total."""
    code = invoice.currency
    problems: list[str] = []
    seen: set[str] = set()
    total = 0
    for line in invoice.lines:
        where = f"invoice {invoice.id} line {line.id}"
        if line.id in seen:
            problems.append(f"invoice {invoice.id}: line id {line.id} appears twice")
        seen.add(line.id)
        try:
            value = to_stripe_amount(line.rounded_amount, code)
        except StripeSyncError as exc:
            problems.append(f"{where}: {exc}")
            continue
        total += value
        if (over := _over_limit(line.rounded_amount, value, code)) is not None:
            problems.append(f"{where}: {over}")
    try:
        expected = to_stripe_amount(invoice.total, code)
    except StripeSyncError as exc:
        problems.append(f"invoice {invoice.id}: total {exc}")
        return problems
    if (over := _over_limit(invoice.total, expected, code)) is not None:
        problems.append(f"invoice {invoice.id}: total {over}")
    if not problems and total != expected:
        problems.append(
            f"invoice {invoice.id}: lines sum to {total} but the total is {expected} "
            f"(minor units of {code}); refusing to push an invoice that does not add up"
        )
    return problems


def charge_warnings(invoice: Invoice) -> list[str]:
    """What Stripe would take but not charge (empty when nothing): a total above zero and below
    Stripe's minimum charge for the currency (:data:`MINIMUM_CHARGE`), which Stripe marks paid
    when the invoice is finalized and adds to the customer's balance, to be collected with their
    next invoice. Call it on an invoice :func:`check_invoice` accepts."""
    code = check_currency(invoice.currency)
    minimum = MINIMUM_CHARGE.get(code)
    if minimum is None:
        return []
    total = to_stripe_amount(invoice.total, code)
    if not 0 < total < minimum:
        return []
    shown = Decimal(minimum).scaleb(-stripe_minor_units(code))
    return [
        f"invoice {invoice.id}: total {invoice.total} {code} is below Stripe's minimum charge "
        f"of {shown} {code}; Stripe will not charge it: finalized, it is marked paid and "
        f"{invoice.total} {code} is added to customer {invoice.customer_id}'s Stripe balance, "
        "collected with their next invoice (never, if this is their last)"
    ]


def _timestamp(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())

# --- the plan of what an invoice becomes in Stripe ----------------------------------------------


_KEY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "%/")
_KEY_MAX = 255  # Stripe's limit on an idempotency key's length


def _key(*parts: str) -> str:
    """``KEY_PREFIX/part/part``: each part kept when it is printable ASCII without ``%`` or
    ``/``, else percent-encoded (UTF-8); a key past 255 characters becomes its SHA-256."""
    key = "/".join((KEY_PREFIX, *(urllib.parse.quote(p, safe=_KEY_SAFE) for p in parts)))
    if len(key) <= _KEY_MAX:
        return key
    return f"{KEY_PREFIX}/sha256/{hashlib.sha256(key.encode('ascii')).hexdigest()}"


def idempotency_key(invoice_id: str, part: str) -> str:
    """Deterministic idempotency key for one POST: ``part`` is a line id, 'invoice' or 'finalize'.
    ASCII and at most 255 characters whatever the ids."""
    return _key(invoice_id, part)


def customer_idempotency_key(customer_id: str) -> str:
    """Deterministic idempotency key for creating the Stripe customer of ``customer_id``:
    ASCII and at most 255 characters for any id (``客户-1`` is ``.../customer/%E5%AE%A2%E6%88%B7-1``)."""
    return _key("customer", customer_id)


@dataclass(frozen=True, slots=True)
class PlannedItem:
    """One Stripe invoice item, as it will be sent."""

    line_id: str
    description: str
    amount: int
    """In Stripe's minor units of the invoice currency; negative for credits and discounts."""
    period_start: int
    period_end: int
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class PlannedInvoice:
    """What one invoice becomes in Stripe (computed offline; used by dry runs and pushes)."""

    invoice_id: str
    customer_id: str
    currency: str
    """Lower-case, as Stripe writes it."""
    items: tuple[PlannedItem, ...]
    total: int
    """Sum of the items, in minor units: equals the invoice total."""


def plan_invoice(invoice: Invoice) -> PlannedInvoice:
    """Convert ``invoice`` to Stripe amounts, or raise :class:`StripeSyncError` naming every
    line Stripe would refuse (:func:`check_invoice`)."""
    problems = check_invoice(invoice)
    if problems:
        raise StripeSyncError("; ".join(problems))
    items = [
        PlannedItem(
            line_id=line.id,
            description=line.description,
            amount=to_stripe_amount(line.rounded_amount, invoice.currency),
            period_start=_timestamp(line.period_start),
            period_end=_timestamp(line.period_end),
            idempotency_key=idempotency_key(invoice.id, line.id),
        )
        for line in invoice.lines
    ]
    total = sum(item.amount for item in items)
    return PlannedInvoice(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        currency=invoice.currency.lower(),
        items=tuple(items),
        total=total,
    )

