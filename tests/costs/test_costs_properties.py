"""Invariants of the cost arithmetic, for any token counts: exact, never negative, additive."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.costs import CostBook
from billing.errors import CostBookError
from billing.usage.aggregates import Counts

DAY = date(2026, 11, 16)
BOOK = CostBook.default()
MODELS = ["claude-sonnet-4-5", "gpt-4o-mini", "gemini-2.5-pro", "deepseek-r1", "llama-3.1-8b-instant"]

tokens = st.integers(min_value=0, max_value=10**12)
counts = st.builds(Counts, input=tokens, cached_input=tokens, cache_write=tokens, output=tokens)
bands = st.integers(min_value=0, max_value=len(BOOK.thresholds()))


@settings(max_examples=200, deadline=None)
@given(model=st.sampled_from(MODELS), c=counts, band=bands)
def test_cost_is_an_exact_nonnegative_decimal_that_sums_its_classes(
    model: str, c: Counts, band: int
) -> None:
    result = BOOK.cost(model, c, band, DAY)
    assert type(result.amount) is Decimal
    assert result.amount >= 0
    assert all(type(amount) is Decimal and amount >= 0 for _, amount in result.by_class)
    assert sum(amount for _, amount in result.by_class) == result.amount


@settings(max_examples=200, deadline=None)
@given(model=st.sampled_from(MODELS), a=counts, b=counts, band=bands)
def test_cost_is_additive_over_splits_at_the_same_band(
    model: str, a: Counts, b: Counts, band: int
) -> None:
    """Pricing a day's aggregate equals pricing its parts: no rounding inside the algebra."""
    whole = Counts()
    whole.add(a)
    whole.add(b)
    parts = BOOK.cost(model, a, band, DAY).amount + BOOK.cost(model, b, band, DAY).amount
    assert BOOK.cost(model, whole, band, DAY).amount == parts


@given(model=st.sampled_from(MODELS), c=counts, band=bands)
def test_more_tokens_never_cost_less(model: str, c: Counts, band: int) -> None:
    more = Counts(input=c.input + 1, cached_input=c.cached_input, cache_write=c.cache_write,
                  output=c.output + 1)
    assert BOOK.cost(model, more, band, DAY).amount > BOOK.cost(model, c, band, DAY).amount


def test_negative_counts_are_refused() -> None:
    with pytest.raises(CostBookError, match="output tokens must be a whole number >= 0"):
        BOOK.cost("gpt-4o-mini", Counts(output=-1), 0, DAY)


prices = st.decimals(min_value=0, max_value=10000, places=10, allow_nan=False)
price_levels = st.tuples(prices, prices, prices, prices)
big_tokens = st.integers(min_value=0, max_value=2**63 - 1)


@settings(max_examples=200, deadline=None)
@given(levels=st.lists(price_levels, min_size=1, max_size=4),
       rows=st.lists(st.tuples(st.integers(min_value=0, max_value=3),
                               st.tuples(big_tokens, tokens, tokens, big_tokens)),
                     max_size=12))
def test_pricing_columns_gives_the_row_by_row_costs_digit_for_digit(
        levels: list[tuple[Decimal, ...]], rows: list[tuple[int, tuple[int, ...]]]) -> None:
    import numpy as np

    from billing.costs.model import price_token_columns, price_tokens

    rows = [(key % len(levels), n) for key, n in rows]
    columns = []
    for k in range(4):
        column = np.empty(len(rows), dtype=object)
        column[:] = [n[k] for _, n in rows]
        columns.append(column)
    by_class, totals = price_token_columns(
        levels, np.asarray([key for key, _ in rows], dtype=np.int64), columns)
    for i, (key, n) in enumerate(rows):
        one_by_one, total = price_tokens(levels[key], n)  # type: ignore[arg-type]
        # str(): the same value with the same exponent (trailing zeros show in reports)
        assert [str(c[i]) for c in by_class] == [str(c) for c in one_by_one]
        assert str(totals[i]) == str(total)
