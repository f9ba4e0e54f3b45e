'''Every figure of the JSON report, on a small hand-made trace, against hand arithmetic.

The trace (February 2026 has 28 days; the trace spans Feb 1 00:00 to Feb 15 00:00 UTC = 14 days,
so fixed components are prorated by exactly 14/28 = 1/2, and capacity reserves the
14 x 24 + 1 = 337 UTC hours the trace touches):

    customer a: Feb 1 00:00, m-test, 1M input + 0.5M output   cost 1 x 1.00 + 0.5 x 2.00 =  2.00
    customer b: Feb 5 10:00, m-prem, 2M input + 1M output     cost 2 x 10.00 + 1 x 20.00 = 40.00
    customer c: Feb 15 00:00, m-test, 3M input                cost 3 x 1.00              =  3.00

Supplier cost 45.00; tokens 1.5M + 3M + 3M = 7.5M; providers alpha (m-test) 5.00, beta (m-prem)
40.00: HHI = (5/45)^2 + (40/45)^2 = 1/81 + 64/81 = 65/81 = 0.802469.
Top 1% of 3 customers = 1 customer (b): 40 / 45 = 0.888889 of the cost.
'''

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing.cli import main

from .conftest import plan_of, run_compare, write

COSTS = '''
currency: USD
models:
  - model: "m-test"
    provider: alpha
    effective_from: 2026-01-01
    input_per_mtok: 1.00
    output_per_mtok: 2.00
  - model: "m-prem"
    provider: beta
    effective_from: 2026-01-01
    input_per_mtok: 10.00
    output_per_mtok: 20.00
'''

TRACE = '''id,customer_id,timestamp,model,input_tokens,output_tokens
e1,a,2026-02-01T00:00:00Z,m-test,1000000,500000
e2,b,2026-02-05T10:00:00Z,m-prem,2000000,1000000
e3,c,2026-02-15T00:00:00Z,m-test,3000000,0
'''

LIST = '''id: hand-list
name: List prices plus a fee
version: 2026-01-01
currency: USD
interval: month
grades:
  premium: ["m-prem"]
  commodity: ["m-test"]
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
      - models: ["m-prem"]
        input: "12.00"
        output: "24.00"
'''

CAPACITY = '''id: hand-capacity
version: 2026-01-01
currency: USD
interval: month
charges:
  - kind: capacity
    name: Reserved
    meter:
      tokens: [input, output]
    bucket: hour
    baseload:
      per_bucket: 1_000_000
      price_per_mtok: "0.10"
      timing: in_advance
    spot:
      timezone: UTC
      schedule:
        - { default: true, price_per_mtok: "1.00" }
'''

CREDITS = '''id: hand-credits
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
      - models: ["*"]
        input: "12.00"
        output: "24.00"
    paid_with: credits
  - kind: credits
    name: Credits
    unit: credit
    unit_value: "0.01"
    packs:
      - name: Pack 1k
        amount: 1000
        price: "9.00"
        priority: 1
    auto_topup:
      pack: Pack 1k
      when_balance_below: 0
    overage: block
'''


@pytest.fixture()
def report(tmp_path: Path) -> dict[str, Any]:
    plans = tmp_path / "plans"
    write(plans / "list.yaml", LIST)
    write(plans / "capacity.yaml", CAPACITY)
    write(plans / "credits.yaml", CREDITS)
    return run_compare([
        "--plans", str(plans), "--trace", str(write(tmp_path / "trace.csv", TRACE)),
        "--costs", str(write(tmp_path / "costs.yaml", COSTS)),
        "--csv", str(tmp_path / "out.csv"),
    ], tmp_path / "out.json")


def test_trace_summary(report: dict[str, Any]) -> None:
    assert report["trace"] == {
        "path": report["trace"]["path"], "events": 3, "customers": 3, "rejected": 0,
        "skipped": 0, "start": "2026-02-01T00:00:00Z", "end": "2026-02-15T00:00:00Z",
        "tokens": 7_500_000, "models": ["m-prem", "m-test"], "synthetic": False,
    }
    assert report["trace"]["path"].endswith("trace.csv")
    assert report["currency"] == "USD"
    # margins: list 28.00, capacity 60.60, credits 7.20; revenue: capacity 105.60 is the most
    assert report["best_by_margin"] == "hand-capacity"
    assert report["best_by_revenue"] == "hand-capacity"
    assert [p["id"] for p in report["plans"]] == ["hand-capacity", "hand-credits", "hand-list"]


def _money(plan: dict[str, Any], *keys: str) -> list[Decimal]:
    return [Decimal(plan[k]) for k in keys]


