"""The command line's core is main(argv) -> int; usage errors are exit code 2, never a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from billing.cli import main


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rate", "--bogus"]) == 2
    assert "No such option: --bogus" in capsys.readouterr().err


def test_python_dash_m_billing_runs_the_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "billing", "--help"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0
    for command in ("plan", "rate", "compare", "push", "simulate", "economics"):
        assert command in done.stdout


def _command_paths() -> list[list[str]]:
    """Every command and sub-command of `billing`, as the words that name it."""
    import typer.main

    from billing.cli import app

    paths: list[list[str]] = []

    def walk(command: object, words: list[str]) -> None:
        paths.append(words)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*words, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_every_command_is_walked() -> None:
    names = {" ".join(p) for p in _command_paths()}
    assert {"", "plan", "plan check", "plan schema", "rate", "compare", "push", "simulate",
            "economics"} <= names


@pytest.mark.parametrize("words", _command_paths(), ids=lambda w: " ".join(w) or "billing")
def test_help_shows_no_python_type_placeholders(
    words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*words, "--help"]) == 0
    text = capsys.readouterr().out
    assert "Usage: billing" in text
    # typer's defaults print <bool>, <path>, <list[str]>, <str>, <int> next to every option and
    # lower-case argument names in braces ({files}); click's would print TEXT / INTEGER / PATH
    for noise in ("<bool>", "<path>", "<str>", "<int>", "list[", "<", "TEXT", "INTEGER",
                  "BOOLEAN"):
        assert noise not in text, f"billing {' '.join(words)} --help shows {noise!r}:\n{text}"
    for word in re.findall(r"\{(\w+)\}", text):
        assert word.isupper(), f"argument name {word!r} is not written as a metavar"


def test_version_prints_the_installed_distribution_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"billing {version('token-billing')}"


def test_a_library_error_no_command_caught_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import billing.cli.designer as designer
    from billing.designer.economics import EconomicsError

    def boom(*args: object) -> object:
        raise EconomicsError("first line\nsecond line")

    monkeypatch.setattr(designer, "economics_view", boom)
    monkeypatch.setattr(designer, "EconomicsError", KeyError)  # the command no longer catches it
    code = main(["economics", "--price-per-mtok", "1", "--tokens-per-task", "1",
                 "--hours-saved", "1", "--hourly-rate", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == "error: first line; second line\n"


def test_a_bug_is_one_internal_error_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import billing.cli.designer as designer

    def boom(*args: object) -> object:
        raise ZeroDivisionError("division by zero")

    monkeypatch.delenv("BILLING_DEBUG", raising=False)
    monkeypatch.setattr(designer, "economics_view", boom)
    code = main(["economics", "--price-per-mtok", "1", "--tokens-per-task", "1",
                 "--hours-saved", "1", "--hourly-rate", "1"])
    captured = capsys.readouterr()
    assert code == 70
    assert "Traceback" not in captured.out + captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("internal error: ZeroDivisionError at test_cli.py:")
    assert "BILLING_DEBUG=1" in lines[0]


def test_billing_debug_shows_the_traceback_of_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    import billing.cli.designer as designer

    def boom(*args: object) -> object:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setenv("BILLING_DEBUG", "1")
    monkeypatch.setattr(designer, "economics_view", boom)
    with pytest.raises(ZeroDivisionError):
        main(["economics", "--price-per-mtok", "1", "--tokens-per-task", "1",
              "--hours-saved", "1", "--hourly-rate", "1"])


def test_a_directory_given_as_a_file_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["simulate", str(tmp_path), "--out", str(tmp_path / "t.parquet")])
    err = capsys.readouterr().err
    assert code != 0
    assert str(tmp_path) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_quiet_duckdb_connection_draws_no_progress_bar(
        capfd: pytest.CaptureFixture[str]) -> None:
    # DuckDB draws a progress bar on standard output for a query that runs longer than
    # progress_bar_time (2 s by default; 10M events do): here every query is that slow.
    # (Setting progress_bar_time turns the bar on again, so it is set first.)
    import duckdb

    from billing.usage.duckdb_connect import quiet

    loud = duckdb.connect()
    loud.execute("SET progress_bar_time = 0").fetchall()
    loud.sql("SELECT count(*) FROM range(1000000)").fetchall()
    assert "%" in capfd.readouterr().out  # what a command's stdout got before
    con = duckdb.connect()
    con.execute("SET progress_bar_time = 0").fetchall()
    quiet(con)
    capfd.readouterr()  # (the SET itself ran while the bar was on)
    assert con.sql("SELECT count(*) FROM range(1000000)").fetchall() == [(1_000_000,)]
    assert capfd.readouterr().out == ""


def test_every_duckdb_connection_of_a_command_is_quiet(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # Every DuckDB connection `billing compare` opens goes through duckdb_connect.quiet, each
    # made to draw its progress bar at once, as a slow query would: stdout stays empty.
    import duckdb

    import billing.usage.duckdb_connect as reader

    opened: list[object] = []
    quieted: list[object] = []
    stdout: list[str] = []
    real_connect, real_quiet = duckdb.connect, reader.quiet

    def connect(*args: object, **kwargs: object) -> object:
        con = real_connect(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(con)
        return con

    def quiet(con: object) -> object:
        stdout.append(capfd.readouterr().out)
        con.execute("SET progress_bar_time = 0").fetchall()  # type: ignore[attr-defined]
        real_quiet(con)
        capfd.readouterr()  # (quiet's own SET ran while the bar was on)
        quieted.append(con)
        return con

    monkeypatch.setattr(duckdb, "connect", connect)
    monkeypatch.setattr(reader, "quiet", quiet)
    trace = tmp_path / "trace.csv"
    trace.write_text("id,customer_id,timestamp,model,input_tokens,cached_input_tokens,"
                     "output_tokens\n"
                     "e1,acme,2026-11-02T10:00:00Z,gpt-5,1000,0,100\n"
                     "e2,acme,2026-11-02T11:00:00Z,gpt-5,2000,0,200\n", encoding="utf-8")
    out = tmp_path / "report.json"
    code = main(["compare", "--plans", str(Path(__file__).parents[1] / "plans"),
                 "--trace", str(trace), "--fx", "EUR=1.08", "--json", str(out), "--quiet"])
    captured = capfd.readouterr()
    assert code == 0, captured.err
    assert "".join([*stdout, captured.out]) == ""  # --quiet: nothing on stdout, no bar either
    assert opened and all(any(con is q for q in quieted) for con in opened)
