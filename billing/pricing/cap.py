"""Spend cap: spend above ``maximum`` is shown, then taken off by a negative line."""

from __future__ import annotations

import decimal
from decimal import Decimal

from billing.money import D
from billing.pricing.core import EXACT, PriceResult, non_negative

__all__ = ["apply"]


def apply(spend: Decimal, maximum: Decimal) -> PriceResult:
    """``-(spend - maximum)`` when spend exceeds the cap, else zero (no breakdown row)."""
    spent = D(spend)
    ceiling = non_negative(maximum, "maximum")
    with decimal.localcontext(EXACT):
        over = spent - ceiling
    if over <= 0:
        return PriceResult(Decimal(0), ())
    return PriceResult(-over, ((f"cap: spend {spent} above maximum {ceiling}", -over),))
