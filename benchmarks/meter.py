"""The online meter's targets: events/s recorded in batches of 10,000, and bill-to-date for one
customer with 10,000 customers live.

Events come from a benchmark trace (SYNTHETIC, see generate.py): its first ``--events`` rows,
read beforehand (reading is not timed) and re-keyed onto ``--customers`` customers subscribed to
``plans/01-payg-rate-card.yaml`` (payg), then handed to ``Meter.record_batch`` as pyarrow
Tables of ``--batch`` rows, one after another. Then ``bill_to_date`` is timed for ``--probes``
customers in turn. Prints a table and, with ``--json``, writes the figures.

    python benchmarks/meter.py benchmarks/data/events-1m.parquet --json benchmarks/data/meter.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from billing.costs import CostBook  # noqa: E402
from billing.plans import load_catalog  # noqa: E402
from billing.rating.meter import FixedClock, Meter  # noqa: E402
from billing.subscriptions import Subscription  # noqa: E402


def _floor(batches: list[pa.Table]) -> float:
    """Seconds to insert the same rows, as plain tuples, into the ledger's ``events`` table in
    an in-memory SQLite database with one bare ``executemany`` per batch: no ledger that keeps
    each event as a row records faster than this."""
    import sqlite3

    con = sqlite3.connect(":memory:", isolation_level=None)
    con.execute(  # the ledger's events table (billing/ledger/schema.py)
        "CREATE TABLE events (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, ts_us INTEGER "
        "NOT NULL, model TEXT NOT NULL, input INTEGER NOT NULL, cached_input INTEGER NOT NULL, "
        "cache_write INTEGER NOT NULL, output INTEGER NOT NULL, requests INTEGER NOT NULL, "
        "session_id TEXT, properties TEXT) WITHOUT ROWID")
    rows = []
    for table in batches:
        names = ("id", "customer_id", "timestamp", "model", "input_tokens",
                 "cached_input_tokens", "cache_write_tokens", "output_tokens")
        cols = [table.column(n).cast(pa.int64()) if n == "timestamp" else table.column(n)
                for n in names if n in table.column_names]
        data = [c.to_pylist() for c in cols]
        while len(data) < len(names):
            data.append([0] * table.num_rows)
        rows.append([(*r, 1, None, None) for r in zip(*data, strict=True)])
    started = time.perf_counter()
    for batch in rows:
        con.execute("BEGIN")
        con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
        con.execute("COMMIT")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=2_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    names = [f"cust-{i:05d}" for i in range(args.customers)]
    trace = pq.ParquetFile(args.trace).read_row_groups(
        range(pq.ParquetFile(args.trace).num_row_groups)).slice(0, args.events)
    # the trace's customers folded onto --customers live ones (customer k of the trace, in
    # order of first use, becomes k mod --customers): every one of them live, the skew kept
    seen = pc.unique(trace.column("customer_id"))
    position = pc.remainder(pc.cast(pc.index_in(trace.column("customer_id"), value_set=seen),
                                    pa.int64()), args.customers)
    trace = trace.set_column(trace.column_names.index("customer_id"), "customer_id",
                             pc.take(pa.array(names), position))
    batches = [trace.slice(start, args.batch) for start in range(0, trace.num_rows, args.batch)]
    read = trace.num_rows
    first = min(pc.min(t.column("timestamp")).as_py() for t in batches)
    last = max(pc.max(t.column("timestamp")).as_py() for t in batches)
    catalog = load_catalog([ROOT / "plans"])
    subs = [Subscription(customer_id=n, plan="payg", start=date(first.year, first.month, 1))
            for n in names]
    meter = Meter(catalog, subs, costbook=CostBook.default(), clock=FixedClock(last))

    started = time.perf_counter()
    for table in batches:
        meter.record_batch(table)
    elapsed = time.perf_counter() - started
    floor = _floor(batches)
    recorded = set(meter.customers())
    live = [n for n in names if n in recorded]

    probes = [live[(i * 7919) % len(live)] for i in range(args.probes)]
    meter.bill_to_date(probes[0])  # compiles the plan once
    times = []
    for name in probes:
        t0 = time.perf_counter()
        meter.bill_to_date(name)
        times.append(time.perf_counter() - t0)
    times.sort()
    result = {
        "trace": str(args.trace.resolve().relative_to(ROOT)) if args.trace.resolve().is_relative_to(
            ROOT) else str(args.trace),
        "events": read, "batch": args.batch, "customers_live": len(live),
        "record_batch_events_per_s": round(read / elapsed),
        "record_batch_seconds": round(elapsed, 3),
        "floor_rows_per_s": round(read / floor),
        "bill_to_date_ms": {
            "median": round(statistics.median(times) * 1000, 3),
            "p95": round(times[int(len(times) * 0.95) - 1] * 1000, 3),
            "max": round(times[-1] * 1000, 3),
        },
        "measured_at": datetime.now().isoformat(timespec="seconds"),
    }
    print(f"record_batch: {read:,} events in batches of {args.batch:,}: {elapsed:.2f} s, "
          f"{result['record_batch_events_per_s']:,} events/s")
    print(f"floor (bare executemany of the same rows into an in-memory events table): "
          f"{result['floor_rows_per_s']:,} rows/s")
    ms = result["bill_to_date_ms"]
    print(f"bill_to_date, {len(live):,} customers live, {len(probes):,} probes: median "
          f"{ms['median']} ms, p95 {ms['p95']} ms, max {ms['max']} ms")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
