"""Exact money: the one door into ``Decimal``.

Everything that becomes money goes through :func:`D`, which refuses ``float`` (a binary float
cannot hold 0.1 exactly, so it has no business near an invoice). Currencies and their minor units
come from babel's CLDR data, not from a hand-written table. Rounding happens in exactly one place,
:func:`round_money`, called once per invoice line.

Arithmetic on money runs in one context, :data:`EXACT` (60 significant digits), never in the
caller's: an application that sets ``decimal.getcontext().prec = 12`` gets the same invoices as
one that does not. Every public entry point (rating, the meter, the comparison, cost pricing,
``billing`` commands) enters it with :func:`exact_context` or :func:`in_exact_context`.

    >>> D("0.10") + D("0.20")
    Decimal('0.30')
    >>> M("12.50 USD") + M("0.50 USD")
    Money(amount=Decimal('13.00'), currency='USD')
"""

from __future__ import annotations

import decimal
import functools
import operator
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Final, ParamSpec, TypeVar

import babel.numbers

from billing.errors import CurrencyMismatchError, FloatMoneyError, MoneyError, UnknownCurrencyError

__all__ = [
    "EXACT",
    "MTOK",
    "TEN_MINOR_UNIT_CURRENCIES",
    "UNROUNDED",
    "ZERO",
    "D",
    "M",
    "Money",
    "Rounding",
    "billing_quantum",
    "check_currency",
    "exact_context",
    "in_exact_context",
    "minor_units",
    "round_money",
]

ZERO: Final = Decimal(0)
ONE: Final = Decimal(1)
MTOK: Final = 1_000_000
"""Tokens in one million: rate cards are priced per 1M tokens (``price_per_mtok``)."""

EXACT: Final = decimal.Context(
    prec=60,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
"""The one arithmetic context of money: 60 significant digits, enough for any per-token price
times any plausible token count exactly (a quotient such as a prorated fee keeps 60 digits, far
past any minor unit). Enter it with :func:`exact_context`; never use the caller's context."""

UNROUNDED: Final = decimal.Context(
    prec=80,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow, decimal.Inexact],
)
""":data:`EXACT`'s guard for arithmetic that must never round at all (a price times a token
count, a shift by 10^-6): ``Inexact`` is trapped, so the result is exact or an error."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


@contextmanager
def exact_context() -> Iterator[decimal.Context]:
    """Run the block in :data:`EXACT` (a copy), whatever the caller's context; restore it after.

    >>> with decimal.localcontext(prec=5), exact_context():
    ...     Decimal(1) / 3
    Decimal('0.333333333333333333333333333333333333333333333333333333333333')
    """
    with decimal.localcontext(EXACT) as ctx:
        token = _ENTERED.set(ctx)
        try:
            yield ctx
        finally:
            _ENTERED.reset(token)


_ENTERED: ContextVar[decimal.Context | None] = ContextVar("billing_exact_context", default=None)
"""The context :func:`exact_context` installed, while it is in force."""


def _in_exact() -> bool:
    current = decimal.getcontext()
    return (current is _ENTERED.get() and current.prec == EXACT.prec
            and current.rounding == EXACT.rounding)


def in_exact_context(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate a public entry point so that its body runs in :data:`EXACT` (a call made from
    inside another entry point, already in it, costs a check, not a new context)."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if _in_exact():
            return fn(*args, **kwargs)
        with decimal.localcontext(EXACT) as ctx:
            token = _ENTERED.set(ctx)
            try:
                return fn(*args, **kwargs)
            finally:
                _ENTERED.reset(token)

    return wrapper


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


TEN_MINOR_UNIT_CURRENCIES: Final = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
"""Three-decimal currencies whose lines are rounded to the nearest ten minor units (0.010).

Stripe takes amounts in these currencies in thousandths but requires the last digit to be 0
("your integration must round amounts to the nearest ten": 5.124 KWD is sent as 5120 or 5130).
So every invoice line in them is rounded once to 0.01 and written with the currency's three
decimals (10.125 KWD half up is 10.130): each line, and so each invoice, can be pushed."""


def billing_quantum(currency: str) -> Decimal:
    """The step every invoice line in ``currency`` is rounded to: the minor unit (0.01 USD,
    1 JPY), or ten minor units for :data:`TEN_MINOR_UNIT_CURRENCIES` (0.01 KWD)."""
    code = check_currency(currency)
    digits = minor_units(code)
    return Decimal(1).scaleb(-(digits - 1 if code in TEN_MINOR_UNIT_CURRENCIES else digits))


def round_money(amount: Decimal, currency: str, rounding: Rounding = Rounding.HALF_UP) -> Decimal:
    """Round ``amount`` once, to the minor unit of ``currency`` (ten minor units for
    :data:`TEN_MINOR_UNIT_CURRENCIES`: 1.2345 KWD is 1.230)."""
    return money_rounder(currency, rounding)(amount)


@cache
def money_rounder(currency: str, rounding: Rounding = Rounding.HALF_UP
                  ) -> Callable[[Decimal], Decimal]:
    """:func:`round_money` for one currency and mode, as a function implemented in C (what
    rounds a whole column of amounts without a Python call per amount)."""
    rounder: Callable[[Decimal], Decimal] = operator.methodcaller(
        "quantize", billing_quantum(currency), rounding=rounding.decimal_mode, context=EXACT)
    if check_currency(currency) not in TEN_MINOR_UNIT_CURRENCIES:
        return rounder
    # Rounded to 0.01, then written with the currency's 3 decimals (exact: 1.23 is 1.230).
    shown = operator.methodcaller("quantize", Decimal(1).scaleb(-minor_units(currency)),
                                  context=EXACT)

    def ten_minor_units(amount: Decimal) -> Decimal:
        result: Decimal = shown(rounder(amount))
        return result

    return ten_minor_units


def exact(value: Decimal) -> Decimal:
    """Apply the engine's wide context (60 digits) to an intermediate result."""
    return EXACT.plus(value)


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
