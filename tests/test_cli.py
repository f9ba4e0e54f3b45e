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
