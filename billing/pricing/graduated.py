"""Graduated tiers (Stripe's ``tiers_mode=graduated``): each tier prices the units that fall in it.

A tier's ``flat_price`` is added when at least part of a unit falls in it. Units may be
fractional: 10.5M tokens at ``per=1_000_000`` are 10.5 priced units. Stripe's example, tiers up to
5 at 5, up to 10 at 4, ...: 6 units cost 5 x 5 + 1 x 4 = 29.

The same function prices a discount on an amount: "the first 5,000.00 of overage at rate 1.00,
the next 20,000.00 at 0.90, the rest at 0.80" is ``price(overage, tiers)`` with ``unit_price`` set
to the rate.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from decimal import Decimal

from billing.pricing.core import (
    EXACT,
    PriceResult,
    Tier,
    check_per,
    check_tiers,
    fmt,
    non_negative,
    tier_label,
)

__all__ = ["price"]


def price(quantity: Decimal | int, tiers: Sequence[Tier], per: int = 1) -> PriceResult:
    """Price ``quantity`` through graduated ``tiers``; one breakdown row per tier reached.

    Zero quantity reaches no tier and costs nothing (no flat fee either).
    """
    checked = check_tiers(tiers)
    divisor = check_per(per)
    details: list[tuple[str, Decimal]] = []
    with decimal.localcontext(EXACT):
        units = non_negative(quantity, "quantity") / divisor
        lower = Decimal(0)
        for number, tier in enumerate(checked, start=1):
            if units <= lower:
                break
            upper = units if tier.up_to is None else min(units, tier.up_to)
            in_tier = upper - lower
            label = tier_label(number, lower, tier)
            details.append((f"{label}: {fmt(in_tier)} x {tier.unit_price}",
                            in_tier * tier.unit_price))
            if tier.flat_price:
                details.append((f"{label}: flat {tier.flat_price}", tier.flat_price))
            if tier.up_to is None:
                break
            lower = tier.up_to
        amount = sum((value for _, value in details), Decimal(0))
    return PriceResult(amount, tuple(details))
