"""The keys usage is grouped by, defined once: epoch microseconds, UTC day and hour, band.

Every aggregator (the DuckDB/Ibis engine, the Python one, Spark, the ledger's SQL) and the online
path key usage by these: a timestamp is microseconds since the Unix epoch in UTC, a day is
``micros // DAY_US`` (``seconds // DAY_S``), an hour ``micros // HOUR_US``, and a row's band is how
many of the cost book's sorted long-context thresholds its prompt per request exceeds
(:func:`band_of`; the SQL engines write the same comparison, in integers). Integer arithmetic
throughout: no time zone, no float, no ``date_trunc``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Final

__all__ = ["DAY_S", "DAY_US", "EPOCH", "EPOCH_DAY", "HOUR_S", "HOUR_US", "band_of", "day_index",
           "day_of", "epoch_micros", "instant"]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DAY: Final = date(1970, 1, 1)
DAY_S: Final = 86_400
HOUR_S: Final = 3_600
DAY_US: Final = DAY_S * 1_000_000
HOUR_US: Final = HOUR_S * 1_000_000
_MICROSECOND: Final = timedelta(microseconds=1)


def epoch_micros(moment: datetime) -> int:
    """``moment`` (aware) as microseconds since the epoch, exactly (no float on the way)."""
    return (moment - EPOCH) // _MICROSECOND  # timedelta // timedelta: an exact integer


def instant(micros: int) -> datetime:
    """Epoch microseconds as a UTC datetime."""
    return EPOCH + timedelta(microseconds=micros)


def day_of(day_index: int) -> date:
    """The UTC date of a day key (days since the epoch)."""
    return EPOCH_DAY + timedelta(days=day_index)


def day_index(day: date) -> int:
    """The day key (days since the epoch) of a date."""
    return (day - EPOCH_DAY).days


def band_of(prompt_tokens: int, requests: int, thresholds: tuple[int, ...]) -> int:
    """How many long-context thresholds the prompt per request exceeds, in integers:
    ``prompt > threshold * requests`` (a batch of 0 requests counts as 1)."""
    per = requests if requests > 0 else 1
    return sum(1 for threshold in thresholds if prompt_tokens > threshold * per)
