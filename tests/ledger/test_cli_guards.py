"""`billing ledger` commands refuse a ledger that `billing ledger init` never made: a mistyped URL
must not become a new empty ledger that closes 0 invoices with exit code 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.cli import main

ROOT = Path(__file__).parents[2]


def test_close_on_a_mistyped_sqlite_url_is_an_error_and_creates_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "typo.db"
    code = main(["ledger", "close", f"sqlite:///{typo}", "--period", "2026-11"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no ledger at" in err and "billing ledger init" in err
    assert not typo.exists()


def test_import_and_balance_need_an_initialised_ledger(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'missing.db'}"
    assert main(["ledger", "import", url, str(ROOT / "examples" / "events.csv"),
                 "--rejects", str(tmp_path / "r.csv")]) == 2
    assert main(["ledger", "balance", url, "cobalt-ai"]) == 2
    assert capsys.readouterr().err.count("no ledger at") == 2


def test_close_without_subscriptions_names_the_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    assert main(["ledger", "init", url, "--plans", str(ROOT / "plans")]) == 0
    code = main(["ledger", "close", url, "--period", "2026-11"])
    err = capsys.readouterr().err
    assert code == 2
    assert "has no subscriptions" in err and "--subscriptions FILE" in err
