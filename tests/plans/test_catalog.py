"""The seven catalog plans load unchanged; versions are looked up by date; the schema is shipped."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from billing.cli import main
from billing.errors import UnknownPlanError
from billing.plans import PlanCatalog, load_catalog, load_plan_text
from billing.plans.model import RateCardCharge, UsageCharge
from billing.plans.schema import plan_schema_json

ROOT = Path(__file__).parents[2]
PLANS = ROOT / "plans"


def test_catalog_holds_the_seven_acceptance_plans() -> None:
    catalog = load_catalog([PLANS])
    assert catalog.ids == (
        "credits", "enterprise-cost-plus", "growth-hybrid", "payg", "reserved-capacity",
        "team-seats", "tiered-tokens",
    )


def test_numbers_parse_straight_to_decimal() -> None:
    catalog = load_catalog([PLANS])
    payg = catalog.latest("payg").charges[0]
    assert isinstance(payg, RateCardCharge) and payg.rates is not None
    assert payg.rates[1].cached_input == Decimal("0.125")
    assert type(payg.rates[1].cached_input) is Decimal
    seats = catalog.latest("team-seats").charges[1]
    assert isinstance(seats, UsageCharge) and seats.included is not None
    assert seats.included.per_seat == 2_000_000


def test_catalog_files_point_editors_to_the_schema() -> None:
    for file in PLANS.glob("*.yaml"):
        assert file.read_text().startswith("# yaml-language-server: $schema=../schema/plan.schema.json")


def test_shipped_schema_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "schema"]) == 0
    printed = capsys.readouterr().out
    assert printed == plan_schema_json()
    assert (ROOT / "schema" / "plan.schema.json").read_text() == printed
    schema = json.loads(printed)
    assert set(schema["properties"]) >= {"id", "version", "currency", "charges"}


def test_cli_check_accepts_the_catalog_and_summarizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "check", str(PLANS)]) == 0
    out = capsys.readouterr().out
    assert "team-seats" in out and "30.00 USD per seat per month" in out
    assert "premium" in out  # grades of payg


def _version(effective: str, price: str) -> str:
    return f"""\
id: pro
version: {effective}
currency: USD
charges:
  - {{ kind: flat, name: Fee, price: "{price}" }}
"""


def test_version_at_picks_the_version_in_force() -> None:
    catalog = PlanCatalog(
        [load_plan_text(_version("2026-01-01", "10.00")), load_plan_text(_version("2026-07-01", "12.00"))]
    )
    assert catalog.version_at("pro", date(2026, 6, 30)).version == date(2026, 1, 1)
    assert catalog.version_at("pro", date(2026, 7, 1)).version == date(2026, 7, 1)
    with pytest.raises(UnknownPlanError, match="no version in force on 2025-12-31"):
        catalog.version_at("pro", date(2025, 12, 31))
    with pytest.raises(UnknownPlanError, match="known plans: pro"):
        catalog.version_at("enterprise", date(2026, 7, 1))


def test_toml_plan_loads_with_decimals() -> None:
    plan = load_plan_text(
        'id = "t"\nversion = 2026-11-01\ncurrency = "JPY"\n\n[[charges]]\nkind = "usage"\n'
        'name = "Out"\nmeter = { tokens = ["output"] }\nper_unit = { unit_price = "0.0015", per = 1 }\n',
        suffix=".toml",
    )
    charge = plan.charges[0]
    assert isinstance(charge, UsageCharge) and charge.per_unit is not None
    assert charge.per_unit.unit_price == Decimal("0.0015")
