"""``seats``: a price per seat per interval, seat-days prorated when ``proration: daily``."""

from __future__ import annotations

from billing.charges.lines import LineText
from billing.charges.run import Billing
from billing.money import EXACT
from billing.plans.compiled import SeatFee

__all__ = ["bill"]


def bill(fee: SeatFee, run: Billing) -> None:
    charge = fee.spec
    quantity = run.terms.seats[fee.index]
    run.out.add("seats", fee.name, EXACT.multiply(charge.price, quantity),
                lambda: LineText(f"{charge.name} ({run.plan.interval})", quantity, "seat",
                                 charge.price))
