"""``capacity``: a baseload of weighted tokens per UTC hour, paid whether used or not, and spot
prices for usage above it.

It reads each customer's weighted usage already summed (``run.capacity[charge name]``): within
the baseload over all buckets, and above it per spot price (what
:func:`billing.pricing.capacity.summed` makes of one customer's hourly rows, and the comparison's
engine of every customer's, in integers). The reservation (reserved and covered weighted tokens)
is added to ``run.reserved`` and ``run.covered``."""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from billing.charges.columns import Col, where
from billing.charges.lines import LineText
from billing.charges.run import Billing
from billing.money import EXACT, MTOK, ZERO
from billing.plans.compiled import CapacityFee
from billing.pricing import capacity
from billing.pricing.core import non_negative

__all__ = ["CapacityUsage", "bill"]


@dataclass(frozen=True, slots=True)
class CapacityUsage:
    """Weighted usage of one capacity charge in one period, already summed: within the baseload
    (over all buckets) and above it, per spot price (values, or columns of a batch)."""

    covered: Col
    excess_at: Mapping[Decimal, Col]


_NONE = CapacityUsage(ZERO, {})


def bill(fee: CapacityFee, run: Billing) -> None:
    charge = fee.spec
    given = run.capacity.get(fee.name, _NONE)
    buckets = run.terms.buckets if run.buckets is None else run.buckets
    reserve = non_negative(charge.baseload.per_bucket, "per_bucket")
    base_price = non_negative(charge.baseload.price_per_mtok, "baseload_price_per_mtok")
    with decimal.localcontext(EXACT):
        reserved = buckets * reserve
        base_amount = reserved * base_price / MTOK
        spot: Col = Decimal(0)
        for rate, tokens in sorted(given.excess_at.items()):
            spot = where(tokens != 0, spot + tokens * rate / MTOK, spot)

    def priced() -> capacity.CapacityResult:  # one customer: its breakdown
        return capacity.price_grouped(buckets, charge.baseload.per_bucket,
                                      charge.baseload.price_per_mtok, given.covered,
                                      given.excess_at)

    run.out.add("capacity_baseload", fee.name, base_amount, lambda: LineText(
        f"{fee.name}: baseload {charge.baseload.per_bucket:,} tokens/hour x {buckets} hours",
        Decimal(buckets * charge.baseload.per_bucket) / MTOK, "1M reserved tokens",
        charge.baseload.price_per_mtok, priced().baseload.details))
    run.out.add("capacity_spot", fee.name, spot, lambda: LineText(
        f"{fee.name}: spot usage above the baseload",
        sum(given.excess_at.values(), ZERO) / MTOK, "1M tokens", None, priced().spot.details))
    run.reserved = (ZERO if run.reserved is None else run.reserved) + reserved
    run.covered = (ZERO if run.covered is None else run.covered) + given.covered
