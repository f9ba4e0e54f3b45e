"""The PAYG plan on the real traces (data/traces/) against an independent DuckDB SQL sum.

PAYG (plans/01-payg-rate-card.yaml) bills one rate-card line per customer and model, each rounded
half-up to the cent; supplier cost is the exact sum of tokens x cost-book price. The SQL below
reads the raw file itself (no code of the project), so it checks the trace mapping, the
aggregation, the rating and the report sum together.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from billing.costs import CostBook

from .conftest import COSTBOOK, PLANS, TRACES, plan_of, run_compare

CENT = Decimal("0.01")

SERVEGEN_ARGS = [
    "--map", "customer_id=pool+client_id", "--map", "timestamp=window_start_s",
    "--map", "input_tokens=input_tokens_expected", "--map", "output_tokens=output_tokens_expected",
    "--map", "requests=requests_expected", "--timestamp-unit", "s",
    "--time-origin", "2026-01-05T00:00:00Z", "--round-tokens",
    "--skip-when", "token_pdf_available=False", "--costs", str(COSTBOOK),
]


def _sql_totals(relation: str, customer: str, input_expr: str, output_expr: str,
                payg_input: Decimal, payg_output: Decimal, cost_input: Decimal,
                cost_output: Decimal) -> tuple[Decimal, Decimal, int]:
    """(revenue, cost, events): revenue rounds each customer's line to the cent, as PAYG bills."""
    con = duckdb.connect()

    def per_token(price: Decimal) -> str:  # exact DECIMAL literal: price per 1M / 1,000,000
        return f"CAST('{price.scaleb(-6)}' AS DECIMAL(38, 14))"

    query = f"""
        WITH rows AS (
            SELECT {customer} AS customer, {input_expr} AS input, {output_expr} AS output
            FROM {relation}
        ), per_customer AS (
            SELECT customer, sum(input)::DECIMAL(38, 0) AS input,
                   sum(output)::DECIMAL(38, 0) AS output, count(*) AS events
            FROM rows GROUP BY customer
        )
        SELECT
            sum(round(input * {per_token(payg_input)} + output * {per_token(payg_output)}, 2)),
            sum(input * {per_token(cost_input)} + output * {per_token(cost_output)}),
            sum(events)
        FROM per_customer
    """
    revenue, cost, events = con.execute(query).fetchone()  # type: ignore[misc]
    return Decimal(str(revenue)), Decimal(str(cost)), int(events)


def test_azure_2023_payg_revenue_and_cost_match_a_sql_sum(tmp_path: Path) -> None:
    report = run_compare([
        "--plans", str(PLANS / "01-payg-rate-card.yaml"),
        "--trace", str(TRACES / "azure2023_requests.csv.gz"),
        "--map", "customer_id=service", "--assume-tz", "UTC", "--model", "gpt-4o-mini",
    ], tmp_path / "azure.json")
    price = CostBook.default().lookup("gpt-4o-mini", date(2023, 11, 16))
    # PAYG's gpt-4o-mini* rate: 0.25 input, 1.00 output per 1M tokens
    revenue, cost, events = _sql_totals(
        f"read_csv('{TRACES / 'azure2023_requests.csv.gz'}', all_varchar=true)", "service",
        "input_tokens::BIGINT", "output_tokens::BIGINT", Decimal("0.25"), Decimal("1.00"),
        price.input, price.output)
    assert report["trace"]["events"] == events == 28_185
    assert report["trace"]["customers"] == 2  # code and conv: the trace's only grouping
    payg = plan_of(report, "payg")
    assert Decimal(payg["revenue"]) == revenue
    assert Decimal(payg["cost"]).quantize(CENT, ROUND_HALF_UP) == cost.quantize(CENT, ROUND_HALF_UP)
    assert payg["by_grade"]["commodity"]["revenue"] == payg["revenue"]  # gpt-4o-mini*: commodity


@pytest.mark.parametrize(("name", "model", "payg", "skipped"), [
    # deepseek* rate of PAYG: 0.60 / 2.40; the 1-day reasoning pool has every token histogram
    ("servegen_reason_deepseek-r1_client_windows.csv.gz", "deepseek-r1",
     (Decimal("0.60"), Decimal("2.40")), 0),
    # m-small falls to PAYG's "*" rate: 5.00 / 20.00; rows without histograms are skipped
    ("servegen_language_m-small_client_windows.csv.gz", "m-small",
     (Decimal("5.00"), Decimal("20.00")), None),
])
def test_servegen_payg_revenue_and_cost_match_a_sql_sum(
        tmp_path: Path, name: str, model: str, payg: tuple[Decimal, Decimal],
        skipped: int | None) -> None:
    trace = TRACES / name
    report = run_compare([
        "--plans", str(PLANS / "01-payg-rate-card.yaml"), "--trace", str(trace),
        "--model", model, *SERVEGEN_ARGS,
    ], tmp_path / "servegen.json")
    price = CostBook.load(COSTBOOK).lookup(model, date(2026, 1, 5))
    relation = (f"(SELECT * FROM read_csv('{trace}', all_varchar=true) "
                "WHERE token_pdf_available <> 'False')")
    # round half-up each row's fractional expected tokens, as the events are read
    revenue, cost, events = _sql_totals(
        relation, "pool || '/' || client_id",
        "round(input_tokens_expected::DECIMAL(38, 16), 0)",
        "round(output_tokens_expected::DECIMAL(38, 16), 0)",
        payg[0], payg[1], price.input, price.output)
    assert report["trace"]["events"] == events
    if skipped is not None:
        assert report["trace"]["skipped"] == skipped
    else:
        total = duckdb.connect().execute(f"SELECT count(*) FROM read_csv('{trace}', all_varchar=true) "
                           "WHERE token_pdf_available = 'False'").fetchone()
        assert total is not None and report["trace"]["skipped"] == total[0] > 0
    plan = plan_of(report, "payg")
    assert Decimal(plan["revenue"]) == revenue
    assert Decimal(plan["cost"]).quantize(CENT, ROUND_HALF_UP) == cost.quantize(CENT, ROUND_HALF_UP)
    assert plan["customers"] == report["trace"]["customers"]


def test_azure_services_mapped_to_two_models_split_by_grade(tmp_path: Path) -> None:
    report = run_compare([
        "--plans", str(PLANS / "01-payg-rate-card.yaml"),
        "--trace", str(TRACES / "azure2023_requests.csv.gz"), "--assume-tz", "UTC",
        "--map", "customer_id=service", "--map", "model=service",
        "--model-map", "code=gpt-4o-mini", "--model-map", "conv=claude-sonnet-4-5",
    ], tmp_path / "azure.json")
    payg = plan_of(report, "payg")
    grades = payg["by_grade"]
    # code's line is gpt-4o-mini* (commodity), conv's is claude-sonnet-* (premium); no fee.
    # Each figure is written to the cent from its exact value, so the two grades' sum is the
    # total within a cent (0.005 of rounding each)
    cent = Decimal("0.01")
    assert abs(Decimal(grades["premium"]["revenue"]) + Decimal(grades["commodity"]["revenue"])
               - Decimal(payg["revenue"])) <= cent
    assert Decimal(grades["unattributed"]["revenue"]) == 0
    assert abs(Decimal(grades["premium"]["cost"]) + Decimal(grades["commodity"]["cost"])
               - Decimal(payg["cost"])) <= cent
    # two providers (openai, anthropic): concentration strictly between 1/2 and 1
    assert Decimal("0.5") < Decimal(payg["supplier_hhi"]) < 1
    assert any("models mapped" in n for n in report["notes"])
