"""Helpers for the comparison tests: real files through the real CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from billing.cli import main

REPO = Path(__file__).parents[2]
TRACES = REPO / "data" / "traces"
PLANS = REPO / "plans"
COSTBOOK = REPO / "examples" / "costbook.yaml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run_compare(args: list[str], out: Path) -> dict[str, Any]:
    """Run ``billing compare ... --json out`` and return the parsed JSON (exit code must be 0)."""
    code = main(["compare", *args, "--json", str(out), "--quiet"])
    assert code == 0
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data


def plan_of(report: dict[str, Any], plan_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in report["plans"] if p["id"] == plan_id)
    return found


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; installed with apt-get (as scripts/setup.sh does) when missing."""
    found = shutil.which("chromium")
    if found is None:
        prefix = [] if shutil.which("sudo") is None else ["sudo"]
        subprocess.run([*prefix, "apt-get", "update", "-q"], check=True, capture_output=True)
        subprocess.run([*prefix, "apt-get", "install", "-y", "-q", "chromium"], check=True,
                       capture_output=True, env={"DEBIAN_FRONTEND": "noninteractive",
                                                 "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        found = shutil.which("chromium")
    assert found is not None, "chromium could not be installed"
    return found
