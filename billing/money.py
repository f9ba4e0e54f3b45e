"""Exact money: the one door into ``Decimal``.

Everything that becomes money goes through :func:`D`, which refuses ``float`` (a binary float
cannot hold 0.1 exactly, so it has no business near an invoice). Currencies and their minor units
come from babel's CLDR data, not from a hand-written table. Rounding happens in exactly one place,
:func:`round_money`, called once per invoice line.

    >>> D("0.10") + D("0.20")
    Decimal('0.30')
    >>> M("12.50 USD") + M("0.50 USD")
    Money(amount=Decimal('13.00'), currency='USD')
"""

from __future__ import annotations

import decimal
import operator
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Final

import babel.numbers

from billing.errors import CurrencyMismatchError, FloatMoneyError, MoneyError, UnknownCurrencyError

__all__ = [
    "MTOK",
    "ZERO",
    "D",
    "M",
    "Money",
    "Rounding",
    "check_currency",
    "minor_units",
    "round_money",
]

ZERO: Final = Decimal(0)
ONE: Final = Decimal(1)
MTOK: Final = 1_000_000
"""Tokens in one million: rate cards are priced per 1M tokens (``price_per_mtok``)."""

# Enough digits for any per-token price times any plausible token count, exactly.
_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation])


def D(value: Decimal | int | str) -> Decimal:
    """Return ``value`` as an exact :class:`Decimal`.

    Accepts ``Decimal``, ``int`` and decimal strings (``"4.50"``, ``"2_000"``). Refuses ``float``
    and ``bool`` with :class:`~billing.errors.FloatMoneyError`, and NaN/infinity or malformed text
    with :class:`~billing.errors.MoneyError`.
    """
    if isinstance(value, bool):
        raise FloatMoneyError(f"a boolean is not an amount: {value!r}")
    if isinstance(value, float):
        raise FloatMoneyError(
            f"float {value!r} refused: money must be a Decimal, an int or a decimal string such as "
            f"'{value}' (a binary float cannot hold most decimal amounts exactly)"
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            result = Decimal(text)
        except decimal.InvalidOperation:
            raise MoneyError(f"not a decimal number: {value!r}") from None
    else:
        raise MoneyError(f"not an amount: {value!r} ({type(value).__name__})")
    if not result.is_finite():
        raise MoneyError(f"not a finite amount: {value!r}")
    return result


class Rounding(StrEnum):
    """How an invoice line's exact amount is rounded to the currency's minor unit."""

    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    UP = "up"
    DOWN = "down"

    @property
    def decimal_mode(self) -> str:
        return _DECIMAL_MODES[self]


_DECIMAL_MODES: Final = {
    Rounding.HALF_UP: decimal.ROUND_HALF_UP,
    Rounding.HALF_EVEN: decimal.ROUND_HALF_EVEN,
    Rounding.UP: decimal.ROUND_UP,
    Rounding.DOWN: decimal.ROUND_DOWN,
}


@cache
def _known_currencies() -> frozenset[str]:
    return frozenset(babel.numbers.list_currencies())


def check_currency(code: str) -> str:
    """Return the ISO 4217 ``code`` upper-cased, or raise :class:`UnknownCurrencyError`."""
    upper = code.strip().upper()
    if upper not in _known_currencies():
        raise UnknownCurrencyError(f"unknown currency {code!r} (expected an ISO 4217 code such as USD)")
    return upper


@cache
def minor_units(currency: str) -> int:
    """Digits after the decimal point for ``currency`` per CLDR: USD 2, JPY 0, KWD 3."""
    return int(babel.numbers.get_currency_precision(check_currency(currency)))


def round_money(amount: Decimal, currency: str, rounding: Rounding = Rounding.HALF_UP) -> Decimal:
    """Round ``amount`` once, to the minor unit of ``currency``."""
    return money_rounder(currency, rounding)(amount)


@cache
def money_rounder(currency: str, rounding: Rounding = Rounding.HALF_UP
                  ) -> Callable[[Decimal], Decimal]:
    """:func:`round_money` for one currency and mode, as a function implemented in C (what
    rounds a whole column of amounts without a Python call per amount)."""
    quantum = Decimal(1).scaleb(-minor_units(currency))
    rounder: Callable[[Decimal], Decimal] = operator.methodcaller(
        "quantize", quantum, rounding=rounding.decimal_mode, context=_CONTEXT)
    return rounder


def exact(value: Decimal) -> Decimal:
    """Apply the engine's wide context (60 digits) to an intermediate result."""
    return _CONTEXT.plus(value)


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency. Adding or subtracting across currencies is an error."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", D(self.amount))
        object.__setattr__(self, "currency", check_currency(self.currency))

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(
                f"cannot combine {self.currency} with {other.currency}: convert explicitly first"
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        return Money(self.amount * D(factor), self.currency)

    def rounded(self, rounding: Rounding = Rounding.HALF_UP) -> Money:
        return Money(round_money(self.amount, self.currency, rounding), self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def M(text: str) -> Money:
    """Parse ``"12.50 USD"`` into :class:`Money` (handy in tests and docs)."""
    parts = text.split()
    if len(parts) != 2:
        raise MoneyError(f"expected '<amount> <CURRENCY>', got {text!r}")
    return Money(D(parts[0]), parts[1])
