"""Included allowances: the part of a quantity that a plan includes, and pooled per-seat grants."""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from billing.errors import RatingError
from billing.pricing.core import EXACT, fmt, non_negative

__all__ = ["AllowanceResult", "apply", "prorated"]


@dataclass(frozen=True, slots=True)
class AllowanceResult:
    """``covered`` by the allowance and ``billable`` beyond it; both never negative."""

    billable: Decimal
    covered: Decimal


def apply(quantity: Decimal | int, included: Decimal | int) -> AllowanceResult:
    """Split ``quantity`` into what ``included`` covers and what is left to bill."""
    used = non_negative(quantity, "quantity")
    allowance = non_negative(included, "included")
    covered = min(used, allowance)
    with decimal.localcontext(EXACT):
        return AllowanceResult(billable=used - covered, covered=covered)


def prorated(
    per_seat_included: Decimal | int, seat_days: Sequence[tuple[int, Decimal]]
) -> Decimal:
    """A pooled allowance: ``per_seat_included`` times the seats, each weighted by its share.

    ``seat_days`` lists ``(seats, fraction_of_period)``: 10 seats all month and 1 more seat for
    15 of 30 days at 2M per seat is ``prorated(2_000_000, [(10, 1), (1, Decimal("0.5"))])``
    = (10 x 1 + 1 x 0.5) x 2M = 21M.
    """
    per_seat = non_negative(per_seat_included, "per_seat_included")
    seat_periods = Decimal(0)
    with decimal.localcontext(EXACT):
        for index, (seats, fraction) in enumerate(seat_days):
            if isinstance(seats, bool) or not isinstance(seats, int):
                non_negative(seats, f"seat_days[{index}] seats")  # floats: FloatMoneyError
                raise RatingError(f"seat_days[{index}]: seats must be an integer, got {seats!r}")
            if seats < 0:
                raise RatingError(f"seat_days[{index}]: seats must not be negative, got {seats}")
            share = non_negative(fraction, f"seat_days[{index}] fraction")
            if share > 1:
                raise RatingError(
                    f"seat_days[{index}]: fraction of the period must be at most 1, "
                    f"got {fmt(share)}"
                )
            seat_periods += seats * share
        return seat_periods * per_seat
