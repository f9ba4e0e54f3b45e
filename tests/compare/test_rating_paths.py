"""The comparison rates a plan by one of three paths (every customer of a period at once,
the kernel one customer at a time, the rater one customer at a time); the report must not
depend on which one a plan takes."""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest

from billing.charges.credits import FirstPeriodBurn
from billing.compare import CompareOptions, compare, parallel
from billing.costs import CostBook
from billing.plans import Plan, load_catalog, load_plan_text
from billing.usage.mapping import TraceSpec

ROOT = Path(__file__).parents[2]

# Pay as you go in EUR with grades and an included amount: its revenue per grade goes through
# the fx rate (the catalog's graded plans are in USD).
EURO_GRADED = """
id: payg-eur
version: 2026-11-01
currency: EUR
interval: month
grades:
  premium: ["claude-*"]
  commodity: ["gpt-4o-mini*", "deepseek*"]
charges:
  - kind: flat
    name: Platform
    price: "49.00"
    proration: daily
  - kind: rate_card
    name: Model usage
    included_amount: "5.00"
    rates:
      - models: ["claude-*"]
        input: "4.10"
        cached_input: "0.41"
        output: "20.50"
      - models: ["*"]
        input: "0.55"
        cached_input: "0.13"
        output: "2.15"
"""


def _trace(path: Path) -> Path:
    """A seeded trace over 45 days from 2026-11-10 (two monthly periods from that anchor, the
    second cut short by the trace's end), four models, prompts past the long-context band."""
    rng = random.Random(20261122)
    models = ["claude-sonnet-4-5", "gpt-4o-mini", "deepseek-r1", "m-small"]
    start = datetime(2026, 11, 10, 3, tzinfo=UTC)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "customer_id", "model", "timestamp", "input_tokens",
                         "cached_input_tokens", "output_tokens"])
        for n in range(3000):
            customer = f"c{int(rng.paretovariate(1.2)) % 40:02d}"
            at = start + timedelta(seconds=rng.randrange(45 * 86400))
            prompt = rng.choice([rng.randrange(50, 4000), rng.randrange(150_000, 260_000)])
            writer.writerow([f"e{n}", customer, rng.choice(models), at.isoformat(),
                             prompt, rng.randrange(0, prompt // 2 + 1),
                             rng.randrange(10, 3000)])
    return path


def _figures(value: Any) -> Any:
    """The report's JSON with every number read as a Decimal: equal figures compare equal
    whatever their trailing zeros (the kernel burns credits in fixed-point units, so its exact
    breakage can carry zeros the rater's has not: 830.814704100 and 830.8147041)."""
    if isinstance(value, dict):
        return {k: _figures(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_figures(v) for v in value]
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    return value


def _report(trace: Path, full_periods: bool) -> Any:
    plans: list[Plan] = [*load_catalog([ROOT / "plans", ROOT / "benchmarks" / "plans"]),
                         load_plan_text(EURO_GRADED)]
    report = compare(plans, TraceSpec(trace), costbook=CostBook.load(
        ROOT / "examples" / "costbook.yaml"), options=CompareOptions(
        fx={"EUR": Decimal("1.08")}, workers=1, break_even=False, seats=3,
        seats_by_customer={"c01": 1, "c02": 5}, full_periods=full_periods))
    assert len(report.plans) == 11
    assert len({r.revenue for p in report.plans for r in p.customers}) > 100
    rows = [[p.id, *(str(getattr(r, f)) for f in ("customer_id", "revenue", "credit_breakage",
                                                   "reserved", "covered"))]
            for p in report.plans for r in p.customers]
    return _figures({"report": json.loads(report.to_json()), "customers": rows})


@pytest.mark.parametrize("full_periods", [False, True])
def test_every_plan_rated_by_the_rater_gives_the_same_report(
        full_periods: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = _trace(tmp_path / "trace.csv")
    fast = _report(trace, full_periods)
    # The trace spans two periods of every plan: every figure summed across periods.
    assert all("2 month period" in p["proration"] for p in fast["report"]["plans"])
    monkeypatch.setattr(FirstPeriodBurn, "handles", staticmethod(lambda plan: False))
    monkeypatch.setattr(parallel, "_batched", lambda *how: False)
    slow = _report(trace, full_periods)
    assert fast == slow
