"""The online meter: events in one by one (or in batches), bill-to-date at any instant.

A SaaS backend keeps one :class:`Meter` in memory, records usage as requests complete, shows a
customer's bill to date and remaining credits, and closes a period into exactly the invoice the
batch path produces from the same events (same aggregates, same engine, same bytes).

Time comes from an injectable :class:`Clock`; the meter never reads the system clock itself
except through :class:`SystemClock`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from billing.costs import CostBook
from billing.errors import RatingError, UsageError
from billing.invoice import Invoice
from billing.periods import Period, period_containing
from billing.plans.catalog import PlanCatalog
from billing.plans.model import CapacityCharge
from billing.rating.batch import RaterCache
from billing.rating.engine import RatingResult
from billing.rating.usage import CustomerUsage
from billing.subscriptions import Subscription
from billing.usage.aggregate_python import band_of
from billing.usage.aggregates import Counts
from billing.usage.events import UsageEvent
from billing.usage.mapping import MAX_COUNT

__all__ = ["Clock", "FixedClock", "Meter", "MeterStats", "SystemClock"]

Outcome = Literal["new", "duplicate", "conflict"]
_DAY_S = 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Clock(Protocol):
    """Where the meter's 'now' comes from."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real UTC clock (freezegun controls it in tests)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(slots=True)
class FixedClock:
    """A clock that says what it is told: ``clock.at = datetime(...)``."""

    at: datetime

    def now(self) -> datetime:
        return self.at


@dataclass(slots=True)
class MeterStats:
    events: int = 0
    duplicates: int = 0
    conflicts: int = 0


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _content(event: UsageEvent) -> tuple[object, ...]:
    # The dedupe memory: what makes two events with one id the same event. The timestamp is
    # kept as UTC microseconds so the columnar path (record_batch) builds the same tuples.
    return (event.customer_id, _micros(event.timestamp), event.model, event.input_tokens,
            event.cached_input_tokens, event.cache_write_tokens, event.output_tokens,
            event.requests, event.session_id, tuple(sorted(event.properties.items())))


