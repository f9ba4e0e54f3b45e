'''A simulated workload through `billing simulate`, then `billing compare`, against the hand
arithmetic in the header of tests/designer/fixtures/tiny_workload.yaml.

The tiny workload: claude-sonnet-4-5 only, cust-0001 input 260,000 + cached 100,000 + output
40,000 tokens; cust-0002 input 130,000 + cached 50,000 + output 20,000. Supplier cost pinned
here at 3.00 / 0.30 / 15.00 per 1M (input / cached input / output).
'''

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing.cli import main

from .conftest import PLANS, REPO, plan_of, run_compare, write
from .test_errors import _error

TINY = REPO / "tests" / "designer" / "fixtures" / "tiny_workload.yaml"

COSTS = '''
currency: USD
models:
  - {model: "claude-sonnet-4-5", provider: anthropic, effective_from: 2025-01-01,
     input_per_mtok: 3.00, cached_input_per_mtok: 0.30, output_per_mtok: 15.00}
'''


@pytest.fixture()
def simulated(tmp_path: Path) -> tuple[Path, Path]:
    trace = tmp_path / "tiny.parquet"
    assert main(["simulate", str(TINY), "--out", str(trace), "--json"]) == 0
    return trace, write(tmp_path / "costs.yaml", COSTS)


def test_simulate_then_compare_matches_the_hand_arithmetic(
        simulated: tuple[Path, Path], tmp_path: Path) -> None:
    trace, costs = simulated
    report: dict[str, Any] = run_compare([
        "--plans", str(PLANS / "01-payg-rate-card.yaml"), "--trace", str(trace),
        "--costs", str(costs), "--supplier-price-change", "claude-sonnet*=-0.8",
    ], tmp_path / "out.json")
    assert report["trace"]["synthetic"] is True
    assert report["trace"]["tokens"] == 600_000  # 390,000 + 150,000 + 60,000
    payg = plan_of(report, "payg")
    # revenue (header): cust-0001 2.115 -> 2.12, cust-0002 1.0575 -> 1.06 (each line rounded
    # half-up: 1.17 + 0.05 + 0.90 and 0.59 + 0.02 + 0.45 give the same cents): 3.18
    assert Decimal(payg["revenue"]) == Decimal("3.18")
    # cost: cust-0001 0.26 x 3 + 0.10 x 0.30 + 0.04 x 15 = 0.78 + 0.03 + 0.60 = 1.41
    #       cust-0002 0.13 x 3 + 0.05 x 0.30 + 0.02 x 15 = 0.39 + 0.015 + 0.30 = 0.705
    # (the report writes money to the cent, half-up, each figure from its exact value)
    assert payg["cost"] == "2.12"  # 2.115
    assert payg["margin"] == "1.07"  # 3.18 - 2.115 = 1.065
    assert payg["margin_pct"] == "0.334906"  # 1.065 / 3.18 = 0.3349056...
    change = payg["what_if"]["supplier_price_change"]
    # sonnet 80% cheaper: cost 2.115 x 0.2 = 0.423
    assert change["cost"] == "0.42"  # 0.423
    # keep price: revenue 3.18, margin 3.18 - 0.423 = 2.757
    assert change["keep_price"]["margin"] == "2.76"
    # keep margin %: revenue 0.423 x 3.18 / 2.115 = 3.18 x 0.2 = 0.636; margin 0.636 - 0.423
    # = 0.213
    assert change["keep_margin_pct"]["revenue"] == "0.64"
    assert change["keep_margin_pct"]["margin"] == "0.21"
    # list prices 4.50 / 0.45 / 22.50 are 1.5 x the cost of every class: never a loss
    found = payg["what_if"]["break_even"]
    assert found["tokens_per_period"] is None
    assert found["average_customer_tokens_per_period"] == 300_000  # 600,000 / 2 customers
    # at 300,000 tokens (half the trace's mix), unrounded lines: revenue (2.115 + 1.0575) / 2 =
    # 1.58625, cost 2.115 / 2 = 1.0575; margin 0.52875, to the cent 0.53
    assert found["margin_at_average_customer"] == "0.53"


def test_an_assumed_cache_hit_rate_is_refused_on_a_trace_with_cache_data(
        simulated: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    trace, costs = simulated
    line = _error(capsys, "--plans", str(PLANS / "01-payg-rate-card.yaml"), "--trace", str(trace),
                  "--costs", str(costs), "--cache-hit-rate", "0.4")
    assert f"{trace}: has cache data (150,000 cached input tokens)" in line
    assert "drop --cache-hit-rate" in line


@pytest.mark.parametrize(("args", "expected"), [
    (["--supplier-price-change", "gpt-5*=lots"],
     "--supplier-price-change 'gpt-5*=lots': CHANGE 'lots' is not a decimal fraction"),
    (["--supplier-price-change", "gpt-5*"],
     "--supplier-price-change 'gpt-5*': write MODELGLOB=CHANGE"),
    (["--supplier-price-change", "gpt-5*=-1.5"],
     "CHANGE -1.5 is below -1: a price cannot fall by more than 100%"),
    (["--cache-hit-rate", "1.5"], "--cache-hit-rate 1.5: must be between 0 and 1"),
    (["--cache-hit-rate", "-0.1"], "--cache-hit-rate -0.1: must be between 0 and 1"),
    (["--cache-hit-rate", "forty"], "--cache-hit-rate 'forty': not a number"),
])
def test_bad_what_if_options(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                             args: list[str], expected: str) -> None:
    trace = write(tmp_path / "t.csv", "id,customer_id,timestamp,model,input_tokens\n"
                                      "e1,a,2026-02-01T00:00:00Z,gpt-4o-mini,10\n")
    line = _error(capsys, "--plans", str(PLANS / "01-payg-rate-card.yaml"), "--trace",
                  str(trace), *args)
    assert expected in line
