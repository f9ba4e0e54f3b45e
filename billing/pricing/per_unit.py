"""Per-unit pricing: ``quantity / per * unit_price``, exact, with no rounding of units.

    >>> price(1_500_000, Decimal("3.00"), per=1_000_000).amount
    Decimal('4.500')
"""

from __future__ import annotations

import decimal
from decimal import Decimal

from billing.pricing.core import EXACT, PriceResult, check_per, fmt, non_negative

__all__ = ["price"]


def price(quantity: Decimal | int, unit_price: Decimal, per: int = 1) -> PriceResult:
    """Price ``quantity`` at ``unit_price`` per ``per`` units (e.g. per 1,000,000 tokens)."""
    units_total = non_negative(quantity, "quantity")
    rate = non_negative(unit_price, "unit_price")
    divisor = check_per(per)
    with decimal.localcontext(EXACT):
        units = units_total / divisor
        amount = units * rate
    if per == 1:
        label = f"{fmt(units_total)} x {rate}"
    else:
        label = f"{fmt(units_total)} at {rate} per {fmt(divisor)} ({fmt(units)} x {rate})"
    return PriceResult(amount, ((label, amount),))
