"""``commitment``: a minimum on the metered spend; a true-up line bills what it falls short by.

Applied after every other charge (with ``cap``), to the metered lines as billed (rounded), so
the invoice total lands exactly on the minimum."""

from __future__ import annotations

import decimal
from decimal import Decimal

from billing.charges.columns import where
from billing.charges.lines import LineText, shown_money
from billing.charges.run import Billing
from billing.money import EXACT, ZERO
from billing.plans.compiled import SpendCommitment
from billing.pricing import commitment

__all__ = ["bill"]


def bill(fee: SpendCommitment, run: Billing) -> None:
    charge = fee.spec
    minimum = EXACT.multiply(charge.minimum, run.terms.fraction)
    spend = run.out.metered_spend()
    with decimal.localcontext(EXACT):
        short = minimum - spend
    present = short > 0

    def text() -> LineText:  # (one customer: ``spend`` is its number)
        details = commitment.true_up(spend, minimum).details
        return LineText(f"{charge.name}: true-up to {shown_money(minimum, run.plan.currency)}",
                        Decimal(1), "true-up", None, details)

    run.out.add("commitment_true_up", fee.name, where(present, short, ZERO), text,
                present=present)
