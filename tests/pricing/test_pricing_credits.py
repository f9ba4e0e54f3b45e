"""Prepaid credit burn-down: burn order, expiry and breakage, auto top-up, block vs bill."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta

from billing.errors import FloatMoneyError, RatingError
from billing.pricing.credits import CreditGrant, Debit, Purchase, TopUpPack, burn

NOV = date(2026, 11, 1)
DEC = date(2026, 12, 1)


def grant(
    gid: str,
    amount: int,
    *,
    priority: int = 1,
    effective: date = NOV,
    expires: date | None = None,
    paid: bool = True,
    order: int = 0,
) -> CreditGrant:
    return CreditGrant(gid, Decimal(amount), effective, expires, priority, paid, order)


def nums(*values: int) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values)


def day(n: int) -> date:
    return date(2026, 11, n)


def test_burn_order_priority_then_expiry_then_age() -> None:
    grants = [
        grant("low-priority", 100, priority=2, expires=day(10)),
        grant("never-expires", 100, priority=1, expires=None),
        grant("expires-dec", 100, priority=1, expires=DEC),
        grant("expires-20-newer", 100, priority=1, expires=day(20), effective=day(2)),
        grant("expires-20-older-order-1", 100, priority=1, expires=day(20), order=1),
        grant("expires-20-older-order-0", 100, priority=1, expires=day(20), order=0),
    ]
    result = burn(grants, [Debit(day(5), Decimal(550), "usage")], period_end=DEC)
    # 550 = 100 from each grant in burn order, the last one (lowest priority) gives 50
    assert [(a.grant_id, int(a.credits)) for a in result.allocations] == [
        ("expires-20-older-order-0", 100),  # priority 1, soonest expiry, oldest (order 0)
        ("expires-20-older-order-1", 100),  # same day, order 1
        ("expires-20-newer", 100),  # same expiry, effective later
        ("expires-dec", 100),  # later expiry
        ("never-expires", 100),  # no expiry burns last within priority 1
        ("low-priority", 50),  # priority 2 after all of priority 1, despite expiring first
    ]
    assert result.burned_by_label == {"usage": Decimal(550)}


def test_grant_expiring_mid_period() -> None:
    grants = [
        grant("paid-pack", 1_000, expires=day(15), paid=True),
        grant("promo", 500, priority=0, expires=day(15), paid=False),
        grant("later", 100, priority=5, effective=day(16), paid=True),
    ]
    debits = [
        Debit(day(10), Decimal(700), "chat"),  # promo 500 (priority 0) + paid 200
        Debit(day(15), Decimal(300), "chat"),  # day 15 = expires_day: neither usable; later not yet
        Debit(day(20), Decimal(250), "chat"),  # only "later" (100) usable
    ]
    result = burn(grants, debits, period_end=DEC, overage="bill")
    paid = result.balance("paid-pack")
    # 1000 granted - 200 burned = 800 left on day 15, all expired
    assert (paid.burned, paid.expired, paid.remaining) == nums(200, 800, 0)
    promo = result.balance("promo")
    assert (promo.burned, promo.expired, promo.remaining) == nums(500, 0, 0)
    later = result.balance("later")
    assert (later.burned, later.expired, later.remaining) == nums(100, 0, 0)
    # uncovered: 300 on day 15 + (250 - 100) on day 20 = 450 billed as overage
    assert result.overage_by_label == {"chat": Decimal(450)}
    # breakage counts the paid grant only: 800
    assert result.breakage_credits == 800


def test_expired_promotional_credits_are_not_breakage() -> None:
    # plans/04: the monthly free 1,000 credits expire at period end; 300 used -> 700 expire
    free = grant("monthly-free", 1_000, expires=DEC, paid=False)
    result = burn([free], [Debit(day(3), Decimal(300), "claude")], period_end=DEC)
    assert result.balance("monthly-free").expired == 700  # 1000 - 300
    assert result.breakage_credits == 0


def test_unexpired_grant_carries_over() -> None:
    pack = grant("pack", 1_000, expires=date(2027, 11, 1))
    result = burn([pack], [Debit(day(3), Decimal(300), "x")], period_end=DEC)
    balance = result.balance("pack")
    assert (balance.burned, balance.expired, balance.remaining) == nums(300, 0, 700)  # 1000 - 300


PACK = TopUpPack("Pack 1k", Decimal(1_000), Decimal("9.00"), priority=2,
                 expires_after=relativedelta(months=12))


def test_auto_topup_fires_twice_in_one_period() -> None:
    free = grant("free", 100, priority=1, expires=DEC, paid=False)
    debits = [
        Debit(day(2), Decimal(500), "a"),  # balance 100: short 400 -> ceil(400/1000) = 1 pack
        Debit(day(5), Decimal(300), "a"),  # balance 600 (1000 - 400): no top-up, 300 left
        Debit(day(10), Decimal(2_100), "b"),  # balance 300: short 1800 -> ceil(1.8) = 2 packs
    ]
    result = burn([free], debits, period_end=DEC, topup=PACK)
    assert result.purchases == (
        Purchase(day(2), "Pack 1k", 1, Decimal(1_000), Decimal("9.00"), "Pack 1k 2026-11-02 #1"),
        Purchase(day(10), "Pack 1k", 2, Decimal(2_000), Decimal("18.00"), "Pack 1k 2026-11-10 #2"),
    )
    first = result.balance("Pack 1k 2026-11-02 #1")
    # free 100 burns first (priority 1); first pack: 400 + 300 + 300 = 1000, all used
    assert (first.burned, first.remaining) == nums(1_000, 0)
    second = result.balance("Pack 1k 2026-11-10 #2")
    # 2000 bought, 2100 - 300 (first pack's rest) = 1800 burned, 200 left, expires 2027-11-10
    assert (second.burned, second.expired, second.remaining) == nums(1_800, 0, 200)
    assert result.overage_by_label == {} and result.refused_by_label == {}
    assert result.burned_by_label == {"a": Decimal(800), "b": Decimal(2_100)}
    assert result.breakage_credits == 0


def test_auto_topup_keeps_balance_above_threshold() -> None:
    pack = grant("pack", 1_000, expires=None)
    # when_balance_below=250: debit 900 would leave 100 < 250 -> short 150 -> 1 pack of 1000
    result = burn([pack], [Debit(day(4), Decimal(900), "x")], period_end=DEC, topup=PACK,
                  when_balance_below=Decimal(250))
    assert [(p.count, p.credits) for p in result.purchases] == [(1, Decimal(1_000))]
    # pack (priority 1) pays 900 first; the bought pack is untouched: 100 + 1000 = 1100 left
    remaining = sum(b.remaining for b in result.balances)
    assert remaining == 1_100


def test_block_refuses_what_credits_cannot_cover_and_bills_nothing() -> None:
    credits = grant("g", 1_000, expires=None)
    debits = [Debit(day(1), Decimal(600), "sonnet"), Debit(day(2), Decimal(700), "haiku")]
    result = burn([credits], debits, period_end=DEC, overage="block")
    # 600 burned; then 400 left for 700: 400 burned, 300 refused
    assert result.burned_by_label == {"sonnet": Decimal(600), "haiku": Decimal(400)}
    assert result.refused_by_label == {"haiku": Decimal(300)}
    assert result.overage_by_label == {}
    assert result.balance("g").remaining == 0  # never negative


def test_bill_reports_overage_per_label() -> None:
    credits = grant("g", 1_000, expires=None)
    debits = [Debit(day(1), Decimal(600), "sonnet"), Debit(day(2), Decimal(700), "haiku"),
              Debit(day(3), Decimal(50), "sonnet")]
    result = burn([credits], debits, period_end=DEC, overage="bill")
    # 1000 covers 600 + 400; billed: haiku 300, sonnet 50
    assert result.overage_by_label == {"haiku": Decimal(300), "sonnet": Decimal(50)}
    assert result.refused_by_label == {}


def test_debits_out_of_order_are_an_error() -> None:
    with pytest.raises(RatingError, match=r"debits\[1\] \('b'\) on 2026-11-02 comes before"):
        burn([], [Debit(day(5), Decimal(1), "a"), Debit(day(2), Decimal(1), "b")], period_end=DEC)


def test_debit_after_period_end_is_an_error() -> None:
    with pytest.raises(RatingError, match="not before period_end 2026-12-01"):
        burn([], [Debit(DEC, Decimal(1), "a")], period_end=DEC)


def test_float_credits_are_refused() -> None:
    with pytest.raises(FloatMoneyError):
        Debit(day(1), 0.5, "a")  # type: ignore[arg-type]
    with pytest.raises(FloatMoneyError):
        CreditGrant("g", 10.0, NOV, None, 1, True, 0)  # type: ignore[arg-type]
