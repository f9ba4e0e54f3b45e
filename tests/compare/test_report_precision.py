'''The JSON and CSV reports write money to the currency's minor unit and ratios to 6 places.

The figures stay exact inside (``PlanResult``); only what the report writes is rounded, once per
figure, half-up as the terminal table shows it. The trace: one customer, Feb 1 00:00 to Feb 10
00:00 UTC = 9 of February's 28 days (fees prorated by 9/28):

    e1 Feb 1 00:00   1,000,000 input tokens of m-test
    e2 Feb 10 00:00          1 input token of m-test
    cost  1,000,001 x 1.00 / 1M = 1.000001                           -> "1.00"

fee-and-usage (invoice lines, each rounded once to the cent):
    revenue  fee 10.00 x 9/28 = 3.2142857... -> 3.21; usage 1,000,001 x 2.00 / 1M = 2.000002
             -> 2.00; 3.21 + 2.00 = 5.21                              -> "5.21"
    margin   5.21 - 1.000001 = 4.209999                              -> "4.21"
    margin % 4.209999 / 5.21 = 0.8080612...                          -> "0.808061"

credits-300 (pack of 300 credits for 1.00, a credit is 0.01 of list price; the revenue of a
prorated comparison is the paid credits burned at the price paid per credit, 1.00 / 300):
    burned   2.000002 / 0.01 = 200.0002 credits
    revenue  200.0002 / 300 = 0.666667333... (60 digits before this fix) -> "0.67"
    margin   0.666667333... - 1.000001 = -0.333333666...           -> "-0.33"
    margin % -0.333333666... / 0.666667333... = -0.5               -> "-0.500000"
    prepaid  (300 - 200.0002) / 300 = 0.333332666...               -> "0.33"
'''

from __future__ import annotations

import csv
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing.cli import main
from billing.money import exact_context

from .conftest import plan_of, run_compare, write

COSTS = '''
currency: USD
models:
  - model: "m-test"
    provider: alpha
    effective_from: 2026-01-01
    input_per_mtok: 1.00
    output_per_mtok: 2.00
'''

TRACE = '''id,customer_id,timestamp,model,input_tokens,output_tokens
e1,a,2026-02-01T00:00:00Z,m-test,1000000,0
e2,a,2026-02-10T00:00:00Z,m-test,1,0
'''

CREDITS = '''id: credits-300
version: 2026-01-01
currency: USD
interval: month
charges:
  - kind: rate_card
    name: Usage
    rates:
      - models: ["m-test"]
        input: "2.00"
        output: "4.00"
    paid_with: credits
  - kind: credits
    name: Credits
    unit: credit
    unit_value: "0.01"
    packs:
      - name: Pack 300
        amount: 300
        price: "1.00"
    auto_topup:
      pack: Pack 300
      when_balance_below: 0
    overage: block
'''

PLAN = '''id: fee-and-usage
version: 2026-01-01
currency: USD
interval: month
charges:
  - kind: flat
    name: Fee
    price: "10.00"
  - kind: rate_card
    name: Usage
    rates:
      - models: ["m-test"]
        input: "2.00"
        output: "4.00"
'''

CENTS = re.compile(r"-?\d+\.\d{2}")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {"costs": write(tmp_path / "costs.yaml", COSTS),
            "trace": write(tmp_path / "trace.csv", TRACE),
            "credits": write(tmp_path / "plans" / "credits.yaml", CREDITS),
            "plans": write(tmp_path / "plans" / "fee.yaml", PLAN).parent}


def _args(files: dict[str, Path]) -> list[str]:
    return ["--plans", str(files["plans"]), "--trace", str(files["trace"]),
            "--costs", str(files["costs"])]


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def test_json_money_is_in_cents_and_ratios_in_6_places(
    files: dict[str, Path], tmp_path: Path
) -> None:
    report = run_compare(_args(files), tmp_path / "report.json")
    fee = plan_of(report, "fee-and-usage")
    assert (fee["revenue"], fee["cost"], fee["margin"]) == ("5.21", "1.00", "4.21")
    assert fee["margin_pct"] == "0.808061"
    assert fee["caveats"]["margin_without_unused"] == "4.21"  # no capacity, no breakage
    # revenue / cost per 1M of the trace's 1,000,001 tokens are prices: 6 places
    assert fee["revenue_per_mtok"] == "5.209995"  # 5.21 / 1.000001 = 5.2099947...
    assert fee["cost_per_mtok"] == "1.000000"
    credits = plan_of(report, "credits-300")
    assert (credits["revenue"], credits["cost"], credits["margin"]) == ("0.67", "1.00", "-0.33")
    assert credits["margin_pct"] == "-0.500000"
    assert credits["credit_unused_prepaid"] == "0.33"
    assert credits["credit_breakage"] == "0.00"  # nothing expired
    assert credits["caveats"]["margin_without_unused"] == "-0.33"
    # break-even margins are money too: one full period, the pack whole, 1.00 - 1.000001
    assert credits["what_if"]["break_even"]["margin_at_average_customer"] == "0.00"
    # nothing in the report carries more than 6 decimal places
    for text in _strings(report):
        if re.fullmatch(r"-?\d+\.\d+", text):
            assert len(text.split(".")[1]) <= 6, text


def test_csv_money_is_in_cents(files: dict[str, Path], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.csv"
    assert main(["compare", *_args(files), "--csv", str(out), "--quiet"]) == 0
    capsys.readouterr()
    with out.open(encoding="utf-8", newline="") as handle:
        rows = {row["plan"]: row for row in csv.DictReader(handle)}
    money = ("revenue", "cost", "margin", "margin_pct", "credit_breakage")
    assert tuple(rows["fee-and-usage"][k] for k in money) == (
        "5.21", "1.00", "4.21", "0.808061", "")
    assert tuple(rows["credits-300"][k] for k in money) == (
        "0.67", "1.00", "-0.33", "-0.500000", "0.00")
    assert rows["credits-300"]["tokens"] == "1000001"
    assert rows["credits-300"]["currency"] == "USD"


def test_the_report_object_keeps_the_exact_figures(files: dict[str, Path]) -> None:
    from billing.compare import compare
    from billing.costs import CostBook
    from billing.plans import load_catalog
    from billing.usage.mapping import TraceSpec

    report = compare(load_catalog([files["plans"]]), TraceSpec(path=files["trace"]),
                     costbook=CostBook.load(files["costs"]))
    (plan,) = (p for p in report.plans if p.id == "credits-300")
    # exact inside: 200.0002 credits x 1.00 / 300, to 60 significant digits (the last digit
    # is the engine's: it multiplies by the price per credit, itself rounded at 60 digits)
    with exact_context():
        assert abs(plan.revenue - Decimal("200.0002") / 300) < Decimal("1E-57")
    assert len(plan.revenue.as_tuple().digits) == 60
    assert CENTS.fullmatch(plan_of(report.as_dict(), "credits-300")["revenue"])
