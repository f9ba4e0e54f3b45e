"""Reasoning tokens (issue 16): a token class that rate cards may price; by default priced as
output, as providers do. Through the providers' usage objects, `billing rate`, `billing compare`
and the library.

Every expected figure is worked out by hand in the comments. The cost file prices a made-up
model, so that no bundled price moves the numbers:

    m-think (provider openai): input 1.00, output 4.00 per 1M tokens (reasoning as output)

The plan's rate card lists m-think at input 2.00, output 8.00 and reasoning 10.00 per 1M.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import billing
from billing.cli import main
from billing.costs import CostBook
from billing.errors import BillingError, RatingError, UsageError
from billing.periods import Period
from billing.plans import load_catalog
from billing.rating.rater import Rater
from billing.subscriptions import Subscription
from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.aggregate_python import aggregate_events
from billing.usage.customer import split_by_customer
from billing.usage.events import UsageEvent
from billing.usage.mapping import TraceSpec

ENGINES = ("duckdb", "python")

EVENTS = """\
id,customer_id,timestamp,model,input_tokens,output_tokens,reasoning_tokens
e1,acme,2026-11-02T10:00:00Z,m-think,1000000,1000000,600000
e2,acme,2026-11-03T10:00:00Z,m-think,1000000,500000,0
e3,beta,2026-11-03T10:00:00Z,m-think,0,200000,200000
"""

COSTS = """\
currency: USD
models:
  - {model: "m-think", provider: openai, effective_from: 2026-01-01,
     input_per_mtok: "1.00", output_per_mtok: "4.00"}
"""

PLAN = """\
id: think
name: Think
version: 2026-11-01
currency: USD
interval: month
charges:
  - kind: rate_card
    name: tokens
    rates:
      - models: ["m-think"]
        input: "2.00"
        output: "8.00"
        reasoning: "10.00"
"""

SUBS = """\
subscriptions:
  - {customer_id: acme, plan: think, start: 2026-11-01}
  - {customer_id: beta, plan: think, start: 2026-11-01}
