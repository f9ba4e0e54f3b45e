"""The comparison report: the stable JSON shape, the CSV rows, the terminal table and HTML.

JSON (documented in docs/compare.md): money as decimal strings (exact, in the report currency),
ratios as decimal strings rounded to 6 places, a field that does not apply to a plan is null.
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

from billing.compare.model import PlanResult, TraceSummary

__all__ = ["CSV_HEADER", "TABLE_HEADER", "ComparisonReport", "money_text"]

CSV_HEADER = ("plan", "customer_id", "revenue", "cost", "margin", "margin_pct", "tokens",
              "credit_breakage", "baseload_utilization", "currency")

TABLE_HEADER = ("plan", "revenue", "cost", "margin", "margin %", "neg. margin",
                "cust. margin p5/p50/p95", "top 1% cost", "rev/cost per 1M", "breakage",
                "baseload util.", "HHI")


def _num(value: Decimal | None) -> str | None:
    """A decimal as a plain string (no exponent); None stays None."""
    if value is None:
        return None
    text = format(value, "f")
    return "0" if text in ("-0", "0E0") else text


def money_text(value: Decimal | None, places: int = 2) -> str:
    """For display only (terminal, HTML): rounded half-up, thousands separated."""
    if value is None:
        return "-"
    quantum = Decimal(1).scaleb(-places)
    return f"{value.quantize(quantum, rounding=ROUND_HALF_UP):,}"


def _pct_text(value: Decimal | None) -> str:
    if value is None:
        return "-"
    return f"{(value * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


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

    @property
    def best_by_margin(self) -> PlanResult:
        return max(self.plans, key=lambda p: (p.margin, p.id))

    @property
    def best_by_revenue(self) -> PlanResult:
        return max(self.plans, key=lambda p: (p.revenue, p.id))

    # --- JSON -----------------------------------------------------------------------------

    @staticmethod
    def _plan_dict(plan: PlanResult) -> dict[str, Any]:
        return {
            "id": plan.id,
            "name": plan.name,
            "version": plan.version,
            "plan_currency": plan.plan_currency,
            "fx_rate": _num(plan.fx_rate),
            "proration": plan.proration,
            "revenue": _num(plan.revenue),
            "cost": _num(plan.cost),
            "margin": _num(plan.margin),
            "margin_pct": _num(plan.margin_pct),
            "customers": len(plan.customers),
            "negative_margin_customers": plan.negative_margin_customers,
            "customer_margin_pct": {k: _num(v) for k, v in plan.customer_margin_pct.items()},
            "top1pct_cost_share": _num(plan.top1pct_cost_share),
            "tokens": plan.tokens,
            "revenue_per_mtok": _num(plan.revenue_per_mtok),
            "cost_per_mtok": _num(plan.cost_per_mtok),
            "credit_breakage": _num(plan.credit_breakage),
            "baseload_utilization": _num(plan.baseload_utilization),
            "by_grade": None if plan.by_grade is None else {
                grade: {"revenue": _num(g.revenue), "cost": _num(g.cost), "margin": _num(g.margin)}
                for grade, g in plan.by_grade.items()
            },
            "supplier_hhi": _num(plan.supplier_hhi),
        }

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
            "notes": list(self.notes),
            "plans": [self._plan_dict(p) for p in self.plans],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n"

    # --- CSV ------------------------------------------------------------------------------

    def csv_rows(self) -> list[tuple[str, ...]]:
        rows: list[tuple[str, ...]] = []
        for plan in self.plans:
            for c in plan.customers:
                util = (None if c.reserved is None or not c.reserved
                        else (c.covered or Decimal(0)) / c.reserved)
                rows.append((
                    plan.id, c.customer_id, _num(c.revenue) or "", _num(c.cost) or "",
                    _num(c.margin) or "", _num(c.margin_pct) or "", str(c.tokens),
                    _num(c.credit_breakage) or "",
                    "" if util is None else format(util.quantize(Decimal("0.000001")), "f"),
                    self.currency,
                ))
        return rows

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

    def to_html(self) -> str:
        from billing.compare.html import render_html

        return render_html(self)

    # --- terminal -------------------------------------------------------------------------

    def table_rows(self) -> Sequence[tuple[str, ...]]:
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
                money_text(p.revenue), money_text(p.cost), money_text(p.margin),
                _pct_text(p.margin_pct), f"{p.negative_margin_customers}/{len(p.customers)}",
                " / ".join(_pct_text(pct[k]) for k in ("p5", "p50", "p95")),
                _pct_text(p.top1pct_cost_share),
                f"{money_text(p.revenue_per_mtok, 4)} / {money_text(p.cost_per_mtok, 4)}",
                money_text(p.credit_breakage), _pct_text(p.baseload_utilization),
                "-" if p.supplier_hhi is None else f"{p.supplier_hhi:.3f}",
            ))
        return rows
