"""``billing push`` as a user runs it: a real invoices file through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from billing.cli import main
from billing.cli import push as push_cli
from billing.invoice import Invoice
from billing.sinks.stripe_testing import FakeStripe
from tests.stripe.helpers import TEST_KEY


def write_invoices(path: Path, invoices: list[Invoice], wrapped: bool = False) -> Path:
    items = [json.loads(inv.to_json()) for inv in invoices]
    path.write_text(json.dumps({"invoices": items} if wrapped else items), encoding="utf-8")
    return path


@pytest.fixture
def cli_fake(monkeypatch: pytest.MonkeyPatch) -> FakeStripe:
    fake = FakeStripe()
    monkeypatch.setattr(push_cli, "HTTP_CLIENT_FACTORY", lambda: fake)
    monkeypatch.setenv("STRIPE_API_KEY", TEST_KEY)
    return fake


def test_dry_run_prints_the_items_and_contacts_nobody(
    tmp_path: Path,
    usd_invoice: Invoice,
    jpy_invoice: Invoice,
    cli_fake: FakeStripe,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_invoices(tmp_path / "invoices.json", [usd_invoice, jpy_invoice])

    code = main(["push", str(path), "--dry-run", "--state", str(tmp_path / "s.sqlite")])

    out = capsys.readouterr().out
    assert code == 0
    assert cli_fake.requests == []
    assert not (tmp_path / "s.sqlite").exists()
    assert "customer acme, draft invoice in USD, 5 items" in out
    assert "-2001" in out and "6000" in out  # credits line and total, in cents
    assert "customer kabushiki, draft invoice in JPY, 3 items" in out
    assert "5635" in out  # 4900 + 1235 - 500 yen
    assert "dry run: 2 invoices would be pushed, 0 cannot be" in out


def test_push_then_rerun_prints_a_summary(
    tmp_path: Path,
    usd_invoice: Invoice,
    jpy_invoice: Invoice,
    cli_fake: FakeStripe,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_invoices(tmp_path / "invoices.json", [usd_invoice, jpy_invoice], wrapped=True)
    state = str(tmp_path / "s.sqlite")

    assert main(["push", str(path), "--finalize", "--state", state]) == 0
    first = capsys.readouterr().out
    assert main(["push", str(path), "--finalize", "--state", state]) == 0
    second = capsys.readouterr().out

    assert "pushed 2, skipped 0 (already pushed), failed 0" in first
    assert "pushed 2, skipped 0" not in second
    assert "pushed 0, skipped 2 (already pushed), failed 0" in second
    assert [i["status"] for i in cli_fake.invoices()] == ["open", "open"]


def test_failures_are_listed_with_reasons_and_exit_1(
    tmp_path: Path,
    usd_invoice: Invoice,
    jpy_invoice: Invoice,
    cli_fake: FakeStripe,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_invoices(tmp_path / "invoices.json", [usd_invoice, jpy_invoice])
    cli_fake.fail_next(402, path="/v1/invoiceitems", code="card_declined")

    code = main(["push", str(path), "--state", str(tmp_path / "s.sqlite")])

    out = capsys.readouterr().out
    assert code == 1
    assert "pushed 1, skipped 0 (already pushed), failed 1" in out
    assert f"FAILED {usd_invoice.id} (acme): invoice {usd_invoice.id} line L001" in out
    assert "Stripe 402 card_declined" in out


def test_live_key_is_refused_without_live(
    tmp_path: Path,
    usd_invoice: Invoice,
    cli_fake: FakeStripe,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_live_51SomeLiveKey0000000000000")
    path = write_invoices(tmp_path / "invoices.json", [usd_invoice])

    code = main(["push", str(path), "--state", str(tmp_path / "s.sqlite")])

    err = capsys.readouterr().err
    assert code == 2
    assert "--live" in err
    assert "51SomeLiveKey" not in err
    assert cli_fake.requests == []


def test_a_bad_invoices_file_names_the_file_and_the_invoice(
    tmp_path: Path, usd_invoice: Invoice, cli_fake: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    good = json.loads(usd_invoice.to_json())
    bad = dict(good, id="in_bad", currency=None)
    path = tmp_path / "invoices.json"
    path.write_text(json.dumps([good, bad]), encoding="utf-8")

    code = main(["push", str(path), "--dry-run"])

    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}: invoices[2] (in_bad) currency:" in err  # the second invoice, counted from 1


def test_a_file_that_is_not_json_gives_line_and_column(
    tmp_path: Path, cli_fake: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "invoices.json"
    path.write_text('[\n  {"id": "in_1",\n  oops\n]', encoding="utf-8")
    assert main(["push", str(path), "--dry-run"]) == 2
    assert f"{path}:3:3: not valid JSON" in capsys.readouterr().err