"""

# Revenue, one line per customer and model (the output split in its breakdown):
#   acme: input 2M x 2.00 = 4.00; output 1.5M of which 0.6M reasoning:
#         the rest 0.9M x 8.00 = 7.20, reasoning 0.6M x 10.00 = 6.00; line 17.20
#   beta: output 0.2M, all reasoning: 0.2M x 10.00 = 2.00
#   total 19.20
# Supplier cost (reasoning as output): acme 2M x 1.00 + 1.5M x 4.00 = 8.00;
#   beta 0.2M x 4.00 = 0.80; total 8.80; margin 19.20 - 8.80 = 10.40.


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in (("events.csv", EVENTS), ("costs.yaml", COSTS), ("subs.yaml", SUBS)):
        out[name] = tmp_path / name
        out[name].write_text(text, encoding="utf-8")
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "think.yaml").write_text(PLAN, encoding="utf-8")
    out["plans"] = plans
    return out


def _rate(files: dict[str, Path], tmp_path: Path, *extra: str) -> tuple[int, list[dict]]:
    out = tmp_path / "invoices.json"
    code = main(["rate", "--events", str(files["events.csv"]), "--period", "2026-11",
                 "--subscriptions", str(files["subs.yaml"]), "--plans", str(files["plans"]),
                 "--costs", str(files["costs.yaml"]), "--out", str(out), *extra])
    return code, json.loads(out.read_text()) if out.exists() else []


def _by_customer(invoices: list[dict]) -> dict[str, dict]:
    return {invoice["customer_id"]: invoice for invoice in invoices}


def test_billing_rate_prices_reasoning_at_its_own_price(files: dict[str, Path],
                                                        tmp_path: Path) -> None:
    code, invoices = _rate(files, tmp_path)
    assert code == 0
    found = _by_customer(invoices)
    (acme_line,) = found["acme"]["lines"]
    assert (acme_line["description"], acme_line["rounded_amount"]) == ("tokens: m-think",
                                                                       "17.20")
    # The breakdown splits the output: the rest at 8.00 (7.20), reasoning at 10.00 (6.00).
    details = {d[0] if isinstance(d, list) else d["label"]: d[1] if isinstance(d, list)
               else d["amount"] for d in acme_line["details"]}
    assert {k: str(v) for k, v in details.items()} == {
        "input": "4.00", "output": "7.20", "reasoning": "6.00"}
    assert acme_line["source"] == f"{files['plans'] / 'think.yaml'}:7"
    assert found["acme"]["total"] == "17.20"
    assert found["beta"]["total"] == "2.00"


@pytest.mark.parametrize("engine", ENGINES)
def test_billing_compare_bills_reasoning_as_billing_rate_does(files: dict[str, Path],
                                                              tmp_path: Path, engine: str) -> None:
    out = tmp_path / "report.json"
    code = main(["compare", "--trace", str(files["events.csv"]), "--plans",
                 str(files["plans"]), "--costs", str(files["costs.yaml"]), "--json", str(out),
                 "--quiet", "--engine", engine])
    assert code == 0
    report = json.loads(out.read_text())
    (plan,) = report["plans"]
    # Revenue 17.20 + 2.00 = 19.20; cost 8.80 (reasoning costed as output); margin 10.40.
    assert (plan["revenue"], plan["cost"], plan["margin"]) == ("19.20", "8.80", "10.40")
    assert any("break-even prices not computed" in n and "think" in n
               for n in report["notes"])


def test_a_plan_pricing_reasoning_apart_refuses_a_trace_without_the_split(
        files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [line.rsplit(",", 1)[0] for line in EVENTS.splitlines()]
    files["events.csv"].write_text("\n".join(rows) + "\n", encoding="utf-8")
    code, invoices = _rate(files, tmp_path)
    assert code != 0 and invoices == []
    err = capsys.readouterr().err.strip().splitlines()
    # One line per customer rated, each naming the customer, plan, charge, model and the fix.
    assert [line.split(":")[:2] for line in err] == [["error", " acme"], ["error", " beta"]]
    for line in err:
        assert "plan 'think', charge 'tokens'" in line and "m-think" in line
        assert "--map reasoning_tokens=COLUMN" in line and "--absent reasoning_tokens" in line
    # The same through billing compare.
    code = main(["compare", "--trace", str(files["events.csv"]), "--plans",
                 str(files["plans"]), "--costs", str(files["costs.yaml"]), "--quiet"])
    assert code != 0
    err = capsys.readouterr().err.strip()
    assert "--absent reasoning_tokens" in err and "m-think" in err
    assert "Traceback" not in err


def test_absent_reasoning_bills_all_output_at_the_output_price(
        files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [line.rsplit(",", 1)[0] for line in EVENTS.splitlines()]
    files["events.csv"].write_text("\n".join(rows) + "\n", encoding="utf-8")
    code, invoices = _rate(files, tmp_path, "--absent", "reasoning_tokens")
    assert code == 0
    found = _by_customer(invoices)
    # acme: 2M x 2.00 + 1.5M x 8.00 = 4.00 + 12.00 = 16.00; beta: 0.2M x 8.00 = 1.60.
    assert (found["acme"]["total"], found["beta"]["total"]) == ("16.00", "1.60")
    assert "reasoning_tokens declared absent: no reasoning split" in capsys.readouterr().out


def test_a_plan_without_a_reasoning_price_bills_reasoning_as_output(files: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    # No `reasoning:` in the rate: nothing changes for existing plans, column or not.
    (files["plans"] / "think.yaml").write_text(PLAN.replace('        reasoning: "10.00"\n', ""),
                                               encoding="utf-8")
    code, invoices = _rate(files, tmp_path)
    assert code == 0
    found = _by_customer(invoices)
    assert (found["acme"]["total"], found["beta"]["total"]) == ("16.00", "1.60")
    (line,) = found["acme"]["lines"]
    assert not any("reasoning" in str(d) for d in line["details"])


def test_a_bad_reasoning_value_is_a_reject_with_file_and_line(files: dict[str, Path],
                                                              tmp_path: Path) -> None:
    text = EVENTS + ("e4,acme,2026-11-05T10:00:00Z,m-think,5,5,9\n"
                     "e5,acme,2026-11-05T10:00:00Z,m-think,5,5,-1\n"
                     "e6,acme,2026-11-05T10:00:00Z,m-think,5,5,\n"
                     "e7,acme,2026-11-05T10:00:00Z,m-think,5,5,99999999999999999999\n")
    files["events.csv"].write_text(text, encoding="utf-8")
    where = str(files["events.csv"])
    expected = [
        [where, "5", "reasoning_tokens (9) is more than output_tokens (5), which includes them"],
        [where, "6", "negative reasoning_tokens: -1"],
        [where, "7", "empty reasoning_tokens"],
        [where, "8", "reasoning_tokens is too large: 99999999999999999999"]]
    rejects = tmp_path / "rejects.csv"
    code, invoices = _rate(files, tmp_path, "--rejects", str(rejects))
    assert code == 0
    assert _by_customer(invoices)["acme"]["total"] == "17.20"  # the bad rows are not billed
    with rejects.open(newline="") as handle:
        assert [row[:3] for row in csv.reader(handle)][1:] == expected
    # The Python engine rejects the same rows with the same reasons.
    python = tmp_path / "rejects-python.csv"
    trace = aggregate_trace(TraceSpec(files["events.csv"]), engine="python", rejects_path=python)
    assert trace.stats.rejected == 4
    with python.open(newline="") as handle:
        assert [row[:3] for row in csv.reader(handle)][1:] == expected


@pytest.mark.parametrize("engine", ENGINES)
def test_the_engines_keep_the_same_reasoning_sums(files: dict[str, Path], engine: str) -> None:
    trace = aggregate_trace(TraceSpec(files["events.csv"]), engine=engine)
    # Days since 1970-01-01: 2026-11-02 is 20759, 2026-11-03 20760. e2 has no reasoning.
    assert trace.aggregates.reasoning_rows() == {
        ("acme", "m-think", 0, 20759): 600_000, ("beta", "m-think", 0, 20760): 200_000}
    # The daily rows are unchanged: output includes reasoning.
    assert {(k.customer_id, k.day): c.output for k, c in trace.aggregates.daily.items()} == {
        ("acme", 20759): 1_000_000, ("acme", 20760): 500_000, ("beta", 20760): 200_000}


@pytest.mark.parametrize("engine", ENGINES)
def test_reasoning_known_or_unknown_on_every_engine(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("id,customer_id,timestamp,model,input_tokens,output_tokens\n"
                    "1,a,2026-11-02T10:00:00Z,m-think,10,5\n", encoding="utf-8")
    assert aggregate_trace(TraceSpec(path), engine=engine).aggregates.reasoning is None
    absent = aggregate_trace(TraceSpec(path, absent=("reasoning_tokens",)), engine=engine)
    assert absent.aggregates.reasoning_rows() == {}


def test_a_column_that_looks_like_reasoning_must_be_mapped_or_declared_absent(
        tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,customer_id,timestamp,model,input_tokens,output_tokens,thoughts\n"
                    "1,a,2026-11-02T10:00:00Z,m-think,10,5,3\n", encoding="utf-8")
    with pytest.raises(BillingError, match=r"--map reasoning_tokens=thoughts"):
        aggregate_trace(TraceSpec(path))
    mapped = aggregate_trace(TraceSpec(path, columns={"reasoning_tokens": "thoughts"}))
    assert mapped.aggregates.reasoning_rows() == {("a", "m-think", 0, 20759): 3}


def test_the_library_rates_provider_events_with_reasoning(files: dict[str, Path]) -> None:
    when = datetime(2026, 11, 2, 10, tzinfo=UTC)
    # OpenAI's reasoning guide shows a Chat Completions usage of this shape: completion_tokens
    # (1186) include completion_tokens_details.reasoning_tokens (1024).
    chat = {"model": "m-think", "usage": {
        "prompt_tokens": 75, "completion_tokens": 1186, "total_tokens": 1261,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 1024}}}
    e1 = billing.from_openai(chat, id="r1", customer_id="acme", timestamp=when)
    assert (e1.input_tokens, e1.output_tokens, e1.reasoning_tokens) == (75, 1186, 1024)
    # The Responses API: output_tokens include output_tokens_details.reasoning_tokens.
    responses = {"model": "m-think", "usage": {
        "input_tokens": 75, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 1186, "output_tokens_details": {"reasoning_tokens": 1024},
        "total_tokens": 1261}}
    e2 = billing.from_openai(responses, id="r2", customer_id="acme", timestamp=when)
    assert (e2.output_tokens, e2.reasoning_tokens) == (1186, 1024)
    # Gemini reports thoughts apart from the candidates: output = 20 + 30, reasoning 30.
    gemini = {"modelVersion": "m-think", "usageMetadata": {
        "promptTokenCount": 10, "candidatesTokenCount": 20, "thoughtsTokenCount": 30,
        "totalTokenCount": 60}}
    e3 = billing.from_gemini(gemini, id="g1", customer_id="acme", timestamp=when)
    assert (e3.input_tokens, e3.output_tokens, e3.reasoning_tokens) == (10, 50, 30)
    # Anthropic reports no split: extended thinking is output, reasoning 0.
    message = {"model": "m-think", "usage": {"input_tokens": 10, "output_tokens": 40}}
    e4 = billing.from_anthropic(message, id="a1", customer_id="acme", timestamp=when)
    assert (e4.output_tokens, e4.reasoning_tokens) == (40, 0)

    aggregates, _ = aggregate_events([e1, e2, e3, e4], reasoning=True)
    rater = Rater(load_catalog([files["plans"]]).versions("think")[-1],
                  costbook=CostBook.load(files["costs.yaml"]))
    usage = split_by_customer(aggregates)["acme"]
    sub = Subscription(customer_id="acme", plan="think", start=date(2026, 11, 1))
    invoice = rater.rate(sub, Period(date(2026, 11, 1), date(2026, 12, 1)), usage).invoice
    # input 75 + 75 + 10 + 10 = 170 x 2.00 / 1M = 0.00034
    # output 1186 + 1186 + 50 + 40 = 2462 of which reasoning 1024 + 1024 + 30 = 2078:
    #   the rest 384 x 8.00 / 1M = 0.003072; reasoning 2078 x 10.00 / 1M = 0.02078
    # line = 0.00034 + 0.003072 + 0.02078 = 0.024192 -> 0.02
    (line,) = invoice.lines
    assert str(line.amount.normalize()) == "0.024192"
    assert str(line.rounded_amount) == "0.02"
    # Aggregated without the split (the default), the plan refuses instead of guessing.
    unknown, _ = aggregate_events([e1])
    with pytest.raises(RatingError, match=r"no reasoning split.*reasoning=True"):
        rater.rate(sub, Period(date(2026, 11, 1), date(2026, 12, 1)),
                   split_by_customer(unknown)["acme"])


def test_an_event_cannot_reason_more_than_it_outputs() -> None:
    with pytest.raises(UsageError, match=r"reasoning_tokens \(6\) is more than output_tokens"):
        UsageEvent("e", "c", datetime(2026, 11, 2, tzinfo=UTC), "m", output_tokens=5,
                   reasoning_tokens=6)


def test_plan_check_refuses_a_reasoning_price_paid_with_credits(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PLAN.split("charges:")[0] + """charges:
  - kind: credits
    name: credits
    unit: credit
    unit_value: "0.01"
    grants: [{name: g, amount: 1000, every: month, expires: end_of_period, priority: 1}]
  - kind: rate_card
    name: t
    paid_with: credits
    rates: [{models: ["*"], input: "1", output: "1", reasoning: "2"}]
