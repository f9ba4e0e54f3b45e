"""Reserved capacity: UTC hour buckets, time-of-use spot prices across DST, baseload and spot."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing.errors import RatingError
from billing.pricing.capacity import TouRule, hour_start, hours_between, price, spot_prices

NY = ZoneInfo("America/New_York")
WEEKDAYS = frozenset({0, 1, 2, 3, 4})
# plans/05: weekdays 09:00-18:00 local are peak at 6.00 per 1M, everything else 3.00
PEAK = TouRule(WEEKDAYS, time(9), time(18), Decimal("6.00"))
OFF_PEAK = Decimal("3.00")


def local_day(year: int, month: int, day: int) -> list[int]:
    start = datetime(year, month, day, tzinfo=NY)
    end = datetime.fromordinal(start.toordinal() + 1).replace(tzinfo=NY)
    return hours_between(start, end)


@pytest.mark.parametrize(
    ("month", "day", "hours"),
    [
        (3, 8, 23),  # spring forward: 02:00-03:00 local does not exist
        (11, 1, 25),  # fall back: 01:00-02:00 local happens twice
        (3, 9, 24),  # an ordinary day
    ],
)
def test_local_day_has_23_or_25_hours_on_dst_days(month: int, day: int, hours: int) -> None:
    buckets = local_day(2026, month, day)
    assert len(buckets) == hours
    prices = spot_prices(buckets, [PEAK], OFF_PEAK, "America/New_York")
    assert sorted(prices) == buckets  # every hour of the local day is priced


def test_fall_back_hour_matched_twice_and_missing_spring_hour_never() -> None:
    one_am = TouRule(frozenset({6}), time(1), time(2), Decimal("9.00"))  # Sundays 01:00-02:00
    two_am = TouRule(frozenset({6}), time(2), time(3), Decimal("8.00"))  # Sundays 02:00-03:00
    nov = spot_prices(local_day(2026, 11, 1), [one_am, two_am], OFF_PEAK, "America/New_York")
    # 01:00 EDT (05:00Z) and 01:00 EST (06:00Z) are both 01:00 local: two hours at 9.00
    assert [hour_start(h).hour for h, p in nov.items() if p == Decimal("9.00")] == [5, 6]
    assert list(nov.values()).count(Decimal("8.00")) == 1  # 02:00 EST happens once
    mar = spot_prices(local_day(2026, 3, 8), [one_am, two_am], OFF_PEAK, "America/New_York")
    assert list(mar.values()).count(Decimal("8.00")) == 0  # 02:00 local does not exist that day
    assert list(mar.values()).count(Decimal("9.00")) == 1


def test_weekday_peak_hours_follow_local_time() -> None:
    # Monday 2026-03-09 (EDT, UTC-4): 09:00-18:00 local = 13:00-22:00 UTC, 9 peak hours
    prices = spot_prices(local_day(2026, 3, 9), [PEAK], OFF_PEAK, "America/New_York")
    peak = [hour_start(h).hour for h, p in prices.items() if p == Decimal("6.00")]
    assert peak == list(range(13, 22))
    # Monday 2026-03-02 (EST, UTC-5): 14:00-23:00 UTC
    prices = spot_prices(local_day(2026, 3, 2), [PEAK], OFF_PEAK, "America/New_York")
    assert [hour_start(h).hour for h, p in prices.items() if p == Decimal("6.00")] == list(
        range(14, 23)
    )


def test_first_matching_rule_wins_and_overnight_rules_wrap() -> None:
    night = TouRule(frozenset(range(7)), time(22), time(6), Decimal("1.00"))
    everything = TouRule(frozenset(range(7)), time(0), time(0), Decimal("7.00"))
    prices = spot_prices(hours_between(datetime(2026, 3, 3, tzinfo=UTC),
                                       datetime(2026, 3, 4, tzinfo=UTC)),
                         [night, everything], OFF_PEAK, "UTC")
    # 22:00-06:00 is 8 hours at 1.00; the other 16 fall to the all-day rule at 7.00
    assert list(prices.values()).count(Decimal("1.00")) == 8
    assert list(prices.values()).count(Decimal("7.00")) == 16


def test_thirty_day_month_baseload() -> None:
    hours = hours_between(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert len(hours) == 720  # 30 x 24
    result = price({}, hours, 20_000_000, Decimal("1.50"), {})
    # 720 h x 20M x 1.50/M = 21,600.00, owed even with no usage
    assert result.baseload.amount == Decimal("21600.00")
    assert result.spot.amount == 0
    assert result.reserved == 14_400_000_000  # 720 x 20M
    assert result.utilization == 0


def test_spot_charges_only_the_excess_at_each_hours_price() -> None:
    hours = local_day(2026, 3, 9)  # Monday, EDT
    prices = spot_prices(hours, [PEAK], OFF_PEAK, "America/New_York")
    peak_hour = next(h for h in hours if hour_start(h).hour == 15)  # 11:00 local
    night_hour = next(h for h in hours if hour_start(h).hour == 6)  # 02:00 local
    usage = {
        peak_hour: Decimal(25_000_000),  # 5M above baseload at 6.00 = 30.00
        night_hour: Decimal("20500000.5"),  # 500,000.5 above at 3.00 = 1.5000015
        hours[0]: Decimal(12_000_000),  # under the baseload: covered, no spot
    }
    result = price(usage, hours, 20_000_000, Decimal("1.50"), prices)
    assert result.spot.amount == Decimal("31.5000015")  # 30.00 + 1.5000015
    assert result.spot.details == (
        ("500000.5 tokens above baseload at 3.00 per 1M", Decimal("1.5000015")),
        ("5000000 tokens above baseload at 6.00 per 1M", Decimal("30.00")),
    )
    # 24 h x 20M x 1.50/M = 720.00
    assert result.baseload.amount == Decimal("720.00")
    # covered: 20M + 20M + 12M = 52M of 480M reserved
    assert result.covered == 52_000_000
    assert result.utilization.quantize(Decimal("0.000001")) == Decimal("0.108333")  # 52/480


def test_usage_outside_the_period_is_an_error() -> None:
    hours = local_day(2026, 3, 9)
    with pytest.raises(RatingError, match=r"usage in hour 2026-03-08T23:00:00\+00:00 is outside"):
        price({hours[0] - 5: Decimal(1)}, hours, 1, Decimal(1), {})


def test_missing_spot_price_is_an_error() -> None:
    hours = local_day(2026, 3, 9)
    with pytest.raises(RatingError, match="no spot price for hour 2026-03-09T04:00:00"):
        price({hours[0]: Decimal(2)}, hours, 1, Decimal(1), {})


def test_naive_period_and_unknown_zone_are_refused() -> None:
    with pytest.raises(RatingError, match="has no time zone"):
        hours_between(datetime(2026, 3, 1), datetime(2026, 4, 1, tzinfo=UTC))
    with pytest.raises(RatingError, match="unknown time zone 'Mars/Olympus'"):
        spot_prices([0], [], Decimal(1), "Mars/Olympus")