def test_list_price_plan_every_figure(report: dict[str, Any]) -> None:
    plan = plan_of(report, "hand-list")
    # Fee 10.00 x 1/2 = 5.00 per customer.
    # a: 1M x 2.00 + 0.5M x 4.00 = 4.00 + 5.00 =  9.00; margin  9 -  2 =  7; 7/9   = 0.777778
    # b: 2M x 12.00 + 1M x 24.00 = 48.00 + 5.00 = 53.00; margin 53 - 40 = 13; 13/53 = 0.245283
    # c: 3M x 2.00 = 6.00 + 5.00                  = 11.00; margin 11 -  3 =  8; 8/11 = 0.727273
    assert _money(plan, "revenue", "cost", "margin") == [
        Decimal("73.00"), Decimal("45.00"), Decimal("28.00")]  # 9 + 53 + 11; 73 - 45
    assert plan["margin_pct"] == "0.383562"  # 28 / 73 = 0.3835616...
    assert plan["customers"] == 3
    assert plan["negative_margin_customers"] == 0
    # sorted 13/53, 8/11, 7/9; linear interpolation at (n-1) x p = 2p:
    # p5  = 13/53 + (8/11 - 13/53) x 0.1 = 0.2452830 + 0.0481990 = 0.293482
    # p50 = 8/11 = 0.727273
    # p95 = 8/11 + (7/9 - 8/11) x 0.9    = 0.7272727 + 0.0454545 = 0.772727
    assert plan["customer_margin_pct"] == {"p5": "0.293482", "p50": "0.727273", "p95": "0.772727"}
    assert plan["top1pct_cost_share"] == "0.888889"  # 40 / 45
    assert plan["tokens"] == 7_500_000
    assert plan["revenue_per_mtok"] == "9.733333"  # 73 / 7.5
    assert plan["cost_per_mtok"] == "6.000000"  # 45 / 7.5
    assert plan["credit_breakage"] is None
    assert plan["baseload_utilization"] is None
    grades = {g: {k: Decimal(v) for k, v in f.items()} for g, f in plan["by_grade"].items()}
    assert grades == {
        # b's usage 48.00 at cost 40.00
        "premium": {"revenue": Decimal(48), "cost": Decimal(40), "margin": Decimal(8)},
        # a's 4.00 + c's 6.00 = 10.00 at cost 2.00 + 3.00 = 5.00
        "commodity": {"revenue": Decimal(10), "cost": Decimal(5), "margin": Decimal(5)},
        # the fees: 3 x 5.00, no supplier cost
        "unattributed": {"revenue": Decimal(15), "cost": Decimal(0), "margin": Decimal(15)},
    }
    assert plan["supplier_hhi"] == "0.802469"  # 65/81
    assert plan["fx_rate"] == "1"
    assert "x 0.500000" in plan["proration"]


def test_capacity_plan_prorates_the_baseload_to_the_hours_of_the_trace(
        report: dict[str, Any]) -> None:
    plan = plan_of(report, "hand-capacity")
    # Baseload: 337 hours x 1M tokens x 0.10 per 1M = 33.70 per customer.
    # Spot at 1.00 per 1M above 1M in the customer's one busy hour:
    #   a: 1.5M - 1M = 0.5M -> 0.50; b: 3M - 1M = 2M -> 2.00; c: 3M - 1M = 2M -> 2.00
    # revenue: a 34.20, b 35.70, c 35.70 = 105.60; margin 105.60 - 45.00 = 60.60
    assert _money(plan, "revenue", "cost", "margin") == [
        Decimal("105.60"), Decimal("45.00"), Decimal("60.60")]
    assert plan["margin_pct"] == "0.573864"  # 60.60 / 105.60 = 0.5738636...
    # b: 35.70 - 40.00 = -4.30 < 0
    assert plan["negative_margin_customers"] == 1
    # a 32.20/34.20 = 0.9415205; b -4.30/35.70 = -0.1204482; c 32.70/35.70 = 0.9159664
    # p5  = -0.1204482 + (0.9159664 + 0.1204482) x 0.1 = -0.0168067
    # p95 =  0.9159664 + (0.9415205 - 0.9159664) x 0.9 =  0.9389651
    assert plan["customer_margin_pct"] == {"p5": "-0.016807", "p50": "0.915966",
                                           "p95": "0.938965"}
    assert plan["revenue_per_mtok"] == "14.080000"  # 105.60 / 7.5
    # covered 1M per customer = 3M of 3 x 337M reserved: 3 / 1011 = 0.0029674
    assert plan["baseload_utilization"] == "0.002967"
    assert plan["credit_breakage"] is None
    assert plan["by_grade"] is None  # the plan declares no grades
    assert plan["top1pct_cost_share"] == "0.888889"
    assert plan["supplier_hhi"] == "0.802469"
    assert "337 UTC hour(s)" in plan["proration"]