""", encoding="utf-8")
    assert main(["plan", "check", str(path)]) != 0
    out = capsys.readouterr()
    assert "paid with credits" in out.out + out.err
    assert str(path) in out.out + out.err


def test_the_ledger_refuses_a_plan_pricing_reasoning_apart(files: dict[str, Path],
                                                           tmp_path: Path) -> None:
    from billing.errors import LedgerError
    from billing.ledger import Ledger

    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    with pytest.raises(LedgerError, match="does not store reasoning tokens"):
        ledger.set_catalog(load_catalog([files["plans"]]))


@pytest.mark.parametrize("engine", ENGINES)
def test_usage_format_files_read_the_providers_reasoning(tmp_path: Path, engine: str) -> None:
    def write(name: str, *lines: dict) -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        return path

    at = {"user": "a", "ts": "2026-11-02T10:00:00Z", "model": "m-think"}
    openai = write("openai.jsonl",
                   {"id": "r1", **at, "usage": {"prompt_tokens": 75, "completion_tokens": 1186,
                    "completion_tokens_details": {"reasoning_tokens": 1024}}},
                   {"id": "r2", **at, "usage": {"input_tokens": 75, "output_tokens": 100,
                    "output_tokens_details": {"reasoning_tokens": 60}}},
                   {"id": "r3", **at, "usage": {"prompt_tokens": 5, "completion_tokens": 10}},
                   {"id": "r4", **at, "usage": {"prompt_tokens": 5, "completion_tokens": 10,
                    "completion_tokens_details": {"reasoning_tokens": 11}}})
    gemini = write("gemini.jsonl", {"id": "g1", **at, "usageMetadata": {
        "promptTokenCount": 10, "candidatesTokenCount": 20, "thoughtsTokenCount": 30}})
    anthropic = write("anthropic.jsonl", {"id": "a1", **at, "usage": {
        "input_tokens": 10, "output_tokens": 20}})
    mapped = {"customer_id": "user", "timestamp": "ts"}
    rejects = tmp_path / "rejects.csv"

    def read(path: Path, fmt: str) -> dict[tuple[str, str, int, int], int] | None:
        return aggregate_trace(TraceSpec(path, columns=mapped, usage_format=fmt),  # type: ignore[arg-type]
                               engine=engine, rejects_path=rejects).aggregates.reasoning_rows()

    # OpenAI: 1024 + 60 + 0 (no details) = 1084; r4 (11 reasoning of 10 output) is a reject.
    assert read(openai, "openai") == {("a", "m-think", 0, 20759): 1084}
    with rejects.open(newline="") as handle:
        assert [row[1:3] for row in csv.reader(handle)][1:] == [
            ["4", "reasoning_tokens (11) is more than output_tokens (10), which includes them"]]
    assert read(gemini, "gemini") == {("a", "m-think", 0, 20759): 30}  # the thoughts
    assert read(anthropic, "anthropic") == {}  # known: Anthropic reports no split


def test_a_usage_charge_counts_reasoning_as_output(files: dict[str, Path],
                                                   tmp_path: Path) -> None:
    # Graduated tiers on output tokens: the first 1M at 1.00 per 1M, above at 0.50.
    # acme's output 1M + 0.5M = 1.5M counts its 0.6M reasoning: 1 x 1.00 + 0.5 x 0.50 = 1.25
    # (0.9M without the reasoning would be 0.90).
    (files["plans"] / "think.yaml").write_text(PLAN.split("charges:")[0] + """charges:
  - kind: usage
    name: output
    meter: {tokens: [output]}
    tiers:
      mode: graduated
      per: 1000000
      tiers:
        - {up_to: 1, unit_price: "1.00"}
        - {up_to: null, unit_price: "0.50"}
