"""The self-contained HTML report: data embedded as JSON, charts drawn by a small inline
vanilla-JS SVG renderer (no library, no CDN: the page opens offline).

Charts: margin per plan; each plan's customer margin curve, customers sorted from worst to
best (who subsidizes whom); revenue vs cost per customer on log axes; utilization over time for
capacity plans.

The embedded data is the JSON report (money to the minor unit, ratios to 6 places) and, for the
charts, each customer's revenue, cost and margin and each hour's utilization rounded half-even to
6 places (a customer whose cost is a fraction of a cent still has a point on the log axes).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from billing.compare.report import (
    BREAK_EVEN_HEADER,
    OFFPEAK_HEADER,
    PRICE_CHANGE_HEADER,
    TABLE_HEADER,
    _num,
)
from billing.compare.whatif import BREAK_EVEN_METHOD, MAX_BREAK_EVEN_TOKENS
from billing.money import EXACT

if TYPE_CHECKING:
    from billing.compare.report import ComparisonReport

__all__ = ["render_html"]

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1400px; color: #1d2330; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.sub { color: #5b6475; } .synthetic { background: #fff3cd; border: 1px solid #e0b400;
       padding: 8px 12px; font-weight: 600; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: separate; border-spacing: 0; width: 100%; font-size: 12px; }
th, td { border-bottom: 1px solid #e3e6ec; padding: 4px 5px; text-align: right; }
td { white-space: nowrap; } th { vertical-align: bottom; }
th:first-child, td:first-child { text-align: left; position: sticky; left: 0; z-index: 1;
       background: #fff; box-shadow: 1px 0 0 #e3e6ec; }
th, th:first-child { background: #f4f6f9; } .best { font-weight: 700; color: #0b7a3e; }
th[title] { cursor: help; text-decoration: underline dotted #9aa3b2; }
dl.glossary { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; }
dl.glossary dt { font-weight: 600; } dl.glossary dd { margin: 0; color: #3b4354; }
ul.best-list li { margin: 3px 0; } .marks { display: block; font-size: 11px; } .caveat { color: #9a4d00; }
.chart { margin: 8px 0 20px; overflow-x: auto; } svg text { font-size: 11px; fill: #333; }
svg .title { font-size: 13px; font-weight: 600; } .axis line, .axis path { stroke: #888; }
.grid { stroke: #eceff3; } ul.notes li { margin: 2px 0; }
.assumption { background: #e8f1fb; border: 1px solid #1f77b4; padding: 8px 12px; font-weight: 600; }
"""

