"""Included allowances: the part of a quantity that a plan includes."""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal

from billing.pricing.core import EXACT, non_negative

__all__ = ["AllowanceResult", "apply"]


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

