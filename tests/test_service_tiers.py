"""Service tiers (issue 16 item 2): events carry a tier, the cost book prices each tier, rate
cards may price them, through the CLI (`billing rate`, `billing compare`) and the library.

Every expected figure is worked out by hand in the comments. The cost file prices two made-up
models, so that no bundled price moves the numbers:

    m-open (provider openai):    input 1.00, output 4.00 per 1M tokens
    m-lab  (provider anthropic): input 3.00, output 15.00 per 1M tokens
    tier multipliers: openai batch 0.5 (built in), openai priority 1.5 (cost file),
                      anthropic batch 0.5 (built in)

The plan's rate card lists m-open at input 2.00 / output 8.00 with batch at "50%" (card-wide)
and priority at 1.25 (the rate's own), and prices other models at cost plus 20%.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import billing
from billing.cli import main
from billing.costs import CostBook
from billing.errors import ProviderUsageError, TraceError
from billing.periods import Period
from billing.plans import load_catalog
from billing.rating.rater import Rater
from billing.subscriptions import Subscription
from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.customer import split_by_customer
from billing.usage.mapping import TraceSpec

ENGINES = ("duckdb", "python")

EVENTS = """\
id,customer_id,timestamp,model,input_tokens,output_tokens,service_tier
e1,acme,2026-11-02T10:00:00Z,m-open,1000000,100000,standard
e2,acme,2026-11-02T11:00:00Z,m-open,2000000,200000,batch
e3,acme,2026-11-03T11:00:00Z,m-open,1000000,0,priority
e4,acme,2026-11-04T11:00:00Z,m-lab,1000000,1000000,batch
"""

COSTS = """\
currency: USD
models:
  - {model: "m-open", provider: openai, effective_from: 2026-01-01,
     input_per_mtok: "1.00", output_per_mtok: "4.00"}
  - {model: "m-lab", provider: anthropic, effective_from: 2026-01-01,
     input_per_mtok: "3.00", output_per_mtok: "15.00"}
service_tiers:
  openai: {priority: "1.5"}
"""

PLAN = """\
id: card
name: Card
version: 2026-11-01
currency: USD
interval: month
charges:
  - kind: rate_card
    name: tokens
    service_tiers: {batch: "50%"}
    rates:
      - models: ["m-open"]
        input: "2.00"
        output: "8.00"
        service_tiers: {priority: 1.25}
    fallback: {cost_plus: {markup: "20%"}}
"""

SUBS = """\
subscriptions:
  - {customer_id: acme, plan: card, start: 2026-11-01}
