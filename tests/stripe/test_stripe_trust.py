"""Pushes that can be trusted: every line of a three-decimal currency can be pushed, keys are ASCII
for any customer id, a new customer costs a bounded number of requests whatever the account's
size, two pushes on one state file never run at once, and a dry run checks Stripe's limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from billing.cli import main
from billing.cli import push as push_cli
from billing.invoice import Invoice
from billing.sinks.stripe import idempotency_key, plan_invoice
from billing.sinks.stripe_testing import FakeStripe, serve
from tests.stripe.helpers import TEST_KEY, SinkFactory, build_invoice

ROOT = Path(__file__).parents[2]


def _write(path: Path, invoices: list[Invoice]) -> Path:
    path.write_text(json.dumps([json.loads(inv.to_json()) for inv in invoices]), encoding="utf-8")
    return path


@pytest.fixture
def cli_fake(monkeypatch: pytest.MonkeyPatch) -> FakeStripe:
    fake = FakeStripe()
    monkeypatch.setattr(push_cli, "HTTP_CLIENT_FACTORY", lambda: fake)
    monkeypatch.setenv("STRIPE_API_KEY", TEST_KEY)
    return fake


# --- three-decimal currencies: rated to the nearest 0.010, so every line can be pushed -----------

_KWD_PLAN = """\
id: kw
name: Kuwait
version: 2026-11-01
currency: KWD
interval: month
charges:
  - kind: flat
    name: Platform fee
    price: "10.125"
  - kind: rate_card
    name: Model usage
    rates:
      - models: ["*"]
        input: "1.234"
        output: "4.567"
"""

_KWD_SUBS = """\
subscriptions:
  - customer_id: kuwait-1
    plan: kw
    start: 2026-11-01
