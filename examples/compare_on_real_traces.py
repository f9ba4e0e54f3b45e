"""Compare every plan in plans/ on the real usage traces in data/traces/ (Python API).

Run from the repository root:  python examples/compare_on_real_traces.py [OUT_DIR]

Writes, per trace, a JSON report, a CSV (one row per plan and customer) and a self-contained
HTML report with charts into OUT_DIR (default: compare-reports/), and prints a summary line per
plan. The same runs from the command line are in docs/compare.md.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from billing.compare import CompareOptions, ComparisonReport, compare
from billing.costs import CostBook
from billing.plans import load_catalog
from billing.usage.mapping import TraceSpec

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT / "data" / "traces"

# Azure 2023 (Splitwise, ISCA'24): one row per request; `service` (code / conv) is the only
# grouping, timestamps carry no zone (UTC), and there is no model: we state one.
AZURE = TraceSpec(
    path=TRACES / "azure2023_requests.csv.gz",
    columns={"customer_id": "service"},
    model="gpt-4o-mini",
    assume_tz="UTC",
)

# ServeGen (Alibaba Bailian): one row per client and 10-minute window, one event per row.
# The customer is pool + client_id; window_start_s counts seconds from an origin the data does
# not give: we choose Monday 2026-01-05T00:00Z. Expected token counts are fractional (rounded
# half-up); rows without a token histogram carry no tokens and are skipped (and reported).
SERVEGEN = TraceSpec(
    path=TRACES / "servegen_reason_deepseek-r1_client_windows.csv.gz",
    columns={
        "customer_id": ("pool", "client_id"),
        "timestamp": "window_start_s",
        "input_tokens": "input_tokens_expected",
        "output_tokens": "output_tokens_expected",
        "requests": "requests_expected",
    },
    model="deepseek-r1",
    timestamp_unit="s",
    time_origin=datetime(2026, 1, 5, tzinfo=UTC),
    round_tokens=True,
    skip_when={"token_pdf_available": "False"},
)


def write_reports(name: str, report: ComparisonReport, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(report.to_json(), encoding="utf-8")
    report.to_csv(out / f"{name}.csv")
    (out / f"{name}.html").write_text(report.to_html(), encoding="utf-8")
    print(f"\n{name}: {report.trace.events:,} events, {report.trace.customers} customers "
          f"-> {out / name}.html")
    for plan in report.plans:
        pct = "n/a" if plan.margin_pct is None else f"{plan.margin_pct * 100:.1f}%"
        print(f"  {plan.id:22} revenue {plan.revenue:>12,.2f}  cost {plan.cost:>10,.2f}  "
              f"margin {pct:>8}  negative-margin customers {plan.negative_margin_customers}")
    for label, best in (("margin", report.best_by_margin), ("revenue", report.best_by_revenue)):
        caveats = "; ".join(best.caveats.notes) or "no caveat"
        print(f"  best by {label}: {best.id} ({caveats})")


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("compare-reports")
    catalog = load_catalog([ROOT / "plans"])
    costbook = CostBook.load(ROOT / "examples" / "costbook.yaml")  # prices deepseek-r1, m-small
    options = CompareOptions(
        fx={"EUR": Decimal("1.08")},  # plans/07 is priced in EUR: 1 EUR = 1.08 USD
        notes=("1 EUR = 1.08 USD",),
    )
    for name, spec in (("azure2023", AZURE), ("servegen-deepseek-r1", SERVEGEN)):
        write_reports(name, compare(catalog, spec, costbook=costbook, options=options), out)


if __name__ == "__main__":
    main()