"""

# Revenue, line by line:
#   m-open standard: 1M x 2.00 + 0.1M x 8.00                 = 2.00 + 0.80 = 2.80
#   m-open batch:    (2M x 2.00 + 0.2M x 8.00) x 0.5         = 5.60 x 0.5  = 2.80
#   m-open priority: 1M x 2.00 x 1.25                                      = 2.50
#   m-lab batch, cost plus 20% of its batch supplier cost:
#                    (1M x 3.00 + 1M x 15.00) x 0.5 x 1.2    = 9.00 x 1.2  = 10.80
#   total                                                                  = 18.90
# Supplier cost:
#   m-open standard 1M x 1 + 0.1M x 4 = 1.40; batch (2 + 0.8) x 0.5 = 1.40;
#   priority 1M x 1 x 1.5 = 1.50; m-lab batch 18 x 0.5 = 9.00; total 13.30; margin 5.60.
LINES = {
    "tokens: m-lab (batch tier, at its supplier cost plus the markup)": "10.80",
    "tokens: m-open": "2.80",
    "tokens: m-open (batch tier, 0.5 x list price)": "2.80",
    "tokens: m-open (priority tier, 1.25 x list price)": "2.50",
}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in (("events.csv", EVENTS), ("costs.yaml", COSTS), ("subs.yaml", SUBS)):
        out[name] = tmp_path / name
        out[name].write_text(text, encoding="utf-8")
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "card.yaml").write_text(PLAN, encoding="utf-8")
    out["plans"] = plans
    return out


def _rate(files: dict[str, Path], tmp_path: Path, *extra: str) -> tuple[int, list[dict]]:
    out = tmp_path / "invoices.json"
    code = main(["rate", "--events", str(files["events.csv"]), "--period", "2026-11",
                 "--subscriptions", str(files["subs.yaml"]), "--plans", str(files["plans"]),
                 "--costs", str(files["costs.yaml"]), "--out", str(out), *extra])
    return code, json.loads(out.read_text()) if out.exists() else []


def test_billing_rate_bills_each_tier_on_its_own_line(files: dict[str, Path],
                                                      tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    code, invoices = _rate(files, tmp_path)
    assert code == 0
    (invoice,) = invoices
    lines = {line["description"]: line["rounded_amount"] for line in invoice["lines"]}
    assert lines == LINES
    assert invoice["total"] == "18.90"
    # Each line carries the plan file and line of its charge, like every other line.
    assert {line["source"] for line in invoice["lines"]} == {
        f"{files['plans'] / 'card.yaml'}:7"}
    # m-open's standard line counts its standard tokens only: 1M + 0.1M = 1.1M.
    standard = next(ln for ln in invoice["lines"] if ln["description"] == "tokens: m-open")
    assert Decimal(standard["quantity"]) == Decimal("1.1")
    assert "service tiers (events): batch 2, priority 1" in capsys.readouterr().out


def test_billing_compare_costs_each_tier_at_its_supplier_price(files: dict[str, Path],
                                                               tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    code = main(["compare", "--trace", str(files["events.csv"]), "--plans",
                 str(files["plans"]), "--costs", str(files["costs.yaml"]), "--json", str(out),
                 "--quiet"])
    assert code == 0
    report = json.loads(out.read_text())
    (plan,) = report["plans"]
    # The same revenue as the invoice (18.90); cost 13.30 (module docstring).
    assert (plan["revenue"], plan["cost"], plan["margin"]) == ("18.90", "13.30", "5.60")
    assert any("break-even prices not computed" in n for n in report["notes"])


def test_compare_refuses_what_ifs_that_do_not_model_tiers(files: dict[str, Path],
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    code = main(["compare", "--trace", str(files["events.csv"]), "--plans",
                 str(files["plans"]), "--costs", str(files["costs.yaml"]),
                 "--supplier-price-change", "m-open=0.1", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--supplier-price-change cannot model usage of service tiers" in err
    assert len(err.strip().splitlines()) == 1


def test_without_the_column_every_event_is_standard(files: dict[str, Path],
                                                    tmp_path: Path) -> None:
    # The same events without the service_tier column: every token at the card's own prices.
    #   m-open: (1 + 2 + 1)M x 2.00 + (0.1 + 0.2)M x 8.00 = 8.00 + 2.40 = 10.40
    #   m-lab: standard supplier cost 3 + 15 = 18.00, x 1.2 = 21.60; total 32.00
    rows = [line.rsplit(",", 1)[0] for line in EVENTS.splitlines()]
    files["events.csv"].write_text("\n".join(rows) + "\n", encoding="utf-8")
    code, (invoice,) = _rate(files, tmp_path)
    assert code == 0
    assert {ln["description"]: ln["rounded_amount"] for ln in invoice["lines"]} == {
        "tokens: m-lab": "21.60", "tokens: m-open": "10.40"}


def test_a_bad_tier_is_a_reject_with_file_and_line(files: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    text = EVENTS + "e5,acme,2026-11-05T10:00:00Z,m-open,5,5,turbo\n" \
                    "e6,acme,2026-11-05T10:00:00Z,m-open,5,5,\n"
    files["events.csv"].write_text(text, encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    code, (invoice,) = _rate(files, tmp_path, "--rejects", str(rejects), "--strict")
    assert code == 1  # --strict: rejected rows fail the run
    assert invoice["total"] == "18.90"  # the bad rows are not billed
    with rejects.open(newline="") as handle:
        written = [row[:3] for row in csv.reader(handle)][1:]
    assert written == [
        [str(files["events.csv"]), "6",
         "unknown service_tier 'turbo' (service tiers: standard, batch, flex, priority)"],
        [str(files["events.csv"]), "7", "empty service_tier"]]
    assert "2 rejected row" in capsys.readouterr().err


@pytest.mark.parametrize("engine", ENGINES)
def test_the_library_aggregates_and_rates_tiers_alike_on_every_engine(
        files: dict[str, Path], engine: str) -> None:
    book = CostBook.load(files["costs.yaml"])
    trace = aggregate_trace(TraceSpec(files["events.csv"]), thresholds=book.thresholds(),
                            engine=engine, time_of_day=book.time_of_day_edges)
    aggregates = trace.aggregates
    # Daily rows sum every tier; the tier rows are the non-standard share of them.
    assert {(c, m, d, t): (n.input, n.output) for (c, m, _, d, t), n in
            aggregates.tier_rows().items()} == {
        ("acme", "m-open", 20759, "batch"): (2_000_000, 200_000),
        ("acme", "m-open", 20760, "priority"): (1_000_000, 0),
        ("acme", "m-lab", 20761, "batch"): (1_000_000, 1_000_000)}
    assert trace.stats.service_tiers == (("batch", 2), ("priority", 1))
    catalog = load_catalog([files["plans"]])
    rater = Rater(catalog.versions("card")[-1], costbook=book)
    usage = split_by_customer(aggregates)["acme"]
    invoice = rater.rate(Subscription(customer_id="acme", plan="card", start=date(2026, 11, 1)),
                         Period(date(2026, 11, 1), date(2026, 12, 1)), usage).invoice
    assert {ln.description: str(ln.rounded_amount) for ln in invoice.lines} == LINES
    # The cost book prices a tier directly too: 2M input + 0.2M output of m-open in batch,
    # (2 x 1.00 + 0.2 x 4.00) x 0.5 = 1.40.
    # (2M tokens per request are above the bundled models' long-context thresholds: a band
    # above 0, which m-open, without long-context prices, prices alike)
    ((band, batch),) = [(k[2], c) for k, c in aggregates.tier_rows().items()
                        if k[1] == "m-open" and k[4] == "batch"]
    assert book.cost("m-open", batch, band, date(2026, 11, 2), "batch").amount == Decimal("1.4")


def test_a_usage_charge_counts_every_tier_toward_the_same_volume_tiers(
        files: dict[str, Path], tmp_path: Path) -> None:
    # Graduated tiers on input tokens: the first 3M at 1.00 per 1M, above at 0.50. The input of
    # every tier counts: 1 + 2 + 1 + 1 = 5M -> 3 x 1.00 + 2 x 0.50 = 4.00 (not 4M standard
    # only, nor tier by tier).
    (files["plans"] / "card.yaml").write_text(PLAN.split("charges:")[0] + """charges:
  - kind: usage
    name: input
    meter: {tokens: [input]}
    tiers:
      mode: graduated
      per: 1000000
      tiers:
        - {up_to: 3, unit_price: "1.00"}
        - {up_to: null, unit_price: "0.50"}
