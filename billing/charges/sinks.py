"""Where lines go when no invoice is built: rounded amounts only, for one customer or a column
of customers (the invoice itself is built by :class:`billing.rating.rater.Rater`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from billing.charges.columns import Col, filled, is_column
from billing.money import EXACT, ZERO, Rounding, money_rounder

__all__ = ["METERED_KINDS", "RoundedLine", "RoundedLines"]

METERED_KINDS: frozenset[str] = frozenset(
    {"usage", "rate_card", "overage", "volume_discount", "overage_discount", "credits_applied",
     "capacity_spot"}
)
"""Line kinds that make up the metered spend a commitment or a cap applies to."""

_widen: Any = np.frompyfunc(EXACT.plus, 1, 1)


@dataclass(frozen=True, slots=True)
class RoundedLine:
    """One line of a batch: its rounded amount (per customer), and where it exists
    (``present``: per customer, or True for all)."""

    kind: str
    charge: str
    amount: Col
    present: Col
    model: str | None
    grade: str | None


class RoundedLines:
    """Lines rounded once, as an invoice rounds them (``round_money(EXACT.plus(amount))``):
    for a batch of ``size`` customers, column-wise without a Python call per customer, or for
    one customer (``size`` None) as plain values."""

    def __init__(self, size: int | None, currency: str, rounding: Rounding) -> None:
        self.size = size
        self.to_money = money_rounder(currency, rounding)
        self._to_money_column: Any = (None if size is None  # one customer: plain values
                                      else np.frompyfunc(self.to_money, 1, 1))
        self.lines: list[RoundedLine] = []

    def add(self, kind: str, charge: str, amount: Col, text: object = None, *,
            present: Col = True, model: str | None = None, grade: str | None = None) -> None:
        if self.size is None:
            if present:
                self.lines.append(RoundedLine(kind, charge, self.to_money(EXACT.plus(amount)),
                                              True, model, grade))
            return
        rounded = (self._to_money_column(_widen(amount)) if is_column(amount)
                   else filled(self.size, self.to_money(EXACT.plus(amount))))
        self.lines.append(RoundedLine(kind, charge, rounded, present, model, grade))

    def metered_spend(self) -> Col:
        spend: Col = ZERO if self.size is None else filled(self.size, ZERO)
        for line in self.lines:
            if line.kind in METERED_KINDS:
                spend = spend + line.amount
        return spend

    def total(self) -> Col:
        """The sum of the rounded lines (the invoice total), per customer."""
        total: Col = ZERO if self.size is None else filled(self.size, ZERO)
        for line in self.lines:
            total = total + line.amount
        return total

    def of(self, position: int) -> list[RoundedLine]:
        """The lines of the customer at ``position`` of the batch (those it has)."""
        out = []
        for line in self.lines:
            present = line.present if isinstance(line.present, bool) else line.present[position]
            if present:
                out.append(RoundedLine(line.kind, line.charge, line.amount[position], True,
                                       line.model, line.grade))
        return out