def test_credits_plan_revenue_is_the_paid_credits_the_trace_used(
        report: dict[str, Any]) -> None:
    plan = plan_of(report, "hand-credits")
    # 1 credit = 0.01 of list price; packs of 1,000 credits for 9.00 (0.009 paid per credit),
    # bought as needed (9.00 + 45.00 + 9.00 = 63.00 invoiced). On the prorated trace the plan
    # earns the paid credits the trace burned; those left are prepaid for later usage:
    #   a: 4.00 = 400 credits  -> 400 x 0.009 =  3.60; 600 left  x 0.009 = 5.40
    #   b: 48.00 = 4,800       -> 4,800 x 0.009 = 43.20; 200 left x 0.009 = 1.80
    #   c: 6.00 = 600          -> 600 x 0.009 =  5.40; 400 left  x 0.009 = 3.60
    assert _money(plan, "revenue", "cost", "margin") == [
        Decimal("52.20"), Decimal("45.00"), Decimal("7.20")]  # 3.60 + 43.20 + 5.40
    assert Decimal(plan["credit_unused_prepaid"]) == Decimal("10.80")  # 5.40 + 1.80 + 3.60
    assert Decimal(plan["credit_breakage"]) == 0  # nothing expired within the trace
    assert plan["margin_pct"] == "0.137931"  # 7.20 / 52.20
    # a 1.60/3.60 = 0.444444, b 3.20/43.20 = 0.074074, c 2.40/5.40 = 0.444444
    # p5 = 0.074074 + (0.444444 - 0.074074) x 0.1 = 0.111111; p95 = 0.444444
    assert plan["customer_margin_pct"] == {"p5": "0.111111", "p50": "0.444444",
                                           "p95": "0.444444"}
    assert plan["negative_margin_customers"] == 0
    assert plan["revenue_per_mtok"] == "6.960000"  # 52.20 / 7.5
    assert plan["baseload_utilization"] is None


def test_csv_has_one_row_per_plan_and_customer(report: dict[str, Any], tmp_path: Path) -> None:
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9  # 3 plans x 3 customers
    b = next(r for r in rows if r["plan"] == "hand-capacity" and r["customer_id"] == "b")
    # 33.70 + 2.00 = 35.70 revenue, 40.00 cost
    assert (Decimal(b["revenue"]), Decimal(b["cost"]), Decimal(b["margin"])) == (
        Decimal("35.70"), Decimal("40.00"), Decimal("-4.30"))
    assert b["baseload_utilization"] == "0.002967"  # 1M / 337M
    assert b["credit_breakage"] == ""


def test_full_periods_bills_the_whole_month(tmp_path: Path) -> None:
    write(tmp_path / "plans" / "list.yaml", LIST)
    report = run_compare([
        "--plans", str(tmp_path / "plans"), "--trace", str(write(tmp_path / "t.csv", TRACE)),
        "--costs", str(write(tmp_path / "costs.yaml", COSTS)), "--full-periods",
    ], tmp_path / "out.json")
    plan = plan_of(report, "hand-list")
    # the whole fee: 3 x 10.00 + usage 4.00 + 48.00 + 6.00 = 88.00
    assert Decimal(plan["revenue"]) == Decimal("88.00")
    assert plan["proration"].startswith("full periods")


def test_a_trace_longer_than_a_period_rates_each_period(tmp_path: Path) -> None:
    write(tmp_path / "plans" / "daily.yaml", '''id: daily-fee
version: 2026-01-01
currency: EUR
interval: day
charges:
  - kind: flat
    name: Daily fee
    price: "24.00"
  - kind: rate_card
    name: Usage
    rates: [{models: ["*"], input: "1.00", output: "1.00"}]
''')
    trace = write(tmp_path / "t.csv", "id,customer_id,timestamp,model,input_tokens,output_tokens\n"
                  "e1,a,2026-02-01T00:00:00Z,m-test,1000000,0\n"
                  "e2,a,2026-02-03T12:00:00Z,m-test,1000000,0\n")
    report = run_compare([
        "--plans", str(tmp_path / "plans"), "--trace", str(trace),
        "--costs", str(write(tmp_path / "costs.yaml", COSTS)), "--fx", "EUR=1.5",
    ], tmp_path / "out.json")
    plan = plan_of(report, "daily-fee")
    # Feb 1 and Feb 2 whole (24.00 each), Feb 3 half (12.00 until 12:00): 60.00 EUR of fees;
    # usage 1M + 1M at 1.00 = 2.00 EUR; 62.00 EUR x 1.5 = 93.00 USD
    assert Decimal(plan["revenue"]) == Decimal("93.00")
    assert plan["fx_rate"] == "1.5"
    assert Decimal(plan["cost"]) == Decimal("2.00")  # 2M input x 1.00 USD


def test_a_plan_in_another_currency_without_a_rate_stops_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "plans" / "eur.yaml", LIST.replace("USD", "EUR"))
    code = main(["compare", "--plans", str(tmp_path / "plans"),
                 "--trace", str(write(tmp_path / "t.csv", TRACE)),
                 "--costs", str(write(tmp_path / "costs.yaml", COSTS)), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "plan 'hand-list' is priced in EUR" in err
    assert "--fx EUR=" in err
