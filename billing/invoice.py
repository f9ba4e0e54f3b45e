"""The invoice: what rating produces and what sinks push.

An invoice is plain data: a deterministic id (derived from customer, plan version and period),
lines that each carry their exact amount and the amount rounded once to the currency's minor unit,
and a total that is the sum of the rounded lines (so it matches what Stripe receives line by line).
It round-trips through JSON exactly (amounts are decimal strings, always fixed-point: see
:func:`decimal_text`).
"""

from __future__ import annotations

import decimal
import hashlib
from datetime import date
from decimal import Decimal
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from billing.money import Rounding, round_money

__all__ = [
    "CreditBalance",
    "Invoice",
    "InvoiceLine",
    "LineKind",
    "RefusedUsage",
    "decimal_text",
    "invoice_id",
]

LineKind = Literal[
    "flat",
    "seats",
    "usage",
    "rate_card",
    "overage",
    "volume_discount",
    "overage_discount",
    "credit_pack",
    "credits_applied",
    "commitment_true_up",
    "cap_discount",
    "capacity_baseload",
    "capacity_spot",
]


_ZERO_PLACES_KEPT: Final = 6


def decimal_text(value: Decimal) -> str:
    """``value`` as a plain fixed-point string, the form every serialized decimal takes.

    ``str(Decimal)`` switches to scientific notation for large exponents: an exact zero left by
    60-digit arithmetic (666.66...7 - 666.66...7) is ``0E-57``, a normalized thousand ``1E+3``.
    Here: ``1000``, ``0.0000001``, ``2.50`` (the places a value carries are kept). A zero with
    more than 6 places is ``0`` (no rounded amount has that many: such a zero's exponent is an
    accident of exact arithmetic), and a zero never has a sign (``-0.00`` is ``0.00``).

    >>> [decimal_text(Decimal(v)) for v in ("0E-57", "-0.00", "1E+3", "1E-7", "2.50")]
    ['0', '0.00', '1000', '0.0000001', '2.50']
    """
    if not value:
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -_ZERO_PLACES_KEPT:
            return "0"
        value = abs(value)
    return format(value, "f")


PlainDecimal = Annotated[Decimal, PlainSerializer(decimal_text, return_type=str,
                                                  when_used="json")]
