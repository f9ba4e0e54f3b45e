"""(a) The floor: one raw DuckDB GROUP BY customer, model, hour summing the token columns.

The fastest form of the raw query (an integer hour key, ``epoch_us // 3.6e9``, not
``date_trunc``), with the result fetched into Python.

    python benchmarks/floor_duckdb.py benchmarks/data/events-10m.parquet
"""

from __future__ import annotations

import sys
import time

import duckdb


def main(path: str) -> None:
    started = time.perf_counter()
    con = duckdb.connect()
    rows = con.execute(
        "SELECT customer_id, model, epoch_us(timestamp) // 3600000000 AS hour, "
        "sum(input_tokens), sum(cached_input_tokens), sum(output_tokens), count(*) "
        "FROM read_parquet(?) GROUP BY ALL", [path]).fetchall()
    print(f"{len(rows)} groups in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1])
