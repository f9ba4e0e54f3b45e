"""Every invoice line names the plan file and line of the charge that produced it (``source``),
so a newcomer goes from any amount to the plan text in one step."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.costs import CostBook
from billing.plans import load_plan, load_plan_text
from billing.rating.batch import apply_overrides

from .conftest import PLANS, event, rate_events

USAGE = [
    event(1, 2, "claude-sonnet-4-5", input=100_000_000, output=50_000_000),
    event(2, 9, "gpt-5", hour=15, input=1_000_000_000, output=500_000_000),
]


@pytest.mark.parametrize("plan_file", sorted(p.name for p in PLANS.glob("*.yaml")))
def test_each_line_points_at_the_charge_that_produced_it(plan_file: str) -> None:
    lines = rate_events(plan_file, USAGE, costbook=CostBook.default()).invoice.lines
    assert lines
    text = (PLANS / plan_file).read_text(encoding="utf-8").splitlines()
    for line in lines:
        assert line.source is not None
        file, number = line.source.rsplit(":", 1)
        assert file == str(PLANS / plan_file)
        # the charge starts on that line ("- kind: ..."), and its name is among the next lines
        start = int(number) - 1
        assert text[start].lstrip().startswith("- ")
        assert f"name: {line.charge}" in "\n".join(text[start:start + 3])


def test_plan_03_lines_name_lines_13_and_17() -> None:
    lines = rate_events("03-base-plus-overage.yaml", USAGE).invoice.lines
    where = {(ln.kind, ln.source.rsplit(":", 1)[1] if ln.source else None) for ln in lines}
    # the platform fee is charges[1] on line 13, the rate card (its overage line and its
    # overage discount) is charges[2] on line 17 of plans/03-base-plus-overage.yaml
    assert where == {("flat", "13"), ("overage", "17"), ("overage_discount", "17")}


def test_overrides_keep_the_lines_of_the_plan_they_change() -> None:
    plan = load_plan(PLANS / "03-base-plus-overage.yaml")
    changed = apply_overrides(plan, {"Platform fee": {"price": "450.00"}})
    assert changed.charge_sources == plan.charge_sources
    assert changed.charge_sources["Platform fee"].endswith("03-base-plus-overage.yaml:13")


def test_a_toml_charge_is_located_at_its_header() -> None:
    plan = load_plan_text(
        'id = "t"\nversion = 2026-11-01\ncurrency = "USD"\n\n'
        '[[charges]]\nkind = "flat"\nname = "Fee"\nprice = "5.00"\n',
        filename="t.toml", suffix=".toml")
    assert plan.charge_sources == {"Fee": "t.toml:5"}


def test_a_plan_built_in_code_has_no_source(tmp_path: Path) -> None:
    plan = load_plan(PLANS / "01-payg-rate-card.yaml")
    rebuilt = type(plan).model_validate(plan.model_dump())
    assert rebuilt.charge_sources == {}
