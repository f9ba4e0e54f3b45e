"""The batch CLI and the online meter produce the same invoices, byte for byte, whatever the
order of the events and however many duplicates are injected."""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from freezegun import freeze_time

from billing.cli import main
from billing.costs import CostBook
from billing.plans import load_catalog
from billing.rating.batch import invoices_to_json
from billing.rating.meter import Meter
from billing.subscriptions import load_subscriptions
from billing.usage.events import UsageEvent
from billing.usage.mapping import TraceSpec
from billing.usage.readers import read_events

ROOT = Path(__file__).parents[2]
EVENTS = ROOT / "examples" / "events.csv"
SUBS = ROOT / "examples" / "subscriptions.yaml"


def _rate_cli(events: Path, out: Path) -> bytes:
    code = main(["rate", "--plans", str(ROOT / "plans"), "--subscriptions", str(SUBS),
                 "--events", str(events), "--period", "2026-11", "--out", str(out)])
    assert code == 0
    return out.read_bytes()


def _good_events() -> list[UsageEvent]:
    return [e for e in read_events(TraceSpec(EVENTS)) if isinstance(e, UsageEvent)]


def _write(rows: list[dict[str, str]], path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _rows() -> list[dict[str, str]]:
    with EVENTS.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_batch_and_online_paths_write_byte_identical_invoices(tmp_path: Path) -> None:
    batch = _rate_cli(EVENTS, tmp_path / "batch.json")
    catalog = load_catalog([ROOT / "plans"])
    subs = load_subscriptions(SUBS)
    meter = Meter(catalog, subs, costbook=CostBook.default())
    for event in _good_events():
        meter.record(event)
    online = [meter.close(s.customer_id, "2026-11") for s in sorted(subs, key=lambda s: s.customer_id)]
    assert invoices_to_json(online).encode() == batch
    assert len(json.loads(batch)) == 7


def test_rerating_is_byte_identical(tmp_path: Path) -> None:
    assert _rate_cli(EVENTS, tmp_path / "a.json") == _rate_cli(EVENTS, tmp_path / "b.json")


def test_shuffling_the_events_changes_nothing(tmp_path: Path) -> None:
    reference = _rate_cli(EVENTS, tmp_path / "ref.json")
    rows = _rows()
    for seed in range(3):
        random.Random(seed).shuffle(rows)
        shuffled = _write(rows, tmp_path / f"shuffled{seed}.csv")
        assert _rate_cli(shuffled, tmp_path / f"out{seed}.json") == reference


def test_injecting_ten_percent_duplicates_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = _rate_cli(EVENTS, tmp_path / "ref.json")
    rows = _rows()
    extra = random.Random(7).sample(rows, k=max(2, len(rows) // 10))
    noisy = _write(rows + extra, tmp_path / "noisy.csv")
    capsys.readouterr()
    assert _rate_cli(noisy, tmp_path / "noisy.json") == reference
    out = capsys.readouterr().out
    # the file already repeats ev-0002 once; each injected copy of a good row adds a duplicate,
    # an injected copy of a bad row is rejected again
    good_extra = sum(1 for r in extra if r["customer_id"] and r["id"] not in {"ev-0013", "ev-0014"})
    assert f"duplicates           │ {1 + good_extra:>9}" in out or f"│ {1 + good_extra} " in out


def test_bad_rows_are_written_to_the_rejects_file_with_row_and_reason(tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    main(["rate", "--plans", str(ROOT / "plans"), "--subscriptions", str(SUBS),
          "--events", str(EVENTS), "--period", "2026-11", "--rejects", str(rejects)])
    with rejects.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["line"]]  # (unbilled usage has none)
    # lines 14-16 of examples/events.csv: no customer, a naive timestamp, negative tokens
    assert [r["line"] for r in rows] == ["14", "15", "16"]
    assert "customer" in rows[0]["reason"]
    assert "naive" in rows[1]["reason"] or "time zone" in rows[1]["reason"]
    assert "negative" in rows[2]["reason"]
    assert all(r["file"].endswith("events.csv") for r in rows)


def test_meter_answers_bill_to_date_and_remaining_credits_at_any_instant() -> None:
    catalog = load_catalog([ROOT / "plans"])
    subs = [s for s in load_subscriptions(SUBS) if s.customer_id == "borealis"]
    meter = Meter(catalog, subs, costbook=CostBook.default())
    early = [e for e in _good_events() if e.customer_id == "borealis"]
    with freeze_time("2026-11-05T00:00:00Z"):
        meter.record(early[0])  # Nov 4: gpt-5 0.9M in, 0.1M cached, 0.3M out
        bill = meter.bill_to_date("borealis")
        # gpt-5 under "*": 0.9 x 3.00 + 0.1 x 0.75 + 0.3 x 12.00 = 2.70 + 0.075 + 3.60 = 6.375
        # = 637.5 credits, all from the 1,000 free credits (priority 1); the pack bought on
        # Nov 1 (900.00) is the only billed line.
        assert bill.total == Decimal("900.00")
        # 1,000 - 637.5 = 362.5 free + 100,000 pack credits
        assert meter.remaining_credits("borealis") == Decimal("100362.5")
    with freeze_time("2026-12-02T00:00:00Z"):
        # In December the free November grant has expired; the pack carries over.
        assert meter.remaining_credits("borealis") == Decimal("1000") + Decimal("100000")
        assert meter.bill_to_date("borealis", datetime(2026, 11, 30, tzinfo=UTC)).total == Decimal("900.00")


def test_invoices_round_trip_through_json_exactly(tmp_path: Path) -> None:
    from billing.invoice import Invoice

    written = json.loads(_rate_cli(EVENTS, tmp_path / "inv.json"))
    for data in written:
        invoice = Invoice.model_validate(data)
        again = Invoice.from_json(invoice.to_json())
        assert again == invoice
        assert again.to_json() == invoice.to_json()
        # amounts stay exact decimals (strings in JSON), never floats
        assert all(isinstance(line["amount"], str) for line in data["lines"])
        assert again.total == sum((line.rounded_amount for line in again.lines), Decimal(0))
    text = Invoice.model_validate(written[0]).render()
    assert "Total USD" in text and written[0]["id"] in text
