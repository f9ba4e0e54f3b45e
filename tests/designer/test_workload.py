"""Workload files: read straight to Decimal/int, every problem reported with file:line."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from billing.designer.workload import (
    WorkloadError,
    ZipfActivity,
    load_workload,
    parse_workload,
)

ROOT = Path(__file__).resolve().parents[2]

VALID = """\
seed: 3
start: 2026-11-01T00:00:00+01:00
days: 2
conversations_per_day: 10
customers:
  count: 4
  activity: {kind: zipf, exponent: 1.2}
model_mix:
  - {model: claude-sonnet-4-5, share: 0.3}
  - {model: deepseek-chat, share: 0.7}
conversation:
  turns: {dist: poisson, mean: 5}
  tokens_per_turn: 1000
  output_tokens_per_turn: 200
  context_window: 8000
  cache_hit_rate: 0.9
"""


def test_unquoted_yaml_numbers_become_exact_decimals() -> None:
    w = parse_workload(VALID)
    # 0.3 + 0.7 must be exactly 1: only true for Decimals read from the text, not floats.
    assert [m.share for m in w.model_mix] == [Decimal("0.3"), Decimal("0.7")]
    assert isinstance(w.customers.activity, ZipfActivity)
    assert w.customers.activity.exponent == Decimal("1.2")
    assert w.conversation.cache_hit_rate == Decimal("0.9")
    assert w.start == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)  # +01:00 kept as an instant


def test_the_shipped_example_loads() -> None:
    w = load_workload(ROOT / "examples" / "workload.yaml")
    assert w.customers.count == 73
    assert sum(m.share for m in w.model_mix) == 1


def test_every_problem_of_a_file_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        """\
seed: 1
start: 2026-11-01T00:00:00
days: 1
conversations_per_day: 3
customers:
  count: 2
  activity: {kind: zipf}
model_mix:
  - {model: a, share: 1, colour: red}
conversation:
  turns: {dist: fixed, mean: 2.5}
  tokens_per_turn: 1000
  output_tokens_per_turn: 10
  context_window: 8000
  cache_hit_rate: 1.5
""",
        encoding="utf-8",
    )
    with pytest.raises(WorkloadError) as info:
        load_workload(path)
    assert [str(p) for p in info.value.problems] == [
        f"{path}:2 start: start 2026-11-01T00:00:00 has no time zone "
        "(write e.g. 2026-11-01T00:00:00Z)",
        f"{path}:7 customers.activity.exponent: Field required",
        f"{path}:9 model_mix[1].colour: unknown field (check the spelling; "
        "see examples/workload.yaml)",
        f"{path}:11 conversation.turns: a fixed number of turns must be whole, got 2.5",
        f"{path}:15 conversation.cache_hit_rate: Input should be less than or equal to 1",
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("share: 0.7}", "share: 0.6}", ":8 model_mix: shares must sum to 1, they sum to 0.9"),
        ("context_window: 8000", "context_window: 500",
         ":11 conversation: context_window (500) must hold at least one turn (tokens_per_turn 1000)"),
        ("days: 2", "days: 0", ":3 days: Input should be greater than or equal to 1"),
        ("kind: zipf, exponent: 1.2", "kind: pareto, exponent: 1.2",
         ":7 customers.activity: Input tag 'pareto' found using 'kind' does not match"),
    ],
)
def test_single_mistakes_name_line_and_reason(old: str, new: str, expected: str) -> None:
    assert old in VALID
    with pytest.raises(WorkloadError) as info:
        parse_workload(VALID.replace(old, new), "w.yaml")
    assert str(info.value).startswith("w.yaml" + expected)


def test_malformed_yaml_and_missing_files_are_workload_errors(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError, match=r"w.yaml:2: not valid YAML"):
        parse_workload("seed: [1\n", "w.yaml")
    with pytest.raises(WorkloadError, match="a workload must be a YAML mapping"):
        parse_workload("- 1\n", "w.yaml")
    missing = tmp_path / "nope.yaml"
    with pytest.raises(WorkloadError, match=r"nope.yaml: cannot read"):
        load_workload(missing)
