"""(a) The floor: one raw DuckDB GROUP BY customer, model, hour summing the token columns.

The fastest form of the raw query (an integer hour key, ``epoch_us // 3.6e9``, not
``date_trunc``), with the result fetched as an Arrow table: the columnar form the engine hands
on. (Fetching the 3.4M groups as Python tuples would add ~10 s of pure object building to the
floor, which is not the engine's limit but the interpreter's.)

    python benchmarks/floor_duckdb.py benchmarks/data/events-10m.parquet
"""

from __future__ import annotations

import sys
import time

import duckdb


def main(path: str) -> None:
    started = time.perf_counter()
    con = duckdb.connect()
    quoted = "'" + path.replace("'", "''") + "'"
    rows = con.sql(
        "SELECT customer_id, model, epoch_us(timestamp) // 3600000000 AS hour, "
        "sum(input_tokens), sum(cached_input_tokens), sum(output_tokens), count(*) "
        f"FROM read_parquet({quoted}) GROUP BY ALL").to_arrow_table()
    print(f"{len(rows)} groups in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1])
