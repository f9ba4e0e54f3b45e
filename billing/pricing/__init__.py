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
allowance       included quantities
credits         prepaid credit burn-down, auto top-up, overage, breakage
capacity        baseload reservation plus time-of-use spot prices per UTC hour
commitment      minimum-spend true-up
cap             maximum-spend cap
==============  =====================================================================
"""

from __future__ import annotations

from billing.pricing.core import PriceResult, Tier

__all__ = ["PriceResult", "Tier"]
