'''Every plan's revenue on the same basis, and "best" shown with its caveats.

The hand trace of ``test_hand_trace`` spans Feb 1 00:00 to Feb 15 00:00 UTC: half of February,
so every fixed component is prorated by 14/28 = 1/2. Usage at the list plan's rates
(m-test 2.00/4.00, m-prem 12.00/24.00 per 1M input/output):

    a: 1M x 2.00 + 0.5M x 4.00 =  4.00    (400 credits of 0.01)
    b: 2M x 12.00 + 1M x 24.00 = 48.00    (4,800 credits)
    c: 3M x 2.00               =  6.00    (600 credits)

Supplier cost a 2.00, b 40.00, c 3.00 = 45.00.
'''

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing.cli import main

from .conftest import plan_of, run_compare, write
from .test_hand_trace import CAPACITY, COSTS, CREDITS, LIST, TRACE

# The same credits plan with a monthly free grant of 1,000 credits burned first.
GRANT_CREDITS = CREDITS.replace("id: hand-credits", "id: hand-grant").replace(
    "        priority: 1\n",
    "        priority: 2\n").replace(
    "    packs:\n",
    "    grants:\n"
    "      - name: Free\n"
    "        amount: 1000\n"
    "        every: month\n"
    "        expires: end_of_period\n"
    "        priority: 1\n"
    "        paid: false\n"
    "    packs:\n")


def _run(tmp_path: Path, *extra: str, plans: tuple[tuple[str, str], ...] = (
        ("list", LIST), ("capacity", CAPACITY), ("credits", CREDITS), ("grant", GRANT_CREDITS)),
         ) -> dict[str, Any]:
    folder = tmp_path / "plans"
    for name, text in plans:
        write(folder / f"{name}.yaml", text)
    return run_compare([
        "--plans", str(folder), "--trace", str(write(tmp_path / "trace.csv", TRACE)),
        "--costs", str(write(tmp_path / "costs.yaml", COSTS)), *extra,
    ], tmp_path / "out.json")


def _money(plan: dict[str, Any], key: str) -> Decimal:
    return Decimal(plan[key])


def test_packs_count_as_revenue_for_the_credits_the_trace_used(tmp_path: Path) -> None:
    report = _run(tmp_path)
    listed = plan_of(report, "hand-list")
    # The list plan: usage 4.00 + 48.00 + 6.00 = 58.00, plus 3 fees of 10.00 x 1/2 = 15.00.
    assert _money(listed, "revenue") == Decimal("73.00")
    credits = plan_of(report, "hand-credits")
    # Packs of 1,000 credits for 9.00: 0.009 paid per credit. Bought: a 1 pack, b 5, c 1
    # (9.00 + 45.00 + 9.00 = 63.00 invoiced). On the trace's half month the plan earns what
    # the trace used, at the price paid per credit, as the list plan earns half its fee:
    #   a 400 x 0.009 = 3.60; b 4,800 x 0.009 = 43.20; c 600 x 0.009 = 5.40; 52.20 in all
    #   (= 0.9 x the 58.00 of usage at list value: the packs' 10% bonus).
    assert _money(credits, "revenue") == Decimal("52.20")
    assert _money(credits, "margin") == Decimal("7.20")  # 52.20 - 45.00
    # The credits left unused at the end of the trace are prepaid for later usage:
    #   a 600 + b 200 + c 400 = 1,200 credits x 0.009 = 10.80, not revenue, not breakage
    assert _money(credits, "credit_unused_prepaid") == Decimal("10.80")
    assert _money(credits, "credit_breakage") == Decimal("0")  # nothing expired in the trace
    assert "credit packs" in credits["proration"]
    # the plans without credits have no such figure
    assert listed["credit_unused_prepaid"] is None


def test_a_free_grant_is_prorated_like_a_fee(tmp_path: Path) -> None:
    plan = plan_of(_run(tmp_path), "hand-grant")
    # Free grant 1,000 x 1/2 = 500 credits per customer, burned first:
    #   a: 400 used, all free: no pack, revenue 0
    #   b: 4,800 - 500 = 4,300 paid credits -> 5 packs; 4,300 x 0.009 = 38.70, 700 unused
    #   c:   600 - 500 =   100 paid credits -> 1 pack;    100 x 0.009 =  0.90, 900 unused
    assert _money(plan, "revenue") == Decimal("39.60")  # 0 + 38.70 + 0.90
    assert _money(plan, "credit_unused_prepaid") == Decimal("14.40")  # 1,600 x 0.009
    assert _money(plan, "margin") == Decimal("-5.40")  # 39.60 - 45.00
    # a: 0 - 2.00; b: 38.70 - 40.00; c: 0.90 - 3.00: every customer below cost
    assert plan["negative_margin_customers"] == 3


def test_full_periods_bill_every_plan_whole(tmp_path: Path) -> None:
    report = _run(tmp_path, "--full-periods")
    # Whole February for every plan: the list plan's fee whole, 3 x 10.00 + 58.00 = 88.00
    assert _money(plan_of(report, "hand-list"), "revenue") == Decimal("88.00")
    # and the packs invoiced whole: 9.00 + 45.00 + 9.00 = 63.00, the unused credits of the
    # period (1,200 x 0.009 = 10.80) counted as breakage, as the period's invoices say
    credits = plan_of(report, "hand-credits")
    assert _money(credits, "revenue") == Decimal("63.00")
    assert _money(credits, "credit_breakage") == Decimal("10.80")
    assert _money(credits, "credit_unused_prepaid") == Decimal("10.80")
    # Free grant 1,000 whole: a 400 free; b 3,800 paid -> 4 packs (36.00); c 600 free
    grant = plan_of(report, "hand-grant")
    assert _money(grant, "revenue") == Decimal("36.00")
    assert _money(grant, "credit_breakage") == Decimal("1.80")  # b's 200 left x 0.009


