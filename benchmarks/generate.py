"""Seeded generator of SYNTHETIC usage events for the benchmarks, written as Parquet.

Calibrated on the real traces in ``shared/data/traces`` (read at generation time when present):

- per-customer skew like ServeGen's clients: each customer's share of events is drawn from a
  lognormal whose sigma is fitted to the clients' request totals in the ServeGen pools;
- token sizes like the Azure requests: input and output tokens of each event are resampled from
  the real (input, output) pairs of the Azure 2023 trace; a share of the input is a cache read;
- several models (each customer has a main model and sometimes uses others), 30 days, UTC.

The file's Parquet metadata says ``synthetic=true`` and names the calibration, so reports built
on it are labelled synthetic. Generated data goes under ``benchmarks/data/`` (git-ignored).

    python benchmarks/generate.py --events 10000000 --out benchmarks/data/events-10m.parquet
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT.parent / "shared" / "data" / "traces"
MODELS = ("gpt-5", "claude-sonnet-4-5", "gpt-4o-mini", "deepseek-r1")
MODEL_WEIGHTS = (0.30, 0.25, 0.30, 0.15)
START_US = 1_793_491_200 * 1_000_000  # 2026-11-01T00:00:00Z
DAYS = 30
# Used only when the real traces are not beside the repository (values fitted from them).
FALLBACK_SIGMA = 2.3
CHUNK = 1_000_000


def skew_sigma(traces: Path) -> tuple[float, str]:  # float-ok: a fitted shape, not money
    """Sigma of log(requests per client), averaged over the ServeGen pools."""
    import csv

    sigmas = []
    for path in sorted(traces.glob("servegen_*_client_windows.csv.gz")):
        totals: dict[str, float] = {}  # float-ok: request counts of a fit
        with gzip.open(path, "rt", newline="") as handle:
            for row in csv.DictReader(handle):
                key = row["pool"] + "/" + row["client_id"]
                totals[key] = totals.get(key, 0.0) + float(row["requests_expected"])  # float-ok
        logs = np.log(np.array([v for v in totals.values() if v > 0]))
        sigmas.append(float(logs.std()))  # float-ok
    if not sigmas:
        return FALLBACK_SIGMA, "fallback sigma (ServeGen files not found)"
    return float(np.mean(sigmas)), f"ServeGen client skew, sigma={np.mean(sigmas):.2f}"  # float-ok


def azure_tokens(traces: Path) -> tuple[np.ndarray, np.ndarray, str]:
    path = traces / "azure2023_requests.csv.gz"
    if not path.exists():
        rng = np.random.default_rng(0)
        return (rng.lognormal(6.9, 1.0, 10_000).astype(np.int64) + 2,
                rng.lognormal(4.5, 1.1, 10_000).astype(np.int64) + 6,
                "fallback lognormal token sizes (Azure file not found)")
    import pyarrow.csv as pcsv

    table = pcsv.read_csv(path)
    return (table.column("input_tokens").to_numpy().astype(np.int64),
            table.column("output_tokens").to_numpy().astype(np.int64),
            f"Azure 2023 token sizes ({table.num_rows} requests)")


def generate(events: int, out: Path, *, customers: int, seed: int, traces: Path) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    sigma, skew_note = skew_sigma(traces)
    inputs, outputs, token_note = azure_tokens(traces)
    weights = rng.lognormal(0.0, sigma, customers)
    weights /= weights.sum()
    main_model = rng.choice(len(MODELS), customers, p=MODEL_WEIGHTS)
    cache_share = rng.uniform(0.0, 0.6, customers)  # float-ok: share of input read from cache
    names = pa.array([f"cust-{i:06d}" for i in range(customers)], pa.string())
    model_names = pa.array(MODELS, pa.string())
    metadata = {
        "synthetic": "true",
        "generator": "benchmarks/generate.py",
        "seed": str(seed),
        "calibration": f"{skew_note}; {token_note}; {len(MODELS)} models; {DAYS} days",
    }
    schema = pa.schema([
        ("id", pa.string()), ("customer_id", pa.string()),
        ("timestamp", pa.timestamp("us", "UTC")), ("model", pa.string()),
        ("input_tokens", pa.int64()), ("cached_input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
    ], metadata={k.encode(): v.encode() for k, v in metadata.items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(out, schema, compression="snappy") as writer:
        for first in range(0, events, CHUNK):
            n = min(CHUNK, events - first)
            customer = rng.choice(customers, n, p=weights)
            model = np.where(rng.random(n) < 0.8, main_model[customer],
                             rng.choice(len(MODELS), n, p=MODEL_WEIGHTS))
            pick = rng.integers(0, len(inputs), n)
            prompt = inputs[pick]
            cached = (prompt * cache_share[customer]).astype(np.int64)
            ts = np.sort(START_US + rng.integers(0, DAYS * 86_400 * 1_000_000, n))
            ids = pc.binary_join_element_wise(
                "e", pa.array(np.arange(first, first + n)).cast(pa.string()), "")
            writer.write_table(pa.table({
                "id": ids,
                "customer_id": names.take(pa.array(customer)),
                "timestamp": pa.array(ts, pa.timestamp("us", "UTC")),
                "model": model_names.take(pa.array(model)),
                "input_tokens": pa.array(prompt - cached),
                "cached_input_tokens": pa.array(cached),
                "output_tokens": pa.array(outputs[pick]),
            }, schema=schema), row_group_size=CHUNK)
    return {"events": events, "customers": customers, "path": str(out), **metadata}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--traces", type=Path, default=TRACES)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "data" / "events-10m.parquet")
    args = parser.parse_args()
    started = time.perf_counter()
    info = generate(args.events, args.out, customers=args.customers, seed=args.seed,
                    traces=args.traces)
    info["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
