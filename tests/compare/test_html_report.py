"""The HTML report opens offline in headless Chromium and its scripts draw every chart."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from billing.cli import main

from .conftest import write
from .test_hand_trace import CAPACITY, COSTS, CREDITS, LIST, TRACE

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=True)


def _report(tmp_path: Path) -> Path:
    plans = tmp_path / "plans"
    write(plans / "list.yaml", LIST)
    write(plans / "capacity.yaml", CAPACITY)
    write(plans / "credits.yaml", CREDITS)
    out = tmp_path / "report.html"
    code = main(["compare", "--plans", str(plans),
                 "--trace", str(write(tmp_path / "trace.csv", TRACE)),
                 "--costs", str(write(tmp_path / "costs.yaml", COSTS)),
                 "--html", str(out), "--quiet"])
    assert code == 0
    return out


def test_the_report_is_self_contained(tmp_path: Path) -> None:
    page = _report(tmp_path).read_text(encoding="utf-8")
    # no script, style, image or font fetched from anywhere: it opens offline
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page
    assert page.count("<script") == 2  # the embedded data and the inline renderer


def test_chromium_renders_every_chart(tmp_path: Path, chromium: str) -> None:
    report = _report(tmp_path)
    dom = _chromium(chromium, tmp_path / "profile", "--dump-dom", report.as_uri()).stdout
    assert 'data-rendered="true"' in dom  # the renderer ran to its end
    charts = re.findall(r'<svg[^>]*data-chart="([\w-]+)"', dom)
    assert charts == ["chart-margin", "chart-curve", "chart-scatter", "chart-utilization"]
    # one bar per plan, one margin curve per plan
    assert len(re.findall(r'class="bar"', dom)) == 3
    assert len(re.findall(r'class="curve"', dom)) == 3
    # revenue vs cost: 3 plans x 3 customers, all with revenue and cost > 0
    assert len(re.findall(r'class="dot"', dom)) == 9
    # utilization over time: only the capacity plan
    assert re.findall(r'class="utilization" data-plan="([\w-]+)"', dom) == ["hand-capacity"]
    # titled and labelled
    assert "Gross margin per plan (USD)" in dom
    assert "supplier cost (USD, log)" in dom
    assert "hour (UTC)" in dom


def test_chromium_screenshot_is_a_non_empty_png(tmp_path: Path, chromium: str) -> None:
    report = _report(tmp_path)
    shot = tmp_path / "shot.png"
    _chromium(chromium, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,1800",
              "--hide-scrollbars", report.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # a blank 1200x1800 page compresses to a few kB; charts do not
