"""The credit burn's closed form (:func:`burn_in_order`) against the step-by-step burn
(:func:`burn`), both in :mod:`billing.pricing.credits`: every purchase, every grant's balance,
the credits burned and the overage or refusal per label, field by field."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from billing.pricing.credits import (
    CreditGrant,
    Debit,
    Purchase,
    TopUpPack,
    burn,
    burn_in_order,
    in_order,
)

NOV = date(2026, 11, 1)
DEC = date(2026, 12, 1)
LABELS = ("gpt-5", "haiku", "r1")


def _grant(i: int, amount: str, priority: int, expires: date | None, paid: bool) -> CreditGrant:
    return CreditGrant(f"g{i}", Decimal(amount), NOV, expires, priority, paid, i)


grants_st = st.lists(
    st.tuples(st.decimals(0, 10_000, places=2).map(str), st.integers(0, 2),
              st.sampled_from([None, DEC, date(2027, 5, 1)]), st.booleans()),
    max_size=3,
).map(lambda gs: [_grant(i, *g) for i, g in enumerate(gs)])
topup_st = st.one_of(st.none(), st.builds(
    TopUpPack, name=st.just("Pack"), amount=st.integers(1, 5_000).map(Decimal),
    price=st.decimals(0, 100, places=3), priority=st.integers(0, 4),
    expires_after=st.sampled_from([None, relativedelta(months=1), relativedelta(months=6)]),
    paid=st.booleans()))
rows_st = st.lists(
    st.tuples(st.integers(0, 29), st.sampled_from(LABELS),
              st.one_of(st.just(0), st.integers(0, 10**9))),
    max_size=30, unique_by=lambda r: (r[0], r[1]),
).map(sorted)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(grants=grants_st, topup=topup_st, threshold=st.integers(0, 3_000), rows=rows_st,
       scale=st.integers(-6, 0), overage=st.sampled_from(["bill", "block"]))
def test_the_closed_form_is_the_step_by_step_burn(
        grants: list[CreditGrant], topup: TopUpPack | None, threshold: int,
        rows: list[tuple[int, str, int]], scale: int, overage: str) -> None:
    order = in_order(grants, period_start=NOV, period_end=DEC, topup=topup,
                     when_balance_below=threshold)
    assume(order is not None)
    assert order is not None
    found = burn_in_order(order, rows, scale, day=lambda n: NOV + timedelta(days=n),
                          period_end=DEC, overage=overage)  # type: ignore[arg-type]
    expected = burn(grants, [Debit(NOV + timedelta(days=n), Decimal(units).scaleb(scale), label)
                             for n, label, units in rows],
                    period_end=DEC, topup=topup, when_balance_below=threshold,
                    overage=overage)  # type: ignore[arg-type]
    assert found == dataclasses.replace(expected, allocations=())


def test_packs_bought_where_the_running_total_crosses_the_threshold() -> None:
    # 1,000 credits, top-up below 200 with packs of 500 at 4.50. Debits 700, 200, 900 credits:
    # after 700 the balance is 300 (no pack); 200 more would leave 100 < 200, so on day 2 one
    # pack (shortfall 100 -> 1 pack): balance 600; 900 more would leave -300, shortfall 500 ->
    # one pack on day 3: 1,100 - 900 = 200. Grant g0 burns 1,000 and the first pack 500, the
    # second pack 300 of its 500.
    grants = [CreditGrant("g0", Decimal(1000), NOV, None, 0, False, 0)]
    pack = TopUpPack("Pack", Decimal(500), Decimal("4.50"), 1, None)
    order = in_order(grants, period_start=NOV, period_end=DEC, topup=pack, when_balance_below=200)
    assert order is not None
    rows = [(1, "gpt-5", 700), (2, "gpt-5", 200), (3, "haiku", 900)]
    found = burn_in_order(order, rows, 0, day=lambda n: date(2026, 11, n), period_end=DEC)
    assert found is not None
    assert found.purchases == (
        Purchase(date(2026, 11, 2), "Pack", 1, Decimal(500), Decimal("4.50"), "Pack 2026-11-02 #1"),
        Purchase(date(2026, 11, 3), "Pack", 1, Decimal(500), Decimal("4.50"), "Pack 2026-11-03 #2"))
    assert [(b.grant_id, b.burned, b.remaining) for b in found.balances] == [
        ("g0", 1000, 0), ("Pack 2026-11-02 #1", 500, 0), ("Pack 2026-11-03 #2", 300, 200)]
    assert found.burned_by_label == {"gpt-5": 900, "haiku": 900}


def test_a_top_up_that_burns_before_the_grants_is_not_in_grant_order() -> None:
    """A pack with a lower priority number than a grant burns first: the closed form declines
    (the caller burns debit by debit)."""
    grants = [CreditGrant("g0", Decimal(1000), NOV, None, 2, False, 0)]
    pack = TopUpPack("Pack", Decimal(500), Decimal("4.50"), 0, None)
    assert in_order(grants, period_start=NOV, period_end=DEC, topup=pack) is None
    later = TopUpPack("Pack", Decimal(500), Decimal("4.50"), 3, None)
    assert in_order(grants, period_start=NOV, period_end=DEC, topup=later) is not None


def test_a_grant_that_expires_inside_the_period_is_not_in_grant_order() -> None:
    grants = [CreditGrant("g0", Decimal(1000), NOV, date(2026, 11, 15), 0, True, 0)]
    assert in_order(grants, period_start=NOV, period_end=DEC) is None
