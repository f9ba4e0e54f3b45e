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


def test_a_conflict_in_the_file_is_rejected_on_the_line_of_the_refused_copy(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # examples/events.csv has ev-0003 on line 4; line 17 repeats the id with 900,001 input
    # tokens instead of 900,000: the copy on line 17 is refused, as billing rate says
    events = tmp_path / "conflict.csv"
    events.write_text((ROOT / "examples" / "events.csv").read_text(encoding="utf-8")
                      + "ev-0003,borealis,2026-11-04T10:00:00Z,gpt-5,900001,100000,0,300000,25\n",
                      encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'l.db'}"
    assert main(["ledger", "init", url, "--plans", str(ROOT / "plans"), "--subscriptions",
                 str(ROOT / "examples" / "subscriptions.yaml")]) == 0
    rejects = tmp_path / "r.csv"
    assert main(["ledger", "import", url, str(events), "--rejects", str(rejects)]) == 0
    conflict_lines = [line.split(",")[1] for line in rejects.read_text().splitlines()
                      if ",conflict," in line]
    assert conflict_lines == ["17"]
    # the refused row is written whole, as billing rate writes it, not just its id
    assert "ev-0003,borealis,2026-11-04T10:00:00Z,gpt-5,900001" in rejects.read_text()
    # imported again, the whole file is old: the ledger holds ev-0003 as on line 4, so line 4
    # is a duplicate and line 17 again the refused copy
    assert main(["ledger", "import", url, str(events), "--rejects", str(rejects)]) == 0
    conflict_lines = [line.split(",")[1] for line in rejects.read_text().splitlines()
                      if ",conflict," in line]
    assert conflict_lines == ["17"]
    capsys.readouterr()
