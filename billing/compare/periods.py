"""Billing periods of a comparison and their proration.

Every customer is subscribed on the trace's first UTC day, also the billing anchor. For each
billing period the trace overlaps, fixed components are prorated by ``overlap / period length``
(exact, from microseconds) and capacity reserves the UTC hours the trace touches in that period;
``full_periods`` bills every period whole. See :mod:`billing.compare.comparison`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from billing.money import exact
from billing.periods import Period, nth_period
from billing.plans import Plan
from billing.plans.model import CapacityCharge, CreditsCharge
from billing.usage.keys import DAY_S, HOUR_US, epoch_micros

__all__ = ["Slice", "period_slices", "proration_text"]


def _micros(delta: timedelta) -> int:
    return (delta.days * DAY_S + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True, slots=True)
class Slice:
    """One billing period the trace touches, with its proration."""

    period: Period
    fraction: Decimal | None
    hours: tuple[int, ...] | None


def period_slices(plan: Plan, start: datetime, end: datetime, full: bool) -> list[Slice]:
    anchor = start.date()
    out: list[Slice] = []
    n = 0
    while True:
        period = nth_period(anchor, plan.interval, n)
        if period.start_dt > end:  # an event exactly at a period's start opens that period
            break
        if full:
            out.append(Slice(period, None, None))
        else:
            lo = max(start, period.start_dt)
            hi = min(end, period.end_dt)
            span = _micros(hi - lo)
            length = _micros(period.end_dt - period.start_dt)
            fraction = exact(Decimal(span) / Decimal(length))
            first_hour = epoch_micros(lo) // HOUR_US
            last_hour = (epoch_micros(hi) - (1 if hi == period.end_dt else 0)) // HOUR_US
            out.append(Slice(period, fraction, tuple(range(first_hour, last_hour + 1))))
        n += 1
    return out


def proration_text(plan: Plan, slices: Sequence[Slice], full: bool) -> str:
    packs = any(isinstance(c, CreditsCharge) and c.packs for c in plan.charges)
    if full:
        text = (f"full periods: {len(slices)} {plan.interval} period(s) billed whole "
                "(--full-periods)")
        if packs:
            text += ("; credit packs as invoiced, the paid credits left at the end counted "
                     "as breakage")
        return text
    first = slices[0]
    assert first.fraction is not None and first.hours is not None
    capacity = any(isinstance(c, CapacityCharge) for c in plan.charges)
    if len(slices) == 1:
        text = (f"prorated: the trace covers {first.fraction * 100:.4f}% of the {plan.interval} "
                f"{first.period}; fixed fees, seats, allowances, grants, commitment and cap "
                f"x {first.fraction:.6f}")
        if capacity:
            text += f"; baseload reserved for the {len(first.hours)} UTC hour(s) the trace spans"
    else:
        text = (f"prorated: the trace spans {len(slices)} {plan.interval} periods from "
                f"{first.period.start}; each period's fixed components (and baseload hours) "
                "are prorated to the part of it the trace covers (the first and last partially)")
    if packs:
        text += ("; credit packs count for the paid credits the trace used (or that expired "
                 "in it), the credits left at its end are prepaid for later usage, not revenue")
    return text
