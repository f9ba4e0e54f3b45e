"""Value types of the plan language: money, plain decimals, counts, durations, globs.

Plan files are parsed straight to ``Decimal``; a bare YAML/TOML float arrives here as
:class:`BareDecimal` (exact, never a binary float) so that money fields can insist on the quoted
form that every tool reads the same way.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal
from typing import Annotated, Any

from dateutil.relativedelta import relativedelta
from pydantic import BeforeValidator, Field, WithJsonSchema

from billing.errors import MoneyError
from billing.money import D

__all__ = [
    "MAX_DIGITS",
    "BareDecimal",
    "Count",
    "DurationText",
    "Markup",
    "Number",
    "Price",
    "TierFactor",
    "format_percent",
    "parse_duration",
]


class BareDecimal(Decimal):
    """A number written without quotes in a plan file (``4.5`` rather than ``"4.50"``)."""

    __slots__ = ()


_DECIMAL_TEXT = re.compile(r"^[+-]?(\d[\d_]*)(\.\d+)?$")


MAX_DIGITS = 40
"""Most digits a number of a plan file may have: a price of 40 digits times any token count stays
exact in money's 60-digit context, and no real price needs more."""


def _check_digits(text: str) -> None:
    digits = sum(c.isdigit() for c in text)
    if digits > MAX_DIGITS:
        raise ValueError(f"a number with {digits:,} digits (at most {MAX_DIGITS})")


def _to_decimal(value: Any, *, what: str) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, not {str(value).lower()}")
    if isinstance(value, float):
        raise ValueError(
            f"float {value!r} refused: write {what} as a decimal string such as \"{value}\""
        )
    if isinstance(value, str):
        text = value.strip()
        _check_digits(text)
        if not _DECIMAL_TEXT.match(text):
            raise ValueError(f"{value!r} is not a decimal {what} (write it like \"4.50\")")
        return D(text)
    if isinstance(value, int | Decimal):
        if isinstance(value, int) and abs(value) >= 10**MAX_DIGITS:
            raise ValueError(f"a number with more than {MAX_DIGITS} digits")
        if isinstance(value, Decimal):
            _check_digits("".join(map(str, value.as_tuple().digits)))
            if value.is_finite() and value and abs(value.adjusted()) > MAX_DIGITS:
                raise ValueError(f"{value} is out of range (at most {MAX_DIGITS} digits either "
                                 "side of the decimal point)")
        try:
            return D(value)
        except MoneyError as exc:
            raise ValueError(str(exc)) from None
    raise ValueError(f"{what} must be a number, got {type(value).__name__}")


def _price(value: Any) -> Decimal:
    if isinstance(value, BareDecimal):
        raise ValueError(
            f"money must be a quoted decimal string: write \"{value}\" instead of {value} "
            "(a bare number is a binary float to most YAML and TOML tools)"
        )
    amount = _to_decimal(value, what="amount")
    if amount < 0:
        raise ValueError(f"must not be negative (got {amount})")
    return amount


def _number(value: Any) -> Decimal:
    return _to_decimal(value, what="number")


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise ValueError(f"must be a whole number, got {value!r}")
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        _check_digits(text)
        if not text.isdigit():
            raise ValueError(f"{value!r} is not a whole number")
        return int(text)
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueError(f"must be a whole number, got {value}")
        return int(value)
    return value


_MONEY_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\d[\d_]*(\.\d+)?$"},
        {"type": "integer", "minimum": 0},
    ],
    "description": "Money as a quoted decimal string, e.g. \"4.50\" (or a whole number).",
}
_NUMBER_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": r"^[+-]?\d[\d_]*(\.\d+)?$"}, {"type": "number"}],
}
_COUNT_SCHEMA = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]}

Price = Annotated[Decimal, BeforeValidator(_price), WithJsonSchema(_MONEY_SCHEMA)]
"""A non-negative amount of money: a quoted decimal string or an integer, never a float."""

Number = Annotated[Decimal, BeforeValidator(_number), WithJsonSchema(_NUMBER_SCHEMA)]
"""A plain exact decimal (weights, rates, markups): quoted or bare, parsed to Decimal."""

Count = Annotated[int, BeforeValidator(_count), Field(ge=0), WithJsonSchema(_COUNT_SCHEMA)]
"""A whole, non-negative number; ``2_000_000`` is fine."""

_PERCENT = re.compile(r"^([+-]?\d[\d_]*(?:\.\d+)?)\s*%$")


