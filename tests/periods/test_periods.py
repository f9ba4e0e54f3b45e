"""Billing periods: anchors, month ends, leap years, labels and proration by whole UTC days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing.periods import (
    Period,
    PeriodError,
    label_span,
    nth_period,
    period_containing,
    period_for_label,
    periods_between,
    prorate,
)
from billing.usage.aggregates import DailyKey

NOV = Period(date(2026, 11, 1), date(2026, 12, 1))


def P(start: str, end: str) -> Period:
    return Period(date.fromisoformat(start), date.fromisoformat(end))


# --- month-end anchors and leap years -----------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "n", "expected"),
    [
        # Jan 31 anchor: each end computed from the anchor, clipped to the month's last day
        ("2026-01-31", 0, P("2026-01-31", "2026-02-28")),
        ("2026-01-31", 1, P("2026-02-28", "2026-03-31")),  # back to the 31st, no drift to 28th
        ("2026-01-31", 2, P("2026-03-31", "2026-04-30")),
        ("2026-01-31", 3, P("2026-04-30", "2026-05-31")),
        # 2028 is a leap year: February has a 29th
        ("2028-01-31", 0, P("2028-01-31", "2028-02-29")),
        ("2028-01-31", 1, P("2028-02-29", "2028-03-31")),
        # a period before the anchor
        ("2026-01-31", -1, P("2025-12-31", "2026-01-31")),
        # Aug 30 anchor: Feb clips to 28, March is back on the 30th
        ("2026-08-30", 6, P("2027-02-28", "2027-03-30")),
    ],
)
def test_month_end_anchor_never_drifts(anchor: str, n: int, expected: Period) -> None:
    assert nth_period(date.fromisoformat(anchor), "month", n) == expected


def test_month_periods_have_the_calendar_lengths() -> None:
    # Jan 31 2028 anchor: Jan 31-Feb 29 is 29 days (leap), Feb 29-Mar 31 is 31 days
    assert nth_period(date(2028, 1, 31), "month", 0).days == 29
    assert nth_period(date(2028, 1, 31), "month", 1).days == 31
    # 2026 is not leap: Jan 31-Feb 28 is 28 days
    assert nth_period(date(2026, 1, 31), "month", 0).days == 28


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, P("2028-02-29", "2029-02-28")),  # 2029 has no Feb 29: clipped to the 28th
        (1, P("2029-02-28", "2030-02-28")),
        (4, P("2032-02-29", "2033-02-28")),  # 2032 is leap: back on the 29th
    ],
)
def test_yearly_anchor_on_leap_day(n: int, expected: Period) -> None:
    assert nth_period(date(2028, 2, 29), "year", n) == expected


def test_other_intervals() -> None:
    anchor = date(2026, 11, 16)  # a Monday
    assert nth_period(anchor, "day", 3) == P("2026-11-19", "2026-11-20")
    assert nth_period(anchor, "week", 2) == P("2026-11-30", "2026-12-07")
    # quarters anchored on Nov 30: Feb clips to 28, May is back on the 30th
    assert nth_period(date(2026, 11, 30), "quarter", 0) == P("2026-11-30", "2027-02-28")
    assert nth_period(date(2026, 11, 30), "quarter", 1) == P("2027-02-28", "2027-05-30")


def test_unknown_interval_is_an_error() -> None:
    with pytest.raises(PeriodError, match="unknown interval 'fortnight'"):
        nth_period(date(2026, 1, 1), "fortnight", 0)  # type: ignore[arg-type]


# --- finding periods ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-11-14", P("2026-10-15", "2026-11-15")),
        ("2026-11-15", P("2026-11-15", "2026-12-15")),  # start is inside
        ("2026-12-14", P("2026-11-15", "2026-12-15")),  # last day inside; Dec 15 is not
        ("2025-01-01", P("2024-12-15", "2025-01-15")),  # before the anchor
    ],
)
def test_period_containing(at: str, expected: Period) -> None:
    assert period_containing(date(2026, 1, 15), "month", date.fromisoformat(at)) == expected


def test_period_containing_month_end_anchor() -> None:
    # Jan 31 anchor: Feb 28 starts period 1 (Feb 28-Mar 31), so Feb 27 is still in period 0
    assert period_containing(date(2026, 1, 31), "month", date(2026, 2, 27)) == P(
        "2026-01-31", "2026-02-28"
    )
    assert period_containing(date(2026, 1, 31), "month", date(2026, 2, 28)) == P(
        "2026-02-28", "2026-03-31"
    )


def test_periods_between_covers_the_range_with_whole_periods() -> None:
    # 15th-to-15th periods covering Mar 1 - May 15: the first begins before Mar 1
    assert periods_between(date(2026, 1, 15), "month", date(2026, 3, 1), date(2026, 5, 15)) == [
        P("2026-02-15", "2026-03-15"),
        P("2026-03-15", "2026-04-15"),
        P("2026-04-15", "2026-05-15"),
    ]
    assert periods_between(date(2026, 1, 1), "month", date(2026, 3, 1), date(2026, 3, 1)) == []


# --- labels -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "interval", "label", "expected"),
    [
        ("2026-01-01", "month", "2026-11", P("2026-11-01", "2026-12-01")),
        # anchored on the 15th: the period that STARTS in November
        ("2026-01-15", "month", "2026-11", P("2026-11-15", "2026-12-15")),
        # Jan 31 anchor: November's period starts on the 30th (no Nov 31)
        ("2026-01-31", "month", "2026-11", P("2026-11-30", "2026-12-31")),
        ("2026-01-31", "month", "2028-02", P("2028-02-29", "2028-03-31")),
        ("2026-01-01", "year", "2027", P("2027-01-01", "2028-01-01")),
        ("2026-01-01", "quarter", "2026-Q4", P("2026-10-01", "2027-01-01")),
        # ISO week 47 of 2026 starts on Monday Nov 16; Monday-anchored weeks
        ("2026-01-05", "week", "2026-W47", P("2026-11-16", "2026-11-23")),
        ("2026-01-01", "day", "2026-11-22", P("2026-11-22", "2026-11-23")),
        ("2026-01-22", "month", "2026-11-22", P("2026-11-22", "2026-12-22")),
    ],
)
def test_period_for_label(anchor: str, interval: str, label: str, expected: Period) -> None:
    got = period_for_label(date.fromisoformat(anchor), interval, label)  # type: ignore[arg-type]
    assert got == expected


def test_label_spans() -> None:
    assert label_span("2026-W01") == P("2025-12-29", "2026-01-05")  # ISO week 1 starts in 2025
    assert label_span("2028-02") == P("2028-02-01", "2028-03-01")
    assert label_span("2026-Q1") == P("2026-01-01", "2026-04-01")


@pytest.mark.parametrize(
    ("interval", "label", "message"),
    [
        ("month", "2026-11-22", "no monthly billing period .* starts within 2026-11-22"),
        ("week", "2026-11", "4 weekly billing periods start within 2026-11"),
        ("month", "2026-13", "'2026-13' is not a real month"),
        ("month", "Nov 2026", "label 'Nov 2026' not understood"),
        ("week", "2026-W54", "'2026-W54' is not a real week"),
    ],
)
def test_bad_labels(interval: str, label: str, message: str) -> None:
    # weekly periods anchored Thursday Jan 1 2026: Nov 5, 12, 19, 26 start in November
    with pytest.raises(PeriodError, match=message):
        period_for_label(date(2026, 1, 1), interval, label)  # type: ignore[arg-type]


# --- the period as used by the engine -----------------------------------------------------------


def test_period_edges_match_usage_day_keys() -> None:
    # 1970-01-01 .. 2026-01-01: 56 years x 365 + 14 leap days (1972..2024) = 20454 days;
    # Jan..Oct 2026: 31+28+31+30+31+30+31+31+30+31 = 304 days; 20454 + 304 = 20758
    assert NOV.start_day == 20758
    key = DailyKey("acme", "gpt-5", 0, day=20758)  # an event on Nov 1, as the aggregator keys it
    assert NOV.start_day <= key.day < NOV.end_day
    assert NOV.end_day - NOV.start_day == 30
    assert NOV.start_dt == datetime(2026, 11, 1, tzinfo=UTC)
    assert NOV.end_dt == datetime(2026, 12, 1, tzinfo=UTC)
    assert NOV.contains(date(2026, 11, 30))
    assert not NOV.contains(date(2026, 12, 1))  # end is exclusive


def test_a_period_must_end_after_it_starts() -> None:
    with pytest.raises(PeriodError, match="must end after it starts"):
        P("2026-11-01", "2026-11-01")


# --- proration ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active_from", "active_to", "expected"),
    [
        ("2026-11-01", None, Decimal(1)),  # the whole month
        ("2026-11-16", None, Decimal("0.5")),  # Nov 16..30 = 15 of 30 days
        ("2026-10-01", "2026-11-11", Decimal("0.3333333333333333333333333333333333333333333333"
                                               "33333333333333")),  # 10/30, 60 digits
        ("2026-11-10", "2026-11-25", Decimal("0.5")),  # Nov 10..24 = 15 of 30
        ("2026-12-01", None, Decimal(0)),  # starts after the period
        ("2026-01-01", "2026-11-01", Decimal(0)),  # ended before it (end exclusive)
    ],
)
def test_prorate_by_whole_days(active_from: str, active_to: str | None, expected: Decimal) -> None:
    end = None if active_to is None else date.fromisoformat(active_to)
    assert prorate(NOV, date.fromisoformat(active_from), end) == expected


def test_prorated_seat_added_mid_period() -> None:
    # 10 seats all month + 1 seat from Nov 16 (15 of 30 days) at 30.00 per seat:
    # 10 x 30.00 + 1 x 30.00 x 15/30 = 300.00 + 15.00 = 315.00
    price = Decimal("30.00")
    fee = 10 * price * prorate(NOV, date(2026, 11, 1), None) + price * prorate(
        NOV, date(2026, 11, 16), None
    )
    assert fee == Decimal("315.00")


def test_february_proration_is_by_its_own_length() -> None:
    feb = nth_period(date(2026, 2, 1), "month", 0)
    # active Feb 15..28 = 14 of 28 days = 0.5
    assert prorate(feb, date(2026, 2, 15), None) == Decimal("0.5")
