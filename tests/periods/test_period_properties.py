"""Invariants of billing periods, checked on generated anchors, dates and splits."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, localcontext
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from billing.periods import (
    Interval,
    active_days,
    nth_period,
    period_containing,
    period_for_label,
    periods_between,
    prorate,
)
from billing.subscriptions import SeatChange, Subscription

INTERVALS: list[Interval] = ["day", "week", "month", "quarter", "year"]
anchors = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))
intervals = st.sampled_from(INTERVALS)


@given(anchors, intervals, st.integers(min_value=-60, max_value=60))
def test_consecutive_periods_tile_time(anchor: date, interval: Interval, n: int) -> None:
    this, following = nth_period(anchor, interval, n), nth_period(anchor, interval, n + 1)
    assert this.end == following.start  # no gap, no overlap
    assert this.days >= 1
    assert nth_period(anchor, interval, 0).start == anchor


@given(anchors, intervals, st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)))
def test_every_day_is_in_exactly_the_period_found_for_it(
    anchor: date, interval: Interval, day: date
) -> None:
    period = period_containing(anchor, interval, day)
    assert period.contains(day)
    # the neighbours do not contain it: the day belongs to one period only
    assert not period_containing(anchor, interval, period.start - timedelta(days=1)).contains(day)
    assert not period_containing(anchor, interval, period.end).contains(day)


@given(anchors, intervals, anchors, st.integers(min_value=1, max_value=800))
def test_periods_between_cover_the_range_without_gaps(
    anchor: date, interval: Interval, start: date, length: int
) -> None:
    end = start + timedelta(days=length)
    periods = periods_between(anchor, interval, start, end)
    assert periods[0].contains(start)
    assert periods[-1].contains(end - timedelta(days=1))
    for a, b in pairwise(periods):
        assert a.end == b.start


@given(anchors, st.sampled_from(["month", "year"]), st.integers(min_value=-30, max_value=30))
def test_a_period_is_found_again_by_the_label_of_its_start(
    anchor: date, interval: Interval, n: int
) -> None:
    period = nth_period(anchor, interval, n)
    label = period.start.strftime("%Y-%m") if interval == "month" else str(period.start.year)
    assert period_for_label(anchor, interval, label) == period


@given(
    anchors,
    intervals,
    st.integers(min_value=-20, max_value=20),
    st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_prorations_of_a_split_sum_to_the_whole(
    anchor: date, interval: Interval, n: int, offsets: list[int]
) -> None:
    period = nth_period(anchor, interval, n)
    cuts = sorted({period.start + timedelta(days=o % period.days) for o in offsets})
    edges = [period.start, *[c for c in cuts if c > period.start], period.end]
    pieces = list(pairwise(edges))
    # whole days add up exactly
    assert sum(active_days(period, a, b) for a, b in pieces) == period.days
    # the Decimal fractions add up to 1, to the 60 digits a non-terminating ratio carries
    # (summed in a 60-digit context: Python's default context would cut them to 28)
    with localcontext(prec=60):
        total = sum((prorate(period, a, b) for a, b in pieces), Decimal(0))
    assert abs(total - 1) <= Decimal("1e-55")
    assert all(Decimal(0) < prorate(period, a, b) <= 1 for a, b in pieces)


@given(
    st.integers(min_value=0, max_value=40),
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=29), st.integers(min_value=0, max_value=50)),
        max_size=5,
        unique_by=lambda t: t[0],
    ),
)
def test_seat_segments_cover_the_seat_days(first: int, changes: list[tuple[int, int]]) -> None:
    start = date(2026, 11, 1)
    schedule = [SeatChange(effective=start, seats=first)] + [
        SeatChange(effective=start + timedelta(days=d), seats=s) for d, s in sorted(changes)
    ]
    sub = Subscription(customer_id="c", plan="team-seats", start=start, seats=schedule)
    period = sub.period_for("2026-11", "month")
    expected_seat_days = sum(sub.seats_on(start + timedelta(days=i)) for i in range(30))
    segments = sub.seat_segments(period)
    assert sum(seats * piece.days for seats, piece in segments) == expected_seat_days
    with localcontext(prec=60):
        assert abs(sub.seat_quantity(period) * 30 - expected_seat_days) <= Decimal("1e-55")
    for (_, a), (_, b) in pairwise(segments):
        assert a.end <= b.start  # in order, never overlapping
