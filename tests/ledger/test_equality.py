"""The ledger bills what ``billing rate`` bills: the same events and subscriptions give the same
invoices, byte for byte, through ``close`` and ``bill_to_date``, on both backends."""

from __future__ import annotations

import csv
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.cli import main
from billing.costs import CostBook
from billing.ledger import Ledger
from billing.plans import load_catalog
from billing.rating.batch import invoices_to_json, rate_period
from billing.subscriptions import load_subscriptions
from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.events import UsageEvent
from billing.usage.mapping import TraceSpec
from billing.usage.readers import read_events
from tests.ledger.conftest import BACKENDS
from tests.ledger.pgserver import PgServer

ROOT = Path(__file__).parents[2]
PLANS = ROOT / "plans"
SUBS = ROOT / "examples" / "subscriptions.yaml"
EVENTS = ROOT / "examples" / "events.csv"
MODELS = ("claude-sonnet-4-5", "gpt-5", "gpt-4o-mini", "deepseek-r1")
CUSTOMERS = ("acme-labs", "borealis", "cobalt-ai", "dynamo", "ember-health", "fjord", "gantry")
START = datetime(2026, 10, 20, tzinfo=UTC)
FIELDS = ("id", "customer_id", "timestamp", "model", "input_tokens", "cached_input_tokens",
          "cache_write_tokens", "output_tokens", "requests")


@pytest.fixture(scope="module")
def book() -> CostBook:
    return CostBook.default()


def _url(backend: str, folder: Path, pg_server: PgServer | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / ('l-' + uuid.uuid4().hex + '.db')}"
    assert pg_server is not None
    return pg_server.new_schema("eq_" + uuid.uuid4().hex[:12])


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_cli_close_writes_the_invoices_billing_rate_writes(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue("pg_server") if backend == "postgresql" else None
    url = _url(backend, tmp_path, server)
    rated, closed = tmp_path / "rate.json", tmp_path / "close.json"
    assert main(["rate", "--events", str(EVENTS), "--period", "2026-11", "--subscriptions",
                 str(SUBS), "--plans", str(PLANS), "--out", str(rated),
                 "--rejects", str(tmp_path / "rate.rejects.csv")]) == 0
    assert main(["ledger", "init", url, "--plans", str(PLANS), "--subscriptions",
                 str(SUBS)]) == 0
    rejects = tmp_path / "import.rejects.csv"
    assert main(["ledger", "import", url, str(EVENTS), "--rejects", str(rejects)]) == 0
    # The same bad rows as billing rate, with the same lines and reasons (billing rate also
    # lists usage it could not bill, without a line number: that is the close's business).
    def bad_rows(path: Path) -> list[list[str]]:
        with path.open(newline="") as handle:
            return [row for row in csv.reader(handle) if row[1]]

    assert bad_rows(rejects) == bad_rows(tmp_path / "rate.rejects.csv")
    assert len(bad_rows(rejects)) == 4  # the header and the example's three bad rows
    # Importing again records nothing twice.
    assert main(["ledger", "import", url, str(EVENTS), "--rejects", str(rejects)]) == 0
    assert main(["ledger", "close", url, "--period", "2026-11", "--out", str(closed)]) == 0
    assert closed.read_bytes() == rated.read_bytes()
    assert main(["ledger", "balance", url, "borealis", "--at", "2026-11-20T00:00:00Z"]) == 0


def _events(draw: st.DrawFn) -> list[dict[str, object]]:
    rows = []
    for _ in range(draw(st.integers(0, 25))):
        prompt = draw(st.sampled_from((0, 1_000, 150_000, 250_000, 3_000_000)))
        rows.append({
            "id": f"e{draw(st.integers(0, 30))}",
            "customer_id": draw(st.sampled_from(CUSTOMERS)),
            "timestamp": (START + timedelta(seconds=draw(st.integers(0, 45 * 86_400))))
            .isoformat().replace("+00:00", "Z"),
            "model": draw(st.sampled_from(MODELS)),
            "input_tokens": prompt,
            "cached_input_tokens": draw(st.sampled_from((0, 500, 80_000))),
            "cache_write_tokens": draw(st.sampled_from((0, 2_000))),
            "output_tokens": draw(st.integers(0, 900_000)),
            "requests": draw(st.integers(0, 3)),
        })
    return rows


@st.composite
def traces(draw: st.DrawFn) -> list[dict[str, object]]:
    return _events(draw)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=traces())
