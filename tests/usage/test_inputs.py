"""What a trace's columns must say, and how rows are identified (issue 13, "Trust the numbers").

A token field that is expected but absent is an error naming the file, the field, the columns
and the closest match; a field may be declared absent on purpose. JSONL columns are the union
of every object's keys. Rejects name the file's line (CSV, JSONL) or record (Parquet).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from billing.errors import TraceError
from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.aggregates import Counts, DailyKey
from billing.usage.mapping import TraceSpec

HOSTILE = Path(__file__).parents[1] / "fixtures" / "hostile"
ENGINES = ["python", "duckdb"]
DAY = 20769  # 2026-11-12 is day 20769 since 1970-01-01 (1794477600 s / 86400 = 20769.4)


def _rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("name", "field", "closest"), [
    ("trace-output-misspelled.csv", "output_tokens", "output_tokns"),
    ("trace-prompt-completion.csv", "input_tokens", "prompt_tokens"),
    ("trace-tokens-cased.csv", "output_tokens", "Output_Tokens"),
    ("trace-cache-lookalike.csv", "cached_input_tokens", "cache_read_tokens"),
])
def test_an_expected_token_field_that_is_absent_is_an_error(
        name: str, field: str, closest: str, engine: str) -> None:
    # Today these files bill the absent field as zero tokens, with exit code 0.
    path = HOSTILE / name
    with pytest.raises(TraceError) as caught:
        aggregate_trace(TraceSpec(path), engine=engine)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert f"no {field} column" in message
    assert f"closest: {closest!r}" in message
    assert "id, customer_id, timestamp, model" in message  # the columns present
    assert "\n" not in message


def test_both_missing_token_fields_are_named_at_once() -> None:
    path = HOSTILE / "trace-prompt-completion.csv"
    with pytest.raises(TraceError) as caught:
        TraceSpec(path).resolve(["id", "customer_id", "timestamp", "model", "prompt_tokens",
                                 "completion_tokens"])
    message = str(caught.value)
    assert "no input_tokens column (closest: 'prompt_tokens')" in message
    assert "no output_tokens column (closest: 'completion_tokens')" in message
    assert "--map input_tokens=prompt_tokens" in message


@pytest.mark.parametrize("engine", ENGINES)
def test_a_field_declared_absent_counts_zero_and_is_reported(tmp_path: Path,
                                                             engine: str) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("id,customer_id,timestamp,model,input_tokens\n"
                     "e1,a,2026-11-12T10:00:00Z,m,7\n")
    result = aggregate_trace(TraceSpec(trace, absent=("output_tokens",)), engine=engine)
    assert result.aggregates.daily == {DailyKey("a", "m", 0, DAY): Counts(7, 0, 0, 0, 1, 1)}
    assert result.stats.declared_absent == ("output_tokens",)
    # no column looks like a cache class: they are absent, and the summary says so
    assert result.stats.absent == ("cached_input_tokens", "cache_write_tokens")
    notes = result.stats.input_notes()
    assert "output_tokens declared absent: counted as 0 in every row" in notes
    assert ("token classes absent from the file (no column looks like them): "
            "cached_input_tokens, cache_write_tokens, counted as 0") in notes


@pytest.mark.parametrize("engine", ENGINES)
def test_a_mapping_to_the_constant_zero_declares_the_field_absent(tmp_path: Path,
                                                                  engine: str) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("id,customer_id,timestamp,model,input_tokens,cache_read_tokens\n"
                     "e1,a,2026-11-12T10:00:00Z,m,7,3\n")
    spec = TraceSpec(trace, columns={"output_tokens": 0, "cached_input_tokens": "cache_read_tokens",
                                     "cache_write_tokens": "0"})
    result = aggregate_trace(spec, engine=engine)
    assert result.aggregates.daily == {DailyKey("a", "m", 0, DAY): Counts(7, 3, 0, 0, 1, 1)}
    assert result.stats.declared_absent == ("cache_write_tokens", "output_tokens")
    assert result.stats.absent == ()


def test_declaring_absent_a_column_the_file_has_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=r"output_tokens is declared absent .* but the file has "
                                         r"a column 'output_tokens'"):
        TraceSpec(tmp_path / "t.csv", absent=("output_tokens",)).resolve(
            ["customer_id", "timestamp", "model", "input_tokens", "output_tokens"])


def test_only_count_fields_can_be_declared_absent(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match=r"only token counts can be declared absent"):
        TraceSpec(tmp_path / "t.csv", absent=("customer_id",))


@pytest.mark.parametrize("engine", ENGINES)
def test_jsonl_columns_are_the_union_of_every_objects_keys(tmp_path: Path, engine: str) -> None:
    # Today the columns are the first object's keys: output_tokens (only on line 2) is ignored
    # and both lines are billed as input only, with no reject.
    trace = tmp_path / "t.jsonl"
    trace.write_text(
        '{"id": "a", "customer_id": "x", "timestamp": "2026-11-12T10:00:00Z", '
        '"input_tokens": 1000000, "cached_input_tokens": 0, "cache_write_tokens": 0}\n'
        '{"id": "b", "customer_id": "x", "timestamp": "2026-11-12T11:00:00Z", '
        '"input_tokens": 1000000, "cached_input_tokens": 0, "cache_write_tokens": 0, '
        '"output_tokens": 1000000}\n')
    rejects = tmp_path / "r.csv"
    result = aggregate_trace(TraceSpec(trace, model="m"), engine=engine, rejects_path=rejects)
    # line 1 has no output_tokens although the file has that column: the row is bad (never
    # guessed as zero); line 2 is billed with its output.
    assert result.aggregates.daily == {
        DailyKey("x", "m", 0, DAY): Counts(1_000_000, 0, 0, 1_000_000, 1, 1)}
    assert [(r["line"], r["reason"]) for r in _rejects(rejects)] == [("1", "empty output_tokens")]


@pytest.mark.parametrize("engine", ENGINES)
def test_rejects_name_the_files_line(tmp_path: Path, engine: str) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("id,customer_id,timestamp,model,input_tokens,output_tokens\n"  # line 1
                     "e1,a,2026-11-12T10:00:00Z,m,1,1\n"                            # line 2
                     "\n"                                                           # line 3
                     "e2,,2026-11-12T10:00:00Z,m,1,1\n"                             # line 4
                     "e3,a,2026-11-12T10:00:00Z,m,1\n"                              # line 5
                     "e4,a,2026-11-12T10:00:00Z,m,-1,1\n")                          # line 6
    rejects = tmp_path / "r.csv"
    result = aggregate_trace(TraceSpec(trace), engine=engine, rejects_path=rejects)
    rows = _rejects(rejects)
    assert list(rows[0]) == ["file", "line", "reason", "raw"]
    assert [(r["line"], r["reason"]) for r in rows] == [
        ("4", "missing customer_id"), ("5", "unparseable line"), ("6", "negative input_tokens: -1")]
    assert [(r.row, r.reason) for r in result.first_rejects] == [
        (4, "missing customer_id"), (5, "unparseable line"), (6, "negative input_tokens: -1")]
    assert str(result.first_rejects[0]) == f"{trace}:4: missing customer_id"


@pytest.mark.parametrize("engine", ENGINES)
def test_jsonl_rejects_name_the_line_blank_lines_included(tmp_path: Path, engine: str) -> None:
    trace = tmp_path / "t.jsonl"
    good = '{"id": "%s", "customer_id": "a", "timestamp": "2026-11-12T10:00:00Z", ' \
           '"input_tokens": 1, "output_tokens": 1}\n'
    trace.write_text(good % "e1" + "\n" + "   \n" + good % "e2" + "[1, 2]\n" + good % "e2")
    rejects = tmp_path / "r.csv"
    aggregate_trace(TraceSpec(trace, model="m"), engine=engine, rejects_path=rejects)
    # line 5 is not an object; line 6 repeats e2 (a duplicate, not a reject)
    assert [(r["line"], r["reason"]) for r in _rejects(rejects)] == [("5", "unparseable line")]


@pytest.mark.parametrize("engine", ENGINES)
def test_parquet_rejects_name_the_record(engine: str, tmp_path: Path) -> None:
    rejects = tmp_path / "r.csv"
    aggregate_trace(TraceSpec(HOSTILE / "trace-uint64-tokens.parquet"), engine=engine,
                    rejects_path=rejects)
    rows = _rejects(rejects)
    assert list(rows[0]) == ["file", "record", "reason", "raw"]
    assert [(r["record"], r["reason"]) for r in rows] == [
        ("1", "input_tokens is too large: 18446744073709551615")]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_quoted_value_over_two_lines_keeps_later_lines_numbered(tmp_path: Path,
                                                                  engine: str) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text('id,customer_id,timestamp,model,input_tokens,output_tokens\n'  # line 1
                     'e1,"multi\nline",2026-11-12T10:00:00Z,m,1,1\n'               # lines 2-3
                     "e2,a,2026-11-12T10:00:00Z,m,-1,1\n"                           # line 4
                     "\n"                                                           # line 5
                     "e3,a,2026-11-12T10:00:00Z,m,-2,1\n")                          # line 6
    result = aggregate_trace(TraceSpec(trace), engine=engine)
    assert [(r.row, r.reason) for r in result.first_rejects] == [
        (4, "negative input_tokens: -1"), (6, "negative input_tokens: -2")]
