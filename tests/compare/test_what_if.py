'''What-if analysis on a small hand-made trace, every figure against hand arithmetic.

Supplier cost (per 1M tokens): m-cheap (alpha) input 1.00, cached 0.10, output 2.00;
m-prem (beta) input 10.00, cached 1.00, output 20.00. The trace has no cached-input column:

    customer a: Feb 1 00:00, m-prem, 1M input + 0.5M output   cost 1 x 10 + 0.5 x 20 = 20.00
    customer b: Feb 15 00:00, m-cheap, 2M input               cost 2 x 1.00          =  2.00

Baseline supplier cost 22.00.
list plan (no fee): a 1 x 12 + 0.5 x 24 = 24.00, b 2 x 2.00 = 4.00: revenue 28.00, margin 6.00.
cost-plus plan (markup 0.5): revenue 22 x 1.5 = 33.00, margin 11.00.
'''

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing.compare.whatif import apply_cache_hit_rate
from billing.usage.aggregates import Counts, DailyKey, UsageAggregates

from .conftest import plan_of, run_compare, write

COSTS = '''
currency: USD
models:
  - {model: "m-cheap", provider: alpha, effective_from: 2026-01-01,
     input_per_mtok: 1.00, cached_input_per_mtok: 0.10, output_per_mtok: 2.00}
  - {model: "m-prem", provider: beta, effective_from: 2026-01-01,
     input_per_mtok: 10.00, cached_input_per_mtok: 1.00, output_per_mtok: 20.00}
'''

TRACE = '''id,customer_id,timestamp,model,input_tokens,output_tokens
e1,a,2026-02-01T00:00:00Z,m-prem,1000000,500000
e2,b,2026-02-15T00:00:00Z,m-cheap,2000000,0
'''

LIST = '''id: list
version: 2026-01-01
currency: USD
interval: month
charges:
  - kind: rate_card
    name: Usage
    rates:
      - {models: ["m-prem"], input: "12.00", cached_input: "1.20", output: "24.00"}
      - {models: ["m-cheap"], input: "2.00", cached_input: "0.20", output: "4.00"}
'''

COST_PLUS = '''id: cost-plus
version: 2026-01-01
currency: USD
interval: month
charges:
  - kind: rate_card
    name: Usage
    cost_plus: {markup: "0.5"}
'''


def _run(tmp_path: Path, *extra: str) -> dict[str, Any]:
    plans = tmp_path / "plans"
    write(plans / "list.yaml", LIST)
    write(plans / "cost-plus.yaml", COST_PLUS)
    return run_compare([
        "--plans", str(plans), "--trace", str(write(tmp_path / "trace.csv", TRACE)),
        "--costs", str(write(tmp_path / "costs.yaml", COSTS)), *extra,
    ], tmp_path / "out.json")


def _d(value: str | None) -> Decimal:
    assert value is not None
    return Decimal(value)


