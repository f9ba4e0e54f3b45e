"""Measure, side by side in one run on the same trace file:

(a) the floor: one raw DuckDB GROUP BY customer, model, hour (benchmarks/floor_duckdb.py);
(b) ``billing compare`` of 10 plans (plans/ plus benchmarks/plans/), end to end, JSON out;
(b9) the same with 9 plans (without benchmarks/plans/10-cost-plus-50.yaml): the 10th plan's cost
     (the median over the rounds of that round's b - b9, over b9);
(c) a straightforward pandas script rating the PAYG plan alone (benchmarks/pandas_payg.py).

Each runs in its own process (interpreter start included), ``--repeat`` times (default 3), in
turn (each round starting one run later than the previous, b9 before b every other round), and
the median wall time is reported (runs on a shared 2-core machine vary by a second or two); peak
RSS is the largest of the runs, from the operating system (``os.wait4``: the process's
own peak, worker processes of ``billing compare`` are separate). Prints a table and JSON (also
written with ``--json``).

    python benchmarks/run.py benchmarks/data/events-10m.parquet --json benchmarks/data/run.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
PLANS = ROOT / "plans"
VARIANTS = ROOT / "benchmarks" / "plans"


def measure(argv: list[str]) -> dict[str, float]:  # float-ok: seconds and megabytes
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    out = process.stdout.read().decode() if process.stdout else ""
    err = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{out}\n{err}")
    # Linux reports ru_maxrss in kilobytes.
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    trace = args.trace.resolve()
    events = pq.ParquetFile(trace).metadata.num_rows
    synthetic = (pq.read_schema(trace).metadata or {}).get(b"synthetic") == b"true"
    py = sys.executable
    variants = sorted(VARIANTS.glob("*.yaml"))
    compare = [py, "-m", "billing", "compare", "--trace", str(trace), "--fx", "EUR=1.08",
               "--quiet"]
    runs = {
        "a_duckdb_floor": [py, "benchmarks/floor_duckdb.py", str(trace)],
        "b_compare_10_plans": [*compare, "--plans", str(PLANS),
                               *(a for v in variants for a in ("--plans", str(v))),
                               "--json", str(args.out_dir / "compare-10.json")],
        "b9_compare_9_plans": [*compare, "--plans", str(PLANS),
                               *(a for v in variants[:-1] for a in ("--plans", str(v))),
                               "--json", str(args.out_dir / "compare-9.json")],
        "c_pandas_payg": [py, "benchmarks/pandas_payg.py", str(trace),
                          str(PLANS / "01-payg-rate-card.yaml")],
    }
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
    names = list(runs)
    for repeat in range(args.repeat):
        # each round starts one run later, so no run always follows the same one (the machine's
        # speed drifts from one run to the next; a fixed order turned that into a bias), and
        # every other round runs b9 before b (else b9 mostly ran right after b)
        order = list(names) if repeat % 2 == 0 else [names[0], names[2], names[1], names[3]]
        shift = repeat % len(order)
        for name in order[shift:] + order[:shift]:
            samples[name].append(measure(runs[name]))
    results = {
        name: {"seconds": statistics.median(r["seconds"] for r in found),
               "runs": [r["seconds"] for r in found],
               "peak_rss_mb": max(r["peak_rss_mb"] for r in found)}
        for name, found in samples.items()
    }
    for figures in results.values():
        figures["events_per_s"] = round(events / figures["seconds"])
    a, b, b9, c = (results[k]["seconds"] for k in runs)
    # The 10th plan's cost from the two runs of each round, less exposed to the machine's drift
    # between rounds than the difference of two medians.
    tenth = statistics.median(
        x["seconds"] - y["seconds"]
        for x, y in zip(samples["b_compare_10_plans"], samples["b9_compare_9_plans"], strict=True))
    report = {
        "trace": {"path": str(args.trace), "events": events, "synthetic": synthetic},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "commands": {name: " ".join(argv).replace(str(ROOT) + "/", "").replace(py, "python")
                     for name, argv in runs.items()},
        "results": results,
        "ratios": {"b_over_a": round(b / a, 2), "c_over_b": round(c / b, 2),
                   "tenth_plan_share": round(tenth / b9, 3)},
    }
    print(f"{'run':<22}{'seconds':>9}{'peak RSS MB':>13}{'events/s':>14}")
    for name, figures in results.items():
        print(f"{name:<22}{figures['seconds']:>9.2f}{figures['peak_rss_mb']:>13.1f}"
              f"{figures['events_per_s']:>14,}")
    ratios = report["ratios"]
    print(f"b/a = {ratios['b_over_a']}  c/b = {ratios['c_over_b']}  "
          f"10th plan adds {ratios['tenth_plan_share']:.1%} to b")
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
