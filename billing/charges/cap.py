"""``cap``: a maximum on the metered spend; a negative line takes off what goes above it.

Applied after every other charge (with ``commitment``), to the metered lines as billed
(rounded), so the invoice total lands exactly on the cap."""

from __future__ import annotations

import decimal
from decimal import Decimal

from billing.charges.columns import where
from billing.charges.lines import LineText, shown_money
from billing.charges.run import Billing
from billing.money import EXACT, ZERO
from billing.plans.compiled import SpendCap
from billing.pricing import cap

__all__ = ["bill"]


def bill(fee: SpendCap, run: Billing) -> None:
    charge = fee.spec
    maximum = EXACT.multiply(charge.maximum, run.terms.fraction)
    spend = run.out.metered_spend()
    with decimal.localcontext(EXACT):
        over = spend - maximum
    present = over > 0

    def text() -> LineText:  # (one customer: ``spend`` is its number)
        details = cap.apply(spend, maximum).details
        return LineText(f"{charge.name}: spend capped at "
                        f"{shown_money(maximum, run.plan.currency)}", Decimal(1), "cap", None,
                        details)

    run.out.add("cap_discount", fee.name, where(present, -over, ZERO), text, present=present)
