"""Minimum commitment: a true-up line bills the difference when spend falls short."""

from __future__ import annotations

import decimal
from decimal import Decimal

from billing.money import D
from billing.pricing.core import EXACT, PriceResult, non_negative

__all__ = ["true_up"]


def true_up(spend: Decimal, minimum: Decimal) -> PriceResult:
    """``minimum - spend`` when positive, else zero (no breakdown row)."""
    spent = D(spend)
    floor = non_negative(minimum, "minimum")
    with decimal.localcontext(EXACT):
        short = floor - spent
    if short <= 0:
        return PriceResult(Decimal(0), ())
    return PriceResult(short, ((f"true-up: minimum {floor} - spend {spent}", short),))
