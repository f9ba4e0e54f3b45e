"""What a customer may still spend, read off the rater's own invoices (no second pricer).

A hold is priced by rating the customer's period twice with the rater that bills it: once with
the usage recorded so far plus every open hold at its worst case (the *base*), once with the
request's worst case added. The difference is the hold's amount, and the second rating says
whether a hard limit would be crossed:

- ``credits``: a credits charge with ``overage: block`` (and no auto top-up, which buys packs
  instead) would refuse part of the usage (the refused value grows);
- ``cap``: a ``cap`` charge's metered spend (before the cap's discount) would exceed the cap
  (prorated as the rater prorates it);
- ``limit``: the invoice total would exceed the spending limit set on the customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from billing.money import ZERO
from billing.periods import Period
from billing.plans.model import CapCharge, CreditsCharge, Plan
from billing.rating.rater import METERED_KINDS, RatingResult
from billing.subscriptions import Subscription

__all__ = ["Limit", "crossed", "exposure", "limits", "metered_before_cap", "usable_credits"]

_GROSS = METERED_KINDS - {"credits_applied"}


def metered_before_cap(result: RatingResult) -> Decimal:
    """The metered spend a cap applies to: the metered lines as billed, before the cap."""
    return sum((ln.rounded_amount for ln in result.invoice.lines if ln.kind in METERED_KINDS),
               ZERO)


def exposure(result: RatingResult) -> Decimal:
    """The value of the usage as priced: metered lines before credits and caps, plus what
    ``overage: block`` refused. A hold's amount is the growth of this figure."""
    gross = sum((ln.rounded_amount for ln in result.invoice.lines if ln.kind in _GROSS), ZERO)
    return gross + result.refused_value


def usable_credits(result: RatingResult, today: date) -> Decimal:
    """Credits still usable on ``today`` (the invoice shows the period's closing state: credits
    expiring at the period's end are 'expired' there but usable before it)."""
    return sum((b.remaining + b.expired for b in result.invoice.credits
                if b.expires is None or b.expires > today), ZERO)


@dataclass(frozen=True, slots=True)
class Limit:
    """One hard limit: how much is used and how much is allowed, in the plan's currency."""

    basis: str  # "credits", "cap" or "limit"
    used: Decimal
    allowed: Decimal

    @property
    def available(self) -> Decimal:
        return max(self.allowed - self.used, ZERO)


def limits(plan: Plan, sub: Subscription, result: RatingResult, today: date,
           spend_limit: Decimal | None) -> list[Limit]:
    """Every hard limit that applies to the customer, measured on ``result``."""
    out: list[Limit] = []
    invoice = result.invoice
    for charge in plan.charges:
        if (isinstance(charge, CreditsCharge) and charge.overage == "block"
                and charge.auto_topup is None):  # an auto top-up buys packs instead
            left = usable_credits(result, today) * charge.unit_value
            out.append(Limit("credits", ZERO, left))
        elif isinstance(charge, CapCharge):
            fraction = sub.active_fraction(Period(invoice.period_start, invoice.period_end))
            out.append(Limit("cap", metered_before_cap(result), charge.maximum * fraction))
    if spend_limit is not None:
        out.append(Limit("limit", invoice.total, spend_limit))
    return out


def crossed(plan: Plan, sub: Subscription, before: RatingResult, after: RatingResult,
            today: date, spend_limit: Decimal | None) -> tuple[Limit, Limit] | None:
    """The first limit that ``after`` crosses (with its state in ``before``), or None."""
    old = limits(plan, sub, before, today, spend_limit)
    new = limits(plan, sub, after, today, spend_limit)
    for prior, limit in zip(old, new, strict=True):
        if limit.basis == "credits":
            if after.refused_value > before.refused_value:
                return prior, limit
        elif limit.used > limit.allowed:
            return prior, limit
    return None
