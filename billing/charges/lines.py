"""Where a charge kind puts its lines: an invoice (one customer) or columns (a batch).

A kind calls :meth:`LineSink.add` once per line of the plan, with the line's exact amount (a
value or a column, see :mod:`billing.charges.columns`), and, for an invoice, a function that
writes the line's text (description, quantity, unit, breakdown): the text is only made when an
invoice is built. ``present`` says for which customers the line exists (a true-up line exists
only where spend fell short; a model's rate card line only for customers who used the model);
a batch keeps a zero where it does not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import NamedTuple, Protocol

from billing.charges.columns import Col
from billing.money import round_money

__all__ = ["LineSink", "LineText", "shown_money"]


class LineText(NamedTuple):
    """What an invoice line says beside its amount."""

    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal | None = None
    details: Iterable[tuple[str, Decimal]] = ()


class LineSink(Protocol):
    def add(self, kind: str, charge: str, amount: Col, text: Callable[[], LineText], *,
            present: Col = True, model: str | None = None, grade: str | None = None) -> None:
        """One line of charge ``charge`` (its name) of kind ``kind``."""

    def metered_spend(self) -> Col:
        """The metered lines so far, as billed (rounded), summed per customer."""


def shown_money(amount: Decimal, currency: str) -> str:
    """An amount for a line's description: as written when it fits the currency's minor unit
    (``2000``), else rounded to it (a prorated minimum of 1,333.33...). The line's amount stays
    exact; this is text."""
    rounded = round_money(amount, currency)
    return f"{amount.normalize():f}" if rounded == amount else f"{rounded:f}"