# The renderer: plain functions that build SVG nodes; every chart has a title, labelled axes
# and a legend. Numbers arrive as decimal strings and become JS numbers for drawing only.
_SCRIPT = r"""
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                "#17becf", "#bcbd22", "#7f7f7f"];
  function el(name, attrs, parent, text) {
    var node = document.createElementNS(NS, name);
    for (var k in attrs) { node.setAttribute(k, attrs[k]); }
    if (text !== undefined) { node.textContent = text; }
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function num(s) { return s === null || s === undefined ? null : Number(s); }
  function fmt(v) {
    var a = Math.abs(v);
    if (a >= 1e9) { return (v / 1e9).toFixed(1) + "G"; }
    if (a >= 1e6) { return (v / 1e6).toFixed(1) + "M"; }
    if (a >= 1e3) { return (v / 1e3).toFixed(1) + "k"; }
    if (a >= 1 || a === 0) { return v.toFixed(a >= 100 ? 0 : 2); }
    return v.toPrecision(2);
  }
  function frame(id, title, w, h) {
    var host = document.getElementById(id);
    var svg = el("svg", {width: w, height: h, viewBox: "0 0 " + w + " " + h, role: "img",
                         "class": "chart-svg", "data-chart": id}, host);
    el("text", {x: w / 2, y: 18, "text-anchor": "middle", "class": "title"}, svg, title);
    return svg;
  }
  function ticks(lo, hi, n) {
    if (hi === lo) { hi = lo + 1; }
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
    var err = (hi - lo) / n / step;
    step *= err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
    var out = [];
    var first = Math.floor(lo / step + 1e-9), last = Math.ceil(hi / step - 1e-9);
    for (var k = first; k <= last; k++) { out.push(k * step); }
    return out;
  }
  function axes(svg, box, xs, ys, xLabel, yLabel) {
    var g = el("g", {"class": "axis"}, svg);
    ys.forEach(function (t) {
      el("line", {x1: box.x, x2: box.x + box.w, y1: t.pos, y2: t.pos, "class": "grid"}, g);
      el("text", {x: box.x - 6, y: t.pos + 4, "text-anchor": "end"}, g, t.label);
    });
    xs.forEach(function (t) {
      el("text", {x: t.pos, y: box.y + box.h + 16, "text-anchor": "middle",
                  "class": t.category ? "category" : "tick"}, g, t.label);
    });
    el("line", {x1: box.x, x2: box.x + box.w, y1: box.y + box.h, y2: box.y + box.h}, g);
    el("line", {x1: box.x, x2: box.x, y1: box.y, y2: box.y + box.h}, g);
    el("text", {x: box.x + box.w / 2, y: box.y + box.h + 34, "text-anchor": "middle",
                "class": "axis-title"}, g, xLabel);
    el("text", {x: 14, y: box.y + box.h / 2, "text-anchor": "middle",
                transform: "rotate(-90 14 " + (box.y + box.h / 2) + ")"}, g, yLabel);
  }
  function legend(svg, names, x, y) {
    names.forEach(function (name, i) {
      var g = el("g", {"class": "legend-item"}, svg);
      el("rect", {x: x, y: y + i * 16, width: 10, height: 10, fill: COLORS[i % COLORS.length]}, g);
      el("text", {x: x + 14, y: y + i * 16 + 9}, g, name);
    });
  }
  // Grow a chart to hold every label (long plan ids, notes): nothing drawn is cut off.
  function fit(svg) {
    var box = svg.getBBox(), vb = svg.viewBox.baseVal;
    var w = Math.ceil(Math.max(vb.width, box.x + box.width + 6));
    var h = Math.ceil(Math.max(vb.height, box.y + box.height + 6));
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("width", w);
    svg.setAttribute("height", h);
  }
  // Category labels wider than their slot are turned, so that they do not overlap.
  function turnLabels(svg, y, slot, title) {
    var labels = [].slice.call(svg.querySelectorAll("text.category"));
    var widest = Math.max.apply(null, labels.map(function (t) {
      return t.getComputedTextLength(); }).concat([0]));
    if (widest <= slot - 4) { return; }
    labels.forEach(function (t) {
      var x = t.getAttribute("x");
      t.setAttribute("text-anchor", "end");
      t.setAttribute("y", y);
      t.setAttribute("transform", "rotate(-35 " + x + " " + y + ")");
    });
    if (title) { title.setAttribute("y", y + widest * 0.6 + 18); }
  }
  function linear(lo, hi, a, b) {
    if (hi === lo) { hi = lo + 1; }
    return function (v) { return a + (v - lo) / (hi - lo) * (b - a); };
  }

  function marginChart() {
    var plans = DATA.report.plans, W = 1100, H = 330;
    var svg = frame("chart-margin", "Gross margin per plan (" + DATA.report.currency + ")", W, H);
    var box = {x: 80, y: 36, w: W - 110, h: H - 90};
    var vals = plans.map(function (p) { return num(p.margin); });
    var lo = Math.min(0, Math.min.apply(null, vals)), hi = Math.max(0, Math.max.apply(null, vals));
    var ty = ticks(lo, hi, 6), y = linear(ty[0], ty[ty.length - 1], box.y + box.h, box.y);
    var bw = box.w / plans.length;
    axes(svg, box, plans.map(function (p, i) {
           return {pos: box.x + bw * (i + 0.5), label: p.id, category: true}; }),
         ty.map(function (t) { return {pos: y(t), label: fmt(t)}; }), "plan", "margin");
    plans.forEach(function (p, i) {
      var v = vals[i], top = y(Math.max(v, 0)), bottom = y(Math.min(v, 0));
      el("rect", {x: box.x + bw * i + bw * 0.2, y: top, width: bw * 0.6,
                  height: Math.max(1, bottom - top), fill: v < 0 ? "#d62728" : "#2ca02c",
                  "class": "bar", "data-plan": p.id}, svg);
      var pct = p.margin_pct === null ? "n/a" : (num(p.margin_pct) * 100).toFixed(1) + "%";
      el("text", {x: box.x + bw * (i + 0.5), y: top - 4, "text-anchor": "middle"}, svg,
         fmt(v) + " (" + pct + ")");
    });
    el("line", {x1: box.x, x2: box.x + box.w, y1: y(0), y2: y(0), stroke: "#333"}, svg);
    turnLabels(svg, box.y + box.h + 14, bw, svg.querySelector("text.axis-title"));
  }

  function curveChart() {
    var W = 1100, H = 380;
    var svg = frame("chart-curve", "Customer margin, customers sorted from worst to best " +
                    "(cumulative: who subsidizes whom)", W, H);
    var box = {x: 80, y: 36, w: W - 300, h: H - 90};
    var series = DATA.report.plans.map(function (p) {
      var m = DATA.customers[p.id].map(function (c) { return num(c.margin); });
      m.sort(function (a, b) { return a - b; });
      var run = 0;
      return m.map(function (v) { run += v; return run; });
    });
    var all = [].concat.apply([0], series);
    var ty = ticks(Math.min.apply(null, all), Math.max.apply(null, all), 6);
    var y = linear(ty[0], ty[ty.length - 1], box.y + box.h, box.y);
    var x = linear(0, 100, box.x, box.x + box.w);
    axes(svg, box, [0, 25, 50, 75, 100].map(function (t) { return {pos: x(t), label: t + "%"}; }),
         ty.map(function (t) { return {pos: y(t), label: fmt(t)}; }),
         "customers, worst margin first (share of customers)",
         "cumulative margin (" + DATA.report.currency + ")");
    el("line", {x1: box.x, x2: box.x + box.w, y1: y(0), y2: y(0), stroke: "#333",
                "stroke-dasharray": "4 3"}, svg);
    series.forEach(function (s, i) {
      var n = s.length, d = "M" + x(0) + "," + y(0);
      s.forEach(function (v, k) { d += " L" + x((k + 1) / n * 100) + "," + y(v); });
      el("path", {d: d, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 2,
                  "class": "curve", "data-plan": DATA.report.plans[i].id}, svg);
    });
    legend(svg, DATA.report.plans.map(function (p) { return p.id; }), box.x + box.w + 20, box.y);
  }

  function scatterChart() {
    var W = 1100, H = 460;
    var svg = frame("chart-scatter", "Revenue vs supplier cost per customer (log axes; " +
                    "below the diagonal loses money)", W, H);
    var box = {x: 80, y: 36, w: W - 300, h: H - 90};
    var pts = [], skipped = 0;
    DATA.report.plans.forEach(function (p, i) {
      DATA.customers[p.id].forEach(function (c) {
        var r = num(c.revenue), k = num(c.cost);
        if (r > 0 && k > 0) { pts.push([k, r, i, c.customer_id]); } else { skipped += 1; }
      });
    });
    var vs = pts.map(function (q) { return q[0]; }).concat(pts.map(function (q) { return q[1]; }));
    if (!vs.length) { vs = [1, 10]; }
    var lo = Math.floor(Math.log10(Math.min.apply(null, vs))),
        hi = Math.ceil(Math.log10(Math.max.apply(null, vs)));
    if (hi === lo) { hi = lo + 1; }
    var x = linear(lo, hi, box.x, box.x + box.w), y = linear(lo, hi, box.y + box.h, box.y);
    var decades = [];
    for (var e = lo; e <= hi; e++) { decades.push(e); }
    axes(svg, box, decades.map(function (e) { return {pos: x(e), label: fmt(Math.pow(10, e))}; }),
         decades.map(function (e) { return {pos: y(e), label: fmt(Math.pow(10, e))}; }),
         "supplier cost (" + DATA.report.currency + ", log)",
         "revenue (" + DATA.report.currency + ", log)");
    el("line", {x1: x(lo), y1: y(lo), x2: x(hi), y2: y(hi), stroke: "#999",
                "stroke-dasharray": "5 4"}, svg);
    pts.forEach(function (q) {
      var dot = el("circle", {cx: x(Math.log10(q[0])), cy: y(Math.log10(q[1])), r: 3.5,
                              fill: COLORS[q[2] % COLORS.length], "fill-opacity": 0.75,
                              "class": "dot"}, svg);
      el("title", {}, dot, DATA.report.plans[q[2]].id + " / " + q[3] + ": revenue " +
         fmt(q[1]) + ", cost " + fmt(q[0]));
    });
    legend(svg, DATA.report.plans.map(function (p) { return p.id; }), box.x + box.w + 20, box.y);
    if (skipped) {
      el("text", {x: box.x + box.w + 20, y: box.y + box.h}, svg,
         skipped + " point(s) with zero revenue or cost not shown");
    }
  }

  function utilizationChart() {
    var plans = DATA.report.plans.filter(function (p) { return DATA.utilization[p.id]; });
    var host = document.getElementById("chart-utilization");
    if (!plans.length) {
      host.textContent = "No capacity plan in this comparison.";
      return;
    }
    var W = 1100, H = 330;
    var svg = frame("chart-utilization", "Baseload utilization over time (capacity plans)", W, H);
    var box = {x: 80, y: 36, w: W - 300, h: H - 90};
    var hours = [].concat.apply([], plans.map(function (p) {
      return DATA.utilization[p.id].map(function (q) { return q[0]; }); }));
    var h0 = Math.min.apply(null, hours), h1 = Math.max.apply(null, hours);
    var x = linear(h0, h1 + 1, box.x, box.x + box.w), y = linear(0, 1, box.y + box.h, box.y);
    var xt = ticks(h0, h1 + 1, 6).filter(function (h) { return h >= h0 && h <= h1 + 1; })
      .map(function (h) {
      var d = new Date(h * 3600 * 1000).toISOString();
      return {pos: x(h), label: d.slice(5, 10) + " " + d.slice(11, 16)};
    });
    axes(svg, box, xt, [0, 0.25, 0.5, 0.75, 1].map(function (t) {
      return {pos: y(t), label: (t * 100) + "%"}; }), "hour (UTC)", "covered / reserved");
    plans.forEach(function (p, i) {
      var d = "";
      DATA.utilization[p.id].forEach(function (q, k) {
        d += (k ? " L" : "M") + x(q[0]) + "," + y(Math.min(1, num(q[1])));
        d += " L" + x(q[0] + 1) + "," + y(Math.min(1, num(q[1])));
      });
      el("path", {d: d, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 1.5,
                  "class": "utilization", "data-plan": p.id}, svg);
    });
    legend(svg, plans.map(function (p) { return p.id; }), box.x + box.w + 20, box.y);
  }

  function whatIfChart() {
    var plans = DATA.report.plans.filter(function (p) {
      return p.what_if && p.what_if.supplier_price_change; });
    if (!plans.length) { return; }
    var W = 1100, H = 340, n = plans.length, pw = (W - 40) / n;
    var svg = frame("chart-what-if", "Margin after the supplier price change, per plan (" +
                    DATA.report.currency + "; each plan on its own scale)", W, H);
    var names = ["now", "keep price", "keep margin %"], shades = ["#7f7f7f", "#1f77b4", "#ff7f0e"];
    plans.forEach(function (p, i) {
      var c = p.what_if.supplier_price_change;
      var vals = [num(p.margin), num(c.keep_price.margin), num(c.keep_margin_pct.margin)];
      var box = {x: 30 + pw * i + 10, y: 66, w: pw - 20, h: H - 126};
      var lo = Math.min(0, Math.min.apply(null, vals)), hi = Math.max(0, Math.max.apply(null, vals));
      if (hi === lo) { hi = lo + 1; }
      var y = linear(lo, hi, box.y + box.h, box.y), bw = box.w / 3;
      vals.forEach(function (v, k) {
        var top = y(Math.max(v, 0)), bottom = y(Math.min(v, 0));
        el("rect", {x: box.x + bw * k + bw * 0.15, y: top, width: bw * 0.7,
                    height: Math.max(1, bottom - top), fill: v < 0 ? "#d62728" : shades[k],
                    "class": "what-if-bar", "data-plan": p.id, "data-policy": names[k]}, svg);
        el("text", {x: box.x + bw * (k + 0.5), y: top - 4, "text-anchor": "middle"}, svg, fmt(v));
      });
      el("line", {x1: box.x, x2: box.x + box.w, y1: y(0), y2: y(0), stroke: "#333"}, svg);
      el("text", {x: box.x + box.w / 2, y: box.y + box.h + 18, "text-anchor": "middle"}, svg, p.id);
      var through = c.keep_price.pass_through;
      el("text", {x: box.x + box.w / 2, y: box.y + box.h + 34, "text-anchor": "middle"}, svg,
         "pass-through " + (through === null ? "-" :
                            (Math.round(num(through) * 100) || 0) + "%"));
    });
    names.forEach(function (name, k) {
      el("rect", {x: 40 + k * 130, y: 28, width: 10, height: 10, fill: shades[k]}, svg);
      el("text", {x: 54 + k * 130, y: 37}, svg, name);
    });
  }

  marginChart();
  curveChart();
  scatterChart();
  utilizationChart();
  whatIfChart();
  document.querySelectorAll("svg.chart-svg").forEach(fit);
  document.body.setAttribute("data-rendered", "true");
})();
"""


