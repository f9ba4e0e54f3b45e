"""Volume tiers (Stripe's ``tiers_mode=volume``): the tier reached by the total prices ALL units.

Boundaries are inclusive: exactly ``up_to`` units stay in that tier. The reached tier's
``flat_price`` is added. Stripe's example, tiers up to 5 at 5, up to 10 at 4, ..., then 1:
6 units cost 6 x 4 = 24 and 25 units cost 25 x 1 = 25.
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
    """Price all of ``quantity`` at the tier its total reaches.

    Zero quantity reaches no tier and costs nothing (no flat fee either).
    """
    checked = check_tiers(tiers)
    divisor = check_per(per)
    with decimal.localcontext(EXACT):
        units = non_negative(quantity, "quantity") / divisor
        if units == 0:
            return PriceResult(Decimal(0), ())
        lower = Decimal(0)
        for number, tier in enumerate(checked, start=1):
            if tier.up_to is None or units <= tier.up_to:
                label = tier_label(number, lower, tier)
                details = [(f"{label}: all {fmt(units)} x {tier.unit_price}",
                            units * tier.unit_price)]
                if tier.flat_price:
                    details.append((f"{label}: flat {tier.flat_price}", tier.flat_price))
                amount = sum((value for _, value in details), Decimal(0))
                return PriceResult(amount, tuple(details))
            lower = tier.up_to
    raise AssertionError("unreachable: check_tiers guarantees an unbounded last tier")
