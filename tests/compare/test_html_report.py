"""The HTML report opens offline in headless Chromium and its scripts draw every chart."""

from __future__ import annotations

import html
import json
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


def _report(tmp_path: Path, *, long_ids: bool = False) -> Path:
    plans = tmp_path / "plans"
    write(plans / "list.yaml", LIST)
    write(plans / "capacity.yaml", CAPACITY)
    write(plans / "credits.yaml", CREDITS)
    if long_ids:  # plan ids as long as real ones, and more plans than the charts have room for
        for n in range(5):
            write(plans / f"long{n}.yaml", LIST.replace(
                "id: hand-list", f"id: enterprise-cost-plus-with-commitment-{n}"))
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


# Measures the rendered page (injected after the report's own scripts): which table wrappers
# scroll, which cells clip their text, whether the page itself is wider than the window, and
# which chart labels fall outside their chart.
_MEASURE = r"""
<script>
(function () {
  var out = {pageWidth: document.documentElement.scrollWidth, window: window.innerWidth,
             tables: {}, clipped: [], outside: [], hidden: []};
  document.querySelectorAll("table").forEach(function (table) {
    var box = table.closest(".scroll");
    out.tables[table.id] = box !== null && box.scrollWidth > box.clientWidth &&
      getComputedStyle(box).overflowX === "auto";
    table.querySelectorAll("th, td").forEach(function (cell) {
      if (cell.scrollWidth > cell.clientWidth + 1) { out.clipped.push(cell.textContent); }
    });
    if (box !== null) {  // scrolled to the far right, the row labels stay in view
      box.scrollLeft = box.scrollWidth;
      var left = box.getBoundingClientRect().left;
      table.querySelectorAll("tbody td:first-child").forEach(function (cell) {
        if (cell.getBoundingClientRect().left < left - 1) { out.hidden.push(cell.textContent); }
      });
      box.scrollLeft = 0;
    }
  });
  document.querySelectorAll("svg.chart-svg").forEach(function (svg) {
    var view = svg.viewBox.baseVal;
    svg.querySelectorAll("text").forEach(function (t) {
      var b = t.getBBox();
      var m = t.getCTM(), s = svg.getCTM();
      var x = b.x + (m.e - s.e), y = b.y + (m.f - s.f);
      if (t.getAttribute("transform")) { return; }  // rotated axis titles: checked by eye
      if (x < -1 || y < -1 || x + b.width > view.width + 1 || y + b.height > view.height + 1) {
        out.outside.push(svg.getAttribute("data-chart") + ": " + t.textContent);
      }
    });
  });
  document.body.setAttribute("data-layout", JSON.stringify(out));
})();
</script>
"""


def test_wide_tables_scroll_without_clipping_labels(tmp_path: Path, chromium: str) -> None:
    # A narrow window: the plans table is wider than the page, so it must scroll on its own,
    # every header and cell shows its whole text, the plan names stay in view when scrolled,
    # and no chart label falls outside its chart (long plan ids included).
    report = _report(tmp_path, long_ids=True)
    page = report.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>")
    probe = tmp_path / "probe.html"
    probe.write_text(page, encoding="utf-8")
    dom = _chromium(chromium, tmp_path / "profile", "--window-size=640,900",
                    "--dump-dom", probe.as_uri()).stdout
    found = re.search(r"data-layout=\"([^\"]*)\"", dom)
    assert found is not None, "the measuring script did not run"
    layout = json.loads(html.unescape(found.group(1)))
    assert layout["tables"]["plans-table"] is True  # scrolls inside its box
    assert layout["clipped"] == []
    assert layout["hidden"] == []
    assert layout["outside"] == []
    assert layout["pageWidth"] <= layout["window"]  # only the tables and charts scroll


def test_every_column_has_a_glossary_entry(tmp_path: Path) -> None:
    page = _report(tmp_path).read_text(encoding="utf-8")
    glossary = page.split('id="glossary"', 1)[1]
    entries = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", glossary))
    terms = {html.unescape(t) for t in entries}
    assert all(len(text) > 10 for text in entries.values())  # each says what it is
    headers = set()
    for table in re.findall(r"<thead>(.*?)</thead>", page):
        headers |= {html.unescape(re.sub(r"<[^>]+>", "", h))
                    for h in re.findall(r"<th[^>]*>(.*?)</th>", table)}
    assert headers  # the plans table at least
    assert headers <= terms, f"columns without a glossary entry: {sorted(headers - terms)}"
    for term in ("HHI", "top 1% cost", "rev/cost per 1M", "baseload util.", "breakage"):
        assert term in terms
    # and each header says it on hover
    assert re.search(r'<th title="[^"]*Herfindahl[^"]*">HHI</th>', page)


def test_best_is_shown_with_its_caveats(tmp_path: Path) -> None:
    page = _report(tmp_path).read_text(encoding="utf-8")
    best = page.split('id="best"', 1)[1].split("</ul>", 1)[0]
    # the hand trace: the capacity plan wins on a baseload nobody used (see test_report_basis)
    assert "best by margin" in best and "hand-capacity" in best
    assert "99.7% of the reserved capacity unused" in best
    assert "1 of 3 customers (33.3%) lose money" in best
    assert "best by margin without unused capacity and breakage" in best