def test_caveats_of_every_plan(tmp_path: Path) -> None:
    report = _run(tmp_path)
    capacity = plan_of(report, "hand-capacity")["caveats"]
    # Each customer reserves 337 hours x 1M = 337M weighted tokens: 1,011M for the three.
    # Covered: 1M in each customer's one busy hour = 3M. Unused: 1,008M.
    assert capacity["unused_reserved_share"] == "0.997033"  # 1,008 / 1,011
    assert Decimal(capacity["unused_reserved_revenue"]) == Decimal("100.80")  # 1,008 x 0.10
    assert capacity["unused_reserved_revenue_share"] == "0.954545"  # 100.80 / 105.60
    assert capacity["negative_margin_share"] == "0.333333"  # b of a, b, c
    assert capacity["breakage_share"] is None
    # margin 60.60 without the 100.80 of baseload nobody used: -40.20
    assert Decimal(capacity["margin_without_unused"]) == Decimal("-40.20")
    assert any("nobody used" in n for n in capacity["notes"])
    listed = plan_of(report, "hand-list")["caveats"]
    assert Decimal(listed.pop("margin_without_unused")) == Decimal("28.00")  # its margin
    assert listed == {
        "negative_margin_share": "0.000000", "unused_reserved_share": None,
        "unused_reserved_revenue": None, "unused_reserved_revenue_share": None,
        "breakage_share": None, "notes": []}
    credits = plan_of(report, "hand-credits")["caveats"]
    assert credits["breakage_share"] == "0.000000"
    assert Decimal(credits["margin_without_unused"]) == Decimal("7.20")


def test_full_period_breakage_share(tmp_path: Path) -> None:
    credits = plan_of(_run(tmp_path, "--full-periods"), "hand-credits")["caveats"]
    assert credits["breakage_share"] == "0.171429"  # 10.80 / 63.00
    assert Decimal(credits["margin_without_unused"]) == Decimal("7.20")  # 63 - 45 - 10.80
    assert any("breakage" in n for n in credits["notes"])


def test_best_is_shown_with_its_caveats(tmp_path: Path) -> None:
    report = _run(tmp_path)
    # margins: capacity 60.60, list 28.00, credits 7.20, grant -5.40
    assert report["best_by_margin"] == "hand-capacity"
    # without the baseload nobody used: capacity -40.20, list 28.00
    assert report["best_by_margin_without_unused"] == "hand-list"
    best = report["best"]
    assert best["by_margin"]["plan"] == "hand-capacity"
    assert best["by_margin"]["caveats"] == plan_of(report, "hand-capacity")["caveats"]["notes"]
    assert any("1 of 3 customers" in n for n in best["by_margin"]["caveats"])
    assert best["by_margin_without_unused"]["plan"] == "hand-list"


def test_terminal_shows_best_with_its_caveats(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "plans"
    write(folder / "list.yaml", LIST)
    write(folder / "capacity.yaml", CAPACITY)
    code = main(["compare", "--plans", str(folder),
                 "--trace", str(write(tmp_path / "trace.csv", TRACE)),
                 "--costs", str(write(tmp_path / "costs.yaml", COSTS)), "--no-break-even"])
    assert code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "best by margin: hand-capacity" in out
    assert "1 of 3 customers (33.3%) lose money" in out
    assert "99.7% of the reserved capacity unused" in out
    assert "100.80 (95.5% of revenue)" in out
    assert "best by margin without unused capacity and breakage: hand-list" in out


def test_json_keys_of_earlier_versions_are_kept_and_every_key_is_documented(
        tmp_path: Path) -> None:
    report = _run(tmp_path, "--supplier-price-change", "m-*=-0.5", "--cache-hit-rate", "0.5")
    # The fields of the schema as first published: never removed, never renamed.
    published_plan = {
        "id", "name", "version", "plan_currency", "fx_rate", "proration", "revenue", "cost",
        "margin", "margin_pct", "customers", "negative_margin_customers", "customer_margin_pct",
        "top1pct_cost_share", "tokens", "revenue_per_mtok", "cost_per_mtok", "credit_breakage",
        "baseload_utilization", "by_grade", "supplier_hhi", "what_if"}
    published_top = {"trace", "currency", "best_by_margin", "best_by_revenue", "notes",
                     "plans", "what_if"}
    assert published_top <= set(report)
    for plan in report["plans"]:
        assert published_plan <= set(plan)
    doc = (Path(__file__).parents[2] / "docs" / "compare.md").read_text(encoding="utf-8")
    schema = doc.split("## JSON report schema", 1)[1]

    def keys(value: Any, path: str) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        if isinstance(value, dict):
            for key, inner in value.items():
                if path.endswith("by_grade"):  # keys are the plan's grade names
                    found |= keys(inner, path + ".GRADE")
                    continue
                found.add((key, f"{path}.{key}"))
                found |= keys(inner, f"{path}.{key}")
        elif isinstance(value, list):
            for inner in value:
                found |= keys(inner, path + "[]")
        return found

    missing = sorted(where for key, where in keys(report, "") if f'"{key}"' not in schema)
    assert not missing, f"JSON fields not documented in docs/compare.md: {missing}"
    assert json.loads(json.dumps(report)) == report
