"""Package pricing: units are sold in packages of ``size``; a partial package rounds up or down.

    >>> price(2_500, 1_000, Decimal("0.50")).amount        # 3 packages
    Decimal('1.50')
    >>> price(2_500, 1_000, Decimal("0.50"), round="down").amount  # 2 packages
    Decimal('1.00')
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Literal

from billing.errors import RatingError
from billing.pricing.core import EXACT, PriceResult, fmt, non_negative

__all__ = ["price"]


def price(
    quantity: Decimal | int,
    size: int,
    package_price: Decimal,
    round: Literal["up", "down"] = "up",
) -> PriceResult:
    """Price ``quantity`` as whole packages of ``size`` units at ``package_price`` each."""
    units = non_negative(quantity, "quantity")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        if isinstance(size, float):
            non_negative(size, "size")  # raises FloatMoneyError
        raise RatingError(f"package size must be a positive integer, got {size!r}")
    each = non_negative(package_price, "package_price")
    if round not in ("up", "down"):
        raise RatingError(f"package round must be 'up' or 'down', got {round!r}")
    mode = decimal.ROUND_CEILING if round == "up" else decimal.ROUND_FLOOR
    with decimal.localcontext(EXACT):
        packages = (units / size).to_integral_value(rounding=mode)
        amount = packages * each
    label = f"{fmt(packages)} package(s) of {size} at {each} ({fmt(units)} units, rounded {round})"
    return PriceResult(amount, ((label, amount),))
