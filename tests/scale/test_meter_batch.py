"""The online meter's columnar path (``Meter.record_batch``) against ``record``: the same events
give the same outcomes, the same invoices byte for byte, and bad rows are refused whole."""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from billing.costs import CostBook
from billing.errors import UsageError
from billing.plans import load_catalog
from billing.rating.meter import Meter
from billing.subscriptions import Subscription
from billing.usage.events import UsageEvent

PLANS = Path(__file__).parents[2] / "plans"
AT = datetime(2026, 11, 20, tzinfo=UTC)
MODELS = ("gpt-5", "claude-sonnet-4-5", "gpt-4o-mini", "deepseek-r1")
# (customer, plan): usage-priced, credits, and capacity (the only plan that reads hourly rows).
CUSTOMERS = (("a", "payg"), ("b", "credits"), ("c", "reserved-capacity"), ("d", "tiered-tokens"))


def _meter() -> Meter:
    subs = [Subscription(customer_id=c, plan=p, start=date(2026, 11, 1)) for c, p in CUSTOMERS]
    return Meter(load_catalog([PLANS]), subs, costbook=CostBook.default())


def _events(n: int, seed: int) -> list[UsageEvent]:
    rng = random.Random(seed)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    events = []
    for i in range(n):
        events.append(UsageEvent(
            id=f"e{i}", customer_id=rng.choice(CUSTOMERS)[0], model=rng.choice(MODELS),
            timestamp=base + timedelta(seconds=rng.randrange(18 * 86_400)),
            # some prompts above 200k tokens, so long-context bands are exercised
            input_tokens=rng.choice((0, rng.randrange(5_000), rng.randrange(150_000, 400_000))),
            cached_input_tokens=rng.randrange(3_000), cache_write_tokens=rng.randrange(100),
            output_tokens=rng.randrange(2_000), requests=rng.randrange(0, 3),
            session_id=rng.choice((None, "s1")),
        ))
    return events


def _arrow(events: list[UsageEvent]) -> pa.Table:
    return pa.table({
        "id": [e.id for e in events],
        "customer_id": [e.customer_id for e in events],
        "timestamp": pa.array([e.timestamp for e in events], pa.timestamp("us", "UTC")),
        "model": [e.model for e in events],
        "input_tokens": [e.input_tokens for e in events],
        "cached_input_tokens": [e.cached_input_tokens for e in events],
        "cache_write_tokens": [e.cache_write_tokens for e in events],
        "output_tokens": [e.output_tokens for e in events],
        "requests": [e.requests for e in events],
        "session_id": [e.session_id for e in events],
    })


def _invoices(meter: Meter) -> list[str]:
    out = [meter.close(c, "2026-11").model_dump_json() for c, _ in CUSTOMERS]
    out += [meter.bill_to_date(c, AT).model_dump_json() for c, _ in CUSTOMERS]
    return out


def test_record_batch_gives_the_invoices_of_record_byte_for_byte() -> None:
    events = _events(3_000, seed=7)
    # duplicates (same content) and conflicts (same id, other content), inside and across batches
    events += [events[5], events[2_999]]
    events.append(UsageEvent(id="e17", customer_id="a", model="gpt-5", timestamp=AT,
                             input_tokens=1))
    one_by_one = _meter()
    outcomes = [one_by_one.record(e) for e in events]
    columnar = _meter()
    stats = [columnar.record_batch(_arrow(events[i:i + 1_000])) for i in range(0, len(events), 1_000)]
    assert sum(s.events for s in stats) == outcomes.count("new") == 3_000
    assert sum(s.duplicates for s in stats) == outcomes.count("duplicate") == 2
    assert sum(s.conflicts for s in stats) == outcomes.count("conflict") == 1
    assert _invoices(columnar) == _invoices(one_by_one)
    assert columnar.remaining_credits("b", AT) == one_by_one.remaining_credits("b", AT)
    assert columnar.customers() == one_by_one.customers() == ["a", "b", "c", "d"]


def test_record_and_record_batch_mix_and_share_one_dedupe_memory() -> None:
    events = _events(400, seed=3)
    reference = _meter()
    reference.record_many(events)
    mixed = _meter()
    mixed.record_many(events[:100])
    # a batch that repeats 100 events already recorded one by one: all duplicates
    again = mixed.record_batch(_arrow(events[:200]))
    assert (again.events, again.duplicates, again.conflicts) == (100, 100, 0)
    mixed.record_many(events[150:300])  # 50 already seen through the batch
    assert mixed.stats.duplicates == 150
    mixed.record_batch(_arrow(events[300:]))
    assert _invoices(mixed) == _invoices(reference)


