"""Seats from a file, and a synthetic trace labelled as such."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from billing.cli import main

from .conftest import plan_of, run_compare, write
from .test_hand_trace import COSTS, TRACE

SEATS_PLAN = """id: seats-only
version: 2026-01-01
currency: USD
interval: month
charges:
  - kind: seats
    name: Seats
    price: "10.00"
"""


def test_seats_per_customer_from_a_csv_file(tmp_path: Path) -> None:
    write(tmp_path / "plans" / "seats.yaml", SEATS_PLAN)
    seats = write(tmp_path / "seats.csv", "customer_id,seats\na,4\n")
    report = run_compare([
        "--plans", str(tmp_path / "plans"), "--trace", str(write(tmp_path / "t.csv", TRACE)),
        "--costs", str(write(tmp_path / "costs.yaml", COSTS)), "--seats", str(seats),
    ], tmp_path / "out.json")
    # the trace covers half of February: a 4 seats x 10.00 x 1/2 = 20.00; b and c 1 seat: 5.00
    assert Decimal(plan_of(report, "seats-only")["revenue"]) == Decimal("30.00")
    assert any("seats per customer from" in n for n in report["notes"])


def test_a_synthetic_parquet_trace_is_labelled(tmp_path: Path) -> None:
    table = pa.table({
        "id": ["e1", "e2"], "customer_id": ["a", "b"],
        "timestamp": pa.array([1_770_000_000_000_000, 1_770_003_600_000_000],
                              pa.timestamp("us", tz="UTC")),
        "model": ["m-test", "m-test"], "input_tokens": [1_000_000, 2_000_000],
        "output_tokens": [0, 0],
    }).replace_schema_metadata({"synthetic": "true"})
    trace = tmp_path / "sim.parquet"
    pq.write_table(table, trace)
    write(tmp_path / "plans" / "seats.yaml", SEATS_PLAN)
    html = tmp_path / "r.html"
    report = run_compare([
        "--plans", str(tmp_path / "plans"), "--trace", str(trace),
        "--costs", str(write(tmp_path / "costs.yaml", COSTS)), "--html", str(html),
    ], tmp_path / "out.json")
    assert report["trace"]["synthetic"] is True
    assert report["notes"][0].startswith("SYNTHETIC trace")
    page = html.read_text(encoding="utf-8")
    assert "SYNTHETIC TRACE" in page
    assert "Plan comparison on synthetic usage" in page
    # a real trace says so too
    plain = tmp_path / "plain.parquet"
    pq.write_table(table.replace_schema_metadata({}), plain)
    assert main(["compare", "--plans", str(tmp_path / "plans"), "--trace", str(plain),
                 "--costs", str(tmp_path / "costs.yaml"), "--json",
                 str(tmp_path / "plain.json"), "--quiet"]) == 0
    assert '"synthetic": false' in (tmp_path / "plain.json").read_text(encoding="utf-8")
