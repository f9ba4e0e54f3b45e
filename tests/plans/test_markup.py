"""Markups are written and shown without ambiguity: "20%" or the fraction 0.2, never a bare 20."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from billing.cli import main
from billing.errors import PlanValidationError
from billing.plans import load_plan_text
from billing.plans.model import RateCardCharge


def cost_plus(markup: str) -> str:
    return f"""\
id: cp
version: 2026-11-01
currency: USD
charges:
  - kind: rate_card
    name: Model usage
    cost_plus:
      markup: {markup}
"""


def markup_of(markup: str) -> Decimal:
    charge = load_plan_text(cost_plus(markup), filename="cp.yaml").charges[0]
    assert isinstance(charge, RateCardCharge) and charge.cost_plus is not None
    return charge.cost_plus.markup


@pytest.mark.parametrize(
    ("written", "fraction"),
    [
        ('"20%"', Decimal("0.20")),  # 20 / 100
        ('"20 %"', Decimal("0.20")),
        ('"12.5%"', Decimal("0.125")),  # 12.5 / 100
        ('"150%"', Decimal("1.50")),  # 150 / 100: over 100% only with a % sign
        ('"-10%"', Decimal("-0.10")),  # 10% below cost
        ("0.2", Decimal("0.2")),  # a fraction below 1
        ('"0.35"', Decimal("0.35")),
        ("0", Decimal("0")),
    ],
)
def test_percent_and_fraction_forms(written: str, fraction: Decimal) -> None:
    assert markup_of(written) == fraction


@pytest.mark.parametrize("written", ['"20"', "20", "1", '"1.5"', "35"])
def test_a_bare_number_of_1_or_more_is_ambiguous_and_refused(written: str) -> None:
    with pytest.raises(PlanValidationError) as caught:
        markup_of(written)
    [problem] = caught.value.problems
    assert problem.line == 8
    assert problem.path == "charges[1].cost_plus.markup"
    number = written.strip('"')
    # the hint reads as the percentage the author most likely meant, and as its fraction
    assert f'"{number}%"' in problem.message
    assert "ambiguous" in problem.message


@pytest.mark.parametrize("written", ['"-150%"', "-1.5", '"20%%"', '"%20"', '"abc%"'])
def test_nonsense_markups_are_refused(written: str) -> None:
    with pytest.raises(PlanValidationError) as caught:
        markup_of(written)
    assert caught.value.problems[0].path == "charges[1].cost_plus.markup"


def test_plan_check_shows_markups_as_percentages_and_flags_100_percent_or_more(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    modest = tmp_path / "modest.yaml"
    modest.write_text(cost_plus('"0.35"'), encoding="utf-8")
    steep = tmp_path / "steep.yaml"
    steep.write_text(cost_plus('"150%"').replace("id: cp", "id: steep"), encoding="utf-8")
    assert main(["plan", "check", str(modest)]) == 0
    out = capsys.readouterr().out
    assert "cost plus 35%" in out  # 0.35 x 100
    assert "100% or more" not in out
    assert main(["plan", "check", str(steep)]) == 0  # valid, but flagged
    out = capsys.readouterr().out
    assert "cost plus 150%" in out
    assert "markup of 150%" in out and "100% or more" in out


def test_a_plan_with_a_markup_over_100_percent_survives_subscription_overrides() -> None:
    from billing.rating.batch import apply_overrides

    plan = load_plan_text(cost_plus('"150%"') + """\
  - kind: commitment
    name: Minimum
    minimum: "100.00"
""", filename="cp.yaml")
    # overrides re-validate the plan from its Python values: 1.5 is the parsed 150%, not "1.5"
    changed = apply_overrides(plan, {"Minimum": {"minimum": "200.00"}})
    card = changed.charges[0]
    assert isinstance(card, RateCardCharge) and card.cost_plus is not None
    assert card.cost_plus.markup == Decimal("1.50")
