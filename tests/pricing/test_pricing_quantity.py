"""Quantity pricers as a user calls them: per-unit, graduated, volume, package, and the registry."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import pytest

from billing.errors import RatingError
from billing.pricing import PriceResult, Tier, graduated, package, per_unit
from billing.pricing import volume as volume_pricer


def D(text: str) -> Decimal:
    return Decimal(text)


# Stripe's tiered-pricing docs example: up to 5 units at 5, up to 10 at 4, up to 15 at 3,
# up to 20 at 2, then 1 per unit.
STRIPE = [
    Tier(D("5"), D("5")),
    Tier(D("10"), D("4")),
    Tier(D("15"), D("3")),
    Tier(D("20"), D("2")),
    Tier(None, D("1")),
]


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        (0, "0"),  # no unit reaches any tier
        (1, "5"),  # 1x5
        (5, "25"),  # 5x5
        (6, "29"),  # 5x5 + 1x4 (Stripe's example)
        (10, "45"),  # 5x5 + 5x4
        (15, "60"),  # 25 + 20 + 5x3
        (20, "70"),  # 25 + 20 + 15 + 5x2
        (25, "75"),  # 25 + 20 + 15 + 10 + 5x1
        (100, "150"),  # 70 + 80x1
    ],
)
def test_graduated_stripe_example(quantity: int, expected: str) -> None:
    assert graduated.price(quantity, STRIPE).amount == D(expected)


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        (0, "0"),  # nothing used, nothing billed
        (1, "5"),  # 1x5
        (5, "25"),  # 5x5: exactly up_to stays in tier 1 (inclusive)
        (6, "24"),  # 6x4 (Stripe's example): cheaper than 5 units
        (10, "40"),  # 10x4
        (11, "33"),  # 11x3
        (20, "40"),  # 20x2
        (25, "25"),  # 25x1 (Stripe's example)
    ],
)
def test_volume_stripe_example(quantity: int, expected: str) -> None:
    assert volume_pricer.price(quantity, STRIPE).amount == D(expected)


def test_graduated_breakdown_names_each_tier() -> None:
    result = graduated.price(6, STRIPE)
    # 5x5 in tier 1, 1x4 in tier 2
    assert result.details == (("tier 1 (0-5): 5 x 5", D("25")), ("tier 2 (5-10): 1 x 4", D("4")))


def test_volume_breakdown_names_the_reached_tier() -> None:
    assert volume_pricer.price(6, STRIPE).details == (("tier 2 (5-10): all 6 x 4", D("24")),)


# plans/07: output tokens graduated per 1M: first 10M at 15.00, next 90M at 12.00, rest 9.00.
OUTPUT_TIERS = [
    Tier(D("10"), D("15.00"), D("0.00")),
    Tier(D("100"), D("12.00")),
    Tier(None, D("9.00")),
]


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (10_500_000, "156.00"),  # 10.5 units: 10x15 + 0.5x12 = 150 + 6
        (10_000_000, "150.00"),  # 10x15
        (1, "0.000015"),  # 0.000001 units x 15
        (250_000_000, "2580.00"),  # 10x15 + 90x12 + 150x9 = 150 + 1080 + 1350
        (100_000_001, "1230.000009"),  # 150 + 1080 + 0.000001x9
    ],
)
def test_graduated_per_million_fractional_units(tokens: int, expected: str) -> None:
    assert graduated.price(tokens, OUTPUT_TIERS, per=1_000_000).amount == D(expected)


# plans/07: input tokens volume per 1M: up to 100 at 3.00, up to 1000 at 2.50, beyond 2.00.
INPUT_TIERS = [Tier(D("100"), D("3.00")), Tier(D("1000"), D("2.50")), Tier(None, D("2.00"))]


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (100_000_000, "300.00"),  # exactly 100 units stay in tier 1: 100x3.00
        (100_000_001, "250.0000025"),  # 100.000001 x 2.50, all units at tier 2
        (1_500_000_000, "3000.00"),  # 1500 x 2.00
        (2_500_000, "7.50"),  # 2.5 x 3.00
    ],
)
def test_volume_per_million(tokens: int, expected: str) -> None:
    assert volume_pricer.price(tokens, INPUT_TIERS, per=1_000_000).amount == D(expected)


FLAT_TIERS = [Tier(D("10"), D("1.00"), D("20.00")), Tier(None, D("0.50"), D("5.00"))]


@pytest.mark.parametrize(
    ("quantity", "graduated_expected", "volume_expected"),
    [
        (0, "0", "0"),  # no unit, no tier reached, no flat fee
        (4, "24.00", "24.00"),  # 4x1 + flat 20 (both modes)
        (10, "30.00", "30.00"),  # 10x1 + 20 (10 is inclusive in tier 1)
        # graduated: 10x1 + 20 + 2x0.5 + 5 = 36; volume: 12x0.5 + 5 = 11
        (12, "36.00", "11.00"),
    ],
)
def test_flat_prices(quantity: int, graduated_expected: str, volume_expected: str) -> None:
    assert graduated.price(quantity, FLAT_TIERS).amount == D(graduated_expected)
    assert volume_pricer.price(quantity, FLAT_TIERS).amount == D(volume_expected)


def test_flat_price_has_its_own_breakdown_row() -> None:
    result = graduated.price(12, FLAT_TIERS)
    assert result.details == (
        ("tier 1 (0-10): 10 x 1.00", D("10.00")),
        ("tier 1 (0-10): flat 20.00", D("20.00")),
        ("tier 2 (above 10): 2 x 0.50", D("1.00")),
        ("tier 2 (above 10): flat 5.00", D("5.00")),
    )


@pytest.mark.parametrize(
    ("quantity", "unit_price", "per", "expected"),
    [
        (1_500_000, "3.00", 1_000_000, "4.50"),  # 1.5M tokens at 3.00/M = 1.5x3
        (1, "3.00", 1_000_000, "0.000003"),  # one token: 3.00 / 1M
        (1_234, "0.000003", 1, "0.003702"),  # 1234 x 0.000003
        (0, "15.00", 1_000_000, "0"),
        (7, "0.10", 1, "0.70"),  # 7 x 0.10 (no float drift)
        (10**30, "2.50", 1_000_000, "2500000000000000000000000.00"),  # 10^24 x 2.5, exact
    ],
)
def test_per_unit(quantity: int, unit_price: str, per: int, expected: str) -> None:
    result = per_unit.price(quantity, D(unit_price), per=per)
    assert result.amount == D(expected)
    assert [label for label, _ in result.details] != []


def test_per_unit_keeps_every_digit() -> None:
    # 333,333 tokens at 0.000003 = 0.999999 exactly: no unit rounding, no cent rounding here
    assert per_unit.price(333_333, D("0.000003")).amount == D("0.999999")


@pytest.mark.parametrize(
    ("quantity", "mode", "expected"),
    [
        (2_500, "up", "1.50"),  # ceil(2.5) = 3 packages x 0.50
        (2_500, "down", "1.00"),  # floor(2.5) = 2 x 0.50
        (2_000, "up", "1.00"),  # exactly 2 packages
        (2_000, "down", "1.00"),
        (1, "up", "0.50"),  # a partial package rounds up to 1
        (999, "down", "0"),  # rounds down to 0 packages
        (0, "up", "0"),
    ],
)
def test_package(quantity: int, mode: Literal["up", "down"], expected: str) -> None:
    assert package.price(quantity, 1_000, D("0.50"), round=mode).amount == D(expected)


def test_package_label_says_how_many_packages() -> None:
    label, amount = package.price(2_001, 1_000, D("0.50")).details[0]
    assert label == "3 package(s) of 1000 at 0.50 (2001 units, rounded up)"
    assert amount == D("1.50")  # 3 x 0.50


# plans/03: "first 5,000.00 of overage at rate 1.00, next 20,000.00 at 0.90, rest at 0.80" is a
# graduated price on the overage amount, with the rate as unit price.
OVERAGE_DISCOUNT = [
    Tier(D("5000.00"), D("1.00")),
    Tier(D("25000.00"), D("0.90")),
    Tier(None, D("0.80")),
]


@pytest.mark.parametrize(
    ("overage", "expected"),
    [
        ("3000.00", "3000.00"),  # 3000 x 1.00
        ("5000.00", "5000.00"),  # 5000 x 1.00
        ("10000.00", "9500.00"),  # 5000 + 5000 x 0.90
        ("30000.00", "27000.00"),  # 5000 + 20000 x 0.90 + 5000 x 0.80 = 5000 + 18000 + 4000
        ("25000.01", "23000.008"),  # 5000 + 18000 + 0.01 x 0.80
    ],
)
def test_overage_discount_is_graduated_on_the_amount(overage: str, expected: str) -> None:
    assert graduated.price(D(overage), OVERAGE_DISCOUNT).amount == D(expected)


# plans/06: past 10,000.00 of monthly cost-plus usage, 10% off ALL of it: volume on the amount.
VOLUME_DISCOUNT = [Tier(D("10000.00"), D("1.00")), Tier(None, D("0.90"))]


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ("10000.00", "10000.00"),  # exactly 10,000.00 stays at rate 1.00
        ("10000.01", "9000.009"),  # 10000.01 x 0.90: all of it discounted
        ("12000.00", "10800.00"),  # 12000 x 0.90
        ("1500.00", "1500.00"),
    ],
)
def test_volume_discount_is_volume_on_the_amount(usage: str, expected: str) -> None:
    assert volume_pricer.price(D(usage), VOLUME_DISCOUNT).amount == D(expected)


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([], "at least one tier"),
        ([Tier(D("10"), D("1")), Tier(D("5"), D("1")), Tier(None, D("1"))],
         r"tiers\[2\].up_to: must be greater than the previous tier's up_to \(10\), got 5"),
        ([Tier(D("10"), D("1"))], r"last tier must be unbounded"),
        ([Tier(D("0"), D("1")), Tier(None, D("1"))], r"tiers\[1\].up_to: must be positive, got 0"),
        ([Tier(None, D("1")), Tier(None, D("1"))], r"only the last tier"),
        ([Tier(D("10"), D("-1")), Tier(None, D("1"))], r"must not be negative"),
    ],
)
def test_bad_tiers_are_refused(tiers: list[Tier], message: str) -> None:
    with pytest.raises(RatingError, match=message):
        graduated.price(1, tiers)
    with pytest.raises(RatingError, match=message):
        volume_pricer.price(1, tiers)


def test_negative_quantity_is_refused() -> None:
    with pytest.raises(RatingError, match="quantity must not be negative, got -1"):
        per_unit.price(-1, D("1"))


def test_price_result_refuses_a_breakdown_that_does_not_add_up() -> None:
    with pytest.raises(RatingError, match="breakdown sums to 3 but the amount is 4"):
        PriceResult(D("4"), (("a", D("1")), ("b", D("2"))))
