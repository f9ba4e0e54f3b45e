"""Rating plans in parallel worker processes changes nothing in the report."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from billing.compare import CompareOptions, compare
from billing.costs import CostBook
from billing.plans import load_catalog
from billing.usage.mapping import TraceSpec

ROOT = Path(__file__).parents[2]


def test_one_worker_and_two_workers_give_the_same_report() -> None:
    catalog = load_catalog([ROOT / "plans"])
    spec = TraceSpec(ROOT / "data" / "traces" / "servegen_reason_deepseek-r1_client_windows.csv.gz",
                     columns={"customer_id": "pool+client_id", "timestamp": "window_start_s",
                              "input_tokens": "input_tokens_expected",
                              "output_tokens": "output_tokens_expected",
                              "requests": "requests_expected"},
                     model="deepseek-r1", timestamp_unit="s",
                     time_origin=__import__("datetime").datetime.fromisoformat("2026-01-05T00:00:00+00:00"),
                     round_tokens=True, skip_when={"token_pdf_available": "False"})
    book = CostBook.load(ROOT / "examples" / "costbook.yaml")
    reports = [
        compare(catalog, spec, costbook=book,
                options=CompareOptions(fx={"EUR": Decimal("1.08")}, workers=n, break_even=False))
        for n in (1, 2)
    ]
    assert reports[0].to_json() == reports[1].to_json()
    assert len(reports[0].plans) == 7
