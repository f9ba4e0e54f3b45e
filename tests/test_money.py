"""Money is exact: floats are refused, currencies come from CLDR, rounding happens once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.errors import CurrencyMismatchError, FloatMoneyError, MoneyError, UnknownCurrencyError
from billing.money import D, M, Money, Rounding, minor_units, round_money


def test_float_is_refused_with_a_clear_error() -> None:
    with pytest.raises(FloatMoneyError, match=r"float 0\.1 refused"):
        D(0.1)  # type: ignore[arg-type]
    with pytest.raises(FloatMoneyError):
        Money(1.5, "USD")  # type: ignore[arg-type]


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_no_float_ever_becomes_money(value: float) -> None:
    with pytest.raises(FloatMoneyError):
        D(value)  # type: ignore[arg-type]


def test_strings_and_ints_are_exact() -> None:
    assert D("0.10") + D("0.20") == Decimal("0.30")
    assert D("2_000") == Decimal(2000)
    with pytest.raises(MoneyError):
        D("1,5")
    with pytest.raises(MoneyError):
        D("NaN")


@pytest.mark.parametrize(
    ("currency", "digits"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3), ("CLP", 0)]
)
def test_minor_units_come_from_cldr(currency: str, digits: int) -> None:
    assert minor_units(currency) == digits


@pytest.mark.parametrize(
    ("amount", "currency", "rounding", "expected"),
    [
        ("2.345", "USD", Rounding.HALF_UP, "2.35"),  # half up: .5 goes up
        ("2.345", "USD", Rounding.HALF_EVEN, "2.34"),  # banker's: 4 is even
        ("2.341", "USD", Rounding.UP, "2.35"),  # up: away from zero
        ("2.349", "USD", Rounding.DOWN, "2.34"),  # down: toward zero
        ("1234.5", "JPY", Rounding.HALF_UP, "1235"),  # JPY has no minor unit
        ("1.2345", "KWD", Rounding.HALF_UP, "1.235"),  # KWD has three
        ("-2.345", "USD", Rounding.HALF_UP, "-2.35"),  # credits round symmetrically
    ],
)
def test_round_once_to_the_minor_unit(
    amount: str, currency: str, rounding: Rounding, expected: str
) -> None:
    assert round_money(D(amount), currency, rounding) == Decimal(expected)
    assert str(round_money(D(amount), currency, rounding)) == expected


def test_money_refuses_mixed_currencies() -> None:
    assert M("12.50 USD") + M("0.50 USD") == M("13.00 USD")
    with pytest.raises(CurrencyMismatchError):
        M("1.00 USD") + M("1.00 EUR")
    with pytest.raises(UnknownCurrencyError):
        M("1.00 USX")
