"""A plan's charges billed in order for a batch: the one loop every rating path runs.

Lines follow the plan's order, except that ``commitment`` and ``cap`` come last, applied to the
metered spend (usage lines and their discounts, after credits): "usage, then the volume
discount, then the commitment true-up or the cap on the discounted total" (plan 06)."""

from __future__ import annotations

from billing.charges import BILLERS
from billing.charges.run import Billing

__all__ = ["bill_plan"]


def bill_plan(run: Billing) -> Billing:
    """Bill every charge of ``run.compiled`` into ``run.out``; returns ``run`` (its reservation
    and card values filled in)."""
    charges = run.compiled.charges
    for charge in charges:
        if not charge.applies_last:
            BILLERS[type(charge)](charge, run)
    for charge in charges:
        if charge.applies_last:
            BILLERS[type(charge)](charge, run)
    return run
