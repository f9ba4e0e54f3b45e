"""`billing rate` and `billing compare` on traces that lack something, as a user runs them.

cobalt-ai is on the payg plan (examples/subscriptions.yaml, from 2026-11-10); payg prices gpt-5
at its "*" rate: 5.00 USD per 1M input tokens, 20.00 per 1M output tokens, no fee.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from billing.cli import main

ROOT = Path(__file__).parents[2]
HOSTILE = ROOT / "tests" / "fixtures" / "hostile"
SUBS = ROOT / "examples" / "subscriptions.yaml"
HEADER = "id,customer_id,timestamp,model,input_tokens,output_tokens\n"


def _rate(events: Path, tmp_path: Path, *extra: str) -> tuple[int, dict[str, str]]:
    out = tmp_path / "invoices.json"
    code = main(["rate", "--plans", str(ROOT / "plans"), "--subscriptions", str(SUBS),
                 "--events", str(events), "--period", "2026-11", "--out", str(out), *extra])
    totals = ({i["customer_id"]: i["total"] for i in json.loads(out.read_text())}
              if out.exists() else {})
    return code, totals


def _compare(trace: Path, tmp_path: Path, *extra: str) -> int:
    return main(["compare", "--plans", str(ROOT / "plans"), "--trace", str(trace),
                 "--fx", "EUR=1.08", "--quiet", "--no-break-even",
                 "--json", str(tmp_path / "r.json"), *extra])


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_rate_refuses_a_misspelled_output_column(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # Today: exit 0, cobalt-ai billed 5.00 (the 1M input tokens only).
    code, totals = _rate(HOSTILE / "trace-output-misspelled.csv", tmp_path)
    assert code == 2
    assert totals == {}
    line = _one_line_error(capsys.readouterr().err)
    assert "trace-output-misspelled.csv" in line
    assert "no output_tokens column (closest: 'output_tokns')" in line
    assert "--map output_tokens=output_tokns" in line


def test_compare_refuses_openai_token_names(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    # Today: exit 0, every token priced as zero.
    assert _compare(HOSTILE / "trace-prompt-completion.csv", tmp_path) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "no input_tokens column (closest: 'prompt_tokens')" in line
    assert "no output_tokens column (closest: 'completion_tokens')" in line


@pytest.mark.parametrize("declare", [["--absent", "output_tokens"], ["--map", "output_tokens=0"]])
def test_a_field_declared_absent_on_the_command_line_is_billed_as_zero_and_said(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], declare: list[str]) -> None:
    events = tmp_path / "e.csv"
    events.write_text("id,customer_id,timestamp,model,input_tokens\n"
                      "e1,cobalt-ai,2026-11-12T10:00:00Z,gpt-5,1000000\n")
    code, totals = _rate(events, tmp_path, *declare)
    assert code == 0
    assert totals["cobalt-ai"] == "5.00"  # 1M input x 5.00 per 1M
    out = capsys.readouterr().out
    assert "output_tokens declared absent: counted as 0 in every row" in out
    assert "cached_input_tokens, cache_write_tokens, counted as 0" in out


def test_compare_reports_the_absent_classes(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("id,customer_id,timestamp,model,input_tokens\n"
                     "e1,cobalt-ai,2026-11-12T10:00:00Z,gpt-5,1000000\n")
    assert _compare(trace, tmp_path, "--absent", "output_tokens") == 0
    notes = json.loads((tmp_path / "r.json").read_text())["notes"]
    assert "output_tokens declared absent: counted as 0 in every row" in notes


def test_rate_bills_a_key_that_only_later_jsonl_objects_have(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Today the columns are line 1's keys: line 2's 1M output tokens are dropped, cobalt-ai is
    # billed 5.00 (line 1's input) and nothing is rejected.
    events = tmp_path / "e.jsonl"
    events.write_text(
        '{"id": "e1", "customer_id": "cobalt-ai", "timestamp": "2026-11-12T10:00:00Z", '
        '"model": "gpt-5", "input_tokens": 1000000}\n'
        '{"id": "e2", "customer_id": "cobalt-ai", "timestamp": "2026-11-12T11:00:00Z", '
        '"model": "gpt-5", "input_tokens": 0, "output_tokens": 1000000}\n')
    code, totals = _rate(events, tmp_path)
    assert code == 0
    # line 1 has no output_tokens while the file has that column: rejected, never guessed as 0;
    # line 2: 1M output x 20.00 per 1M = 20.00
    assert totals["cobalt-ai"] == "20.00"
    assert "e.jsonl:1: empty output_tokens" in capsys.readouterr().err


def test_without_rejects_the_first_rejects_are_shown(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "e.csv"
    events.write_text(HEADER + "".join(
        f"e{n},cobalt-ai,2026-11-12T10:00:00Z,gpt-5,{-n},1\n" for n in range(1, 8)))
    code, _ = _rate(events, tmp_path)
    assert code == 0
    err = capsys.readouterr().err
    # lines 2..8 are bad; the first five are shown with their line and reason
    for n in range(1, 6):
        assert f"e.csv:{n + 1}: negative input_tokens: -{n}" in err
    assert "e.csv:7:" not in err
    assert "and 2 more" in err
    assert "--rejects" in err


def test_compare_shows_the_first_rejects_without_rejects(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _compare(HOSTILE / "trace-year-1.csv", tmp_path) == 0
    err = capsys.readouterr().err
    assert "trace-year-1.csv:2: timestamp out of range" in err
    assert "--rejects" in err


@pytest.mark.parametrize("command", ["rate", "compare"])
def test_strict_makes_any_reject_a_failure(tmp_path: Path, command: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    trace = HOSTILE / "trace-year-1.csv"
    if command == "rate":
        assert _rate(trace, tmp_path)[0] == 0
        assert _rate(trace, tmp_path, "--strict")[0] == 1
    else:
        assert _compare(trace, tmp_path) == 0
        assert _compare(trace, tmp_path, "--strict") == 1
    assert "1 rejected row (--strict)" in capsys.readouterr().err


def test_usage_outside_every_subscription_or_period_is_counted_by_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "e.csv"
    events.write_text(HEADER
                      + "e1,cobalt-ai,2026-11-12T10:00:00Z,gpt-5,1000000,0\n"  # billed
                      + "e2,ghost,2026-11-12T10:00:00Z,gpt-5,1,0\n"            # no subscription
                      + "e3,ghost,2026-11-13T10:00:00Z,gpt-5,1,0\n"            # no subscription
                      + "e4,cobalt-ai,2026-11-05T10:00:00Z,gpt-5,1,0\n"        # before its start
                      + "e5,cobalt-ai,2026-12-03T10:00:00Z,gpt-5,1,0\n")       # next period
    rejects = tmp_path / "rejects.csv"
    code, totals = _rate(events, tmp_path, "--rejects", str(rejects))
    assert code == 0
    assert totals["cobalt-ai"] == "5.00"  # e1 alone: 1M input x 5.00 per 1M
    out = capsys.readouterr().out
    # counted by reason in the summary: ghost's 2 events, cobalt-ai's 1 before its start, 1 in
    # the next period
    assert "not billed: no subscription for the customer: 2 events" in out
    assert "not billed: outside the subscription's dates in period 2026-11: 1 event" in out
    assert "not billed: outside period 2026-11: 1 event" in out
    with rejects.open(newline="", encoding="utf-8") as handle:
        rows = [(r["reason"], r["raw"]) for r in csv.DictReader(handle)]
    assert ("not billed: no subscription for the customer",
            "customer ghost: 2 events, 2026-11-12 to 2026-11-13") in rows
    assert ("not billed: outside the subscription's dates in period 2026-11",
            "customer cobalt-ai: 1 event, 2026-11-05") in rows
    assert ("not billed: outside period 2026-11",
            "customer cobalt-ai: 1 event, 2026-12-03") in rows
    # --strict: usage no subscription bills is a failure (usage of other periods is not)
    code, _ = _rate(events, tmp_path, "--strict")
    assert code == 1


def test_every_missing_option_is_named_at_once(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    trace = HOSTILE / "trace-needs-every-option.csv"  # user,when,prompt,completion; naive times
    assert main(["compare", "--plans", str(ROOT / "plans"), "--trace", str(trace),
                 "--quiet"]) == 2
    line = _one_line_error(capsys.readouterr().err)
    for option in ("--map customer_id=COLUMN", "--map timestamp=COLUMN", "--model NAME",
                   "--map input_tokens=prompt", "--map output_tokens=completion",
                   "--assume-tz", "--fx EUR="):
        assert option in line, option
    assert "model=NAME" not in line


def test_rate_names_missing_options_with_cli_flags(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _rate(HOSTILE / "trace-needs-every-option.csv", tmp_path)
    assert code == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "--model NAME" in line and "--assume-tz" in line
    assert "model=NAME" not in line and "round_tokens" not in line
