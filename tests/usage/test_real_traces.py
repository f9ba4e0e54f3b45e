"""The three shipped traces load with the options data/README.md calls for; counts and token
sums are checked against an independent read with the csv module."""

import csv
import gzip
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.mapping import TraceSpec

TRACES = Path(__file__).resolve().parents[2] / "data" / "traces"
ORIGIN = datetime(2025, 1, 1, tzinfo=UTC)  # our choice: ServeGen gives seconds from its start


def rows(name: str) -> list[dict[str, str]]:
    with gzip.open(TRACES / name, "rt", newline="") as handle:
        return list(csv.DictReader(handle))


def half_up(text: str) -> int:
    return int(Decimal(text).to_integral_value(rounding=ROUND_HALF_UP))


@pytest.mark.parametrize("engine", ["duckdb", "python"])
def test_azure_trace(engine: str) -> None:
    spec = TraceSpec(TRACES / "azure2023_requests.csv.gz", columns={"customer_id": "service"},
                     model="gpt-4o", assume_tz="UTC")
    result = aggregate_trace(spec, engine=engine, hourly=True)
    raw = rows("azure2023_requests.csv.gz")
    stats = result.stats
    assert stats.events == len(raw) == 28_185
    assert (stats.rejected, stats.skipped, stats.customers) == (0, 0, 2)
    assert stats.derived_ids  # the trace has no id column
    daily = result.aggregates.daily.values()
    assert sum(c.input for c in daily) == sum(int(r["input_tokens"]) for r in raw)
    assert sum(c.output for c in daily) == sum(int(r["output_tokens"]) for r in raw)
    by_service = {k.customer_id: 0 for k in result.aggregates.daily}
    for key, counts in result.aggregates.daily.items():
        by_service[key.customer_id] += counts.events
    assert by_service == {"code": 8_819, "conv": 19_366}  # data/README.md
    # 2023-11-16 18:15 to 19:14 UTC: hours 18 and 19 of day 19677 (19677*24 = 472248).
    assert {k.hour for k in result.aggregates.hourly} == {472_266, 472_267}


@pytest.mark.parametrize("name", [
    "servegen_reason_deepseek-r1_client_windows.csv.gz",
    "servegen_language_m-small_client_windows.csv.gz",
])
@pytest.mark.parametrize("engine", ["duckdb", "python"])
def test_servegen_traces(name: str, engine: str, tmp_path: Path) -> None:
    spec = TraceSpec(
        TRACES / name,
        columns={"customer_id": "pool+client_id", "timestamp": "window_start_s",
                 "requests": "requests_expected", "input_tokens": "input_tokens_expected",
                 "output_tokens": "output_tokens_expected"},
        model="deepseek-r1", timestamp_unit="s", time_origin=ORIGIN, round_tokens=True,
        skip_when={"token_pdf_available": "False"},
    )
    rejects = tmp_path / "rejects.csv"
    result = aggregate_trace(spec, engine=engine, rejects_path=rejects)
    raw = rows(name)
    kept = [r for r in raw if r["token_pdf_available"] != "False"]
    stats = result.stats
    assert (stats.rows, stats.events, stats.skipped, stats.rejected) == \
        (len(raw), len(kept), len(raw) - len(kept), 0)
    assert stats.customers == len({(r["pool"], r["client_id"]) for r in kept})
    daily = result.aggregates.daily.values()
    assert sum(c.input for c in daily) == sum(half_up(r["input_tokens_expected"]) for r in kept)
    assert sum(c.output for c in daily) == sum(half_up(r["output_tokens_expected"]) for r in kept)
    assert sum(c.requests for c in daily) == sum(half_up(r["requests_expected"]) for r in kept)
    first = min(int(r["window_start_s"]) for r in kept)
    assert stats.start == ORIGIN + timedelta(seconds=first)
    with rejects.open(newline="") as handle:
        reasons = {r["reason"] for r in csv.DictReader(handle)}
    assert reasons <= {"skipped: token_pdf_available=False"}