def test_a_supplier_price_cut_under_keep_price_and_keep_margin(tmp_path: Path) -> None:
    report = _run(tmp_path, "--supplier-price-change", "m-prem=-0.8")
    # m-prem 80% cheaper: a's cost 20.00 x 0.2 = 4.00; total 4.00 + 2.00 = 6.00
    what_if = report["what_if"]["supplier_price_change"]
    assert what_if["changes"] == [{"models": "m-prem", "change": "-0.8", "factor": "0.2",
                                   "applies_to": ["m-prem"]}]
    assert (_d(what_if["baseline_cost"]), _d(what_if["cost"])) == (Decimal(22), Decimal(6))
    assert any("m-prem -80% (x 0.2): applies to m-prem" in n for n in report["notes"])

    listed = plan_of(report, "list")
    assert (_d(listed["revenue"]), _d(listed["cost"])) == (Decimal(28), Decimal(22))  # baseline
    change = listed["what_if"]["supplier_price_change"]
    assert _d(change["cost"]) == Decimal(6)
    # keep price: list prices unchanged, revenue 28.00; margin 28 - 6 = 22; 22/28 = 0.785714
    assert _d(change["keep_price"]["revenue"]) == Decimal(28)
    assert _d(change["keep_price"]["margin"]) == Decimal(22)
    assert change["keep_price"]["margin_pct"] == "0.785714"
    assert change["keep_price"]["pass_through"] == "0.000000"  # (28 - 28) / (6 - 22)
    assert change["keep_price"]["negative_margin_customers"] == 0
    # keep margin %: revenue = 6 x 28 / 22 = 7.636363...; margin 7.6363... - 6 = 1.636363...
    # (written to the cent); margin % stays 6/28 = 0.214286
    keep = change["keep_margin_pct"]
    assert (keep["revenue"], keep["margin"]) == ("7.64", "1.64")
    assert keep["margin_pct"] == "0.214286" == listed["margin_pct"]

    plus = plan_of(report, "cost-plus")
    change = plus["what_if"]["supplier_price_change"]
    # cost-plus passes the cut through by itself: revenue 6 x 1.5 = 9.00, margin 3.00;
    # pass-through (9 - 33) / (6 - 22) = -24 / -16 = 1.5
    assert _d(change["keep_price"]["revenue"]) == Decimal(9)
    assert _d(change["keep_price"]["margin"]) == Decimal(3)
    assert change["keep_price"]["pass_through"] == "1.500000"
    # keeping its margin % (1/3) gives the same revenue: 6 x 33 / 22 = 9
    assert _d(change["keep_margin_pct"]["revenue"]) == Decimal(9)


def test_a_price_rise_on_a_glob_matching_nothing_changes_nothing_and_says_so(
        tmp_path: Path) -> None:
    report = _run(tmp_path, "--supplier-price-change", "gpt-5*=0.1")
    assert any("gpt-5* +10% (x 1.1): applies to no model of the trace" in n
               for n in report["notes"])
    for plan in report["plans"]:
        change = plan["what_if"]["supplier_price_change"]
        assert _d(change["cost"]) == _d(plan["cost"]) == Decimal(22)
        assert change["keep_price"]["pass_through"] is None  # no cost change to pass through


def test_an_assumed_cache_hit_rate_moves_fresh_input_to_cached(tmp_path: Path) -> None:
    report = _run(tmp_path, "--cache-hit-rate", "0.4")
    # a: 0.4 x 1M = 400,000 moved; b: 0.4 x 2M = 800,000 moved
    assert report["what_if"]["cache_hit_rate"] == {
        "rate": "0.4", "cached_tokens_moved": 1_200_000, "assumption": True}
    assert any(n.startswith("assumption: cache hit rate 0.4") for n in report["notes"])
    listed = plan_of(report, "list")
    # cost a: 0.6 x 10 + 0.4 x 1.00 + 0.5 x 20 = 6 + 0.4 + 10 = 16.40
    #      b: 1.2 x 1  + 0.8 x 0.10               = 1.2 + 0.08  =  1.28   total 17.68
    assert _d(listed["cost"]) == Decimal("17.68")
    # list a: 0.6 x 12 + 0.4 x 1.20 + 0.5 x 24 = 7.20 + 0.48 + 12 = 19.68
    #      b: 1.2 x 2  + 0.8 x 0.20              = 2.40 + 0.16     =  2.56   total 22.24
    assert _d(listed["revenue"]) == Decimal("22.24")
    # cost-plus sees the same tokens: 17.68 x 1.5 = 26.52
    assert _d(plan_of(report, "cost-plus")["revenue"]) == Decimal("26.52")
    assert report["trace"]["tokens"] == 3_500_000  # moved, not added


def test_the_cache_hit_rate_rounds_half_up_per_aggregate_row() -> None:
    aggregates = UsageAggregates(daily={
        DailyKey("a", "m", 0, 1): Counts(input=5, output=7, requests=1, events=1),
        DailyKey("a", "m", 0, 2): Counts(input=4, requests=1, events=1),
    })
    moved, total = apply_cache_hit_rate(aggregates, Decimal("0.5"))
    rows = list(moved.daily.values())
    # 0.5 x 5 = 2.5 -> 3 (half-up); 0.5 x 4 = 2
    assert [(c.input, c.cached_input, c.output) for c in rows] == [(2, 3, 7), (2, 2, 0)]
    assert total == 5


