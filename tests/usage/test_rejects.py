"""Bad rows are rejected with file, data row and reason, never dropped or fixed silently."""

import csv
from pathlib import Path

import pytest

from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.aggregates import Counts, DailyKey
from billing.usage.mapping import TraceSpec

# Rejects name the file's line (the header is line 1).
TRACE = """\
id,user,ts,service,input_tokens,output_tokens
e1,alice,2025-03-01T10:00:00Z,code,100,10
e2,,2025-03-01T10:00:00Z,code,100,10
e3,bob,2025-03-01 10:00:00,code,100,10
e4,bob,yesterday,code,100,10
e5,bob,2025-03-01T10:00:00+01:00,code,-3,10
e6,bob,2025-03-01T10:00:00Z,code,2.5,10
e7,bob,2025-03-01T10:00:00Z,code,,10
,bob,2025-03-01T10:00:00Z,code,1,1
e9,bob,2025-03-01T23:30:00-02:00,chat,200,20
e10,bob,2025-03-01T10:00:00Z,code,1
e11,bob,2025-03-01T10:00:00Z,video,1,1
"""

EXPECTED_REJECTS = [
    ["3", "missing customer_id", "e2,,2025-03-01T10:00:00Z,code,100,10"],
    ["4", "naive timestamp '2025-03-01 10:00:00' (no time zone; state it with --assume-tz)",
     "e3,bob,2025-03-01 10:00:00,code,100,10"],
    ["5", "unparseable timestamp: 'yesterday'", "e4,bob,yesterday,code,100,10"],
    ["6", "negative input_tokens: -3", "e5,bob,2025-03-01T10:00:00+01:00,code,-3,10"],
    ["7", "fractional input_tokens: 2.5 (pass --round-tokens to round it)",
     "e6,bob,2025-03-01T10:00:00Z,code,2.5,10"],
    ["8", "empty input_tokens", "e7,bob,2025-03-01T10:00:00Z,code,,10"],
    ["9", "missing id", ",bob,2025-03-01T10:00:00Z,code,1,1"],
    ["11", "unparseable line", "e10,bob,2025-03-01T10:00:00Z,code,1"],
    ["12", "model value 'video' is not in --model-map", "e11,bob,2025-03-01T10:00:00Z,video,1,1"],
]


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_bad_rows_are_listed_with_row_and_reason(tmp_path: Path, engine: str) -> None:
    trace = tmp_path / "bad.csv"
    trace.write_text(TRACE)
    rejects = tmp_path / "rejects.csv"
    spec = TraceSpec(trace, columns={"customer_id": "user", "timestamp": "ts",
                                     "model": "service"},
                     model_map={"code": "gpt-4o", "chat": "gpt-4o-mini"})
    result = aggregate_trace(spec, rejects_path=rejects, engine=engine)

    with rejects.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["file", "line", "reason", "raw"]
    assert [r[1:] for r in rows[1:]] == EXPECTED_REJECTS
    assert {r[0] for r in rows[1:]} == {str(trace)}
    # 11 data rows: e1 and e9 good, 9 rejected.
    assert (result.stats.rows, result.stats.events, result.stats.rejected) == (11, 2, 9)
    # e9 at 23:30-02:00 is 2025-03-02T01:30Z: day 20149 (2025-03-01 is day 20148).
    assert result.aggregates.daily == {
        DailyKey("alice", "gpt-4o", 0, 20148): Counts(100, 0, 0, 10, 1, 1),
        DailyKey("bob", "gpt-4o-mini", 0, 20149): Counts(200, 0, 0, 20, 1, 1),
    }


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_assume_tz_and_round_tokens_accept_what_they_name(tmp_path: Path, engine: str) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("user,ts,input_tokens,output_tokens\n"
                     "a,2025-03-01 10:00:00,2.5,0.49\n"
                     "a,2025-03-01 11:00:00,1.4,7\n")
    spec = TraceSpec(trace, columns={"customer_id": "user", "timestamp": "ts"}, model="m",
                     assume_tz="Europe/Paris", round_tokens=True)
    result = aggregate_trace(spec, engine=engine, hourly=True)
    # half-up: 2.5 -> 3, 1.4 -> 1 (input 4); 0.49 -> 0, 7 -> 7 (output 7).
    assert result.aggregates.daily == {DailyKey("a", "m", 0, 20148): Counts(4, 0, 0, 7, 2, 2)}
    # 10:00 Paris (UTC+1 in March before DST) is 09:00Z: hour 20148*24 + 9 = 483561.
    assert sorted(result.aggregates.hourly) == [("a", 483561), ("a", 483562)]
    assert result.stats.derived_ids


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_an_absent_token_column_is_declared_and_an_empty_value_is_bad(tmp_path: Path,
                                                                      engine: str) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"id": "a", "c": "x", "ts": "2025-03-01T00:00:00Z", "output_tokens": 5}\n'
                     "\n"
                     '{"id": "b", "c": "x", "ts": "2025-03-01T00:00:00Z", "output_tokens": null}\n'
                     '{"id": "c", "c": "x", broken\n')
    rejects = tmp_path / "r.csv"
    spec = TraceSpec(trace, columns={"customer_id": "c", "timestamp": "ts"}, model="m",
                     absent=("input_tokens",))
    result = aggregate_trace(spec, engine=engine, rejects_path=rejects)
    assert result.aggregates.daily == {DailyKey("x", "m", 0, 20148): Counts(0, 0, 0, 5, 1, 1)}
    assert result.stats.declared_absent == ("input_tokens",)
    lines = rejects.read_text().splitlines()
    # line 2 is blank; lines 3 and 4 are bad
    assert lines[1:] == [
        f'{trace},3,empty output_tokens,"{{""id"": ""b"", ""c"": ""x"", ""ts"": '
        f'""2025-03-01T00:00:00Z"", ""output_tokens"": null}}"',
        f'{trace},4,unparseable line,"{{""id"": ""c"", ""c"": ""x"", broken"',
    ]
