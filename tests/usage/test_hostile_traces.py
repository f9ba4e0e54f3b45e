"""Hostile trace files (tests/fixtures/hostile/) become rejects naming their line or record, on
both readers; never a traceback, never internal SQL in a message."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.aggregates import Counts, DailyKey
from billing.usage.mapping import TraceSpec
from billing.usage.results import Reject, write_rejects

HOSTILE = Path(__file__).parents[1] / "fixtures" / "hostile"
DAY = 20769  # 2026-11-12: 1794477600 s / 86400 = 20769.4
RANGE = "timestamp out of range (billing reads 1970-01-01 to 9999-12-30 UTC)"


def _run(tmp_path: Path, name: str, engine: str, **options: object
         ) -> tuple[list[tuple[str, str]], dict[DailyKey, Counts]]:
    rejects = tmp_path / "rejects.csv"
    result = aggregate_trace(TraceSpec(HOSTILE / name, **options),  # type: ignore[arg-type]
                             engine=engine, rejects_path=rejects)
    with rejects.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return [(r[1], r[2]) for r in rows[1:]], dict(result.aggregates.daily)


ONE_GOOD = {DailyKey("cobalt-ai", "gpt-5", 0, DAY): Counts(10, 0, 0, 10, 1, 1)}


@pytest.mark.parametrize("engine", ["python", "duckdb"])
@pytest.mark.parametrize(("name", "options", "expected", "daily"), [
    ("trace-empty-token-value.csv", {}, [("2", "empty output_tokens")], {}),
    ("trace-year-1.csv", {}, [("2", RANGE)], ONE_GOOD),
    ("trace-numeric-timestamp-overflow.csv", {"timestamp_unit": "s"}, [("2", RANGE)], ONE_GOOD),
    ("trace-invalid-utf8.csv", {}, [("2", "not UTF-8 text")], ONE_GOOD),
    ("trace-invalid-utf8.jsonl", {}, [("1", "not UTF-8 text")], ONE_GOOD),
    ("trace-uint64-tokens.parquet", {},
     [("1", "input_tokens is too large: 18446744073709551615")], ONE_GOOD),
    ("trace-nan-tokens.parquet", {},
     [("1", "input_tokens is not a number: 'nan'"),
      ("2", "output_tokens is not a number: 'inf'")], {}),
    ("trace-uint64-timestamp.parquet", {"timestamp_unit": "s"}, [("1", RANGE)], ONE_GOOD),
    ("trace-nan-timestamp.parquet", {"timestamp_unit": "s"},
     [("1", "unparseable timestamp: 'nan'"), ("2", RANGE)], {}),
])
def test_a_hostile_value_is_a_reject_naming_its_line_or_record(
        tmp_path: Path, engine: str, name: str, options: dict[str, object],
        expected: list[tuple[str, str]], daily: dict[DailyKey, Counts]) -> None:
    rejects, got = _run(tmp_path, name, engine, **options)
    assert rejects == expected
    assert got == daily


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_one_line_over_2_mb_is_one_reject(tmp_path: Path, engine: str) -> None:
    # Today DuckDB aborts the whole run, naming line 1 and printing kilobytes of its SQL.
    rejects, got = _run(tmp_path, "trace-long-line.csv.gz", engine)
    assert [r for r, _ in rejects] == ["3"]
    assert rejects[0][1].startswith("line longer than 2 MB")
    # lines 2 and 4: 10 + 10 input and output tokens, 2 requests, 2 events
    assert got == {DailyKey("cobalt-ai", "gpt-5", 0, DAY): Counts(20, 0, 0, 20, 2, 2)}


def test_a_reject_cell_that_a_spreadsheet_would_run_is_neutralised(tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    aggregate_trace(TraceSpec(HOSTILE / "trace-formula-injection.csv"), rejects_path=rejects)
    with rejects.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    assert [r[1] for r in rows] == ["2", "3"]
    # OWASP CSV injection: a cell starting with = + - @ tab or CR gets a leading single quote
    assert rows[0][3].startswith("'=SUM(1+2)*cmd|A1,")
    assert rows[1][3].startswith("'+cmd,@cobalt-ai")
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)


def test_every_dangerous_first_character_is_neutralised(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    write_rejects(out, [Reject("f.csv", n, reason, raw) for n, (reason, raw) in enumerate(
        [("-1 tokens", "@x"), ("\tx", "\ry"), ("=1+1", "+2"), ("ok", "plain")], start=1)])
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    assert [r[2:] for r in rows] == [["'-1 tokens", "'@x"], ["'\tx", "'\ry"],
                                     ["'=1+1", "'+2"], ["ok", "plain"]]
