"""Reserved capacity: a baseload paid whether used or not, plus spot prices above it.

Buckets are UTC hours, each an ``int`` counting hours since 1970-01-01T00:00Z (the aggregation's
hour key). A time-of-use schedule is read in a named time zone only to decide which price an hour
gets: the hour's start is converted to local time with :mod:`zoneinfo`, so on a DST change day the
local day has 23 or 25 hours and every one of them is priced.

    baseload = len(hours) x per_bucket x baseload_price_per_mtok / 1M
    spot     = sum over hours of max(0, usage - per_bucket) x spot[hour] / 1M
"""

from __future__ import annotations

import decimal
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billing.errors import RatingError
from billing.money import MTOK, D
from billing.pricing.core import EXACT, PriceResult, fmt, non_negative

__all__ = ["CapacityResult", "TouRule", "hour_start", "hours_between", "price", "price_grouped",
           "spot_prices", "summed"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class TouRule:
    """A time-of-use rule: on local weekdays ``days`` (0=Mon..6=Sun), from ``start`` to ``end``.

    ``end`` is exclusive ("09:00-18:00" ends before 18:00). An ``end`` at or before ``start``
    wraps past midnight ("22:00-06:00"; "00:00-00:00" is the whole day); the weekday is that of
    the hour's own local start.
    """

    days: frozenset[int]
    start: time
    end: time
    price_per_mtok: Decimal

    def __post_init__(self) -> None:
        bad = [d for d in self.days if not isinstance(d, int) or not 0 <= d <= 6]
        if bad or not self.days:
            raise RatingError(f"time-of-use rule days must be 0 (Mon) to 6 (Sun), got {self.days}")
        object.__setattr__(self, "days", frozenset(self.days))
        object.__setattr__(
            self, "price_per_mtok", non_negative(self.price_per_mtok, "rule price_per_mtok")
        )

    def matches(self, local: datetime) -> bool:
        if local.weekday() not in self.days:
            return False
        clock = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end


@dataclass(frozen=True, slots=True)
class CapacityResult:
    """Baseload fee, spot charges, and how much of the reservation was used."""

    baseload: PriceResult
    spot: PriceResult
    reserved: Decimal
    covered: Decimal
    utilization: Decimal


def hour_start(hour: int) -> datetime:
    """The UTC start of hour key ``hour``."""
    return _EPOCH + hour * _HOUR


def _hour_of(moment: datetime, name: str) -> tuple[int, timedelta]:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RatingError(f"{name} {moment.isoformat()} has no time zone: state it (e.g. UTC)")
    since = moment - _EPOCH
    return since // _HOUR, since % _HOUR


def hours_between(start: datetime, end: datetime) -> list[int]:
    """Hour keys of every UTC hour that overlaps ``[start, end)``; both must be tz-aware."""
    first, _ = _hour_of(start, "start")
    last, rest = _hour_of(end, "end")
    if end < start:
        raise RatingError(f"period end {end.isoformat()} is before its start {start.isoformat()}")
    return list(range(first, last + (1 if rest else 0)))


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise RatingError(f"unknown time zone {tz!r} (expected an IANA name such as "
                          f"'America/New_York')") from None


def spot_prices(
    hours: Sequence[int], rules: Sequence[TouRule], default_price: Decimal, tz: str
) -> dict[int, Decimal]:
    """The spot price per 1M tokens of each hour: the first rule matching its local start, else
    ``default_price``."""
    zone = _zone(tz)
    default = non_negative(default_price, "default_price")
    result: dict[int, Decimal] = {}
    for hour in hours:
        local = hour_start(hour).astimezone(zone)
        result[hour] = next((r.price_per_mtok for r in rules if r.matches(local)), default)
    return result


def price(
    usage: Mapping[int, Decimal],
    hours: Sequence[int],
    per_bucket: int,
    baseload_price_per_mtok: Decimal,
    spot: Mapping[int, Decimal],
) -> CapacityResult:
    """Price a period of hourly ``usage`` (weighted tokens) against a baseload reservation.

    ``hours`` lists every bucket of the period (each is reserved, used or not); usage in an hour
    outside it is an error, as is an hour with usage above the baseload and no spot price.
    Spot charges are broken down by spot price.
    """
    covered, excess_at = summed(usage, hours, per_bucket, spot)
    return price_grouped(len(hours), per_bucket, baseload_price_per_mtok, covered, excess_at)


def summed(usage: Mapping[int, Decimal], hours: Sequence[int], per_bucket: int,
           spot: Mapping[int, Decimal]) -> tuple[Decimal, dict[Decimal, Decimal]]:
    """Hourly ``usage`` summed as :func:`price_grouped` takes it: weighted tokens within the
    baseload over all buckets, and above it per spot price (checked as :func:`price` says)."""
    buckets = list(hours)
    known = set(buckets)
    if len(known) != len(buckets):
        raise RatingError("hours: each bucket must be listed once")
    outside = sorted(h for h in usage if h not in known)
    if outside:
        raise RatingError(
            f"usage in hour {hour_start(outside[0]).isoformat()} is outside the period's buckets"
        )
    reserve = non_negative(per_bucket, "per_bucket")
    covered = Decimal(0)
    excess_at: dict[Decimal, Decimal] = defaultdict(Decimal)
    with decimal.localcontext(EXACT):
        # Only hours with usage contribute beyond the baseload; the rest of the period's
        # buckets are reserved and paid, and counted in `reserved`.
        for hour in sorted(usage):
            used = D(usage[hour])
            if used < 0:
                non_negative(used, f"usage in hour {hour_start(hour).isoformat()}")
            covered += min(used, reserve)
            if used > reserve:
                if hour not in spot:
                    raise RatingError(f"no spot price for hour {hour_start(hour).isoformat()}")
                excess_at[non_negative(spot[hour], "spot price")] += used - reserve
    return covered, dict(excess_at)


def price_grouped(
    buckets: int,
    per_bucket: int,
    baseload_price_per_mtok: Decimal,
    covered: Decimal,
    excess_at: Mapping[Decimal, Decimal],
) -> CapacityResult:
    """:func:`price` from usage already summed: ``covered`` (weighted tokens within the
    baseload, over all buckets) and ``excess_at`` (weighted tokens above it, per spot price).

    The comparison tool sums these per customer in the engine, as integers, instead of
    building one Python row per customer-hour; both roads end here, so they price alike.
    """
    reserve = non_negative(per_bucket, "per_bucket")
    base_price = non_negative(baseload_price_per_mtok, "baseload_price_per_mtok")
    with decimal.localcontext(EXACT):
        reserved = buckets * reserve
        base_amount = reserved * base_price / MTOK
        spot_details = tuple(
            (f"{fmt(tokens)} tokens above baseload at {rate} per 1M", tokens * rate / MTOK)
            for rate, tokens in sorted(excess_at.items()) if tokens
        )
        spot_amount = sum((amount for _, amount in spot_details), Decimal(0))
        utilization = covered / reserved if reserved else Decimal(0)
    baseload = PriceResult(
        base_amount,
        ((f"{buckets} buckets x {fmt(reserve)} tokens at {base_price} per 1M", base_amount),),
    )
    return CapacityResult(
        baseload=baseload,
        spot=PriceResult(spot_amount, spot_details),
        reserved=reserved,
        covered=covered,
        utilization=utilization,
    )
