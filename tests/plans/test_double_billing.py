"""`plan check` refuses a plan in which one token could be billed by two charges, naming both
charges' lines, unless the later charge says it stacks on purpose (`stacks: true`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.cli import main
from billing.errors import PlanValidationError
from billing.plans import load_plan_text
from billing.plans.globs import globs_overlap

HEAD = "id: p\nversion: 2026-11-01\ncurrency: USD\ncharges:\n"

# The plan of the issue, written from the docs: "list price for claude-sonnet-4-5, cost plus 20%
# for every other model". The sonnet tokens would be billed by both charges.
SONNET_TWICE = HEAD + """\
  - kind: rate_card
    name: Sonnet list price
    rates:
      - models: [claude-sonnet-4-5]
        input: "3.00"
        output: "15.00"
  - kind: rate_card
    name: Everything else
    cost_plus: { markup: "20%" }
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PlanValidationError) as caught:
        load_plan_text(text, filename="p.yaml")
    return [str(p) for p in caught.value.problems]


def test_the_issue_plan_is_refused_naming_both_charges_and_their_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text(SONNET_TWICE, encoding="utf-8")
    assert main(["plan", "check", str(plan)]) == 1
    err = capsys.readouterr().err
    # the later charge starts on line 11, the earlier one on line 5
    assert f"{plan}:11 charges[2]: " in err
    assert "charge 2 'Everything else'" in err
    assert "charge 1 'Sonnet list price' (line 5)" in err
    assert "'claude-sonnet-4-5'" in err  # a model whose tokens both would bill
    assert "stacks: true" in err  # how to say it is on purpose


def test_stacks_true_on_the_later_charge_accepts_it() -> None:
    plan = load_plan_text(SONNET_TWICE + "    stacks: true\n", filename="p.yaml")
    assert [c.name for c in plan.charges] == ["Sonnet list price", "Everything else"]


def test_the_fallback_says_it_in_one_card() -> None:
    text = HEAD + """\
  - kind: rate_card
    name: Model usage
    rates:
      - models: [claude-sonnet-4-5]
        input: "3.00"
        output: "15.00"
    fallback:
      cost_plus: { markup: "20%" }
"""
    assert load_plan_text(text, filename="p.yaml").charges[0].name == "Model usage"


@pytest.mark.parametrize(
    ("charges", "second_line", "shared"),
    [
        # a usage charge on input of every model, and a rate card
        ("""\
  - { kind: usage, name: Input, meter: { tokens: [input] }, per_unit: { unit_price: "1.00" } }
  - { kind: rate_card, name: Card, rates: [{ models: ["gpt-*"], input: "1", output: "2" }] }
""", 6, "input"),
        # two usage charges whose model globs meet (claude-* and *sonnet*)
        ("""\
  - kind: usage
    name: Claude output
    meter: { tokens: [output, input], models: ["claude-*"] }
    per_unit: { unit_price: "1.00" }
  - kind: usage
    name: Sonnet output
    meter: { tokens: [output], models: ["*sonnet*"] }
    per_unit: { unit_price: "1.00" }
""", 9, "output"),
        # capacity meters every model's tokens, like a rate card
        ("""\
  - kind: capacity
    name: Reserved
    meter: { tokens: [output] }
    baseload: { per_bucket: 1000, price_per_mtok: "1.00" }
    spot: { schedule: [{ default: true, price_per_mtok: "2.00" }] }
  - { kind: rate_card, name: Card, cost_plus: { markup: "10%" } }
""", 10, "output"),
    ],
)
def test_every_kind_of_token_charge_is_checked(charges: str, second_line: int, shared: str) -> None:
    [problem] = problems(HEAD + charges)
    assert problem.startswith(f"p.yaml:{second_line} charges[2]: ")
    assert "(line 5)" in problem
    assert f"{shared} tokens" in problem


@pytest.mark.parametrize(
    "charges",
    [
        # different token classes of the same models
        """\
  - { kind: usage, name: Out, meter: { tokens: [output] }, per_unit: { unit_price: "1.00" } }
  - { kind: usage, name: In, meter: { tokens: [input, cached_input] }, per_unit: { unit_price: "1" } }
""",
        # the same class of models no name can match twice
        """\
  - kind: usage
    name: Claude
    meter: { tokens: [input], models: ["claude-*"] }
    per_unit: { unit_price: "1.00" }
  - kind: usage
    name: GPT
    meter: { tokens: [input], models: ["gpt-?", "gpt-[0-9]*"] }
    per_unit: { unit_price: "1.00" }
""",
        # requests are not tokens
        """\
  - { kind: usage, name: Requests, meter: { requests: true }, per_unit: { unit_price: "1" } }
  - { kind: rate_card, name: Card, cost_plus: { markup: "10%" } }
""",
    ],
)
def test_disjoint_charges_pass(charges: str) -> None:
    assert len(load_plan_text(HEAD + charges, filename="p.yaml").charges) == 2


@pytest.mark.parametrize(
    ("a", "b", "meet"),
    [
        ("*", "claude-sonnet-4-5", True),
        ("claude-*", "*sonnet*", True),
        ("claude-*", "gpt-*", False),
        ("gpt-?", "gpt-4o", False),
        ("gpt-?", "gpt-[0-9]", True),
        ("gpt-[!0-9]", "gpt-[0-9]", False),
        ("gpt-[!a]", "gpt-[!b]", True),
        ("a*b*c", "*x*", True),
        ("a*b", "*c", False),
        ("Claude-*", "claude-3", True),  # models match without regard to case
    ],
)
def test_glob_overlap(a: str, b: str, meet: bool) -> None:
    witness = globs_overlap(a, b)
    assert (witness is not None) == meet
    if witness is not None:
        import fnmatch

        assert fnmatch.fnmatchcase(witness, a.lower()) and fnmatch.fnmatchcase(witness, b.lower())


def test_plan_check_shows_what_stacks_and_a_stacks_that_stacks_on_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # one line per note
    stacked = tmp_path / "stacked.yaml"
    stacked.write_text(SONNET_TWICE + "    stacks: true\n", encoding="utf-8")
    assert main(["plan", "check", str(stacked)]) == 0
    out = capsys.readouterr().out
    assert ("charge 2 'Everything else' stacks on charge 1 'Sonnet list price': input, "
            "cached_input, cache_write, output tokens of models such as 'claude-sonnet-4-5' are "
            "billed by both") in out
    alone = tmp_path / "alone.yaml"
    alone.write_text(HEAD + """\
  - kind: usage
    name: Output
    meter: { tokens: [output] }
    per_unit: { unit_price: "1.00" }
    stacks: true
""", encoding="utf-8")
    assert main(["plan", "check", str(alone)]) == 0
    out = capsys.readouterr().out
    assert "charge 1 'Output' says `stacks: true` but no earlier charge bills its tokens" in out