""", encoding="utf-8")
    code, (invoice,) = _rate(files, tmp_path)
    assert code == 0
    assert invoice["total"] == "4.00"


@pytest.mark.parametrize(("card", "message"), [
    ('cost_plus: {markup: "20%"}\n    service_tiers: {batch: "0.5"}',
     "cost-plus card already bills each service tier"),
    ('service_tiers: {standard: "0.5"}\n    rates: [{models: ["*"], input: "1", output: "1"}]',
     "service_tiers.standard"),
    ('service_tiers: {batch: "-0.5"}\n    rates: [{models: ["*"], input: "1", output: "1"}]',
     "must be 0 or more"),
])
def test_plan_check_refuses_tier_prices_it_cannot_bill(tmp_path: Path, card: str, message: str,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PLAN.split("charges:")[0] + "charges:\n  - kind: rate_card\n    name: t\n"
                    f"    {card}\n", encoding="utf-8")
    assert main(["plan", "check", str(path)]) != 0
    out = capsys.readouterr()
    assert message in out.out + out.err
    assert str(path) in out.out + out.err


def test_a_column_that_looks_like_a_tier_must_be_mapped_or_declared_absent(
        tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,customer_id,timestamp,model,input_tokens,output_tokens,tier\n"
                    "1,a,2026-11-02T10:00:00Z,m-open,10,1,flex\n", encoding="utf-8")
    with pytest.raises(TraceError, match=r"--map service_tier=tier"):
        aggregate_trace(TraceSpec(path))
    mapped = aggregate_trace(TraceSpec(path, columns={"service_tier": "tier"}))
    assert mapped.stats.service_tiers == (("flex", 1),)
    absent = aggregate_trace(TraceSpec(path, absent=("service_tier",)))
    assert absent.aggregates.tiers is None
    assert "service_tier declared absent: every event is standard" in \
        absent.stats.input_notes()


WHEN = datetime(2026, 11, 12, 10, 0, tzinfo=UTC)


def test_providers_report_their_tiers() -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 10}
    openai = {"model": "gpt-4o", "service_tier": "default", "usage": usage}
    assert billing.from_openai(openai, id="r", customer_id="c",
                               timestamp=WHEN).service_tier == "standard"
    flex = billing.from_openai({**openai, "service_tier": "flex"}, id="r", customer_id="c",
                               timestamp=WHEN)
    assert flex.service_tier == "flex"
    # Batch API results say "default": the caller says batch.
    assert billing.from_openai(openai, id="r", customer_id="c", timestamp=WHEN,
                               service_tier="batch").service_tier == "batch"
    with pytest.raises(ProviderUsageError, match="Scale Tier"):
        billing.from_openai({**openai, "service_tier": "scale"}, id="r", customer_id="c",
                            timestamp=WHEN)
    with pytest.raises(ProviderUsageError, match="response says"):
        billing.from_openai({**openai, "service_tier": "flex"}, id="r", customer_id="c",
                            timestamp=WHEN, service_tier="priority")
    message = {"model": "claude-sonnet-4-5",
               "usage": {"input_tokens": 100, "output_tokens": 10, "service_tier": "batch"}}
    assert billing.from_anthropic(message, id="m", customer_id="c",
                                  timestamp=WHEN).service_tier == "batch"
    gemini = {"modelVersion": "gemini-2.5-flash", "usageMetadata": {"promptTokenCount": 10}}
    assert billing.from_gemini(gemini, id="g", customer_id="c", timestamp=WHEN,
                               service_tier="flex").service_tier == "flex"
    with pytest.raises(ProviderUsageError, match="unknown service_tier 'cheap'"):
        billing.from_gemini(gemini, id="g", customer_id="c", timestamp=WHEN,
                            service_tier="cheap")


@pytest.mark.parametrize("engine", ENGINES)
def test_usage_format_files_read_the_providers_tiers(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "anthropic.jsonl"
    path.write_text(
        '{"id": "m1", "user": "a", "ts": "2026-11-02T10:00:00Z", "model": "claude-x", '
        '"usage": {"input_tokens": 100, "output_tokens": 10, "service_tier": "batch"}}\n'
        '{"id": "m2", "user": "a", "ts": "2026-11-02T10:00:00Z", "model": "claude-x", '
        '"usage": {"input_tokens": 7, "output_tokens": 1}}\n', encoding="utf-8")
    trace = aggregate_trace(TraceSpec(path, columns={"customer_id": "user", "timestamp": "ts"},
                                      usage_format="anthropic"), engine=engine)
    # m1 is batch (usage.service_tier); m2 has no tier: standard.
    assert {k[4]: (c.input, c.output) for k, c in trace.aggregates.tier_rows().items()} == {
        "batch": (100, 10)}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_time_of_day_model_is_costed_per_window_and_tier(tmp_path: Path, engine: str) -> None:
    # deepseek-chat (bundled prices): input 0.27 per 1M from 00:30 to 16:30 UTC, 0.135 from
    # 16:30 to 00:30; batch at 0.5 from the cost file's service_tiers.
    #   e1 10:00 batch    20M x 0.27  x 0.5 = 2.70
    #   e2 17:00 batch    20M x 0.135 x 0.5 = 1.35
    #   e3 17:00 standard 20M x 0.135       = 2.70      supplier cost 6.75
    events = tmp_path / "events.csv"
    events.write_text(
        "id,customer_id,timestamp,model,input_tokens,output_tokens,service_tier\n"
        "e1,acme,2025-03-03T10:00:00Z,deepseek-chat,20000000,0,batch\n"
        "e2,acme,2025-03-03T17:00:00Z,deepseek-chat,20000000,0,batch\n"
        "e3,acme,2025-03-03T17:00:00Z,deepseek-chat,20000000,0,standard\n", encoding="utf-8")
    costs = tmp_path / "costs.yaml"
    costs.write_text("currency: USD\nmodels: []\nservice_tiers:\n  deepseek: {batch: \"0.5\"}\n",
                     encoding="utf-8")
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "p.yaml").write_text(PLAN.split("charges:")[0].replace("2026-11-01", "2025-01-01")
                                  + "charges:\n  - kind: rate_card\n    name: t\n    rates: "
                                  '[{models: ["*"], input: "1", output: "1"}]\n',
                                  encoding="utf-8")
    out = tmp_path / "report.json"
    assert main(["compare", "--trace", str(events), "--plans", str(plans), "--costs",
                 str(costs), "--engine", engine, "--json", str(out), "--quiet"]) == 0
    (plan,) = json.loads(out.read_text())["plans"]
    # revenue: 60M input tokens x 1.00 per 1M = 60.00 (the card prices no tier apart)
    assert (plan["cost"], plan["revenue"]) == ("6.75", "60.00")


def test_spark_groups_by_tier_as_duckdb_does(files: dict[str, Path]) -> None:
    book = CostBook.load(files["costs.yaml"])
    found = {}
    for engine in ("duckdb", "spark"):
        trace = aggregate_trace(TraceSpec(files["events.csv"]), thresholds=book.thresholds(),
                                hourly=True, engine=engine, time_of_day=book.time_of_day_edges)
        found[engine] = (trace.aggregates.daily, trace.aggregates.tier_rows(),
                         trace.stats.service_tiers)
    assert found["spark"] == found["duckdb"]
    assert found["spark"][2] == (("batch", 2), ("priority", 1))


def test_compare_rates_a_batch_of_customers_as_billing_rate_rates_each(
        files: dict[str, Path], tmp_path: Path) -> None:
    from billing.compare import CompareOptions, compare

    # Three customers: acme as above; beta with batch usage only (one line, its batch line);
    # gamma with standard usage only (no tier line at all).
    #   beta:  m-open batch 1M input x 2.00 x 0.5 = 1.00; cost 1M x 1.00 x 0.5 = 0.50
    #   gamma: m-open 1M output x 8.00 = 8.00;              cost 1M x 4.00       = 4.00
    files["events.csv"].write_text(
        EVENTS + "b1,beta,2026-11-02T10:00:00Z,m-open,1000000,0,batch\n"
                 "g1,gamma,2026-11-03T10:00:00Z,m-open,0,1000000,standard\n", encoding="utf-8")
    files["subs.yaml"].write_text(SUBS + "  - {customer_id: beta, plan: card, start: 2026-11-01}\n"
                                  "  - {customer_id: gamma, plan: card, start: 2026-11-01}\n",
                                  encoding="utf-8")
    code, invoices = _rate(files, tmp_path)
    assert code == 0
    billed = {inv["customer_id"]: inv["total"] for inv in invoices}
    assert billed == {"acme": "18.90", "beta": "1.00", "gamma": "8.00"}
    lines = {inv["customer_id"]: [ln["description"] for ln in inv["lines"]] for inv in invoices}
    assert lines["beta"] == ["tokens: m-open (batch tier, 0.5 x list price)"]
    assert lines["gamma"] == ["tokens: m-open"]
    report = compare(load_catalog([files["plans"]]), TraceSpec(files["events.csv"]),
                     costbook=CostBook.load(files["costs.yaml"]),
                     options=CompareOptions(workers=1))
    (plan,) = report.plans
    rows = {row.customer_id: (str(row.revenue), row.cost) for row in plan.customers}
    assert {c: r for c, (r, _) in rows.items()} == billed
    assert {c: cost for c, (_, cost) in rows.items()} == {
        "acme": Decimal("13.30"), "beta": Decimal("0.50"), "gamma": Decimal("4.00")}
