"""``flat``: a fixed fee per interval, prorated by days (or by the trace's share in compare)."""

from __future__ import annotations

from decimal import Decimal

from billing.charges.lines import LineText
from billing.charges.run import Billing
from billing.plans.compiled import FlatFee

__all__ = ["bill"]


def bill(fee: FlatFee, run: Billing) -> None:
    charge, terms = fee.spec, run.terms
    share = terms.fraction if charge.proration == "daily" or terms.fixed_fraction is not None \
        else Decimal(1)
    run.out.add("flat", fee.name, terms.flat[fee.index],
                lambda: LineText(charge.name, share, run.plan.interval, charge.price))
