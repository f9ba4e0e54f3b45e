"""Charge kinds: each computes its invoice lines, once, for a batch of customers.

One module per kind of the plan language (``flat``, ``seats``, ``usage``, ``commitment``,
``cap``, ...), each with ``bill(charge, run)``: ``charge`` is the compiled charge
(:mod:`billing.plans.compiled`), ``run`` a :class:`Billing` holding the batch's per-model period
totals (:class:`PeriodTotals`), the period's usage-independent :class:`Terms` and the
:class:`LineSink` its lines go to. A batch of one is one customer's invoice (``billing rate``,
the ledger, through :class:`billing.rating.rater.Rater`); a batch of many is every customer of
a period in ``billing compare``. Both run the same code: its values are plain numbers or numpy
columns of exact ``Decimal`` (:mod:`billing.charges.columns`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from billing.charges import cap, capacity, commitment, credits, flat, rate_card, seats, usage
from billing.charges.capacity import CapacityUsage
from billing.charges.credits import CreditLines
from billing.charges.lines import LineSink, LineText
from billing.charges.rate_card import Prices
from billing.charges.run import Billing, CardValue, grade_of
from billing.charges.terms import Terms, seat_quantity
from billing.charges.totals import CLASSES, ModelTotals, PeriodTotals
from billing.plans.compiled import (
    CapacityFee,
    CompiledCharge,
    CreditsFee,
    FlatFee,
    MeteredUsage,
    RateCard,
    SeatFee,
    SpendCap,
    SpendCommitment,
)

__all__ = [
    "BILLERS",
    "CLASSES",
    "Billing",
    "CapacityUsage",
    "CardValue",
    "CreditLines",
    "LineSink",
    "LineText",
    "ModelTotals",
    "PeriodTotals",
    "Prices",
    "Terms",
    "grade_of",
    "seat_quantity",
]

BILLERS: Mapping[type[CompiledCharge], Callable[[Any, Billing], None]] = {
    FlatFee: flat.bill,
    SeatFee: seats.bill,
    MeteredUsage: usage.bill,
    CapacityFee: capacity.bill,
    CreditsFee: credits.bill,
    RateCard: rate_card.bill,
    SpendCommitment: commitment.bill,
    SpendCap: cap.bill,
}
"""The one implementation of each charge kind moved here, by compiled charge class."""
