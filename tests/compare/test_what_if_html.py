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


def test_the_off_peak_shift_table_in_the_report(tmp_path: Path, chromium: str) -> None:
    """tests/test_time_of_day_whatif.py's shift (deepseek-chat 50%): cost 4.97 -> 4.425,
    shown 4.43 (half-up); margin 9.03 -> 9.575 (9.58), change +0.545 (0.55), margin % after
    9.575 / 14.00 = 68.4%; no customer loses money (0 of 2); the capacity plan is named as
    not modelled."""
    from ..test_time_of_day import CAPACITY, LIST
    from ..test_time_of_day import TRACE as TOD_TRACE

    trace = write(tmp_path / "t.csv", TOD_TRACE)
    listed = write(tmp_path / "list.yaml", LIST)
    reserved = write(tmp_path / "reserved.yaml", CAPACITY)
    out = tmp_path / "report.html"
    assert main(["compare", "--plans", str(listed), "--plans", str(reserved),
                 "--trace", str(trace), "--no-break-even", "--quiet",
                 "--offpeak-shift", "deepseek-*=50%", "--html", str(out)]) == 0
    dom = _chromium(chromium, tmp_path / "profile", "--dump-dom", out.as_uri()).stdout
    assert 'data-rendered="true"' in dom
    table = dom.split('id="offpeak-table"', 1)[1].split("</table>", 1)[0]
    row = re.search(r"<tr><td>list</td>(.*?)</tr>", table)
    assert row is not None
    assert re.findall(r"<td>([^<]*)</td>", row.group(1)) == [
        "4.97", "4.43", "9.03", "9.58", "0.55", "68.4%", "0/2"]
    assert "<tr><td>reserved</td>" not in table
    assert "Off-peak shift: deepseek-* 50% (deepseek-chat)" in dom
    assert "2,500,000 tokens" in dom and "not modelled for reserved" in dom
    assert "<dt>margin after</dt>" in dom  # the glossary explains the new columns
