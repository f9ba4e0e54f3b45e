"""Event ids are idempotency keys: first copy wins, duplicates and conflicts are counted."""

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.aggregate_python import Aggregator, aggregate_events, band_of
from billing.usage.aggregates import Counts, DailyKey
from billing.usage.events import UsageEvent
from billing.usage.mapping import TraceSpec

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)  # day 20148


def test_aggregator_reports_new_duplicate_and_conflict() -> None:
    first = UsageEvent("e1", "acme", T0, "gpt-4o", input_tokens=10)
    agg = Aggregator()
    assert agg.add(first) == "new"
    assert agg.add(UsageEvent("e1", "acme", T0, "gpt-4o", input_tokens=10)) == "duplicate"
    assert agg.add(UsageEvent("e1", "acme", T0, "gpt-4o", input_tokens=11)) == "conflict"
    aggregates, stats = agg.result()
    # Only the first copy counts: 10 input tokens, 1 request, 1 event.
    assert aggregates.daily == {DailyKey("acme", "gpt-4o", 0, 20148): Counts(10, 0, 0, 0, 1, 1)}
    assert (stats.rows, stats.events, stats.duplicates, stats.conflicts) == (3, 1, 1, 1)


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_file_duplicates_counted_and_conflicts_written_to_rejects(tmp_path: Path,
                                                                  engine: str) -> None:
    trace = tmp_path / "dups.csv"
    trace.write_text(
        "id,customer_id,timestamp,model,input_tokens,output_tokens\n"  # line 1: header
        "a,acme,2025-03-01T12:00:00Z,gpt-4o,100,0\n"   # line 2: first a
        "b,acme,2025-03-01T12:00:00Z,gpt-4o,7,0\n"     # line 3
        "a,acme,2025-03-01T12:00:00Z,gpt-4o,100,0\n"   # line 4: duplicate of a
        "a,acme,2025-03-01T12:00:00Z,gpt-4o,999,0\n"   # line 5: conflict with a
        "b,zeta,2025-03-01T12:00:00Z,gpt-4o,7,0\n"     # line 6: conflict with b
    )
    rejects = tmp_path / "rejects.csv"
    result = aggregate_trace(TraceSpec(trace), rejects_path=rejects, engine=engine)
    # acme keeps lines 2 and 3: 100 + 7 = 107 input, 2 requests, 2 events.
    assert result.aggregates.daily == {
        DailyKey("acme", "gpt-4o", 0, 20148): Counts(107, 0, 0, 0, 2, 2)}
    stats = result.stats
    assert (stats.rows, stats.events, stats.duplicates, stats.conflicts, stats.rejected) == \
        (5, 2, 1, 2, 0)
    assert not stats.derived_ids
    with rejects.open(newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("5", "conflict", "a,acme,2025-03-01T12:00:00Z,gpt-4o,999,0"),
        ("6", "conflict", "b,zeta,2025-03-01T12:00:00Z,gpt-4o,7,0"),
    ]


@pytest.mark.parametrize(("prompt", "requests", "band"), [
    (128_000, 1, 0),      # 128,000 is not above 128,000
    (128_001, 1, 1),      # above the first threshold only
    (200_001, 1, 2),      # above both
    (400_000, 2, 1),      # 200,000 per request: above 128k, not above 200k
    (400_002, 2, 2),      # 200,001 per request
    (128_001, 0, 1),      # a batch of 0 requests counts as 1
])
def test_band_compares_prompt_per_request_in_integers(prompt: int, requests: int,
                                                      band: int) -> None:
    assert band_of(prompt, requests, (128_000, 200_000)) == band


def test_long_context_band_splits_daily_rows() -> None:
    events = [
        UsageEvent("1", "acme", T0, "m", input_tokens=150_000, cached_input_tokens=60_000),
        UsageEvent("2", "acme", T0, "m", input_tokens=1_000, output_tokens=5),
    ]
    aggregates, _ = aggregate_events(events, thresholds=(200_000,))
    # event 1: prompt 150,000 + 60,000 = 210,000 > 200,000 -> band 1; event 2 -> band 0.
    assert aggregates.daily == {
        DailyKey("acme", "m", 1, 20148): Counts(150_000, 60_000, 0, 0, 1, 1),
        DailyKey("acme", "m", 0, 20148): Counts(1_000, 0, 0, 5, 1, 1),
    }
