"""The command line's core is main(argv) -> int; usage errors are exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

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
