"""What a period bills whatever the usage: proration, seats, allowances, capacity buckets.

:class:`Terms` is worked out once per (plan, period, subscription dates and seats, fixed
fraction) and read by every charge kind: one customer's invoice and a batch of customers who
share their seats and dates use the same terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from billing.money import EXACT
from billing.periods import Period
from billing.plans.compiled import (
    CompiledPlan,
    FlatFee,
    MeteredUsage,
    RateCard,
    SeatFee,
)
from billing.pricing import capacity
from billing.subscriptions import Subscription

__all__ = ["Terms", "seat_quantity"]


def seat_quantity(sub: Subscription, period: Period, fixed: Decimal | None,
                  daily: bool) -> Decimal:
    """Seats billed for ``period``: ``fixed`` x the seats on its first day when given (a fixed
    proration), else seat-days / days when ``daily``, else the seats on its first day."""
    if fixed is not None:
        return EXACT.multiply(Decimal(sub.seats_on(period.start) or sub.seats_on(sub.start)),
                              fixed)
    if daily:
        return sub.seat_quantity(period)
    return Decimal(sub.seats_on(max(period.start, sub.start)))


@dataclass(frozen=True, slots=True)
class Terms:
    """A plan's usage-independent terms for one subscription (dates, seats) and period."""

    subscription: Subscription
    period: Period
    fixed_fraction: Decimal | None
    """The share of the period a short trace covers (compare), replacing day-based proration."""
    fraction: Decimal
    """The share of fixed components billed: ``fixed_fraction`` or the active days' share."""
    seats: Mapping[int, Decimal]
    """Seat quantity per seats charge (by charge index; prorated or not, as it says)."""
    flat: Mapping[int, Decimal]
    """Amount of each flat fee."""
    included: Mapping[int, Decimal]
    """Units a usage charge includes (by charge index)."""
    card_included: Mapping[int, Decimal]
    """Money a rate card's usage includes (``included_amount``, prorated)."""
    buckets: int
    """Capacity buckets (UTC hours) of the active part of the period."""

    @classmethod
    def of(cls, plan: CompiledPlan, sub: Subscription, period: Period,
           fixed: Decimal | None) -> Terms:
        fraction = sub.active_fraction(period) if fixed is None else fixed
        seats = seat_quantity(sub, period, fixed, True)  # what per-seat allowances use
        seat_counts: dict[int, Decimal] = {}
        flat: dict[int, Decimal] = {}
        included: dict[int, Decimal] = {}
        card_included: dict[int, Decimal] = {}
        for charge in plan.charges:
            index = charge.index
            if isinstance(charge, FlatFee):
                share = fraction if charge.spec.proration == "daily" or fixed is not None \
                    else Decimal(1)
                flat[index] = EXACT.multiply(charge.spec.price, share)
            elif isinstance(charge, SeatFee):
                seat_counts[index] = seat_quantity(sub, period, fixed,
                                                   charge.spec.proration == "daily")
            elif isinstance(charge, MeteredUsage) and charge.spec.included is not None:
                allowance = charge.spec.included
                if allowance.per_seat is not None:
                    included[index] = EXACT.multiply(Decimal(allowance.per_seat), seats)
                else:
                    included[index] = EXACT.multiply(Decimal(allowance.amount or 0), fraction)
            elif isinstance(charge, RateCard) and charge.spec.included_amount is not None:
                card_included[index] = EXACT.multiply(charge.spec.included_amount, fraction)
        active = period.clip(sub.start, sub.end) or period
        buckets = len(capacity.hours_between(active.start_dt, active.end_dt))
        return cls(sub, period, fixed, fraction, seat_counts, flat, included, card_included,
                   buckets)
