"""The pure-Python and DuckDB paths agree, and event order does not matter."""

import csv
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.aggregate_python import aggregate_events
from billing.usage.events import UsageEvent
from billing.usage.mapping import TraceSpec

BASE = datetime(2025, 1, 1, tzinfo=UTC)
COLUMNS = ["id", "customer_id", "timestamp", "model", "input_tokens", "cached_input_tokens",
           "cache_write_tokens", "output_tokens", "requests"]

events_strategy = st.lists(
    st.builds(
        lambda i, c, s, m, a, b, w, o, r: UsageEvent(
            id=f"e{i}", customer_id=c, timestamp=BASE + timedelta(microseconds=s), model=m,
            input_tokens=a, cached_input_tokens=b, cache_write_tokens=w, output_tokens=o,
            requests=r),
        st.integers(0, 40), st.sampled_from(["acme", "beta/7", "ç"]),
        st.integers(-10**11, 10**11), st.sampled_from(["gpt-4o", "r1"]),
        st.integers(0, 300_000), st.integers(0, 10**6), st.integers(0, 50),
        st.integers(0, 2**40), st.integers(0, 3),
    ),
    max_size=60,
)


def write_trace(path: Path, events: list[UsageEvent]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for e in events:
            writer.writerow([e.id, e.customer_id, e.timestamp.isoformat(), e.model,
                             e.input_tokens, e.cached_input_tokens, e.cache_write_tokens,
                             e.output_tokens, e.requests])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events_strategy, st.sampled_from([(), (128_000,), (100_000, 200_000)]), st.booleans())
def test_engine_and_python_paths_agree(events: list[UsageEvent], thresholds: tuple[int, ...],
                                       hourly: bool) -> None:
    expected, expected_stats = aggregate_events(events, thresholds=thresholds, hourly=hourly)
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "events.csv"
        write_trace(trace, events)
        result = aggregate_trace(TraceSpec(trace), thresholds=thresholds, hourly=hourly)
    assert result.aggregates == expected
    assert result.stats == expected_stats


@settings(max_examples=40, deadline=None)
@given(events_strategy, st.randoms())
def test_shuffling_distinct_events_changes_nothing(events: list[UsageEvent],
                                                   rnd: random.Random) -> None:
    unique = list({e.id: e for e in events}.values())
    shuffled = unique[:]
    rnd.shuffle(shuffled)
    assert aggregate_events(shuffled, thresholds=(128_000,), hourly=True) == \
        aggregate_events(unique, thresholds=(128_000,), hourly=True)