def test_close_and_bill_to_date_equal_billing_rate_on_random_events(
        backend: str, rows: list[dict[str, object]], book: CostBook,
        request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue("pg_server") if backend == "postgresql" else None
    catalog = load_catalog([PLANS])
    subs = load_subscriptions(SUBS)
    with tempfile.TemporaryDirectory() as folder:
        trace = Path(folder) / "events.csv"
        with trace.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        aggregates = aggregate_trace(TraceSpec(path=trace), thresholds=book.thresholds(),
                                     hourly=True).aggregates
        ledger = Ledger.open(_url(backend, Path(folder), server), costbook=book)
        ledger.set_catalog(catalog)
        ledger.set_subscriptions(subs)
        ledger.record([e for e in read_events(TraceSpec(path=trace))
                       if isinstance(e, UsageEvent)])
        for label in ("2026-10", "2026-11"):
            batch = rate_period(catalog, subs, aggregates, label, costbook=book)
            closed = ledger.close(label)
            assert invoices_to_json(closed.invoices) == invoices_to_json(batch.invoices)
            assert closed.failures == batch.failures
            assert closed.unbilled_customers == batch.unbilled_customers
            for invoice in batch.invoices:
                # Bill to date at the period's last instant: the period's invoice so far.
                last = datetime.combine(invoice.period_end, datetime.min.time(), UTC)
                live = ledger.bill_to_date(invoice.customer_id, last - timedelta(microseconds=1))
                assert live.model_dump_json() == invoice.model_dump_json()
        ledger.close_connection()


def test_days_before_the_epoch_and_bands_key_as_the_scan_keys_them(tmp_path: Path) -> None:
    # A trace and a ledger agree on the UTC day of 1969-12-31T23:59:59Z (day -1, a floor).
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.db'}")
    ledger.record(UsageEvent("x", "c", datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), "m",
                             input_tokens=1))
    assert list(ledger.usage("c").daily) == [("m", 0, -1)]
    ledger.close_connection()


#: 200,000 x 69,175,290,276,411 = 13,835,058,055,282,200,000 prompt tokens (past 2**63 - 1,
#: where SQLite's arithmetic would go to floating point) over 69,175,290,276,411 requests:
#: exactly 200,000 per request.
_PER = 69_175_290_276_411
_PROMPT = 200_000 * _PER
_AT = datetime(2026, 11, 3, tzinfo=UTC)
_DAY = (_AT.date() - datetime(1970, 1, 1).date()).days


def _long_prompt(event_id: str, customer: str, tokens: int) -> UsageEvent:
    return UsageEvent(event_id, customer, _AT, "m", input_tokens=tokens // 2,
                      cached_input_tokens=tokens - tokens // 2, requests=_PER)


def test_a_prompt_past_64_bits_is_banded_in_exact_integers(tmp_path: Path) -> None:
    # The band is "prompt per request > threshold", decided in integers. Exactly 200,000 per
    # request (_PROMPT) exceeds the 4 default thresholds below 200,000 (32,000, 100,000,
    # 128,000, 199,999) and not 200,000 itself: band 4. One token more exceeds 200,000 too:
    # band 5.
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", costbook=CostBook.default())
    ledger.record(_long_prompt("exact-1", "exact", _PROMPT))
    ledger.record(_long_prompt("over-1", "over", _PROMPT + 1))
    assert list(ledger.usage("exact").daily) == [("m", 4, _DAY)]
    assert list(ledger.usage("over").daily) == [("m", 5, _DAY)]
    ledger.close_connection()


def test_a_batch_sent_straight_to_the_daily_rows_keeps_exact_bands(tmp_path: Path) -> None:
    # The event of the test above (band 4 in exact integers) beside another customer's
    # 3 x 10**18 input tokens: the batch's input total, 3 x 10**18 + 6,917,529,027,641,100,000
    # = 9,917,529,027,641,100,000, passes 2**63 - 1, so on SQLite the batch is added straight
    # to the daily rows instead of the recent ones. It must keep the exact band there too.
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", costbook=CostBook.default())
    ledger.record([_long_prompt("x-1", "exact", _PROMPT),
                   UsageEvent("y-1", "other", _AT, "m", input_tokens=3 * 10**18)])
    assert list(ledger.usage("exact").daily) == [("m", 4, _DAY)]
    # 3 x 10**18 tokens in one request exceed all 9 default thresholds: band 9
    assert ledger.usage("other").daily[("m", 9, _DAY)].input == 3 * 10**18
    ledger.close_connection()
