"""A rate card lists rates for some models and falls back to cost plus for the rest, in one card.

Supplier cost per 1M tokens (the test's cost book): m-prem input 10.00, output 20.00; m-cheap
input 1.00, output 2.00. The plan lists m-prem at input 12.00, output 24.00 and prices every
other model at cost plus 20%. Usage in February 2026:

    customer a: m-prem, 1M input + 0.5M output   list  1 x 12 + 0.5 x 24 = 24.00   cost 20.00
    customer b: m-cheap, 2M input + 1M output    cost  2 x 1 + 1 x 2 = 4.00, x 1.2 = 4.80

So a's invoice is 24.00, b's 4.80; revenue 28.80 on a cost of 24.00, margin 4.80.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from billing.cli import main
from billing.errors import PlanValidationError
from billing.plans import load_plan_text

COSTS = """
currency: USD
models:
  - {model: "m-cheap", provider: alpha, effective_from: 2026-01-01,
     input_per_mtok: 1.00, cached_input_per_mtok: 0.10, output_per_mtok: 2.00}
  - {model: "m-prem", provider: beta, effective_from: 2026-01-01,
     input_per_mtok: 10.00, cached_input_per_mtok: 1.00, output_per_mtok: 20.00}
"""

TRACE = """id,customer_id,timestamp,model,input_tokens,output_tokens
e1,a,2026-02-01T00:00:00Z,m-prem,1000000,500000
e2,b,2026-02-15T00:00:00Z,m-cheap,2000000,1000000
"""

PLAN = """\
id: list-or-cost
version: 2026-01-01
currency: USD
interval: month
charges:
  - kind: rate_card
    name: Usage
    rates:
      - {models: ["m-prem"], input: "12.00", cached_input: "1.20", output: "24.00"}
    fallback:
      cost_plus: {markup: "20%"}
"""

SUBS = """\
- {customer_id: a, plan: list-or-cost, start: 2026-02-01}
- {customer_id: b, plan: list-or-cost, start: 2026-02-01}
"""


def _files(tmp_path: Path) -> dict[str, Path]:
    files = {"plan": tmp_path / "plans" / "list-or-cost.yaml", "trace": tmp_path / "trace.csv",
             "costs": tmp_path / "costs.yaml", "subs": tmp_path / "subs.yaml"}
    files["plan"].parent.mkdir()
    for key, text in (("plan", PLAN), ("trace", TRACE), ("costs", COSTS), ("subs", SUBS)):
        files[key].write_text(text, encoding="utf-8")
    return files


def test_billing_rate_bills_listed_models_at_list_price_and_the_rest_at_cost_plus(
    tmp_path: Path,
) -> None:
    files = _files(tmp_path)
    out = tmp_path / "invoices.json"
    code = main(["rate", "--plans", str(files["plan"].parent), "--subscriptions",
                 str(files["subs"]), "--events", str(files["trace"]), "--period", "2026-02",
                 "--costs", str(files["costs"]), "--out", str(out)])
    assert code == 0
    invoices = {inv["customer_id"]: inv for inv in json.loads(out.read_text())}
    assert Decimal(invoices["a"]["total"]) == Decimal("24.00")  # 1 x 12 + 0.5 x 24
    assert Decimal(invoices["b"]["total"]) == Decimal("4.80")  # (2 x 1 + 1 x 2) x 1.2
    [line] = invoices["b"]["lines"]
    assert line["model"] == "m-cheap"


def test_billing_compare_agrees(tmp_path: Path) -> None:
    files = _files(tmp_path)
    # a plan without a fallback beside it, so both of compare's rating paths run
    (files["plan"].parent / "list.yaml").write_text(
        PLAN.replace("id: list-or-cost", "id: list").replace(
            '    fallback:\n      cost_plus: {markup: "20%"}\n',
            '      - {models: ["*"], input: "1.00", output: "2.00"}\n'),
        encoding="utf-8")
    out = tmp_path / "report.json"
    code = main(["compare", "--plans", str(files["plan"].parent), "--trace", str(files["trace"]),
                 "--costs", str(files["costs"]), "--json", str(out), "--quiet"])
    assert code == 0
    report = json.loads(out.read_text())
    plan = next(p for p in report["plans"] if p["id"] == "list-or-cost")
    assert Decimal(plan["revenue"]) == Decimal("28.80")  # 24.00 + 4.80
    assert Decimal(plan["cost"]) == Decimal("24.00")  # 20.00 + 4.00
    assert Decimal(plan["margin"]) == Decimal("4.80")
    listed = next(p for p in report["plans"] if p["id"] == "list")
    # a at 24.00; b at 2 x 1.00 + 1 x 2.00 = 4.00
    assert Decimal(listed["revenue"]) == Decimal("28.00")


def test_plan_check_describes_the_fallback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one table row per charge
    files = _files(tmp_path)
    assert main(["plan", "check", str(files["plan"])]) == 0
    out = capsys.readouterr().out
    assert "1 rate per 1M tokens, cost plus 20% for other models" in out


@pytest.mark.parametrize(
    ("charge", "line", "path", "message"),
    [
        ('    cost_plus: {markup: "10%"}\n    fallback:\n      cost_plus: {markup: "20%"}\n',
         8, "charges[1].fallback", "a fallback needs `rates`"),
        ('    rates:\n      - {models: ["*"], input: "1.00", output: "2.00"}\n'
         '    fallback:\n      cost_plus: {markup: "20%"}\n',
         9, "charges[1].fallback", "rates[1] matches every model"),
        ('    rates:\n      - {models: ["m-*"], input: "1.00", output: "2.00"}\n'
         '    fallback: {}\n',
         9, "charges[1].fallback.cost_plus", "required key is missing"),
    ],
)
def test_a_fallback_that_cannot_apply_is_refused(
    charge: str, line: int, path: str, message: str
) -> None:
    text = ("id: f\nversion: 2026-01-01\ncurrency: USD\ncharges:\n  - kind: rate_card\n"
            "    name: Usage\n" + charge)
    with pytest.raises(PlanValidationError) as caught:
        load_plan_text(text, filename="f.yaml")
    rendered = [str(p) for p in caught.value.problems]
    assert any(r.startswith(f"f.yaml:{line} {path}: ") and message in r for r in rendered), rendered
