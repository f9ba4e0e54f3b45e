"""The same compare on Spark (local[2]) and on DuckDB gives the same report, to the cent.

CI installs pyspark through the dev extra and has Java 17: when either is missing these tests
fail (an import error or a session that cannot start), they are never skipped. One Spark
session serves the whole module (it takes 10-20 s to start).

The trace (written by the test, seeded): 5 customers x 4 models over 10 days of November 2026,
hourly timestamps, cache columns, one long-context Claude request (250,000 fresh input tokens,
above the cost book's 200,000 threshold), 5 exact duplicate rows, 2 conflicting copies and one
row with a negative count.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyspark  # noqa: F401  (no pyspark = a failing test, not a skipped one)
import pytest
from pyspark.sql import SparkSession

from billing.cli import main
from billing.costs import CostBook
from billing.errors import TraceError
from billing.usage.aggregate_engine import (
    INT64_MAX,
    aggregate_trace,
    check_sum_bound,
    sum_bound,
)
from billing.usage.aggregates import DailyKey
from billing.usage.mapping import TraceSpec
from billing.usage.spark import spark_arrow, spark_backend

REPO = Path(__file__).parents[2]
PLANS = REPO / "plans"
COSTBOOK = REPO / "examples" / "costbook.yaml"

CUSTOMERS = ["acme", "globex", "initech", "umbrella", "hooli"]
MODELS = ["claude-sonnet-4-5", "gpt-4o-mini", "deepseek-r1", "m-small"]
HEADER = ["id", "customer_id", "timestamp", "model", "input_tokens", "cached_input_tokens",
          "cache_write_tokens", "output_tokens"]


def _trace(path: Path) -> Path:
    rng = random.Random(20261101)
    rows: list[list[str]] = []
    for n in range(300):
        day, hour = 1 + rng.randrange(10), rng.randrange(24)
        rows.append([f"e{n}", rng.choice(CUSTOMERS), f"2026-11-{day:02d}T{hour:02d}:17:00Z",
                     rng.choice(MODELS), str(rng.randrange(100, 60_000)),
                     str(rng.randrange(0, 20_000)), str(rng.randrange(0, 3_000)),
                     str(rng.randrange(10, 4_000))])
    rows.append(["long1", "acme", "2026-11-03T09:00:00Z", "claude-sonnet-4-5",
                 "250000", "0", "0", "1200"])
    rows += [list(rows[i]) for i in (3, 50, 100, 150, 200)]  # exact duplicates: dropped
    for i in (7, 77):  # same id, other content: conflicts, rejected
        rows.append([*rows[i][:7], str(int(rows[i][7]) + 1)])
    rows.append(["bad1", "hooli", "2026-11-04T00:00:00Z", "m-small", "-5", "0", "0", "1"])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SPARK_LOCAL_IP", "127.0.0.1")  # never bind beyond this machine
        session = _start()
        yield session
        session.stop()


def _start() -> SparkSession:
    return (SparkSession.builder.master("local[2]").appName("billing-ci")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.sql.ansi.enabled", "true")
               .getOrCreate())


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _trace(tmp_path_factory.mktemp("spark") / "usage.csv")


def _compare(trace: Path, out: Path, *extra: str) -> dict[str, Any]:
    code = main(["compare", "--plans", str(PLANS), "--trace", str(trace), "--costs",
                 str(COSTBOOK), "--fx", "EUR=1.08", "--json", str(out), "--quiet", *extra])
    assert code == 0
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return report


def test_compare_on_spark_equals_duckdb_to_the_cent(spark: SparkSession, trace: Path,
                                                     tmp_path: Path) -> None:
    duck = _compare(trace, tmp_path / "duck.json")
    on_spark = _compare(trace, tmp_path / "spark.json", "--engine", "spark",
                        "--spark-master", "local[2]")  # the running session is reused
    assert on_spark == duck
    # The amounts are exact decimal strings, so equal reports agree to the cent and beyond.
    # Not two empty reports: 300 + 1 long + 5 duplicates + 2 conflicts + 1 bad = 309 rows,
    # 301 events, 1 rejected (negative); all 7 plans rated, with revenue and supplier cost.
    assert duck["trace"]["events"] == 301
    assert duck["trace"]["rejected"] == 1
    assert len(duck["plans"]) == 7
    assert all(Decimal(p["revenue"]) > 0 and Decimal(p["cost"]) > 0 for p in duck["plans"])
    assert spark.catalog.listTables() == []  # the events view handed to Spark is dropped


def test_spark_aggregates_equal_duckdb(spark: SparkSession, trace: Path, tmp_path: Path) -> None:
    thresholds = CostBook.load(COSTBOOK).thresholds()
    assert 200_000 in thresholds
    spec = TraceSpec(trace)
    duck = aggregate_trace(spec, thresholds=thresholds, hourly=True,
                           rejects_path=tmp_path / "duck.csv")
    on_spark = aggregate_trace(spec, thresholds=thresholds, hourly=True,
                               rejects_path=tmp_path / "spark.csv", engine=spark)
    assert on_spark.aggregates == duck.aggregates
    assert on_spark.stats == duck.stats
    assert (tmp_path / "spark.csv").read_text() == (tmp_path / "duck.csv").read_text()
    # Dedupe ran on Spark: 5 exact copies dropped, 2 conflicting copies rejected.
    assert (duck.stats.duplicates, duck.stats.conflicts) == (5, 2)
    # The long request (250,000 prompt tokens) is alone in its band: every other row has at most
    # 59,999 + 19,999 + 2,999 = 82,997 prompt tokens. Its band counts the thresholds it passes
    # (5 with today's prices: 32,000, 100,000, 128,000, 199,999 and 200,000); its day,
    # 2026-11-03, is day 56 x 365 + 14 leap days + 306 = 20,760 since 1970-01-01.
    band = sum(1 for t in thresholds if t < 250_000)
    long_key = DailyKey("acme", "claude-sonnet-4-5", band, 56 * 365 + 14 + 306)
    assert on_spark.aggregates.daily[long_key].input == 250_000
    assert on_spark.aggregates.daily[long_key].events == 1
    assert all(k.band < band for k in on_spark.aggregates.daily if k != long_key)


def test_sum_bound_on_spark(spark: SparkSession) -> None:
    import pyarrow as pa

    backend = spark_backend(spark)
    assert backend is not None
    frame = spark.createDataFrame(pa.table({
        "input": [10, 250_000], "cached_input": [0, 7], "cache_write": [3, 0],
        "output": [40, 1_200], "requests": [1, 1]}))
    frame.createOrReplaceTempView("bound_events")
    try:
        row = spark_arrow(backend, sum_bound(backend.table("bound_events"))).to_pylist()
    finally:
        spark.catalog.dropTempView("bound_events")
    # 2 rows; the largest count of any column in any row is row 2's input, 250,000.
    assert row == [{"rows": 2, "peak": 250_000}]


# ---------------------------------------------------------------- 64-bit exactness (no Spark)


@pytest.mark.parametrize(("rows", "peak", "thresholds", "fits"), [
    # 10^15 tokens in one group: 10^6 events of up to 10^9 tokens = 10^15 << 9.22 x 10^18.
    (10**6, 10**9, (200_000,), True),
    # 2 events of 2^62: 2 x 2^62 = 2^63 = INT64_MAX + 1.
    (2, 2**62, (), False),
    # one row: its three prompt counts are added, so the factor is 3; 3 x 3074457345618258602
    # = 9223372036854775806 <= 9223372036854775807, one more token and it is over.
    (1, 3_074_457_345_618_258_602, (), True),
    (1, 3_074_457_345_618_258_603, (), False),
    # requests x threshold: 10^14 x 200,000 = 2 x 10^19 > 9.22 x 10^18.
    (2, 10**14, (200_000,), False),
])
def test_check_sum_bound(rows: int, peak: int, thresholds: tuple[int, ...], fits: bool) -> None:
    if fits:
        check_sum_bound(rows, peak, thresholds, where="t.csv")
        return
    with pytest.raises(TraceError, match=r"t\.csv: token sums could exceed 64-bit"):
        check_sum_bound(rows, peak, thresholds, where="t.csv")


def test_engine_refuses_sums_past_64_bits(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    path.write_text("id,customer_id,timestamp,model,input_tokens,output_tokens\n"
                    f"a,c1,2026-11-01T00:00:00Z,m-small,{2**62},0\n"
                    f"b,c1,2026-11-01T01:00:00Z,m-small,{2**62},0\n", encoding="utf-8")
    with pytest.raises(TraceError, match=r"huge\.csv: token sums could exceed 64-bit integers "
                                         r"\(2 events"):
        aggregate_trace(TraceSpec(path))
    # Python integers do not overflow: 2^62 + 2^62 = 2^63 = 9223372036854775808.
    exact = aggregate_trace(TraceSpec(path), engine="python")
    assert sum(c.input for c in exact.aggregates.daily.values()) == INT64_MAX + 1


def test_spark_master_needs_engine_spark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = _trace(tmp_path / "usage.csv")
    code = main(["compare", "--plans", str(PLANS), "--trace", str(trace), "--quiet",
                 "--spark-master", "spark://cluster:7077"])
    assert code == 2
    assert "--spark-master needs --engine spark" in capsys.readouterr().err
