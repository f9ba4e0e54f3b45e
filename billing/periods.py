"""Billing periods: calendar arithmetic anchored on a date, and proration by whole UTC days.

Pure functions, no clock: every date is an argument. A period is a half-open span of UTC days
``[start, end)``. Periods are counted from a billing *anchor* (usually the subscription's start):
period ``n`` runs from ``anchor + n intervals`` to ``anchor + (n + 1) intervals``, always
computed from the ORIGINAL anchor, never from the previous period's end. So a month-end anchor
keeps its day where the month has it and clips where it does not:

    >>> [str(nth_period(date(2026, 1, 31), "month", n)) for n in range(3)]
    ['2026-01-31..2026-02-28', '2026-02-28..2026-03-31', '2026-03-31..2026-04-30']

The end of one period is the start of the next, so consecutive periods tile time with no gap and
no overlap (a property test pins this).

Proration is the exact ratio of whole days: ``prorate(Nov 2026, Nov 16, None) == 15/30 == 0.5``.
Ratios such as 10/31 have no finite decimal form; they are computed to 60 significant digits. A
pricer that wants the last digit exact should multiply by :func:`active_days` first and divide by
:attr:`Period.days` last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Final, Literal, get_args

from dateutil.relativedelta import relativedelta

from billing.errors import PeriodError
from billing.money import EXACT

__all__ = [
    "EPOCH",
    "Interval",
    "Period",
    "PeriodError",
    "active_days",
    "day_ratio",
    "label_span",
    "nth_period",
    "period_containing",
    "period_for_label",
    "periods_between",
    "prorate",
]

Interval = Literal["day", "week", "month", "quarter", "year"]
INTERVALS: Final[tuple[str, ...]] = get_args(Interval)

_ADJECTIVE: Final = {
    "day": "daily", "week": "weekly", "month": "monthly", "quarter": "quarterly", "year": "yearly"
}

EPOCH: Final = date(1970, 1, 1)
"""Day 0 of the integer UTC day keys used by usage aggregates (``DailyKey.day``)."""

# Wide enough that a prorated price keeps every digit a currency could ever show.
_RATIO: Final = EXACT  # money's one exact context


def _is_day(value: object) -> bool:
    """A date and not a datetime (freezegun's FakeDate included)."""
    return isinstance(value, date) and not isinstance(value, datetime)


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A half-open span of UTC days ``[start, end)``: ``end`` is the first day NOT included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if not _is_day(self.start) or not _is_day(self.end):
            raise PeriodError(
                f"a period is made of dates, got {type(self.start).__name__} and "
                f"{type(self.end).__name__}"
            )
        if self.end <= self.start:
            raise PeriodError(f"a period must end after it starts: {self.start}..{self.end}")

    @property
    def days(self) -> int:
        """Number of days in the period (30 for November)."""
        return (self.end - self.start).days

    def contains(self, d: date) -> bool:
        """True if day ``d`` is in the period (``start <= d < end``)."""
        return self.start <= d < self.end

    @property
    def start_dt(self) -> datetime:
        """The first instant of the period: UTC midnight of ``start``."""
        return datetime.combine(self.start, time(0), tzinfo=UTC)

    @property
    def end_dt(self) -> datetime:
        """The first instant after the period: UTC midnight of ``end`` (exclusive)."""
        return datetime.combine(self.end, time(0), tzinfo=UTC)

    @property
    def start_day(self) -> int:
        """``start`` as UTC days since 1970-01-01, as in ``DailyKey.day``."""
        return (self.start - EPOCH).days

    @property
    def end_day(self) -> int:
        """``end`` as UTC days since 1970-01-01 (exclusive): ``start_day <= key.day < end_day``."""
        return (self.end - EPOCH).days

    def clip(self, start: date, end: date | None) -> Period | None:
        """The part of this period within ``[start, end)`` (``end=None``: open), or None."""
        lo = max(self.start, start)
        hi = self.end if end is None else min(self.end, end)
        return Period(lo, hi) if lo < hi else None

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def _check_interval(interval: str) -> None:
    if interval not in INTERVALS:
        raise PeriodError(f"unknown interval {interval!r}: expected one of {', '.join(INTERVALS)}")


@lru_cache(maxsize=65_536)
def _shift(anchor: date, interval: Interval, n: int) -> date:
    """``anchor`` moved by ``n`` intervals (relativedelta clips day 31 to the month's last day).
    Memoized: rating many customers asks for the same few period bounds again and again."""
    if interval == "day":
        return anchor + timedelta(days=n)
    if interval == "week":
        return anchor + timedelta(weeks=n)
    if interval == "month":
        return anchor + relativedelta(months=n)
    if interval == "quarter":
        return anchor + relativedelta(months=3 * n)
    return anchor + relativedelta(years=n)


def nth_period(anchor: date, interval: Interval, n: int) -> Period:
    """Period ``n`` counted from ``anchor`` (``n = 0`` starts on the anchor; negative ``n`` is
    before it). Both ends are computed from the original anchor, so month-end anchors do not
    drift: anchor 2026-01-31 gives Jan 31-Feb 28, Feb 28-Mar 31, Mar 31-Apr 30."""
    _check_interval(interval)
    return Period(_shift(anchor, interval, n), _shift(anchor, interval, n + 1))


def _estimate(anchor: date, interval: Interval, at: date) -> int:
    if interval == "day":
        return (at - anchor).days
    if interval == "week":
        return (at - anchor).days // 7
    months = (at.year - anchor.year) * 12 + (at.month - anchor.month)
    if interval == "month":
        return months
    if interval == "quarter":
        return months // 3
    return at.year - anchor.year


def _index_containing(anchor: date, interval: Interval, at: date) -> int:
    n = _estimate(anchor, interval, at)
    while _shift(anchor, interval, n) > at:
        n -= 1
    while _shift(anchor, interval, n + 1) <= at:
        n += 1
    return n


def period_containing(anchor: date, interval: Interval, at: date) -> Period:
    """The period (counted from ``anchor``) that contains day ``at``."""
    _check_interval(interval)
    return nth_period(anchor, interval, _index_containing(anchor, interval, at))


_LABELS: Final = (
    (re.compile(r"(\d{4})"), "year"),
    (re.compile(r"(\d{4})-Q([1-4])"), "quarter"),
    (re.compile(r"(\d{4})-W(\d{2})"), "week"),
    (re.compile(r"(\d{4})-(\d{2})"), "month"),
    (re.compile(r"(\d{4})-(\d{2})-(\d{2})"), "day"),
)


def label_span(label: str) -> Period:
    """The calendar span a label names: ``"2026"`` a year, ``"2026-Q4"`` a quarter,
    ``"2026-W47"`` an ISO week (Monday to Monday), ``"2026-11"`` a month, ``"2026-11-22"`` a day."""
    text = label.strip()
    for pattern, kind in _LABELS:
        m = pattern.fullmatch(text)
        if m is None:
            continue
        nums = [int(g) for g in m.groups()]
        try:
            if kind == "year":
                start = date(nums[0], 1, 1)
                return Period(start, start + relativedelta(years=1))
            if kind == "quarter":
                start = date(nums[0], 3 * nums[1] - 2, 1)
                return Period(start, start + relativedelta(months=3))
            if kind == "week":
                start = date.fromisocalendar(nums[0], nums[1], 1)
                return Period(start, start + timedelta(weeks=1))
            if kind == "month":
                start = date(nums[0], nums[1], 1)
                return Period(start, start + relativedelta(months=1))
            start = date(nums[0], nums[1], nums[2])
            return Period(start, start + timedelta(days=1))
        except ValueError as exc:
            raise PeriodError(f"period label {label!r} is not a real {kind}: {exc}") from None
    raise PeriodError(
        f"period label {label!r} not understood: expected 2026, 2026-Q4, 2026-W47, 2026-11 "
        "or 2026-11-22"
    )


def period_for_label(anchor: date, interval: Interval, label: str) -> Period:
    """The billing period named by ``label``: the one period that STARTS within the calendar span
    of the label (see :func:`label_span`).

    With a first-of-month anchor, ``"2026-11"`` is Nov 1-Dec 1. With an anchor on the 15th it is
    Nov 15-Dec 15 (the period starting in November), and with a Jan 31 anchor it is Nov 30-Dec 31.
    A label whose span holds no period start (``"2026-11-22"`` for a monthly period anchored on
    the 1st) or several (``"2026-11"`` for weekly periods) is an error.
    """
    _check_interval(interval)
    span = label_span(label)
    n = _index_containing(anchor, interval, span.start)
    if _shift(anchor, interval, n) < span.start:
        n += 1
    starts: list[Period] = []
    while _shift(anchor, interval, n) < span.end:
        starts.append(nth_period(anchor, interval, n))
        n += 1
    if not starts:
        raise PeriodError(
            f"no {_ADJECTIVE[interval]} billing period anchored on {anchor} starts within {label} "
            f"({span}); periods run from the anchor's day (e.g. "
            f"{period_containing(anchor, interval, span.start)})"
        )
    if len(starts) > 1:
        raise PeriodError(
            f"{len(starts)} {_ADJECTIVE[interval]} billing periods start within {label} ({span}): "
            f"{starts[0]} to {starts[-1]}; use a label as fine as the interval"
        )
    return starts[0]


def periods_between(anchor: date, interval: Interval, start: date, end: date) -> list[Period]:
    """The whole periods (counted from ``anchor``) that cover ``[start, end)``, in order: the
    first contains ``start``, the last contains the day before ``end``. Periods are not clipped:
    the first may begin before ``start`` and the last may end after ``end``. Empty if
    ``end <= start``."""
    _check_interval(interval)
    if end <= start:
        return []
    n = _index_containing(anchor, interval, start)
    out: list[Period] = []
    while True:
        period = nth_period(anchor, interval, n)
        if period.start >= end:
            return out
        out.append(period)
        n += 1


def active_days(period: Period, active_from: date, active_to: date | None) -> int:
    """Whole UTC days of ``period`` within ``[active_from, active_to)`` (``None``: still active)."""
    part = period.clip(active_from, active_to)
    return 0 if part is None else part.days


def prorate(period: Period, active_from: date, active_to: date | None) -> Decimal:
    """Fraction of ``period``'s days within ``[active_from, active_to)``, as an exact ratio of
    whole days (``active_to`` is exclusive; ``None`` means active to the end of the period).

    A seat added on Nov 16 in November: ``prorate(nov, date(2026, 11, 16), None) == 15/30 ==
    Decimal("0.5")``. Always between 0 and 1. Non-terminating ratios (10/31) carry 60
    significant digits.
    """
    return day_ratio(active_days(period, active_from, active_to), period)


def day_ratio(days: int, period: Period) -> Decimal:
    """``days / period.days`` as a Decimal: exact when the ratio terminates (15/30 = 0.5, 60/30 =
    2), else to 60 significant digits. ``days`` may be unit-days (seats x days), so above 1."""
    if days % period.days == 0:
        return Decimal(days // period.days)
    return _RATIO.divide(Decimal(days), Decimal(period.days))
