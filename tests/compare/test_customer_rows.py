"""A plan's rows per customer are built when a report first reads them, once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.compare import CustomerResult, CustomerRows


def _row(name: str, revenue: str) -> CustomerResult:
    return CustomerResult(customer_id=name, revenue=Decimal(revenue), cost=Decimal("1.00"),
                          tokens=10, credit_breakage=None, reserved=None, covered=None)


def test_rows_are_counted_without_being_built_and_built_once() -> None:
    a, b = _row("a", "3.00"), _row("b", "0.50")
    builds: list[int] = []

    def build() -> tuple[CustomerResult, ...]:
        builds.append(1)
        return (a, b)

    rows = CustomerRows(2, build)
    assert len(rows) == 2
    assert builds == []  # what a JSON report reads
    assert list(rows) == [a, b]
    assert rows[1] is b and rows[:1] == (a,)
    assert rows == (a, b) and rows == CustomerRows(2, lambda: (a, b))
    assert [r.margin for r in rows] == [Decimal("2.00"), Decimal("-0.50")]
    assert builds == [1]


def test_rows_that_do_not_match_their_count_are_an_error() -> None:
    rows = CustomerRows(3, lambda: (_row("a", "1"),))
    with pytest.raises(ValueError, match="1 customer rows, 3 announced"):
        list(rows)


def test_rows_pickle_and_copy_as_the_rows_themselves() -> None:
    import copy
    import pickle

    a, b = _row("a", "3.00"), _row("b", "0.50")
    rows = CustomerRows(2, lambda: (a, b))  # a local function: cannot be pickled itself
    for again in (pickle.loads(pickle.dumps(rows)), copy.deepcopy(rows)):
        assert isinstance(again, CustomerRows)
        assert len(again) == 2 and tuple(again) == (a, b)


def test_a_count_mismatch_is_an_error_on_every_read() -> None:
    rows = CustomerRows(2, lambda: (_row("a", "1"),))
    for _ in range(2):
        with pytest.raises(ValueError, match="1 customer rows, 2 announced"):
            list(rows)
