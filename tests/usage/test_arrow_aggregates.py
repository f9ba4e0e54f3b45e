"""The engine's aggregates stay Arrow tables; the dicts built from them say the same."""

from __future__ import annotations

from pathlib import Path

from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.aggregates import DAILY_COLUMNS, HOURLY_COLUMNS, Counts, DailyKey, HourlyKey
from billing.usage.mapping import TraceSpec

CSV = """id,customer_id,timestamp,model,input_tokens,cached_input_tokens,output_tokens
e1,acme,2026-11-01T00:10:00Z,gpt-5,100,10,5
e2,acme,2026-11-01T00:50:00Z,gpt-5,200,0,7
e3,acme,2026-11-01T01:05:00Z,gpt-5,1,2,3
e4,beta,2026-11-02T23:59:59Z,claude-sonnet-4-5,40,0,60
"""


def test_daily_and_hourly_rows_from_arrow(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(CSV, encoding="utf-8")
    result = aggregate_trace(TraceSpec(path=trace), hourly=True)
    aggregates = result.aggregates
    assert aggregates.daily_arrow().column_names == list(DAILY_COLUMNS)
    assert aggregates.hourly_arrow().column_names == list(HOURLY_COLUMNS)
    day = 20_758  # 2026-11-01 is day 20,758 since 1970-01-01
    hour = day * 24
    # acme on day 1: 100 + 200 + 1 input, 10 + 0 + 2 cached, 5 + 7 + 3 output, 3 events
    assert aggregates.daily[DailyKey("acme", "gpt-5", 0, day)] == Counts(301, 12, 0, 15, 3, 3)
    assert aggregates.daily[DailyKey("beta", "claude-sonnet-4-5", 0, day + 1)] == Counts(
        40, 0, 0, 60, 1, 1)
    # acme's hour 0 holds e1 and e2 (100 + 200, 10 + 0, 5 + 7), hour 1 holds e3
    assert aggregates.hourly[HourlyKey("acme", hour)] == Counts(300, 10, 0, 12, 2, 2)
    assert aggregates.hourly[HourlyKey("acme", hour + 1)] == Counts(1, 2, 0, 3, 1, 1)
    assert aggregates.hourly[HourlyKey("beta", hour + 47)] == Counts(40, 0, 0, 60, 1, 1)
    assert len(aggregates.hourly) == 3 and aggregates.has_hourly()


def test_no_hourly_rows_unless_asked(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(CSV, encoding="utf-8")
    aggregates = aggregate_trace(TraceSpec(path=trace)).aggregates
    assert not aggregates.has_hourly()
    assert aggregates.hourly == {}
    assert aggregates.hourly_arrow().num_rows == 0
    assert aggregates.daily_arrow().num_rows == len(aggregates.daily) == 2
