"""Allowances, the minimum-commitment true-up and the spend cap."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.pricing import allowance, cap, commitment


def D(text: str) -> Decimal:
    return Decimal(text)


@pytest.mark.parametrize(
    ("quantity", "included", "billable", "covered"),
    [
        (15_000_000, 10_000_000, 5_000_000, 10_000_000),  # 15M - 10M included = 5M billable
        (4_000_000, 10_000_000, 0, 4_000_000),  # under the allowance: nothing billable
        (10_000_000, 10_000_000, 0, 10_000_000),  # exactly the allowance
        (0, 10_000_000, 0, 0),
        (7, 0, 7, 0),  # no allowance
    ],
)
def test_allowance_apply(quantity: int, included: int, billable: int, covered: int) -> None:
    result = allowance.apply(quantity, included)
    assert (result.billable, result.covered) == (Decimal(billable), Decimal(covered))


def test_allowance_on_an_amount() -> None:
    # plans/03: 500.00 of usage value included; 612.35 used -> 112.35 overage
    result = allowance.apply(D("612.35"), D("500.00"))
    assert result == allowance.AllowanceResult(billable=D("112.35"), covered=D("500.00"))


@pytest.mark.parametrize(
    ("spend", "expected"),
    [
        ("1500.00", "500.00"),  # 2000 - 1500
        ("0", "2000.00"),  # no usage: the whole minimum
        ("2000.00", "0"),  # exactly met
        ("2500.00", "0"),  # exceeded: no true-up
    ],
)
def test_commitment_true_up(spend: str, expected: str) -> None:
    assert commitment.true_up(D(spend), D("2000.00")).amount == D(expected)


def test_commitment_true_up_explains_itself() -> None:
    assert commitment.true_up(D("1500.00"), D("2000.00")).details == (
        ("true-up: minimum 2000.00 - spend 1500.00", D("500.00")),
    )


@pytest.mark.parametrize(
    ("spend", "expected"),
    [
        ("62000.00", "-12000.00"),  # -(62000 - 50000)
        ("50000.00", "0"),  # at the cap
        ("100.00", "0"),
        ("50000.005", "-0.005"),  # exact, not rounded here
    ],
)
def test_cap(spend: str, expected: str) -> None:
    assert cap.apply(D(spend), D("50000.00")).amount == D(expected)
