"""The README's figures and screenshots come from what this version produces.

The "Design a plan" walk-through quotes figures of its report: the README's own commands are run
here (simulate, then compare with the supplier price change) and each quoted figure is compared
with the report's JSON, formatted as the terminal and HTML show it. The screenshots are made by
``scripts/screenshots.py`` from the README's commands: the script's commands must be the
README's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

from billing.cli import main
from billing.compare.report import money_text, tokens_text

from .conftest import REPO, plan_of

README = (REPO / "README.md").read_text(encoding="utf-8")


def _command(start: str) -> list[str]:
    """The README's shell command that starts with ``start`` (continuation lines joined)."""
    found = re.search(re.escape(start) + r"(?:[^\n]*\\\n)*[^\n]*", README)
    assert found is not None, f"the README has no command starting {start!r}"
    return shlex.split(found.group(0).replace("\\\n", " "))[1:]  # without "billing"


@contextmanager
def _inside(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _quoted(pattern: str) -> tuple[str, ...]:
    found = re.search(pattern, " ".join(README.split()))
    assert found is not None, f"the README no longer says {pattern!r}"
    return found.groups()


def _pct(value: str) -> str:
    return f"{(Decimal(value) * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}"


def test_design_a_plan_figures_are_what_the_commands_produce(tmp_path: Path) -> None:
    simulate = _command("billing simulate examples/workload.yaml")
    compare = _command("billing compare --plans plans/ --trace trace.parquet")
    out = tmp_path / "design.json"
    with _inside(tmp_path):
        assert main([a.replace("examples/", f"{REPO}/examples/") for a in simulate]) == 0
        args = [a.replace("plans/", f"{REPO}/plans/") for a in compare]
        args[args.index("--json") + 1] = str(out)
        args[args.index("--html") + 1] = str(tmp_path / "design.html")
        assert main([*args, "--quiet"]) == 0
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    payg = plan_of(report, "payg")
    change = payg["what_if"]["supplier_price_change"]
    assert _quoted(r"the supplier cost drops from ([\d,]+\.\d+) to ([\d,]+\.\d+)") == (
        money_text(Decimal(payg["cost"])), money_text(Decimal(change["cost"])))
    assert _quoted(r"goes from ([\d.]+)% to ([\d.]+)% margin") == (
        _pct(payg["margin_pct"]), _pct(change["keep_price"]["margin_pct"]))
    assert _quoted(r"its margin would fall from ([\d,]+\.\d+) to ([\d,]+\.\d+)") == (
        money_text(Decimal(payg["margin"])), money_text(Decimal(change["keep_margin_pct"]["margin"])))
    enterprise = plan_of(report, "enterprise-cost-plus")["what_if"]
    assert enterprise["supplier_price_change"]["keep_price"]["pass_through"] == "0.000000"
    assert _quoted(r"`enterprise-cost-plus` loses money above ([\d.]+[kMGT]) tokens") == (
        tokens_text(enterprise["break_even"]["tokens_per_period"]),)
    assert _quoted(r"the level moves to ([\d.]+[kMGT])") == (
        tokens_text(enterprise["break_even_after_price_change"]["tokens_per_period"]),)
    light = plan_of(report, "credits")["what_if"]["break_even"]["light_use_loss"]
    assert _quoted(r"loses on light users from (\d+) tokens to ([\d.]+[kMGT])") == (
        str(light["from_tokens"]), tokens_text(light["to_tokens"]))
    assert _quoted(r"customers \(([\d.]+[kMGT]) here\)") == (
        tokens_text(enterprise["break_even"]["average_customer_tokens_per_period"]),)
    assert _quoted(r"describes (\d+) customers") == (str(report["trace"]["customers"]),)


def _script() -> ModuleType:
    path = REPO / "scripts" / "screenshots.py"
    spec = importlib.util.spec_from_file_location("screenshots", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


def test_the_screenshots_are_made_from_the_readme_commands() -> None:
    shots = {shot.image: shot for shot in _script().SHOTS}
    # every image the README shows is made by the script
    assert set(re.findall(r"\(docs/img/([\w-]+\.png)\)", README)) == set(shots)

    def same(script: tuple[str, ...], readme: list[str]) -> None:
        readme = [a for a in readme if not a.endswith((".html", ".json", ".csv"))
                  and a not in ("--html", "--json", "--csv")]
        assert [a.replace("{repo}/", "").rstrip("/") for a in script] == [
            a.rstrip("/") for a in readme]

    servegen, = shots["compare-report.png"].commands
    same(servegen, _command("billing compare --plans plans/ --costs examples/costbook.yaml"))
    simulate, compare = shots["design-a-plan.png"].commands
    same(simulate, _command("billing simulate examples/workload.yaml"))
    same(compare, _command("billing compare --plans plans/ --trace trace.parquet"))
