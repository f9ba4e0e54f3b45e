"""The comparison report: the stable JSON shape, the CSV rows, the terminal table and HTML.

JSON and CSV (documented in docs/compare.md): money as decimal strings in the report currency,
rounded half-up to its minor unit (0.01 USD, 1 JPY), as the terminal table shows it; prices per
1M tokens and ratios as decimal strings rounded half-even to 6 places; inputs (an exchange rate,
a cache hit rate, a price change) as given; a field that does not apply to a plan is null. Every
figure is rounded once, from its exact value (a :class:`PlanResult` keeps the exact figures), so
a sum of rounded figures can differ from the rounded total by a minor unit or so.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from billing.compare.model import PlanResult, TraceSummary, WhatIf, ratio
from billing.compare.whatif import BREAK_EVEN_METHOD, MAX_BREAK_EVEN_TOKENS, BreakEven
from billing.invoice import decimal_text
from billing.money import EXACT, in_exact_context, minor_units

__all__ = ["BREAK_EVEN_HEADER", "CSV_HEADER", "OFFPEAK_HEADER", "PRICE_CHANGE_HEADER",
           "TABLE_HEADER",
           "ComparisonReport", "money_text", "tokens_text"]

CSV_HEADER = ("plan", "customer_id", "revenue", "cost", "margin", "margin_pct", "tokens",
              "credit_breakage", "baseload_utilization", "currency")

TABLE_HEADER = ("plan", "revenue", "cost", "margin", "margin %", "neg. margin",
                "cust. margin p5/p50/p95", "top 1% cost", "rev/cost per 1M", "breakage",
                "baseload util.", "HHI", "unused reserved", "margin w/o unused")
"""The plans table's columns (the terminal shows a subset, picked by position: columns are
only ever appended)."""


def _num(value: Decimal | None) -> str | None:
    """A decimal as a plain fixed-point string (no exponent, no "-0"); None stays None. For
    figures already rounded (ratios, per-1M prices) and for inputs, as given."""
    if value is None:
        return None
    return decimal_text(value)


def _money(value: Decimal | None, currency: str) -> str | None:
    """A money figure of the report: rounded half-up to ``currency``'s minor unit, as the terminal
    table shows it (never "-0.00"); None stays None."""
    if value is None:
        return None
    return decimal_text(value.quantize(Decimal(1).scaleb(-minor_units(currency)),
                                       rounding=ROUND_HALF_UP, context=EXACT))


def money_text(value: Decimal | None, places: int = 2) -> str:
    """For display only (terminal, HTML): rounded half-up, thousands separated."""
    if value is None:
        return "-"
    quantum = Decimal(1).scaleb(-places)
    return f"{value.quantize(quantum, rounding=ROUND_HALF_UP, context=EXACT):,}"


PRICE_CHANGE_HEADER = ("plan", "cost now", "cost after", "margin now", "keep price: margin",
                       "margin %", "neg. margin", "pass-through",
                       "keep margin %: revenue", "margin")

OFFPEAK_HEADER = ("plan", "cost now", "cost after", "margin now", "margin after", "change",
                  "margin % after", "neg. margin after")

BREAK_EVEN_HEADER = ("plan", "average customer", "margin at average",
                     "loses money above", "x average", "light use loses",
                     "after price change")


def tokens_text(value: int | None) -> str:
    """Token counts for display: 1.2k, 3.4M, 5.6G, 7.8T (one decimal)."""
    if value is None:
        return "never"
    for size, unit in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k")):
        if value >= size:
            return f"{Decimal(value) / size:.1f}{unit}"
    return str(value)


def _break_even_dict(found: BreakEven | None, currency: str) -> dict[str, Any] | None:
    if found is None:
        return None
    return {
        "period": str(found.period),
        "average_customer_tokens_per_period": found.average_customer_tokens,
        "tokens_per_period": found.tokens_per_period,
        "margin_at_break_even": _money(found.margin_at_break_even, currency),
        "margin_at_average_customer": _money(found.margin_at_average, currency),
        "light_use_loss": None if found.loses_from is None else {
            "from_tokens": found.loses_from, "to_tokens": found.profitable_from},
        "times_average_customer": (None if found.tokens_per_period is None
                                   else _num(ratio(Decimal(found.tokens_per_period),
                                                   Decimal(found.average_customer_tokens)))),
        "ratings": found.ratings,
    }


def _pass_through(plan: PlanResult) -> Decimal | None:
    """How much of the cost change reached revenue under "keep price" (1: all of it)."""
    change = plan.price_change
    if change is None:
        return None
    found = ratio(change.keep_price_revenue - plan.revenue, change.cost - plan.cost)
    return abs(found) if found is not None and not found else found  # never "-0.000000"


def _pct_text(value: Decimal | None) -> str:
    if value is None:
        return "-"
    shown = (value * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{shown if shown else abs(shown)}%"  # never "-0.0%"


def _unused_text(plan: PlanResult, places: int = 2) -> str:
    """Share of the reserved capacity nobody used, and the baseload revenue it brought."""
    c = plan.caveats
    if c.unused_reserved_share is None:
        return "-"
    return f"{_pct_text(c.unused_reserved_share)} ({money_text(c.unused_reserved_revenue, places)})"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


@dataclass(frozen=True, slots=True)
class ComparisonReport:
    """Every plan's figures on one trace; :meth:`as_dict` is the stable JSON shape."""

    trace: TraceSummary
    currency: str
    plans: tuple[PlanResult, ...]
    notes: tuple[str, ...] = ()
    rejects_path: Path | None = None
    what_if: WhatIf | None = None

    @property
    def best_by_margin(self) -> PlanResult:
        return max(self.plans, key=lambda p: (p.margin, p.id))

    @property
    def best_by_revenue(self) -> PlanResult:
        return max(self.plans, key=lambda p: (p.revenue, p.id))

    @property
    def best_by_margin_without_unused(self) -> PlanResult:
        """Best by the margin on what customers used: less the revenue of reserved capacity
        nobody used and of credit breakage."""
        return max(self.plans, key=lambda p: (p.caveats.margin_without_unused, p.id))

    @in_exact_context
    def best_lines(self) -> list[str]:
        """"Best" in words, each with its caveats (the terminal prints these lines)."""
        lines = []
        for label, plan in (("best by margin", self.best_by_margin),
                            ("best by revenue", self.best_by_revenue),
                            ("best by margin without unused capacity and breakage",
                             self.best_by_margin_without_unused)):
            notes = plan.caveats.notes
            lines.append(f"{label}: {plan.id}" + (f" (caveats: {'; '.join(notes)})"
                                                    if notes else " (no caveat)"))
        return lines

    @staticmethod
    def _caveats_dict(plan: PlanResult, currency: str) -> dict[str, Any]:
        c = plan.caveats
        return {
            "negative_margin_share": _num(c.negative_margin_share),
            "unused_reserved_share": _num(c.unused_reserved_share),
            "unused_reserved_revenue": _money(c.unused_reserved_revenue, currency),
            "unused_reserved_revenue_share": _num(c.unused_reserved_revenue_share),
            "breakage_share": _num(c.breakage_share),
            "margin_without_unused": _money(c.margin_without_unused, currency),
            "notes": list(c.notes),
        }

    # --- JSON -----------------------------------------------------------------------------

    @staticmethod
    def _plan_dict(plan: PlanResult, currency: str) -> dict[str, Any]:
        def money(value: Decimal | None) -> str | None:
            return _money(value, currency)

        return {
            "id": plan.id,
            "name": plan.name,
            "version": plan.version,
            "plan_currency": plan.plan_currency,
            "fx_rate": _num(plan.fx_rate),
            "proration": plan.proration,
            "revenue": money(plan.revenue),
            "cost": money(plan.cost),
            "margin": money(plan.margin),
            "margin_pct": _num(plan.margin_pct),
            "customers": len(plan.customers),
            "negative_margin_customers": plan.negative_margin_customers,
            "customer_margin_pct": {k: _num(v) for k, v in plan.customer_margin_pct.items()},
            "top1pct_cost_share": _num(plan.top1pct_cost_share),
            "tokens": plan.tokens,
            "revenue_per_mtok": _num(plan.revenue_per_mtok),
            "cost_per_mtok": _num(plan.cost_per_mtok),
            "credit_breakage": money(plan.credit_breakage),
            "baseload_utilization": _num(plan.baseload_utilization),
            "by_grade": None if plan.by_grade is None else {
                grade: {"revenue": money(g.revenue), "cost": money(g.cost),
                        "margin": money(g.margin)}
                for grade, g in plan.by_grade.items()
            },
            "supplier_hhi": _num(plan.supplier_hhi),
            "what_if": ComparisonReport._plan_what_if(plan, currency),
            "credit_unused_prepaid": money(plan.credit_unused_prepaid),
            "caveats": ComparisonReport._caveats_dict(plan, currency),
        }

    @staticmethod
    def _plan_what_if(plan: PlanResult, currency: str) -> dict[str, Any]:
        def money(value: Decimal | None) -> str | None:
            return _money(value, currency)

        change = plan.price_change
        price: dict[str, Any] | None = None
        if change is not None:
            price = {
                "cost": money(change.cost),
                "keep_price": {
                    "revenue": money(change.keep_price_revenue),
                    "margin": money(change.keep_price_margin),
                    "margin_pct": _num(change.keep_price_margin_pct),
                    "negative_margin_customers": change.keep_price_negative_customers,
                    "pass_through": _num(_pass_through(plan)),
                },
                "keep_margin_pct": {
                    "revenue": money(change.keep_margin_revenue),
                    "margin": money(change.keep_margin_margin),
                    "margin_pct": _num(change.keep_margin_margin_pct),
                },
            }
        return {
            "supplier_price_change": price,
            "break_even": _break_even_dict(plan.break_even, currency),
            "offpeak_shift": None if plan.offpeak_shift is None else {
                "cost": money(plan.offpeak_shift.cost),
                "revenue": money(plan.offpeak_shift.revenue),
                "margin": money(plan.offpeak_shift.margin),
                "margin_pct": _num(plan.offpeak_shift.margin_pct),
                "margin_change": money(plan.offpeak_shift.margin_change),
                "negative_margin_customers": plan.offpeak_shift.negative_margin_customers,
            },
            "break_even_after_price_change": _break_even_dict(plan.break_even_after_change,
                                                              currency),
        }

    def _what_if_dict(self) -> dict[str, Any]:
        w = self.what_if
        return {
            "cache_hit_rate": None if w is None or w.cache_hit_rate is None else {
                "rate": _num(w.cache_hit_rate), "cached_tokens_moved": w.cached_tokens_moved,
                "assumption": True,
            },
            "supplier_price_change": None if w is None or not w.price_changes else {
                "changes": [{"models": c.models, "change": _num(c.change),
                             "factor": _num(c.factor), "applies_to": list(m)}
                            for c, m in w.price_changes],
                "baseline_cost": _money(w.baseline_cost, self.currency),
                "cost": _money(w.changed_cost, self.currency),
            },
            "offpeak_shift": None if w is None or w.offpeak is None else {
                "shifts": [{"models": s.models, "share": _num(s.share), "applies_to": list(m)}
                           for s, m in w.offpeak.shifts],
                "cheapest_windows": dict(w.offpeak.windows),
                "tokens_moved": w.offpeak.tokens_moved,
                "baseline_cost": _money(w.offpeak_baseline_cost, self.currency),
                "cost": _money(None if w.offpeak_baseline_cost is None
                               else w.offpeak_baseline_cost + w.offpeak.cost_change,
                               self.currency),
                "cost_change": _money(w.offpeak.cost_change, self.currency),
                "revenue_unchanged": True,
                "not_modelled": list(w.offpeak_not_modelled),
            },
            "break_even": None if not any(p.break_even for p in self.plans) else {
                "method": BREAK_EVEN_METHOD,
                "max_tokens_per_period": MAX_BREAK_EVEN_TOKENS,
            },
        }

    @in_exact_context
    def as_dict(self) -> dict[str, Any]:
        t = self.trace
        return {
            "trace": {
                "path": t.path, "events": t.events, "customers": t.customers,
                "rejected": t.rejected, "skipped": t.skipped, "start": _iso(t.start),
                "end": _iso(t.end), "tokens": t.tokens, "models": list(t.models),
                "synthetic": t.synthetic,
            },
            "currency": self.currency,
            "best_by_margin": self.best_by_margin.id,
            "best_by_revenue": self.best_by_revenue.id,
            "best_by_margin_without_unused": self.best_by_margin_without_unused.id,
            "best": {
                key: {"plan": plan.id, "caveats": list(plan.caveats.notes)}
                for key, plan in (("by_margin", self.best_by_margin),
                                  ("by_revenue", self.best_by_revenue),
                                  ("by_margin_without_unused",
                                   self.best_by_margin_without_unused))
            },
            "notes": list(self.notes),
            "what_if": self._what_if_dict(),
            "plans": [self._plan_dict(p, self.currency) for p in self.plans],
        }

    @in_exact_context
    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n"

    # --- CSV ------------------------------------------------------------------------------

    @in_exact_context
    def csv_rows(self) -> list[tuple[str, ...]]:
        def money(value: Decimal | None) -> str:
            return _money(value, self.currency) or ""

        rows: list[tuple[str, ...]] = []
        for plan in self.plans:
            for c in plan.customers:
                util = (None if c.reserved is None or not c.reserved
                        else (c.covered or Decimal(0)) / c.reserved)
                rows.append((
                    plan.id, c.customer_id, money(c.revenue), money(c.cost), money(c.margin),
                    _num(c.margin_pct) or "", str(c.tokens), money(c.credit_breakage),
                    "" if util is None else format(util.quantize(Decimal("0.000001")), "f"),
                    self.currency,
                ))
        return rows

    @in_exact_context
    def to_csv(self, path: str | Path) -> Path:
        """One row per (plan, customer); empty cells where a figure does not apply."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_HEADER)
            writer.writerows(self.csv_rows())
        return out

    # --- HTML -----------------------------------------------------------------------------

    @in_exact_context
    def to_html(self) -> str:
        from billing.compare.html import render_html

        return render_html(self)

    # --- terminal -------------------------------------------------------------------------

    @in_exact_context
    def table_rows(self) -> Sequence[tuple[str, ...]]:
        places = minor_units(self.currency)
        best_margin, best_revenue = self.best_by_margin.id, self.best_by_revenue.id
        rows = []
        for p in self.plans:
            marks = []
            if p.id == best_margin:
                marks.append("best margin")
            if p.id == best_revenue:
                marks.append("best revenue")
            pct = p.customer_margin_pct
            rows.append((
                p.id + (f"  [{', '.join(marks)}]" if marks else ""),
                money_text(p.revenue, places), money_text(p.cost, places),
                money_text(p.margin, places),
                _pct_text(p.margin_pct), f"{p.negative_margin_customers}/{len(p.customers)}",
                " / ".join(_pct_text(pct[k]) for k in ("p5", "p50", "p95")),
                _pct_text(p.top1pct_cost_share),
                f"{money_text(p.revenue_per_mtok, 4)} / {money_text(p.cost_per_mtok, 4)}",
                money_text(p.credit_breakage, places), _pct_text(p.baseload_utilization),
                "-" if p.supplier_hhi is None else f"{p.supplier_hhi:.3f}",
                _unused_text(p, places), money_text(p.caveats.margin_without_unused, places),
            ))
        return rows

    @in_exact_context
    def price_change_rows(self) -> Sequence[tuple[str, ...]]:
        """The supplier price change beside the baseline, one row per plan (empty if none)."""
        places = minor_units(self.currency)
        rows = []
        for p in self.plans:
            c = p.price_change
            if c is None:
                continue
            through = _pass_through(p)
            follows = _pct_text(through)
            rows.append((
                p.id, money_text(p.cost, places), money_text(c.cost, places),
                money_text(p.margin, places),
                money_text(c.keep_price_margin, places), _pct_text(c.keep_price_margin_pct),
                f"{c.keep_price_negative_customers}/{len(p.customers)}", follows,
                money_text(c.keep_margin_revenue, places), money_text(c.keep_margin_margin, places),
            ))
        return rows

    @in_exact_context
    def offpeak_rows(self) -> Sequence[tuple[str, ...]]:
        """The off-peak shift beside the baseline, one row per plan it applies to (empty if
        none asked)."""
        places = minor_units(self.currency)
        rows = []
        for p in self.plans:
            o = p.offpeak_shift
            if o is None:
                continue
            rows.append((
                p.id, money_text(p.cost, places), money_text(o.cost, places),
                money_text(p.margin, places), money_text(o.margin, places),
                money_text(o.margin_change, places), _pct_text(o.margin_pct),
                f"{o.negative_margin_customers}/{len(p.customers)}",
            ))
        return rows

    @in_exact_context
    def break_even_rows(self) -> Sequence[tuple[str, ...]]:
        """Each plan's break-even usage level (empty when not computed)."""
        places = minor_units(self.currency)
        rows = []
        for p in self.plans:
            b = p.break_even
            if b is None:
                continue
            times = (None if b.tokens_per_period is None or not b.average_customer_tokens
                     else Decimal(b.tokens_per_period) / b.average_customer_tokens)
            after = p.break_even_after_change
            rows.append((
                p.id, tokens_text(b.average_customer_tokens),
                money_text(b.margin_at_average, places), tokens_text(b.tokens_per_period),
                "-" if times is None else f"{times.quantize(Decimal('0.1'), ROUND_HALF_UP):,}x",
                "-" if b.loses_from is None else
                f"{tokens_text(b.loses_from)} to {tokens_text(b.profitable_from)}",
                "-" if after is None else tokens_text(after.tokens_per_period),
            ))
        return rows