BREAK_EVEN_TRACE = '''id,customer_id,timestamp,model,input_tokens,output_tokens
e1,c1,2026-02-01T00:00:00Z,m-cheap,1000000,0
e2,c2,2026-02-15T00:00:00Z,m-cheap,3000000,0
'''

FEE = '''id: fee-below-cost
version: 2026-01-01
currency: USD
interval: month
charges:
  - {kind: flat, name: Fee, price: "10.00"}
  - kind: rate_card
    name: Usage
    rates: [{models: ["*"], input: "0.50", output: "1.00"}]
'''

PAYG = '''id: payg-above-cost
version: 2026-01-01
currency: USD
interval: month
charges:
  - kind: rate_card
    name: Usage
    rates: [{models: ["*"], input: "2.00", output: "4.00"}]
'''


@pytest.fixture()
def break_even_report(tmp_path: Path) -> dict[str, Any]:
    plans = tmp_path / "plans"
    write(plans / "fee.yaml", FEE)
    write(plans / "payg.yaml", PAYG)
    return run_compare([
        "--plans", str(plans), "--trace", str(write(tmp_path / "t.csv", BREAK_EVEN_TRACE)),
        "--costs", str(write(tmp_path / "costs.yaml", COSTS)),
        "--supplier-price-change", "m-cheap=-0.5",
    ], tmp_path / "out.json")


def test_break_even_of_a_fee_plan_priced_below_cost(break_even_report: dict[str, Any]) -> None:
    found = plan_of(break_even_report, "fee-below-cost")["what_if"]["break_even"]
    # One month from Feb 1, whole: margin(L) = 10.00 + 0.50 L/1M - 1.00 L/1M = 10 - L / 2M,
    # >= 0 up to L = 20,000,000; at 20,000,001 the rows scale to 1/4 and 3/4 of L:
    # 5,000,000.25 -> 5,000,000 and 15,000,000.75 -> 15,000,001 (20,000,001 tokens);
    # margin 10 + 10.0000005 - 20.000001 = -0.0000005, written to the cent: 0.00
    assert found["period"] == "2026-02-01..2026-03-01"
    assert found["tokens_per_period"] == 20_000_001
    assert found["margin_at_break_even"] == "0.00"
    # average customer: 4M / 2 = 2M tokens; margin 10 - 2M / 2M = 9.00
    assert found["average_customer_tokens_per_period"] == 2_000_000
    assert _d(found["margin_at_average_customer"]) == Decimal(9)
    assert found["light_use_loss"] is None
    # m-cheap 50% cheaper: margin 10 + 0.5 L/1M - 0.5 L/1M = 10 at every level: never
    after = plan_of(break_even_report, "fee-below-cost")["what_if"]
    assert after["break_even_after_price_change"]["tokens_per_period"] is None


def test_break_even_never_for_a_price_above_cost(break_even_report: dict[str, Any]) -> None:
    found = plan_of(break_even_report, "payg-above-cost")["what_if"]["break_even"]
    assert found["tokens_per_period"] is None  # 2.00 per 1M against a cost of 1.00: never
    assert found["margin_at_break_even"] is None
    assert "bisection" in break_even_report["what_if"]["break_even"]["method"]
    assert break_even_report["what_if"]["break_even"]["max_tokens_per_period"] == 2**50


def test_no_break_even_skips_it(tmp_path: Path) -> None:
    report = _run(tmp_path, "--no-break-even")
    assert report["what_if"] == {"cache_hit_rate": None, "supplier_price_change": None,
                                 "offpeak_shift": None, "break_even": None}
    assert all(p["what_if"]["break_even"] is None for p in report["plans"])