def _markup(value: Any) -> Decimal:
    """``"20%"`` is 0.20; a fraction below 1 (``0.2``) is itself; a bare number of 1 or more is
    ambiguous (20 could mean 20% or 2,000%) and refused with both readings. A plain ``Decimal``
    (not a :class:`BareDecimal` read from a file) is an already parsed fraction, as a plan's own
    values are when it is re-validated (subscription overrides)."""
    if type(value) is Decimal:
        fraction = _to_decimal(value, what="markup")
    elif isinstance(value, str) and value.strip().endswith("%"):
        match = _PERCENT.match(value.strip())
        if match is None:
            raise ValueError(f"{value!r} is not a percentage (write it like \"20%\" or \"12.5%\")")
        sign, digits, exponent = D(match.group(1).replace("_", "")).as_tuple()
        assert isinstance(exponent, int)
        fraction = Decimal((sign, digits, exponent - 2))  # / 100, exactly in any context
    else:
        fraction = _to_decimal(value, what="markup")
        if abs(fraction) >= 1:
            shown = str(value).strip()
            raise ValueError(
                f"markup {shown} is ambiguous: write \"{shown}%\" for cost plus {shown}% "
                f"(a fraction below 1 also works: 0.2 is 20%); a markup of 1 or more is "
                "written with a % sign"
            )
    if fraction < -1:
        raise ValueError(
            f"a markup below -100% would price usage below zero (got {format_percent(fraction)})"
        )
    return fraction


def format_percent(fraction: Decimal) -> str:
    """A fraction as a percentage without trailing zeros: 0.35 -> ``35%``, 0.125 -> ``12.5%``."""
    with decimal.localcontext(prec=80):  # exact whatever the caller's context
        text = f"{(fraction * 100).normalize():f}"
    return f"{text}%"


_DURATION = re.compile(r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


def parse_duration(text: str) -> relativedelta:
    """Parse an ISO 8601 calendar duration (``P12M``, ``P1Y``, ``P30D``, ``P2W``, ``P1Y6M``)."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"{text!r} is not an ISO 8601 duration (write e.g. P12M for 12 months, P30D for "
            "30 days, P1Y for a year)"
        )
    years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
    return relativedelta(years=years, months=months, weeks=weeks, days=days)


def _duration(value: Any) -> str:
    parse_duration(value)
    return str(value).strip()


DurationText = Annotated[
    str,
    BeforeValidator(_duration),
    WithJsonSchema({"type": "string", "pattern": r"^P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?$"}),
]
"""An ISO 8601 duration such as ``P12M``."""

_MARKUP_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^[+-]?\d[\d_]*(\.\d+)?\s*%$"},
        {"type": "string", "pattern": r"^[+-]?0?(\.\d+)?$"},
        {"type": "number", "exclusiveMinimum": -1, "exclusiveMaximum": 1},
    ],
    "description": "A percentage such as \"20%\" (\"150%\" above 100%), or a fraction below 1 "
    "such as 0.2.",
}

Markup = Annotated[Decimal, BeforeValidator(_markup), WithJsonSchema(_MARKUP_SCHEMA)]
"""A markup over cost: ``"20%"`` or the fraction ``0.2`` (a bare 20 is ambiguous and refused)."""


def _tier_factor(value: Any) -> Decimal:
    """``"50%"`` is 0.5 (of the list price); a number is the multiplier itself (``0.5``,
    ``1.25``); never negative."""
    if type(value) is Decimal:
        factor = _to_decimal(value, what="multiplier")
    elif isinstance(value, str) and _PERCENT.match(value.strip()):
        factor = _to_decimal(_PERCENT.match(value.strip()).group(1),  # type: ignore[union-attr]
                             what="multiplier") / 100
    else:
        factor = _to_decimal(value, what="multiplier")
    if not factor.is_finite() or factor < 0:
        raise ValueError(f"a service tier's multiplier must be 0 or more, got {value}")
    return factor


_TIER_FACTOR_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\d[\d_]*(\.\d+)?\s*%$"},
        {"type": "string", "pattern": r"^\d[\d_]*(\.\d+)?$"},
        {"type": "number", "minimum": 0},
    ],
    "description": "A multiplier of the list price: 0.5 (or \"50%\") is half price, 1.25 "
    "(\"125%\") a quarter more.",
}

TierFactor = Annotated[Decimal, BeforeValidator(_tier_factor),
                       WithJsonSchema(_TIER_FACTOR_SCHEMA)]
"""A multiplier of a rate card's prices for one service tier: ``0.5`` or ``"50%"``."""

