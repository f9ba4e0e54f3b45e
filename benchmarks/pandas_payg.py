"""(c) What a user would otherwise write: a straightforward pandas script rating PAYG.

Reads the trace, prices every row with the PAYG rate card (first matching model pattern), sums
per customer. It rates one plan, in floats (the usual shortcut this library exists to avoid):
a baseline for speed only, never for amounts.

    python benchmarks/pandas_payg.py benchmarks/data/events-10m.parquet plans/01-payg-rate-card.yaml
"""

from __future__ import annotations

import fnmatch
import sys
import time

import pandas as pd
import yaml


def main(path: str, plan_path: str) -> None:
    started = time.perf_counter()
    with open(plan_path, encoding="utf-8") as handle:
        plan = yaml.safe_load(handle)
    rates = plan["charges"][0]["rates"]
    df = pd.read_parquet(path, columns=["customer_id", "model", "input_tokens",
                                        "cached_input_tokens", "output_tokens"])
    price = {}
    for model in df["model"].unique():
        rate = next(r for r in rates if any(fnmatch.fnmatch(model, p) for p in r["models"]))
        price[model] = rate
    for cls in ("input", "cached_input", "output"):
        per_mtok = {m: float(r.get(cls, 0)) for m, r in price.items()}  # float-ok: baseline
        df[f"{cls}_price"] = df["model"].map(per_mtok)
    df["amount"] = (df["input_tokens"] * df["input_price"]
                    + df["cached_input_tokens"] * df["cached_input_price"]
                    + df["output_tokens"] * df["output_price"]) / 1_000_000
    bills = df.groupby("customer_id")["amount"].sum().round(2)
    print(f"{len(bills)} customers, total {bills.sum():.2f} in "
          f"{time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
