"""Pure pricers: one small module per pricing model, each a function of (quantity, spec).

No I/O, no clock, no globals: time is an argument. Every pricer returns the exact amount in
``Decimal`` and a breakdown that sums to it (:class:`PriceResult`); rounding to a currency happens
later, once per invoice line.

==============  =====================================================================
module          model
==============  =====================================================================
per_unit        quantity / per x unit price
graduated       Stripe graduated tiers (also discounts on an amount: rate as price)
volume          Stripe volume tiers: the tier reached prices all units
package         whole packages of N units, partial packages rounded up or down
allowance       included quantities, pooled per-seat allowances
credits         prepaid credit burn-down, auto top-up, overage, breakage
capacity        baseload reservation plus time-of-use spot prices per UTC hour
commitment      minimum-spend true-up
cap             maximum-spend cap
==============  =====================================================================

The quantity pricers are registered by kind in :data:`PRICERS`; :func:`pricer_for` fails loudly
on an unknown kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from billing.errors import RatingError
from billing.pricing import graduated, package, per_unit, volume
from billing.pricing.core import PriceResult, Tier

__all__ = ["PRICERS", "PriceResult", "Tier", "pricer_for"]

Pricer = Callable[..., PriceResult]

PRICERS: Mapping[str, Pricer] = MappingProxyType(
    {
        "per_unit": per_unit.price,
        "graduated": graduated.price,
        "volume": volume.price,
        "package": package.price,
    }
)
"""The quantity pricers by kind: ``per_unit``, ``graduated``, ``volume``, ``package``."""


def pricer_for(kind: str) -> Callable[..., Any]:
    """The pricer registered for ``kind``, or :class:`~billing.errors.RatingError`."""
    try:
        return PRICERS[kind]
    except (KeyError, TypeError):
        known = ", ".join(sorted(PRICERS))
        raise RatingError(f"unknown pricing kind {kind!r} (known kinds: {known})") from None