class Meter:
    """In-memory metering and rating for live customers.

    >>> meter = Meter(catalog, subscriptions, costbook=CostBook.default())
    >>> meter.record(event)                      # "new", "duplicate" or "conflict"
    >>> meter.bill_to_date("acme").total         # Decimal, the period in force now
    >>> meter.close("acme", "2026-11")           # the period's invoice, as the batch path
    """

    def __init__(self, catalog: PlanCatalog, subscriptions: Iterable[Subscription], *,
                 costbook: CostBook | None = None, clock: Clock | None = None) -> None:
        self.catalog = catalog
        self.clock: Clock = clock or SystemClock()
        self.costbook = costbook
        self._thresholds = costbook.thresholds() if costbook is not None else ()
        self._raters = RaterCache(catalog, costbook=costbook)
        self._subscriptions: dict[str, list[Subscription]] = {}
        for sub in subscriptions:
            self._subscriptions.setdefault(sub.customer_id, []).append(sub)
        self._hourly = any(
            isinstance(charge, CapacityCharge)
            for plan_id in catalog.ids for plan in catalog.versions(plan_id)
            for charge in plan.charges
        )
        self._seen: dict[str, object] = {}
        self._usage: dict[str, CustomerUsage] = {}
        self.stats = MeterStats()
        # record_batch keeps its batches (the dedupe memory) and skips hourly rows for
        # customers whose plans, in every version, have no capacity charge.
        self._batch_starts: list[int] = []
        self._batch_tables: list[Any] = []
        self._batch_next = 0
        self._customer_index: dict[str, int] = {}
        self._customer_names: list[str] = []
        self._model_index: dict[str, int] = {}
        self._model_names: list[str] = []
        self._daily_sums = _Sums()
        self._hourly_sums = _Sums()
        capacity_plans = {
            plan_id for plan_id in catalog.ids for plan in catalog.versions(plan_id)
            if any(isinstance(charge, CapacityCharge) for charge in plan.charges)
        }
        self._daily_only = frozenset(
            customer for customer, subs in self._subscriptions.items()
            if not any(sub.plan in capacity_plans for sub in subs)
        )
        self._daily_only_array: Any = None
        if self._daily_only:
            import pyarrow as pa

            self._daily_only_array = pa.array(sorted(self._daily_only), pa.string())

    # --- recording -----------------------------------------------------------------------------

    def record(self, event: UsageEvent) -> Outcome:
        """Add one event. The first event with an id wins; a later identical copy is a
        duplicate, a later different one a conflict (both ignored, both counted)."""
        content = _content(event)
        previous = self._seen.get(event.id)
        if previous is not None:
            if self._stored(previous) == content:
                self.stats.duplicates += 1
                return "duplicate"
            self.stats.conflicts += 1
            return "conflict"
        self._seen[event.id] = content
        self.stats.events += 1
        usage = self._usage.get(event.customer_id)
        if usage is None:
            usage = self._usage[event.customer_id] = CustomerUsage(event.customer_id)
        seconds = _micros(event.timestamp) // 1_000_000  # floor, as the batch scan keys it
        band = band_of(event.prompt_tokens, event.requests, self._thresholds) if self._thresholds else 0
        counts = Counts(event.input_tokens, event.cached_input_tokens, event.cache_write_tokens,
                        event.output_tokens, event.requests, 1)
        usage.daily.setdefault((event.model, band, seconds // _DAY_S), Counts()).add(counts)
        if self._hourly:
            usage.hourly.setdefault(seconds // 3600, Counts()).add(counts)
        return "new"

    def record_many(self, events: Iterable[UsageEvent]) -> MeterStats:
        """Add a batch; returns what this batch did (new, duplicates, conflicts)."""
        batch = MeterStats()
        for event in events:
            outcome = self.record(event)
            if outcome == "new":
                batch.events += 1
            elif outcome == "duplicate":
                batch.duplicates += 1
            else:
                batch.conflicts += 1
        return batch

    def record_batch(self, columns: Any) -> MeterStats:
        """Add a batch given as columns: the fast path (no Python object per event).

        ``columns`` is a pyarrow Table or RecordBatch, or a mapping of equal-length lists, with
        the canonical names ``id, customer_id, timestamp, model`` and optionally
        ``input_tokens, cached_input_tokens, cache_write_tokens, output_tokens`` (absent: 0),
        ``requests`` (absent: 1) and ``session_id``. Timestamps must be tz-aware (an Arrow
        timestamp with a time zone, or aware datetimes). The same rules as :meth:`record`, in
        row order: the first event with an id wins, later copies are duplicates or conflicts,
        and the same aggregates result, so the same invoices, byte for byte.

        The batch is checked whole before anything is recorded: a bad row raises
        :class:`~billing.errors.UsageError` naming its row (0-based) and the reason, and the
        meter is left as it was. Returns what this batch did (new, duplicates, conflicts).
        """
        import pyarrow as pa

        table = _batch_table(columns)
        if table is not None:
            try:
                table = table.append_column("band", self._bands(table))
            except pa.ArrowInvalid:  # a prompt or requests x threshold beyond 64 bits
                table = None
        recorded = self._record_table(table) if table is not None else None
        if recorded is None:  # beyond 64 bits: exact Python ints, one event at a time
            return self.record_many(_batch_events(columns))
        return recorded

    def _stored(self, previous: object) -> object:
        """The dedupe record of an event: record() keeps a tuple; record_batch keeps the
        event's position in its retained batch (built into the same tuple when needed)."""
        if not isinstance(previous, int):
            return previous
        index = bisect.bisect_right(self._batch_starts, previous) - 1
        table = self._batch_tables[index]
        row = previous - self._batch_starts[index]
        return (*(table.column(name)[row].as_py() for name in _CONTENT_COLUMNS), ())

    def _record_table(self, table: Any) -> MeterStats | None:
        """Record a checked batch; None (nothing recorded) when its keys do not fit the
        columnar store (the caller then takes the one-event-at-a-time path)."""
        import numpy as np
        import pyarrow as pa

        ids: list[str] = table.column("id").to_pylist()
        seen = self._seen
        start = self._batch_next
        batch = MeterStats()
        fresh: dict[str, int] = {}
        if len(set(ids)) == len(ids) and seen.keys().isdisjoint(ids):
            kept = table
        else:  # repeated ids: decide row by row, in order, exactly as record() does
            mask: list[bool] = []
            for row, event_id in enumerate(ids):
                previous = seen.get(event_id, fresh.get(event_id))
                if previous is None:
                    fresh[event_id] = start + row
                    mask.append(True)
                    continue
                mask.append(False)
                content = (*(table.column(name)[row].as_py() for name in _CONTENT_COLUMNS), ())
                if isinstance(previous, int) and previous >= start:
                    same = self._row_content(table, previous - start) == content
                else:
                    same = self._stored(previous) == content
                if same:
                    batch.duplicates += 1
                else:
                    batch.conflicts += 1
            kept = table.filter(pa.array(mask, pa.bool_()))
        daily = hourly = None
        if kept.num_rows:
            keys = self._keys(kept)
            if keys is None:
                return None
            daily_keys, hour_keys, hourly_rows = keys
            values = np.vstack([kept.column(name).to_numpy() for name in _COUNT_COLUMNS]
                               + [np.ones(kept.num_rows, np.int64)])
            daily = self._daily_sums.prepare(daily_keys, values)
            if hour_keys is not None and len(hour_keys):
                hourly = self._hourly_sums.prepare(
                    hour_keys, values if hourly_rows is None else values[:, hourly_rows])
        # Checked and summed: commit (nothing above changed the meter).
        if fresh:
            seen.update(fresh)
        else:
            seen.update(zip(ids, range(start, start + len(ids)), strict=True))
        self._batch_starts.append(start)
        self._batch_tables.append(table.select(list(_CONTENT_COLUMNS)))
        self._batch_next = start + len(ids)
        if daily is not None:
            self._daily_sums.commit(daily)
        if hourly is not None:
            self._hourly_sums.commit(hourly)
        batch.events = kept.num_rows
        self.stats.events += batch.events
        self.stats.duplicates += batch.duplicates
        self.stats.conflicts += batch.conflicts
        return batch

    @staticmethod
    def _row_content(table: Any, row: int) -> tuple[object, ...]:
        return (*(table.column(name)[row].as_py() for name in _CONTENT_COLUMNS), ())

    def _index(self, values: Any, index: dict[str, int], names: list[str]) -> Any:
        """Small integers for a string column (one dict look-up per distinct value)."""
        import numpy as np

        encoded = values.dictionary_encode().combine_chunks() if hasattr(
            values, "combine_chunks") else values.dictionary_encode()
        mapping = []
        for name in encoded.dictionary.to_pylist():
            number = index.get(name)
            if number is None:
                number = index[name] = len(names)
                names.append(name)
            mapping.append(number)
        return np.asarray(mapping, np.int64)[encoded.indices.to_numpy()]

    def _keys(self, kept: Any) -> tuple[Any, Any, Any] | None:
        """64-bit keys: daily (customer, model, band, day) and hourly (customer, hour)."""
        import numpy as np
        import pyarrow.compute as pc

        ts = kept.column("ts_us").to_numpy()
        seconds = ts // 1_000_000  # floor, as record() and the batch scan key it
        days = seconds // _DAY_S
        band = kept.column("band").to_numpy()
        if band.max() >= 1 << 3 or np.abs(days).max() >= 1 << 20:
            return None
        customers = self._index(kept.column("customer_id"), self._customer_index,
                                self._customer_names)
        models = self._index(kept.column("model"), self._model_index, self._model_names)
        if len(self._customer_names) >= 1 << 27 or len(self._model_names) >= 1 << 12:
            return None
        daily = (((customers << 12 | models) << 3 | band) << 21) | (days + (1 << 20))
        if not self._hourly:
            return daily, None, None
        hours = seconds // 3600
        hourly = (customers << 36) | (hours + (1 << 35))
        rows = None
        if self._daily_only:
            # Hourly rows only feed capacity charges: skip customers whose plans have none.
            wanted = pc.invert(pc.is_in(kept.column("customer_id"),
                                        value_set=self._daily_only_array)).to_numpy(
                                            zero_copy_only=False)
            rows = np.flatnonzero(wanted)
            hourly = hourly[rows]
        return daily, hourly, rows

    def _batch_usage(self, customer_id: str) -> CustomerUsage:
        """The customer's usage: record()'s rows plus record_batch()'s columnar sums."""
        usage = self._usage.get(customer_id)
        number = self._customer_index.get(customer_id)
        if number is None:
            return usage if usage is not None else CustomerUsage(customer_id)
        merged = CustomerUsage(customer_id)
        if usage is not None:
            merged.daily = {k: Counts(*c.as_tuple()) for k, c in usage.daily.items()}
            merged.hourly = {k: Counts(*c.as_tuple()) for k, c in usage.hourly.items()}
        keys, sums = self._daily_sums.between(number << 36, (number + 1) << 36)
        models = self._model_names
        for key, counts in zip(keys, sums, strict=True):
            k = (models[(key >> 24) & 0xFFF], (key >> 21) & 0x7, (key & 0x1FFFFF) - (1 << 20))
            existing = merged.daily.get(k)
            if existing is None:
                merged.daily[k] = Counts(*counts)
            else:
                existing.add(Counts(*counts))
        keys, sums = self._hourly_sums.between(number << 36, (number + 1) << 36)
        for key, counts in zip(keys, sums, strict=True):
            hour = (key & ((1 << 36) - 1)) - (1 << 35)
            existing = merged.hourly.get(hour)
            if existing is None:
                merged.hourly[hour] = Counts(*counts)
            else:
                existing.add(Counts(*counts))
        return merged

    def _bands(self, table: Any) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not self._thresholds:
            return pa.array([0] * table.num_rows, pa.int64())
        prompt = pc.add_checked(pc.add_checked(table.column("input_tokens"), table.column("cached_input_tokens")),
                        table.column("cache_write_tokens"))
        requests = table.column("requests")
        per = pc.if_else(pc.equal(requests, 0), 1, requests)
        band = pa.array([0] * table.num_rows, pa.int64())
        for threshold in self._thresholds:
            band = pc.add(band, pc.cast(pc.greater(prompt, pc.multiply_checked(per, threshold)),
                                        pa.int64()))
        return band

    # --- questions -----------------------------------------------------------------------------

    def _subscription_at(self, customer_id: str, day: date) -> Subscription:
        for sub in self._subscriptions.get(customer_id, []):
            if sub.start <= day and (sub.end is None or day < sub.end):
                return sub
        raise RatingError(f"customer {customer_id!r} has no subscription in force on {day}")

    def _rate(self, sub: Subscription, period: Period) -> RatingResult:
        rater = self._raters.for_subscription(sub, period)
        return rater.rate(sub, period, self._batch_usage(sub.customer_id))

    def period_at(self, customer_id: str, at: datetime | None = None) -> Period:
        moment = (at or self.clock.now()).astimezone(UTC)
        sub = self._subscription_at(customer_id, moment.date())
        interval = self.catalog.version_at(sub.plan, moment.date()).interval
        return period_containing(sub.anchor_date, interval, moment.date())

    def bill_to_date(self, customer_id: str, at: datetime | None = None) -> Invoice:
        """The invoice of the period in force at ``at`` (default: the clock's now), with the
        usage recorded so far: what the customer would owe if the period closed now."""
        moment = (at or self.clock.now()).astimezone(UTC)
        sub = self._subscription_at(customer_id, moment.date())
        return self._rate(sub, self.period_at(customer_id, moment)).invoice

    def remaining_credits(self, customer_id: str, at: datetime | None = None) -> Decimal:
        """Credits the customer can still use at ``at`` (grants and packs not yet expired)."""
        moment = (at or self.clock.now()).astimezone(UTC)
        invoice = self.bill_to_date(customer_id, moment)
        today = moment.date()
        # The invoice shows the period's closing state: credits that expire at the period's end
        # are "expired" there, but still usable before it.
        return sum(
            (b.remaining + b.expired for b in invoice.credits
             if b.expires is None or b.expires > today),
            Decimal(0),
        )

    def close(self, customer_id: str, label: str) -> Invoice:
        """The invoice of the period ``label`` ("2026-11"), identical to the batch path's."""
        from billing.rating.batch import subscription_period

        for sub in self._subscriptions.get(customer_id, []):
            period = subscription_period(self.catalog, sub, label)
            if period.clip(sub.start, sub.end) is not None:
                return self._rate(sub, period).invoice
        raise RatingError(f"customer {customer_id!r} has no subscription in period {label}")

    def customers(self) -> Sequence[str]:
        return sorted({*self._usage, *self._customer_index})


# ---- the columnar batch: checked whole, then recorded without a Python object per event ------

_COUNT_COLUMNS: tuple[str, ...] = ("input_tokens", "cached_input_tokens", "cache_write_tokens",
                                   "output_tokens", "requests")
_COUNT_DEFAULTS = {"input_tokens": 0, "cached_input_tokens": 0, "cache_write_tokens": 0,
                   "output_tokens": 0, "requests": 1}
_SUMS: list[tuple[Any, str]] = [*((name, "sum") for name in _COUNT_COLUMNS), ([], "count_all")]
_SUM_NAMES = (*(f"{name}_sum" for name in _COUNT_COLUMNS), "count_all")
_TEXT_COLUMNS = ("id", "customer_id", "model")
_BATCH_COLUMNS = (*_TEXT_COLUMNS, "timestamp", *_COUNT_COLUMNS, "session_id")
#: Columns of a dedupe record, in the order of :func:`_content` (properties come last, empty).
_CONTENT_COLUMNS = ("customer_id", "ts_us", "model", *_COUNT_COLUMNS, "session_id")


def _floordiv(values: Any, divisor: int) -> Any:
    import pyarrow.compute as pc

    # Arrow's integer divide truncates toward zero; a floor division for negative values.
    quotient = pc.divide(values, divisor)
    return pc.if_else(pc.and_(pc.less(values, 0),
                              pc.not_equal(pc.multiply(quotient, divisor), values)),
                      pc.subtract(quotient, 1), quotient)


def _as_columns(columns: Any) -> tuple[dict[str, Any], int]:
    """The batch's columns by name (Arrow arrays or Python sequences) and its length."""
    import pyarrow as pa

    if isinstance(columns, pa.Table | pa.RecordBatch):
        named = {name: columns.column(name) for name in columns.column_names}
        length = columns.num_rows
    elif isinstance(columns, Mapping):
        named = {str(k): v for k, v in columns.items()}
        lengths = {name: len(values) for name, values in named.items()}
        if len(set(lengths.values())) > 1:
            raise UsageError("record_batch: columns differ in length: "
                             + ", ".join(f"{k}={n}" for k, n in lengths.items()))
        length = next(iter(lengths.values()), 0)
    else:
        raise UsageError("record_batch takes a pyarrow Table or RecordBatch, or a mapping of "
                         f"column name to list; got {type(columns).__name__}")
    unknown = sorted(set(named) - set(_BATCH_COLUMNS))
    if unknown:
        raise UsageError(f"record_batch: unknown column(s) {', '.join(unknown)}; the columns "
                         f"are {', '.join(_BATCH_COLUMNS)}")
    missing = [name for name in ("id", "customer_id", "timestamp", "model") if name not in named]
    if missing:
        raise UsageError(f"record_batch: missing column(s) {', '.join(missing)}")
    return named, length


def _row_values(named: Mapping[str, Any], row: int) -> dict[str, Any]:
    import pyarrow as pa

    values: dict[str, Any] = {}
    for name, column in named.items():
        value = column[row]
        values[name] = value.as_py() if isinstance(value, pa.Scalar) else value
    return values


def _row_event(named: Mapping[str, Any], row: int) -> UsageEvent:
    """Row ``row`` as a :class:`UsageEvent`; its checks give the reason of a bad row."""
    values = _row_values(named, row)
    try:
        return UsageEvent(**values)
    except UsageError as exc:
        raise UsageError(f"record_batch row {row}: {exc}") from None
    except TypeError as exc:  # pragma: no cover - columns are checked by name above
        raise UsageError(f"record_batch row {row}: {exc}") from None


def _first_bad(named: Mapping[str, Any], row: int | None, reason: str) -> UsageError:
    if row is not None:
        try:
            _row_event(named, row)
        except UsageError as exc:
            return exc
        return UsageError(f"record_batch row {row}: {reason}")
    return UsageError(f"record_batch: {reason}")


def _batch_events(columns: Any) -> list[UsageEvent]:
    named, length = _as_columns(columns)
    return [_row_event(named, row) for row in range(length)]


def _first_true(mask: Any) -> int | None:
    import pyarrow.compute as pc

    index = pc.index(mask, True).as_py()
    return None if index is None or index < 0 else int(index)


def _batch_table(columns: Any) -> Any:
    """Check a batch and return it as an Arrow table ``id, customer_id, model, ts_us,
    <counts>, session_id`` (64-bit integers), or None when its counts could overflow 64-bit
    sums (the caller then takes the exact one-event-at-a-time path)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    named, length = _as_columns(columns)
    out: dict[str, Any] = {}
    for name in _TEXT_COLUMNS:
        column = named[name]
        if not isinstance(column, pa.Array | pa.ChunkedArray):
            bad = next((i for i, v in enumerate(column) if not isinstance(v, str) or not v), None)
            if bad is not None:
                raise _first_bad(named, bad, f"{name} must be a non-empty string")
            column = pa.array(column, pa.string())
        elif not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            try:
                column = column.cast(pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise UsageError(f"record_batch: column {name} must hold strings, not "
                                 f"{column.type}") from None
        empty = pc.fill_null(pc.equal(pc.utf8_length(column), 0), True)
        bad = _first_true(empty)
        if bad is not None:
            raise _first_bad(named, bad, f"{name} is missing")
        out[name] = column
    stamps = named["timestamp"]
    if isinstance(stamps, pa.Array | pa.ChunkedArray):
        kind = stamps.type
        if not pa.types.is_timestamp(kind) or kind.tz is None:
            raise _first_bad(named, 0 if length else None,
                             f"column timestamp must be a tz-aware Arrow timestamp, not {kind}")
        bad = _first_true(pc.is_null(stamps))
        if bad is not None:
            raise _first_bad(named, bad, "timestamp is missing")
        try:
            out["ts_us"] = stamps.cast(pa.timestamp("us", "UTC")).cast(pa.int64())
        except pa.ArrowInvalid:
            raise UsageError("record_batch: timestamps finer than a microsecond") from None
    else:
        micros: list[int] = []
        for row, moment in enumerate(stamps):
            if not isinstance(moment, datetime) or moment.utcoffset() is None:
                raise _first_bad(named, row, "timestamp must be a tz-aware datetime")
            micros.append(_micros(moment))
        out["ts_us"] = pa.array(micros, pa.int64())
    total_bound = 0
    for name in _COUNT_COLUMNS:
        if name not in named:
            out[name] = pa.array([_COUNT_DEFAULTS[name]] * length, pa.int64())
            total_bound += _COUNT_DEFAULTS[name]
            continue
        column = named[name]
        if not isinstance(column, pa.Array | pa.ChunkedArray):
            bad = next((i for i, v in enumerate(column)
                        if isinstance(v, bool) or not isinstance(v, int)), None)
            if bad is not None:
                raise _first_bad(named, bad, f"{name} must be a whole number")
            if any(v > MAX_COUNT or v < -MAX_COUNT for v in column):
                return None
            column = pa.array(column, pa.int64())
        elif not pa.types.is_integer(column.type):
            raise _first_bad(named, 0 if length else None,
                             f"column {name} must hold integers, not {column.type}")
        bad = _first_true(pc.is_null(column))
        if bad is not None:
            raise _first_bad(named, bad, f"{name} is missing")
        if length and pc.max(column).as_py() > MAX_COUNT:
            return None
        column = column.cast(pa.int64())
        bad = _first_true(pc.less(column, 0))
        if bad is not None:
            raise _first_bad(named, bad, f"{name} is negative")
        out[name] = column
        total_bound += (pc.max(column).as_py() or 0) if length else 0
    # Every group sum of the batch stays below rows x the largest values: past 64 bits, take
    # the exact path (Arrow sums wrap silently; the band arithmetic is checked and raises).
    if length * total_bound > MAX_COUNT:
        return None
    if "session_id" in named:
        sessions = named["session_id"]
        if not isinstance(sessions, pa.Array | pa.ChunkedArray):
            bad = next((i for i, v in enumerate(sessions)
                        if v is not None and not isinstance(v, str)), None)
            if bad is not None:
                raise _first_bad(named, bad, "session_id must be a string or None")
            sessions = pa.array(sessions, pa.string())
        else:
            sessions = sessions.cast(pa.string())
        out["session_id"] = sessions
    else:
        out["session_id"] = pa.nulls(length, pa.string())
    return pa.table(out)


class _Sums:
    """Token sums (input, cached, write, output, requests, events) under 64-bit keys, kept
    sorted so one customer's rows are a range; numpy arrays, no Python object per row."""

    def __init__(self) -> None:
        import numpy as np

        self.keys = np.empty(0, np.int64)  # sorted
        self.slots = np.empty(0, np.int64)  # slot of each key in ``values``
        self.values = np.zeros((6, 0), np.int64)
        self.size = 0

    def prepare(self, keys: Any, values: Any) -> tuple[Any, ...]:
        """The batch's sums merged with the stored ones, checked for 64-bit overflow; nothing
        is changed until :meth:`commit`."""
        import numpy as np

        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        unique = ordered[starts]
        sums = np.add.reduceat(values[:, order], starts, axis=1)
        position = np.searchsorted(self.keys, unique)
        found = np.zeros(len(unique), bool)
        if len(self.keys):
            clipped = np.minimum(position, len(self.keys) - 1)
            found = self.keys[clipped] == unique
        slots = self.slots[position[found]]
        updated = self.values[:, slots] + sums[:, found]
        # Counts are non-negative and each below 2**63: a wrapped sum shows as negative.
        if (sums < 0).any() or (updated < 0).any():
            raise UsageError("record_batch: a token sum would exceed 2**63 - 1; the meter "
                             "keeps 64-bit sums")
        return slots, updated, unique[~found], position[~found], sums[:, ~found]

    def commit(self, prepared: tuple[Any, ...]) -> None:
        import numpy as np

        slots, updated, new_keys, positions, new_sums = prepared
        self.values[:, slots] = updated
        count = len(new_keys)
        if not count:
            return
        if self.size + count > self.values.shape[1]:
            grown = np.zeros((6, max(2 * self.values.shape[1], self.size + count, 1024)),
                             np.int64)
            grown[:, :self.size] = self.values[:, :self.size]
            self.values = grown
        new_slots = np.arange(self.size, self.size + count, dtype=np.int64)
        self.values[:, new_slots] = new_sums
        self.size += count
        self.keys = np.insert(self.keys, positions, new_keys)
        self.slots = np.insert(self.slots, positions, new_slots)

    def between(self, low: int, high: int) -> tuple[list[int], list[tuple[int, ...]]]:
        """Keys in ``[low, high)`` and their sums, in key order, as Python ints."""
        import numpy as np

        i, j = np.searchsorted(self.keys, [low, high])
        slots = self.slots[i:j]
        return (self.keys[i:j].tolist(),
                [tuple(column) for column in self.values[:, slots].T.tolist()])
