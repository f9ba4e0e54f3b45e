"""The arithmetic every charge kind is written in: one customer or a column of customers.

A charge kind computes its lines once, in :mod:`billing.charges`, for a *batch* of customers.
A value of a batch is either a plain ``Decimal``/``int`` (a batch of one: the invoice of one
customer, ``billing rate``, the ledger) or a numpy array of Python objects with one ``Decimal``
or ``int`` per customer (``billing compare``: every customer of a period at once). Python's
operators work on both, each numpy operation being one C loop running the same ``Decimal``
operation for every customer, in the same decimal context and order: so a customer rated alone
and inside a batch of many gets the same exact values, digit for digit. No float is involved: an
object array of ``Decimal`` is a list of exact values, not a vector of doubles.

The few operations that differ between a scalar and a column (a choice, a minimum) are the
functions below; ``min``/``max`` and :func:`numpy.minimum` both return the first operand on a
tie, so even the representation of an exact tie is the same.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from billing.money import EXACT
from billing.pricing.core import Tier

__all__ = ["Col", "column", "filled", "is_column", "maximum", "minimum", "tiered", "to_decimal",
           "where"]

Col = Any
"""A ``Decimal`` or ``int`` (one customer) or a 1-D numpy array of them (one per customer)."""

_np: Any = np
"""numpy, untyped: its stubs know no arrays of ``Decimal`` (every call here is on those)."""

_decimal_of: Any = np.frompyfunc(Decimal, 1, 1)


def is_column(value: object) -> bool:
    return isinstance(value, np.ndarray)


def column(values: Sequence[Any]) -> Col:
    """A column holding ``values`` (Python objects, never converted)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def filled(n: int, value: Any) -> Col:
    """A column of ``n`` times ``value``."""
    out = np.empty(n, dtype=object)
    out.fill(value)
    return out


def to_decimal(value: Col) -> Col:
    return _decimal_of(value) if is_column(value) else Decimal(value)


def where(condition: Col, yes: Col, no: Col) -> Col:
    """``yes`` where ``condition`` holds, else ``no`` (per customer)."""
    if is_column(condition):
        return _np.where(condition, yes, no)
    return yes if condition else no


def minimum(a: Col, b: Col) -> Col:
    if is_column(a) or is_column(b):
        return _np.minimum(a, b)
    return min(a, b)


def maximum(a: Col, b: Col) -> Col:
    if is_column(a) or is_column(b):
        return _np.maximum(a, b)
    return max(a, b)


def tiered(mode: str, quantity: Col, tiers: Sequence[Tier], per: int = 1) -> Col:
    """The amount of :func:`billing.pricing.graduated.price` or
    :func:`~billing.pricing.volume.price` (``mode``), in the same exact operations (those
    pricers also give the breakdown an invoice line shows)."""
    with decimal.localcontext(EXACT):
        units = quantity / Decimal(per)
        amount: Col = Decimal(0)
        if mode == "graduated":
            lower = Decimal(0)
            for tier in tiers:
                upper = units if tier.up_to is None else minimum(units, tier.up_to)
                part = (upper - lower) * tier.unit_price
                if tier.flat_price:
                    part = part + tier.flat_price
                amount = where(units > lower, amount + part, amount)
                if tier.up_to is None:
                    break
                lower = tier.up_to
            return amount
        done: Col = units == 0
        for tier in tiers:
            here = (~done if is_column(done) else not done) if tier.up_to is None \
                else _and_not(units <= tier.up_to, done)
            value = Decimal(0) + units * tier.unit_price
            if tier.flat_price:
                value = value + tier.flat_price
            amount = where(here, value, amount)
            done = (done | here) if is_column(done) else (done or here)
        return amount


def _and_not(a: Col, b: Col) -> Col:
    return (a & ~b) if is_column(a) or is_column(b) else (a and not b)