_CHART_QUANTUM = Decimal("0.000001")


def _chart(value: Decimal) -> str | None:
    """A figure drawn by the charts: 6 places, half-even."""
    return _num(value.quantize(_CHART_QUANTUM, rounding=ROUND_HALF_EVEN, context=EXACT))


def _payload(report: ComparisonReport) -> dict[str, Any]:
    return {
        "report": report.as_dict(),
        "customers": {
            p.id: [{"customer_id": c.customer_id, "revenue": _chart(c.revenue),
                    "cost": _chart(c.cost), "margin": _chart(c.margin)} for c in p.customers]
            for p in report.plans
        },
        "utilization": {
            p.id: [[h, _chart(u)] for h, u in p.utilization_by_hour]
            for p in report.plans if p.utilization_by_hour
        },
    }


GLOSSARY: dict[str, str] = {
    "plan": "the plan's id; the best by margin and by revenue are marked and in bold",
    "revenue": "what the trace's customers pay under the plan, in the report currency (on a "
               "trace shorter than a period: fees prorated, packs counted for the credits "
               "used; see Periods and proration)",
    "cost": "the supplier cost of the same tokens, exact, from the cost book",
    "margin": "revenue - cost",
    "margin %": "margin / revenue (negative when the plan loses money)",
    "neg. margin": "customers whose margin is negative / all customers",
    "cust. margin p5/p50/p95": "the 5th, 50th and 95th percentile of the customers' margin % "
                               "(customers with revenue; linear interpolation)",
    "top 1% cost": "share of the supplier cost spent on the costliest 1% of customers (at "
                   "least one): how concentrated cost is",
    "rev/cost per 1M": "revenue and supplier cost per million tokens of the trace",
    "breakage": "what customers paid for credits that expired unused in the trace (credits "
                "plans; with --full-periods also the paid credits left at its end)",
    "baseload util.": "covered / reserved: weighted tokens used within the baseload / weighted "
                      "tokens reserved, over every customer and hour (capacity plans)",
    "HHI": "Herfindahl-Hirschman index of supplier cost by provider: the sum of each "
           "provider's squared cost share (1 = a single provider, 1/n = n equal providers)",
    "unused reserved": "share of the reserved capacity nobody used, and the baseload revenue "
                       "it brought (every customer is assumed to reserve the plan's baseload)",
    "margin w/o unused": "margin - the revenue of reserved capacity nobody used - credit "
                         "breakage: the margin on what customers used",
    "cost now": "supplier cost at today's prices",
    "cost after": "supplier cost after the price change",
    "margin now": "margin at today's prices",
    "keep price: margin": "margin when the plan is unchanged and rated again at the new cost",
    "pass-through": "revenue change / cost change under keep price: 0% for list prices, "
                    "100% + markup for cost-plus",
    "keep margin %: revenue": "revenue that keeps the plan's margin %: new cost x revenue / "
                              "cost",
    "average customer": "the trace's tokens in the first billing period / customers",
    "margin at average": "the margin of one customer with the trace's usage mix at that level "
                         "(fees and allowances whole)",
    "loses money above": "tokens per period above which that customer's margin is negative "
                         "(never: up to the search's limit)",
    "x average": "that level / the average customer's tokens",
    "light use loses": "a band of light usage that loses money and more usage recovers (a "
                       "free credit grant, for one)",
    "after price change": "the level after the supplier price change (keep price)",
    "margin after": "margin after the off-peak shift (revenue unchanged, supplier cost after)",
    "change": "margin after - margin now",
    "margin % after": "margin after / revenue",
    "neg. margin after": "customers whose margin is negative after the shift / all customers",
}
"""What every column of the HTML tables means (the page's glossary; each header's tooltip)."""