"""

_KWD_EVENTS = """\
id,customer_id,timestamp,model,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens
e1,kuwait-1,2026-11-02T09:00:00Z,claude-sonnet-4-5,1000000,0,0,3000000
"""
# Hand arithmetic (half up, once per line, to 0.010 KWD: Stripe wants the last of 3 decimals 0):
#   fee:   10.125                                      -> 10.130 (10.13)  -> 10130 fils
#   usage: 1,000,000 x 1.234 / 1e6 + 3,000,000 x 4.567 / 1e6
#        = 1.234 + 13.701 = 14.935                     -> 14.940 (14.94)  -> 14940 fils
#   total 10.130 + 14.940 = 25.070                                        -> 25070 fils


def test_a_kwd_plan_rates_lines_stripe_accepts_and_pushes_them(
        tmp_path: Path, cli_fake: FakeStripe, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "kw.yaml").write_text(_KWD_PLAN, encoding="utf-8")
    (tmp_path / "subs.yaml").write_text(_KWD_SUBS, encoding="utf-8")
    (tmp_path / "events.csv").write_text(_KWD_EVENTS, encoding="utf-8")
    out = tmp_path / "invoices.json"
    assert main(["rate", "--plans", str(tmp_path / "plans"), "--subscriptions",
                 str(tmp_path / "subs.yaml"), "--events", str(tmp_path / "events.csv"),
                 "--period", "2026-11", "--out", str(out)]) == 0
    [invoice] = json.loads(out.read_text(encoding="utf-8"))
    assert [ln["rounded_amount"] for ln in invoice["lines"]] == ["10.130", "14.940"]
    assert invoice["total"] == "25.070"

    assert main(["push", str(out), "--state", str(tmp_path / "s.sqlite")]) == 0

    [pushed] = cli_fake.invoices()
    assert sorted(i["amount"] for i in cli_fake.items_of(pushed["id"])) == [10130, 14940]
    assert pushed["total"] == 25070


def test_a_kwd_amount_stripe_refuses_says_why_without_a_plan_setting() -> None:
    from billing.errors import StripeSyncError
    from billing.sinks.stripe import to_stripe_amount

    with pytest.raises(StripeSyncError) as caught:
        to_stripe_amount(__import__("decimal").Decimal("5.124"), "KWD")
    message = str(caught.value)
    assert "nearest 0.010" in message and "in the plan" not in message


# --- idempotency keys are ASCII for any customer id ----------------------------------------------


def test_a_customer_id_outside_latin1_can_be_pushed(
        fake: FakeStripe, make_sink: SinkFactory) -> None:
    invoice = build_invoice("客户-1", "USD", [("flat", "Pro", "49.00")])
    result = make_sink().push(invoice)
    assert result.status == "pushed", result.message
    [customer] = fake.customers()
    assert customer["metadata"] == {"billing_customer_id": "客户-1"}  # the id itself, in metadata
    keys = [r.idempotency_key for r in fake.requests if r.idempotency_key]
    assert keys and all(k.isascii() and len(k) <= 255 for k in keys)


@pytest.mark.parametrize("customer", ["客户-1", "x" * 400, "a/b c%d", "Zoë"])
def test_keys_are_ascii_short_deterministic_and_distinct(customer: str) -> None:
    a = build_invoice(customer, "USD", [("flat", "Pro", "1.00")])
    b = build_invoice(customer + "2", "USD", [("flat", "Pro", "1.00")])
    key_a = plan_invoice(a).items[0].idempotency_key
    assert key_a == plan_invoice(a).items[0].idempotency_key  # same invoice, same key
    assert key_a.isascii() and len(key_a) <= 255
    from billing.sinks.stripe import customer_idempotency_key

    for cid in (customer, customer + "2"):
        key = customer_idempotency_key(cid)
        assert key.isascii() and len(key) <= 255 and key == customer_idempotency_key(cid)
    assert customer_idempotency_key(customer) != customer_idempotency_key(customer + "2")
    assert key_a != plan_invoice(b).items[0].idempotency_key
    assert idempotency_key("in_x", "L001") == "token-billing/v1/in_x/L001"  # ASCII ids unchanged


# --- a new customer costs a bounded number of requests -------------------------------------------


def test_new_customers_cost_at_most_3_requests_with_10000_existing(
        fake: FakeStripe, make_sink: SinkFactory) -> None:
    fake.add_customers(10_000)  # other customers of the account, created in the Dashboard
    sink = make_sink()
    for n in range(5):
        before = len(fake.requests)
        sink.ensure_customer(f"new-{n}")
        # one search, one create (with its idempotency key): 2, within the bound of 3 (a third,
        # a retrieve, when the state file remembers a customer since deleted in Stripe)
        assert [r.path for r in fake.requests[before:]] == ["/v1/customers/search",
                                                              "/v1/customers"]
    assert len(fake.customers()) == 10_005


def test_an_existing_customer_is_found_not_created_again(
        fake: FakeStripe, make_sink: SinkFactory, tmp_path: Path) -> None:
    fake.add_customers(2_000)
    first = make_sink().ensure_customer("acme")
    fake.expire_idempotency_keys()  # more than 24 hours later, and the state file is lost
    before = len(fake.requests)
    again = make_sink(state=tmp_path / "other.sqlite").ensure_customer("acme")
    assert again == first
    assert len(fake.requests) - before <= 3
    assert len(fake.customers()) == 2_001


@pytest.mark.parametrize("customer", ["o'brien", "back\\slash", "客户-1", "x' OR created>0 OR 'y"])
def test_ids_with_quotes_are_searched_exactly(
        fake: FakeStripe, make_sink: SinkFactory, tmp_path: Path, customer: str) -> None:
    fake.add_customers(50)
    first = make_sink().ensure_customer(customer)
    fake.expire_idempotency_keys()  # a day later, the state file lost: search must find it
    again = make_sink(state=tmp_path / "other.sqlite").ensure_customer(customer)
    assert again == first
    assert len(fake.customers()) == 51
    [search] = [r for r in fake.requests if r.path == "/v1/customers/search"][-1:]
    assert search.params["query"].startswith("metadata['billing_customer_id']:'")


def test_search_lag_never_creates_a_second_customer(
        fake: FakeStripe, make_sink: SinkFactory, tmp_path: Path) -> None:
    fake.search_lag = 10  # a customer shows in search results 10 requests after its creation
    first = make_sink().ensure_customer("acme")
    # A second run within seconds, its state file lost: search does not see the customer yet,
    # the create replays the first one (same idempotency key).
    again = make_sink(state=tmp_path / "other.sqlite").ensure_customer("acme")
    assert again == first
    assert len(fake.customers()) == 1


def test_without_customer_search_the_account_is_listed_once_per_run(
        fake: FakeStripe, make_sink: SinkFactory) -> None:
    fake.add_customers(1_000)
    fake.fail_next(400, method="GET", path="/v1/customers/search", times=100,
                   code="feature_not_available")  # e.g. accounts in India
    sink = make_sink(page_size=100)
    before = len(fake.requests)
    for n in range(5):
        sink.ensure_customer(f"new-{n}")
    # 1 search refused, 10 pages of 100 customers listed once, 5 creates
    assert len(fake.requests) - before == 1 + 10 + 5
    assert len(fake.customers()) == 1_005


# --- two pushes on one state file never run at once ----------------------------------------------


@pytest.fixture
def server() -> Iterator[tuple[FakeStripe, str]]:
    fake = FakeStripe()
    fake.ignore_idempotency_keys = True  # as if every key had expired: only the lock protects
    fake.delay_s = 0.2  # each request takes 0.2 s: the first push lasts about 8 s
    with serve(fake) as base:
        yield fake, base


def _push(path: Path, state: Path, base: str) -> subprocess.Popen[str]:
    env = dict(os.environ, STRIPE_API_KEY=TEST_KEY)
    return subprocess.Popen(
        [sys.executable, "-m", "billing", "push", str(path), "--state", str(state),
         "--api-base", base],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_concurrent_pushes_on_one_state_file_never_bill_twice(
        server: tuple[FakeStripe, str], tmp_path: Path) -> None:
    fake, base = server
    invoices = [build_invoice(f"cust-{n}", "USD", [("flat", "Pro", "49.00"),
                                                   ("usage", "tokens", "12.34"),
                                                   ("usage", "more tokens", "5.67")])
                for n in range(4)]
    path = _write(tmp_path / "invoices.json", invoices)
    state = tmp_path / "state.sqlite"
    # Both start together: without a lock they run in step, each finding nothing and creating
    # everything (the fake ignores idempotency keys, as Stripe does once they expired).
    runs = [_push(path, state, base), _push(path, state, base)]
    done = [run.communicate(timeout=120) for run in runs]
    # Exactly one customer, one invoice and one item per line, for each invoice.
    assert len(fake.customers()) == 4
    assert len(fake.invoices()) == 4
    for inv in fake.invoices():
        lines = sorted(i["metadata"]["billing_line_id"] for i in fake.items_of(inv["id"]))
        assert lines == ["L001", "L002", "L003"]
    codes = [run.returncode for run in runs]
    assert sorted(codes) == [0, 2], done
    _, refused = done[codes.index(2)]
    assert len(refused.strip().splitlines()) == 1
    assert "another billing push is using the state file" in refused
    assert all("Traceback" not in err for _, err in done)
    # Once the push is done, the state file is free again: a re-run skips everything.
    again = _push(path, state, base)
    out3, err3 = again.communicate(timeout=120)
    assert again.returncode == 0, err3
    assert "pushed 0, skipped 4 (already pushed), failed 0" in out3


# --- a dry run checks Stripe's amount limits and currency rules ----------------------------------


def test_dry_run_reports_every_amount_stripe_would_refuse(
        tmp_path: Path, cli_fake: FakeStripe, capsys: pytest.CaptureFixture[str]) -> None:
    too_big = build_invoice("big", "USD", [("flat", "Enterprise", "1000000.00"),  # 100000000 c
                                           ("usage", "tokens", "5.00")])
    total_too_big = build_invoice("sum", "USD", [("flat", "A", "600000.00"),
                                                 ("flat", "B", "600000.00")])  # 120000000 c
    yen = build_invoice("jp", "JPY", [("flat", "Pro", "100000000")])  # 8 digits max: 99999999
    ok = build_invoice("ok", "USD", [("flat", "Pro", "999999.99")])  # 99999999 cents: the max
    path = _write(tmp_path / "invoices.json", [too_big, total_too_big, yen, ok])

    code = main(["push", str(path), "--dry-run"])

    out = capsys.readouterr().out
    assert code == 1
    assert cli_fake.requests == []
    assert f"invoice {too_big.id} line L001: 1000000.00 USD is 100000000 minor units" in out
    assert "Stripe's maximum is 99999999" in out
    assert f"invoice {total_too_big.id}: total 1200000.00 USD is 120000000 minor units" in out
    assert f"invoice {yen.id} line L001: 100000000 JPY is 100000000 minor units" in out
    assert "dry run: 1 invoices would be pushed, 3 cannot be" in out


def test_dry_run_names_every_line_that_breaks_a_currency_rule(
        tmp_path: Path, cli_fake: FakeStripe, capsys: pytest.CaptureFixture[str]) -> None:
    # Invoices written by another tool: amounts that were never rounded the way Stripe wants.
    bad = build_invoice("kw", "KWD", [("flat", "Pro", "10.000")])
    data = json.loads(bad.to_json())
    data["lines"][0]["rounded_amount"] = "10.005"
    data["lines"].append(dict(data["lines"][0], id="L002", rounded_amount="1.001"))
    data["subtotal"] = data["total"] = "11.006"
    path = tmp_path / "invoices.json"
    path.write_text(json.dumps([data]), encoding="utf-8")

    assert main(["push", str(path), "--dry-run"]) == 1

    out = capsys.readouterr().out
    assert f"invoice {bad.id} line L001: 10.005 KWD" in out
    assert f"invoice {bad.id} line L002: 1.001 KWD" in out  # every problem, not just the first
