"""Every broken plan file is rejected with `file:LINE path: message` a product manager can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.cli import main
from billing.errors import PlanValidationError
from billing.plans import load_plan, load_plan_text

BROKEN = Path(__file__).parents[1] / "fixtures" / "broken-plans"

CASES = [
    ("unknown-key.yaml", 8, "charges[1].timming", "unknown key 'timming' (did you mean 'timing'?)"),
    ("float-money.yaml", 7, "charges[1].price", 'write "10.5" instead of 10.5'),
    ("float-money.toml", 9, "charges[1].price", 'write "10.5" instead of 10.5'),
    ("malformed-money.yaml", 7, "charges[1].price", "'10,50' is not a decimal amount"),
    ("negative-price.yaml", 7, "charges[1].price", "must not be negative (got -30.00)"),
    ("tiers-unordered.yaml", 12, "charges[1].tiers.tiers[2].up_to",
     "must be greater than the previous tier's up_to (10)"),
    ("tiers-overlapping.yaml", 12, "charges[1].tiers.tiers[2].up_to",
     "must be greater than the previous tier's up_to (10)"),
    ("tiers-no-final.yaml", 12, "charges[1].tiers.tiers[2].up_to",
     "the last tier must be unbounded"),
    ("tier-mode-missing.yaml", 8, "charges[1].tiers.mode", "missing tier `mode`"),
    ("unknown-currency.yaml", 3, "currency", "unknown currency 'USX'"),
    ("unknown-kind.yaml", 8, "charges[2].kind", "unknown charge kind 'subscription'"),
    ("credits-unobtainable.yaml", 5, "charges[1].grants", "credits with no way to get any"),
    ("topup-unknown-pack.yaml", 11, "charges[1].auto_topup.pack", "no pack named 'Pack 10k'"),
    ("tou-no-default.yaml", 11, "charges[1].spot.schedule", "schedule has no default"),
    ("bad-timezone.yaml", 10, "charges[1].spot.timezone", "unknown time zone 'Europe/Pariss'"),
    ("bad-duration.yaml", 9, "charges[1].packs[1].expires_after",
     "'12 months' is not an ISO 8601 duration"),
]


@pytest.mark.parametrize(("name", "line", "path", "message"), CASES)
def test_broken_file_names_file_line_path_and_reason(
    name: str, line: int, path: str, message: str
) -> None:
    with pytest.raises(PlanValidationError) as caught:
        load_plan(BROKEN / name)
    rendered = [str(p) for p in caught.value.problems]
    assert any(
        r.startswith(f"{BROKEN / name}:{line} {path}: ") and message in r for r in rendered
    ), rendered


def test_every_broken_fixture_is_covered_by_a_case() -> None:
    assert sorted(p.name for p in BROKEN.iterdir()) == sorted(c[0] for c in CASES)


def test_cli_check_rejects_each_broken_file_and_exits_nonzero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["plan", "check", "--quiet", str(BROKEN)])
    err = capsys.readouterr().err
    assert code == 1
    for name, line, path, message in CASES:
        assert f"{BROKEN / name}:{line} {path}: " in err
        assert message in err
    assert f"{len(CASES)} plan file(s) with problems" in err


def test_all_problems_of_a_file_are_reported_at_once() -> None:
    text = """\
id: several
version: 2026-11-01
currency: EUR
colour: blue
charges:
  - kind: flat
    name: Fee
    price: 9.99
  - kind: seats
    name: Seats
    price: "-1.00"
"""
    with pytest.raises(PlanValidationError) as caught:
        load_plan_text(text, filename="plans/several.yaml")
    assert [str(p).split(":")[0] + ":" + str(p.line) for p in caught.value.problems] == [
        "plans/several.yaml:4",
        "plans/several.yaml:8",
        "plans/several.yaml:11",
    ]
    assert str(caught.value.problems[0]).startswith("plans/several.yaml:4 colour: unknown key")


def test_nothing_half_loaded_one_bad_charge_rejects_the_whole_plan() -> None:
    text = """\
id: half
version: 2026-11-01
currency: USD
charges:
  - { kind: flat, name: Fee, price: "10.00" }
  - { kind: cap, name: Cap }
"""
    with pytest.raises(PlanValidationError) as caught:
        load_plan_text(text, filename="half.yaml")
    assert str(caught.value) == "half.yaml:6 charges[2].maximum: required key is missing"