def test_a_mapping_of_lists_is_accepted_and_absent_counts_default() -> None:
    meter = _meter()
    when = datetime(2026, 11, 3, 9, tzinfo=UTC)
    meter.record_batch({"id": ["x1", "x2"], "customer_id": ["a", "a"],
                        "timestamp": [when, when], "model": ["gpt-4o-mini", "gpt-4o-mini"],
                        "input_tokens": [1_000_000, 3_000_000]})
    same = _meter()
    same.record(UsageEvent("x1", "a", when, "gpt-4o-mini", input_tokens=1_000_000))
    same.record(UsageEvent("x2", "a", when, "gpt-4o-mini", input_tokens=3_000_000))
    invoice = meter.bill_to_date("a", AT)
    assert invoice.model_dump_json() == same.bill_to_date("a", AT).model_dump_json()
    # payg gpt-4o-mini input is 0.25 per 1M: 4M tokens x 0.25 = 1.00
    assert invoice.total == Decimal("1.00")


@pytest.mark.parametrize(("column", "values", "reason"), [
    ("input_tokens", [5, -3], "row 1: event e1: input_tokens is negative (-3)"),
    ("customer_id", ["a", ""], "row 1: event e1: customer_id is missing"),
    ("timestamp", [datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 2)],
     "row 1: event e1: naive timestamp 2026-11-02T00:00:00"),
    ("output_tokens", [1, 2.5], "row 1: event e1: output_tokens must be a whole number"),
])
def test_a_bad_row_refuses_the_whole_batch_naming_row_and_reason(
        column: str, values: list[object], reason: str) -> None:
    columns: dict[str, list[object]] = {
        "id": ["e0", "e1"], "customer_id": ["a", "a"], "model": ["gpt-5", "gpt-5"],
        "timestamp": [datetime(2026, 11, 2, tzinfo=UTC)] * 2,
    }
    columns[column] = values
    meter = _meter()
    with pytest.raises(UsageError, match=re.escape(reason)):
        meter.record_batch(columns)
    assert meter.customers() == [] and meter.stats.events == 0  # nothing recorded


def test_arrow_columns_of_the_wrong_kind_are_refused() -> None:
    table = _arrow(_events(3, seed=1))
    naive = table.set_column(2, "timestamp", table.column("timestamp").cast(pa.timestamp("us")))
    with pytest.raises(UsageError, match=r"row 0: .*naive timestamp"):
        _meter().record_batch(naive)
    floats = table.set_column(4, "input_tokens", table.column("input_tokens").cast(pa.float64()))
    with pytest.raises(UsageError, match="row 0: event e0: input_tokens must be a whole number"):
        _meter().record_batch(floats)
    with pytest.raises(UsageError, match=r"unknown column.*tokens"):
        _meter().record_batch(table.append_column("tokens", table.column("requests")))


def test_counts_beyond_64_bit_sums_are_refused_whole_never_wrapped() -> None:
    # Three events of 2**62 + i output tokens sum past 2**63 - 1: Arrow and numpy would wrap
    # silently. The meter is a ledger with 64-bit sums: the batch is refused with a clear
    # error, nothing of it is recorded, and a batch that fits is summed exactly.
    big = 2**62
    events = [UsageEvent(f"b{i}", "a", AT, "gpt-4o-mini", output_tokens=big + i) for i in range(3)]
    meter = _meter()
    with pytest.raises(UsageError, match=r"exceed 2\*\*63 - 1"):
        meter.record_batch({
            "id": [e.id for e in events], "customer_id": ["a"] * 3, "timestamp": [AT] * 3,
            "model": ["gpt-4o-mini"] * 3, "output_tokens": [e.output_tokens for e in events]})
    assert meter.customers() == []
    stats = meter.record_batch({
        "id": ["b0", "b1"], "customer_id": ["a"] * 2, "timestamp": [AT] * 2,
        "model": ["gpt-4o-mini"] * 2, "output_tokens": [big, big - 1]})
    assert stats.events == 2
    usage = meter.ledger.usage("a")
    # 2**62 + 2**62 - 1 = 2**63 - 1 = 9223372036854775807, the largest 64-bit sum
    assert sum(c.output for c in usage.daily.values()) == 9223372036854775807