"""A Decimal field written to JSON by :func:`decimal_text` (the Python dump keeps the Decimal)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InvoiceLine(_Frozen):
    """One line: what was charged, for which period, by which charge of the plan."""

    id: str = Field(description="Stable id within the invoice, e.g. 'L03'.")
    kind: LineKind = Field(description="What produced the line.")
    charge: str = Field(description="Name of the plan charge that produced the line.")
    description: str
    quantity: PlainDecimal = Field(description="Units billed, in `unit`.")
    unit: str = Field(description="What one unit is: 'seat', '1M tokens', 'credit', 'fee'...")
    unit_price: PlainDecimal | None = Field(
        default=None, description="Price of one unit, when a single unit price explains the line."
    )
    amount: PlainDecimal = Field(description="Exact amount, never rounded.")
    rounded_amount: PlainDecimal = Field(description="`amount` rounded once to the minor unit.")
    period_start: date = Field(description="First day covered (inclusive).")
    period_end: date = Field(description="Day after the last day covered (exclusive).")
    details: tuple[tuple[str, PlainDecimal], ...] = Field(
        default=(), description="Breakdown (label, exact amount) that sums to `amount`."
    )
    model: str | None = Field(default=None, description="Model, for per-model usage lines.")
    grade: str | None = Field(default=None, description="Model grade, for per-model usage lines.")
    source: str | None = Field(
        default=None, description="Plan file and line of the charge that produced the line, "
        "e.g. 'plans/03-base-plus-overage.yaml:24' (None for a plan built in code).")


class CreditBalance(_Frozen):
    """What happened to one credit grant or pack purchase in the period, in credit units."""

    source: str
    paid: bool
    granted: PlainDecimal
    burned: PlainDecimal
    expired: PlainDecimal
    remaining: PlainDecimal
    expires: date | None
    value_per_credit: PlainDecimal = Field(
        description="Money one credit of this grant is worth: the purchase price per credit for "
        "packs, the credit's unit value for grants."
    )


class RefusedUsage(_Frozen):
    """Usage refused by ``overage: block`` (credits exhausted), valued at list price."""

    model: str
    value: PlainDecimal
    credits: PlainDecimal


class Invoice(_Frozen):
    """A closed (or to-date) invoice for one customer, one plan version, one billing period."""

    id: str
    customer_id: str
    plan_id: str
    plan_version: date
    currency: str
    period_start: date
    period_end: date
    lines: tuple[InvoiceLine, ...]
    subtotal: PlainDecimal = Field(description="Sum of the rounded lines.")
    total: PlainDecimal = Field(description="Amount due: equals `subtotal` (credits are lines).")
    credits: tuple[CreditBalance, ...] = ()
    refused: tuple[RefusedUsage, ...] = ()
    breakage: PlainDecimal = Field(
        default=Decimal(0),
        description="What the customer paid for credits that expired unused in the period "
        "(pack price per credit; a paid grant's unit value).",
    )
    notes: tuple[str, ...] = ()

    def to_json(self) -> str:
        """Deterministic JSON (same invoice, same bytes)."""
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> Invoice:
        return cls.model_validate_json(text)

    def render(self) -> str:
        """A readable plain-text rendering."""
        width = 70
        out = [
            f"Invoice {self.id}",
            f"Customer {self.customer_id}   Plan {self.plan_id} (version {self.plan_version})",
            f"Period {self.period_start} to {self.period_end} (exclusive)   Currency {self.currency}",
            "-" * (width + 16),
        ]
        for line in self.lines:
            qty = _fmt_qty(line.quantity)
            price = (f" @ {decimal_text(line.unit_price)}" if line.unit_price is not None
                     else "")
            label = f"{line.description} ({qty} {line.unit}{price})"
            if len(label) <= width:
                out.append(f"{label:<{width}} {line.rounded_amount:>15}")
            else:  # never cut a description: the amount goes on the next line
                out.extend([label, f"{'':<{width}} {line.rounded_amount:>15}"])
        out.append("-" * (width + 16))
        out.append(f"{'Total ' + self.currency:<{width}} {self.total:>15}")
        for bal in self.credits:
            out.append(
                f"  credits {bal.source}: granted {_fmt_qty(bal.granted)}, burned "
                f"{_fmt_qty(bal.burned)}, expired {_fmt_qty(bal.expired)}, "
                f"remaining {_fmt_qty(bal.remaining)}"
            )
        for refused in self.refused:
            out.append(
                f"  refused (credits exhausted): {refused.model} worth {decimal_text(refused.value)} "
                f"({_fmt_qty(refused.credits)} credits)"
            )
        out.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(out)


_SHOWN: Final = Decimal("0.000001")


def _fmt_qty(value: Decimal) -> str:
    """A quantity for reading: whole numbers as they are, others to at most 6 decimals, marked
    ``~`` when that rounded them (a prorated 2/3 of a period is ``~0.666667``). Display only:
    the line keeps its exact quantity and amount."""
    if value == value.to_integral():
        return format(value.normalize(), "f")
    shown = value.quantize(_SHOWN, rounding=decimal.ROUND_HALF_EVEN)
    text = format(shown.normalize(), "f")
    return text if shown == value else f"~{text}"


def invoice_id(customer_id: str, plan_id: str, plan_version: date, start: date, end: date) -> str:
    """Deterministic invoice id from customer, plan version and the days billed (the period,
    clipped to the subscription): two subscriptions sharing a period get different ids."""
    key = f"{customer_id}\x1f{plan_id}\x1f{plan_version.isoformat()}\x1f{start}\x1f{end}"
    return "in_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def make_line(
    *,
    index: int,
    kind: LineKind,
    charge: str,
    description: str,
    quantity: Decimal,
    unit: str,
    amount: Decimal,
    currency: str,
    rounding: Rounding,
    period_start: date,
    period_end: date,
    unit_price: Decimal | None = None,
    details: tuple[tuple[str, Decimal], ...] = (),
    model: str | None = None,
    grade: str | None = None,
    source: str | None = None,
) -> InvoiceLine:
    """Build a line, rounding its exact amount once."""
    return InvoiceLine(
        id=f"L{index:03d}",
        kind=kind,
        charge=charge,
        description=description,
        quantity=quantity,
        unit=unit,
        unit_price=unit_price,
        amount=amount,
        rounded_amount=round_money(amount, currency, rounding),
        period_start=period_start,
        period_end=period_end,
        details=details,
        model=model,
        grade=grade,
        source=source,
    )
