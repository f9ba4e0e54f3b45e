"""Invariants every pricer keeps, whatever the input (hypothesis)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.errors import FloatMoneyError
from billing.pricing import PriceResult, Tier, allowance, cap, commitment, graduated, package
from billing.pricing import per_unit as per_unit_pricer
from billing.pricing import volume as volume_pricer
from billing.pricing.capacity import TouRule
from billing.pricing.capacity import price as capacity_price
from billing.pricing.credits import CreditGrant, Debit, TopUpPack, burn

settings.register_profile("pricing", deadline=None, max_examples=200)
settings.load_profile("pricing")

quantities = st.one_of(
    st.integers(min_value=0, max_value=10**13),
    st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False, allow_infinity=False),
)
prices = st.decimals(min_value=0, max_value=1000, places=6, allow_nan=False, allow_infinity=False)
flats = st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False, allow_infinity=False)
pers = st.sampled_from([1, 1000, 1_000_000])


@st.composite
def tier_lists(draw: st.DrawFn) -> list[Tier]:
    steps = draw(st.lists(st.decimals(min_value=Decimal("0.5"), max_value=10**7, places=2,
                                      allow_nan=False, allow_infinity=False), max_size=4))
    tiers: list[Tier] = []
    bound = Decimal(0)
    for step in steps:
        bound += step
        tiers.append(Tier(bound, draw(prices), draw(flats)))
    tiers.append(Tier(None, draw(prices), draw(flats)))
    return tiers


def breakdown_adds_up(result: PriceResult) -> bool:
    return sum((value for _, value in result.details), Decimal(0)) == result.amount


@given(quantities, tier_lists(), pers)
def test_tiered_amounts_are_never_negative_and_add_up(
    quantity: Decimal | int, tiers: list[Tier], per: int
) -> None:
    for result in (graduated.price(quantity, tiers, per), volume_pricer.price(quantity, tiers, per)):
        assert result.amount >= 0
        assert breakdown_adds_up(result)


@given(quantities, quantities, tier_lists(), pers)
def test_graduated_never_decreases_as_quantity_grows(
    a: Decimal | int, b: Decimal | int, tiers: list[Tier], per: int
) -> None:
    low, high = sorted((Decimal(a), Decimal(b)))
    assert graduated.price(low, tiers, per).amount <= graduated.price(high, tiers, per).amount


@given(quantities, quantities, prices, pers)
def test_per_unit_never_decreases_and_adds_up(
    a: Decimal | int, b: Decimal | int, unit_price: Decimal, per: int
) -> None:
    low, high = sorted((Decimal(a), Decimal(b)))
    low_result = per_unit_pricer.price(low, unit_price, per)
    high_result = per_unit_pricer.price(high, unit_price, per)
    assert 0 <= low_result.amount <= high_result.amount
    assert breakdown_adds_up(low_result) and breakdown_adds_up(high_result)


@given(quantities, quantities, st.integers(min_value=1, max_value=10**6), prices,
       st.sampled_from(["up", "down"]))
def test_package_never_decreases_and_adds_up(
    a: Decimal | int, b: Decimal | int, size: int, each: Decimal, mode: Any
) -> None:
    low, high = sorted((Decimal(a), Decimal(b)))
    low_result = package.price(low, size, each, round=mode)
    high_result = package.price(high, size, each, round=mode)
    assert 0 <= low_result.amount <= high_result.amount
    assert breakdown_adds_up(low_result) and breakdown_adds_up(high_result)


amounts = st.decimals(min_value=0, max_value=10**7, places=4, allow_nan=False,
                      allow_infinity=False)


@given(amounts, amounts)
def test_commitment_cap_and_allowance_bounds(spend: Decimal, limit: Decimal) -> None:
    true_up = commitment.true_up(spend, limit)
    assert true_up.amount >= 0 and breakdown_adds_up(true_up)
    assert spend + true_up.amount >= limit  # the true-up lifts spend to the minimum
    capped = cap.apply(spend, limit)
    assert capped.amount <= 0 and breakdown_adds_up(capped)
    assert spend + capped.amount <= max(spend, limit)
    assert spend + capped.amount == min(spend, limit) or spend <= limit
    split = allowance.apply(spend, limit)
    assert split.billable >= 0 and split.covered >= 0
    assert split.billable + split.covered == spend


@given(st.dictionaries(st.integers(min_value=0, max_value=47), amounts, max_size=48),
       st.integers(min_value=0, max_value=10**6), prices)
def test_capacity_adds_up(usage: dict[int, Decimal], per_bucket: int, spot: Decimal) -> None:
    hours = list(range(48))
    result = capacity_price(usage, hours, per_bucket, Decimal("1.50"),
                            {h: spot + h for h in hours})
    assert breakdown_adds_up(result.baseload) and breakdown_adds_up(result.spot)
    assert result.spot.amount >= 0 and result.baseload.amount >= 0
    assert result.covered <= result.reserved


# A float reaching any pricer raises FloatMoneyError, in any money or quantity position.
TIERS = [Tier(Decimal(5), Decimal(5)), Tier(None, Decimal(1))]
FLOAT_CALLS: list[tuple[str, Callable[[float], object]]] = [
    ("per_unit quantity", lambda f: per_unit_pricer.price(f, Decimal(1))),  # type: ignore[arg-type]
    ("per_unit unit_price", lambda f: per_unit_pricer.price(1, f)),  # type: ignore[arg-type]
    ("per_unit per", lambda f: per_unit_pricer.price(1, Decimal(1), per=f)),  # type: ignore[arg-type]
    ("graduated quantity", lambda f: graduated.price(f, TIERS)),  # type: ignore[arg-type]
    ("volume quantity", lambda f: volume_pricer.price(f, TIERS)),  # type: ignore[arg-type]
    ("tier up_to", lambda f: Tier(f, Decimal(1))),  # type: ignore[arg-type]
    ("tier unit_price", lambda f: Tier(None, f)),  # type: ignore[arg-type]
    ("tier flat_price", lambda f: Tier(None, Decimal(1), f)),  # type: ignore[arg-type]
    ("package quantity", lambda f: package.price(f, 10, Decimal(1))),  # type: ignore[arg-type]
    ("package price", lambda f: package.price(1, 10, f)),  # type: ignore[arg-type]
    ("package size", lambda f: package.price(1, f, Decimal(1))),  # type: ignore[arg-type]
    ("allowance quantity", lambda f: allowance.apply(f, 1)),  # type: ignore[arg-type]
    ("allowance included", lambda f: allowance.apply(1, f)),  # type: ignore[arg-type]
    ("commitment spend", lambda f: commitment.true_up(f, Decimal(1))),  # type: ignore[arg-type]
    ("commitment minimum", lambda f: commitment.true_up(Decimal(1), f)),  # type: ignore[arg-type]
    ("cap spend", lambda f: cap.apply(f, Decimal(1))),  # type: ignore[arg-type]
    ("cap maximum", lambda f: cap.apply(Decimal(1), f)),  # type: ignore[arg-type]
    ("debit credits", lambda f: Debit(date(2026, 1, 1), f, "x")),  # type: ignore[arg-type]
    ("grant amount",
     lambda f: CreditGrant("g", f, date(2026, 1, 1), None, 1, True, 0)),  # type: ignore[arg-type]
    ("pack price",
     lambda f: TopUpPack("p", Decimal(1), f, 1, None)),  # type: ignore[arg-type]
    ("burn threshold",
     lambda f: burn([], [], period_end=date(2026, 2, 1), when_balance_below=f)),  # type: ignore[arg-type]
    ("capacity usage",
     lambda f: capacity_price({0: f}, [0], 1, Decimal(1), {0: Decimal(1)})),  # type: ignore[dict-item]
    ("capacity baseload price",
     lambda f: capacity_price({}, [0], 1, f, {})),  # type: ignore[arg-type]
    ("tou rule price", lambda f: TouRule(frozenset({0}), time(9), time(18), f)),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("where", "call"), FLOAT_CALLS, ids=[w for w, _ in FLOAT_CALLS])
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1e6))
def test_a_float_reaching_any_pricer_is_refused(
    where: str, call: Callable[[float], object], value: float
) -> None:
    with pytest.raises(FloatMoneyError):
        call(value)


# Credits: balances never go negative and every grant's credits are accounted for.
DAY0 = date(2026, 11, 1)
PERIOD_END = date(2026, 12, 1)
credits = st.decimals(min_value=0, max_value=5000, places=2, allow_nan=False,
                      allow_infinity=False)


@st.composite
def grant_lists(draw: st.DrawFn) -> list[CreditGrant]:
    grants = []
    for number in range(draw(st.integers(min_value=0, max_value=5))):
        effective = DAY0 + timedelta(days=draw(st.integers(min_value=-10, max_value=29)))
        lifetime = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=60)))
        expires = None if lifetime is None else effective + timedelta(days=lifetime)
        grants.append(CreditGrant(f"g{number}", draw(credits), effective, expires,
                                  draw(st.integers(min_value=0, max_value=3)), draw(st.booleans()),
                                  number))
    return grants


@st.composite
def debit_lists(draw: st.DrawFn) -> list[Debit]:
    days = sorted(draw(st.lists(st.integers(min_value=0, max_value=29), max_size=12)))
    return [Debit(DAY0 + timedelta(days=d), draw(credits), draw(st.sampled_from("abc")))
            for d in days]


@given(grant_lists(), debit_lists(), st.booleans(), st.sampled_from(["bill", "block"]), credits)
def test_credit_balances_never_negative_and_account_for_every_credit(
    grants: list[CreditGrant], debits: list[Debit], with_topup: bool, overage: Any,
    threshold: Decimal,
) -> None:
    pack = TopUpPack("pack", Decimal(1000), Decimal("9.00"), 2, relativedelta(months=12))
    result = burn(grants, debits, period_end=PERIOD_END, topup=pack if with_topup else None,
                  when_balance_below=threshold if with_topup else Decimal(0), overage=overage)
    for balance in result.balances:
        assert min(balance.burned, balance.expired, balance.remaining) >= 0
        assert balance.burned + balance.expired + balance.remaining == balance.granted
    # every debited credit is burned, billed as overage, or refused, per label
    for label in {d.label for d in debits}:
        debited = sum((d.credits for d in debits if d.label == label), Decimal(0))
        accounted = (result.burned_by_label.get(label, Decimal(0))
                     + result.overage_by_label.get(label, Decimal(0))
                     + result.refused_by_label.get(label, Decimal(0)))
        assert accounted == debited
    assert sum(b.burned for b in result.balances) == sum(result.burned_by_label.values())
    assert result.breakage_credits == sum(b.expired for b in result.balances if b.paid)
    if with_topup:
        assert not result.overage_by_label and not result.refused_by_label