""", encoding="utf-8")
    code, invoices = _rate(files, tmp_path)
    assert code == 0
    assert _by_customer(invoices)["acme"]["total"] == "1.25"


def test_reasoning_priced_apart_with_service_tier_usage_is_refused(
        files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The tier rows carry no reasoning split: which tier's output was reasoning is unknown.
    lines = EVENTS.splitlines()
    text = "\n".join([lines[0] + ",service_tier"] + [line + ",standard" for line in lines[1:]]
                     + ["e9,acme,2026-11-04T10:00:00Z,m-think,10,10,5,batch"]) + "\n"
    files["events.csv"].write_text(text, encoding="utf-8")
    code, _ = _rate(files, tmp_path)
    assert code != 0
    err = capsys.readouterr().err
    assert "service tier 'batch'" in err and "reasoning per service tier is not supported" in err


@pytest.mark.parametrize("hourly", [False, True])
def test_spark_keeps_the_same_reasoning_sums_as_duckdb(files: dict[str, Path],
                                                       hourly: bool) -> None:
    found = {}
    for engine in ("duckdb", "spark"):
        trace = aggregate_trace(TraceSpec(files["events.csv"]), hourly=hourly, engine=engine)
        found[engine] = (trace.aggregates.daily, trace.aggregates.reasoning_rows())
    assert found["spark"] == found["duckdb"]
    # The hand numbers of test_the_engines_keep_the_same_reasoning_sums.
    assert found["spark"][1] == {
        ("acme", "m-think", 0, 20759): 600_000, ("beta", "m-think", 0, 20760): 200_000}


def test_plan_check_shows_a_reasoning_price(files: dict[str, Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "check", str(files["plans"] / "think.yaml")]) == 0
    shown = " ".join(capsys.readouterr().out.replace("│", " ").split())  # (the table wraps)
    assert "some rates price reasoning tokens apart from output" in shown
