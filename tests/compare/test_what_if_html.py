"""The what-if section of the HTML report renders in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

from billing.cli import main

from .conftest import write
from .test_html_report import _chromium
from .test_what_if import COST_PLUS, COSTS, LIST, TRACE


def test_the_what_if_section_draws_three_bars_per_plan(tmp_path: Path, chromium: str) -> None:
    plans = tmp_path / "plans"
    write(plans / "list.yaml", LIST)
    write(plans / "cost-plus.yaml", COST_PLUS)
    out = tmp_path / "report.html"
    assert main(["compare", "--plans", str(plans),
                 "--trace", str(write(tmp_path / "trace.csv", TRACE)),
                 "--costs", str(write(tmp_path / "costs.yaml", COSTS)),
                 "--supplier-price-change", "m-prem=-0.8", "--cache-hit-rate", "0.4",
                 "--html", str(out), "--quiet"]) == 0
    dom = _chromium(chromium, tmp_path / "profile", "--dump-dom", out.as_uri()).stdout
    assert 'data-rendered="true"' in dom
    assert "chart-what-if" in re.findall(r'<svg[^>]*data-chart="([\w-]+)"', dom)
    bars = re.findall(r'class="what-if-bar" data-plan="([\w-]+)" data-policy="([\w %]+)"', dom)
    assert bars == [(p, policy) for p in ("cost-plus", "list")
                    for policy in ("now", "keep price", "keep margin %")]
    assert "ASSUMPTION: cache hit rate 0.4" in dom
    assert 'id="what-if-table"' in dom and 'id="break-even-table"' in dom
    # cost-plus passes the whole cost change through (x 1.5): shown under its bars
    assert "pass-through 150%" in dom
