"""`billing ledger import` takes `billing rate`'s options and reports its rejects as `billing
rate` does: the same default rejects file, the same first rejects on stderr, the same choices."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from billing.cli import main

ROOT = Path(__file__).parents[2]
SUBS = str(ROOT / "examples" / "subscriptions.yaml")


def _ledger(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    assert main(["ledger", "init", url, "--plans", str(ROOT / "plans"), "--subscriptions",
                 SUBS]) == 0
    return url


def test_import_writes_and_shows_its_rejects_where_and_as_billing_rate_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # examples/events.csv has 3 bad rows: line 14 (no customer), 15 (naive timestamp), 16
    # (negative input tokens).
    events = tmp_path / "data" / "events.csv"
    events.parent.mkdir()
    shutil.copy(ROOT / "examples" / "events.csv", events)
    url = _ledger(tmp_path)
    capsys.readouterr()
    assert main(["ledger", "import", url, str(events)]) == 0
    imported = capsys.readouterr().err.splitlines()
    default = tmp_path / "data" / "events.rejects.csv"  # beside the events, as rate puts it
    assert [line.split(",")[1] for line in default.read_text().splitlines()[1:]] == [
        "14", "15", "16"]
    assert main(["rate", "--events", str(events), "--period", "2026-11", "--subscriptions",
                 SUBS]) == 0
    rated = capsys.readouterr().err.splitlines()
    shown = [line for line in imported if line.startswith("rejected: ")]
    assert [line.split(":")[2] for line in shown] == ["14", "15", "16"]
    assert shown == [line for line in rated if line.startswith("rejected: ")]
    assert imported[-1] == (f"every rejected row is in {default} (choose the file with "
                            "--rejects)")


def test_import_names_a_missing_column_and_takes_absent_as_billing_rate_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The file has no output_tokens column: an error naming it and the fix, until --absent.
    events = tmp_path / "no-output.csv"
    lines = (ROOT / "examples" / "events.csv").read_text(encoding="utf-8").splitlines()[:13]
    events.write_text("\n".join(",".join(line.split(",")[:7] + line.split(",")[8:])
                                for line in lines) + "\n", encoding="utf-8")
    url = _ledger(tmp_path)
    capsys.readouterr()
    assert main(["ledger", "import", url, str(events)]) == 2
    err = capsys.readouterr().err
    assert "no output_tokens column" in err and "--absent" in err
    assert "Traceback" not in err
    assert main(["ledger", "import", url, str(events), "--absent", "output_tokens"]) == 0
    out = capsys.readouterr().out
    # lines 2-13: ev-0001 to ev-0011, and line 13 repeats ev-0002 exactly
    assert re.search(r"new events\s*│\s*11\s*│", out) and re.search(r"duplicates\s*│\s*1\s*│", out)


@pytest.mark.parametrize(("option", "value"), [("--timestamp-unit", "minutes"),
                                               ("--usage-format", "mistral")])
def test_import_refuses_a_value_outside_the_choices_as_billing_rate_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str) -> None:
    url = _ledger(tmp_path)
    capsys.readouterr()
    assert main(["ledger", "import", url, str(ROOT / "examples" / "events.csv"), option,
                 value]) == 2
    err = capsys.readouterr().err
    assert option in err and value in err and "Traceback" not in err