def _head(header: Sequence[str]) -> str:
    e = html.escape
    return "".join(f'<th title="{e(GLOSSARY[h])}">{e(h)}</th>' if h in GLOSSARY
                   else f"<th>{e(h)}</th>" for h in header)


def _glossary(headers: Sequence[Sequence[str]]) -> str:
    """One entry per distinct column of the tables shown, in order of appearance."""
    e = html.escape
    seen: dict[str, None] = {}
    for header in headers:
        seen.update(dict.fromkeys(header))
    return ('<h2>Columns</h2><dl class="glossary" id="glossary">'
            + "".join(f"<dt>{e(h)}</dt><dd>{e(GLOSSARY.get(h, ''))}</dd>" for h in seen)
            + "</dl>")


def _best_html(report: ComparisonReport) -> str:
    """Each "best" with its caveats."""
    e = html.escape
    items = []
    for label, plan in (("best by margin", report.best_by_margin),
                        ("best by revenue", report.best_by_revenue),
                        ("best by margin without unused capacity and breakage",
                         report.best_by_margin_without_unused)):
        notes = plan.caveats.notes
        caveats = ("; ".join(e(n) for n in notes) if notes else "no caveat")
        items.append(f"<li>{e(label)}: <b>{e(plan.id)}</b>"
                     f'{" &mdash; " if notes else " "}<span class="caveat">'
                     f"{'caveats: ' if notes else ''}{caveats}</span></li>")
    return f'<ul class="best-list" id="best">{"".join(items)}</ul>'


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], table_id: str) -> str:
    e = html.escape
    head = _head(header)
    body = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return (f'<div class="scroll"><table id="{table_id}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _what_if_html(report: ComparisonReport) -> str:
    """The what-if section: price change table and chart, break-even table ("" if neither)."""
    e = html.escape
    parts = []
    w = report.what_if
    if w is not None and w.cache_hit_rate is not None:
        parts.append(f'<p class="assumption">ASSUMPTION: cache hit rate {e(str(w.cache_hit_rate))}'
                     f" (the trace has no cache data; {w.cached_tokens_moved:,} fresh input "
                     "tokens billed and costed as cached input, for every plan).</p>")
    rows = report.price_change_rows()
    if rows and w is not None:
        changes = "; ".join(c.label() + " (" + (", ".join(m) or "no model of the trace") + ")"
                            for c, m in w.price_changes)
        parts.append(
            f"<h3>Supplier price change: {e(changes)}</h3>"
            + _table(PRICE_CHANGE_HEADER, rows, "what-if-table")
            + '<p class="sub"><b>keep price</b>: plans unchanged, rated again at the new supplier '
            "cost (cost-plus revenue follows cost by itself: <b>pass-through</b> = revenue change "
            "/ cost change); <b>keep margin %</b>: revenue = new cost x baseline revenue / "
            'baseline cost.</p><div class="chart" id="chart-what-if"></div>')
    rows = report.offpeak_rows()
    if rows and w is not None and w.offpeak is not None:
        shifts = "; ".join(f"{s.label()} ({', '.join(m) or 'no model of the trace'})"
                           for s, m in w.offpeak.shifts)
        windows = "; ".join(f"{model}: {window}" for model, window in w.offpeak.windows.items())
        parts.append(
            f"<h3>Off-peak shift: {e(shifts)}</h3>"
            + _table(OFFPEAK_HEADER, rows, "offpeak-table")
            + f'<p class="sub">That share of each time-of-day model\'s usage outside its '
            f"cheapest price window moved into it, on the same UTC day "
            f"({w.offpeak.tokens_moved:,} tokens; cheapest windows: {e(windows) or '-'}). "
            "Supplier cost changes; revenue does not (the usage stays on its day)"
            + (f"; not modelled for {e(', '.join(w.offpeak_not_modelled))} (capacity plans "
               "bill the hour of use)" if w.offpeak_not_modelled else "") + ".</p>")
    rows = report.break_even_rows()
    if rows:
        first = next(p.break_even for p in report.plans if p.break_even is not None)
        parts.append(
            "<h3>Break-even: where one customer's margin turns negative</h3>"
            + _table(BREAK_EVEN_HEADER, rows, "break-even-table")
            + f'<p class="sub">Tokens per billing period ({e(str(first.period))}, whole) of one '
            "customer with the trace's usage mix; <b>never</b>: the margin stays >= 0 up to "
            f"{MAX_BREAK_EVEN_TOKENS:,} tokens; <b>light use loses</b>: usage in that band "
            f"loses money, more usage recovers (e.g. a free credit grant). Method: {e(BREAK_EVEN_METHOD)}.</p>")
    if not parts:
        return ""
    return "<h2>What if</h2>" + "".join(parts)


def render_html(report: ComparisonReport) -> str:
    """The whole report as one HTML document (no external resource)."""
    e = html.escape
    t = report.trace
    data = json.dumps(_payload(report), ensure_ascii=False).replace("<", "\\u003c")
    header = _head(TABLE_HEADER)
    shown: list[tuple[str, ...]] = [TABLE_HEADER]
    if report.price_change_rows():
        shown.append(PRICE_CHANGE_HEADER)
    if report.offpeak_rows():
        shown.append(OFFPEAK_HEADER)
    if report.break_even_rows():
        shown.append(BREAK_EVEN_HEADER)
    body = []
    best = {report.best_by_margin.id, report.best_by_revenue.id}
    for row, plan in zip(report.table_rows(), report.plans, strict=True):
        cls = ' class="best"' if plan.id in best else ""
        name, _, marks = row[0].partition("  ")  # the marks on a line of their own
        first = e(name) + (f'<span class="marks">{e(marks)}</span>' if marks else "")
        body.append(f"<tr{cls}><td>{first}</td>"
                    + "".join(f"<td>{e(v)}</td>" for v in row[1:]) + "</tr>")
    proration = "".join(f"<li><b>{e(p.id)}</b> (version {e(p.version)}, {e(p.plan_currency)}"
                        f"{'' if p.fx_rate == 1 else f' at {p.fx_rate} {report.currency}'}): "
                        f"{e(p.proration)}</li>" for p in report.plans)
    notes = "".join(f"<li>{e(n)}</li>" for n in report.notes)
    synthetic = ('<p class="synthetic">SYNTHETIC TRACE: generated data (metadata '
                 'synthetic=true), not measured usage.</p>' if t.synthetic else "")
    span = f"{t.start:%Y-%m-%d %H:%M} to {t.end:%Y-%m-%d %H:%M} UTC" if t.start and t.end else "-"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Plan comparison: {e(t.path)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>Plan comparison on {"synthetic" if t.synthetic else "real"} usage</h1>
<p class="sub">Trace <code>{e(t.path)}</code>: {t.events:,} events, {t.customers:,} customers,
{t.tokens:,} tokens, {span}; {t.rejected:,} rejected, {t.skipped:,} skipped rows.
Money in {e(report.currency)} (supplier cost book currency).</p>
{synthetic}
<h2>Plans</h2>
<div class="scroll"><table id="plans-table"><thead><tr>{header}</tr></thead>
<tbody>{"".join(body)}</tbody></table></div>
{_best_html(report)}
<p class="sub">Every customer of the trace is rated as if on each plan.</p>
<h2>Charts</h2>
<div class="chart" id="chart-margin"></div>
<div class="chart" id="chart-curve"></div>
<div class="chart" id="chart-scatter"></div>
<div class="chart" id="chart-utilization"></div>
{_what_if_html(report)}
<h2>Periods and proration</h2><ul class="notes">{proration}</ul>
<h2>Assumptions</h2><ul class="notes">{notes}</ul>
{_glossary(shown)}
<script type="application/json" id="report-data">{data}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
