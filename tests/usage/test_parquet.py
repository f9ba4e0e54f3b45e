"""Parquet traces: typed columns are checked by the same rules as text, repeated ids are
deduplicated, and a file whose rows are all valid is aggregated the same way as one with bad
rows (the engine reads a clean file without evaluating the rules a second time)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.aggregates import Counts, DailyKey
from billing.usage.mapping import TraceSpec

AT_10 = datetime(2025, 3, 1, 10, tzinfo=UTC)
AT_11 = datetime(2025, 3, 1, 11, tzinfo=UTC)

GOOD = [
    ("e1", "alice", AT_10, "gpt-4o", 100, 10),
    ("e2", "alice", AT_11, "gpt-4o", 50, 5),
    ("e1", "alice", AT_10, "gpt-4o", 100, 10),  # row 3: a copy of e1, dropped
    ("e3", "bob", AT_11, "gpt-4o-mini", 200, 20),
    ("e3", "bob", AT_11, "gpt-4o-mini", 999, 20),  # row 5: e3 with other content: a conflict
]
BAD = [
    ("e4", None, AT_10, "gpt-4o", 1, 1),  # row 6
    ("e5", "bob", AT_10, "gpt-4o", -3, 1),  # row 7
]


def _write(path: Path, rows: list[tuple[object, ...]]) -> Path:
    columns = list(zip(*rows, strict=True))
    pq.write_table(pa.table({
        "id": pa.array(columns[0], pa.string()),
        "customer_id": pa.array(columns[1], pa.string()),
        "timestamp": pa.array(columns[2], pa.timestamp("us", tz="UTC")),
        "model": pa.array(columns[3], pa.string()),
        "input_tokens": pa.array(columns[4], pa.int64()),
        "output_tokens": pa.array(columns[5], pa.int64()),
    }), path)
    return path


# 2025-03-01 is day 20148. alice: e1 (100 in, 10 out) + e2 (50, 5) = 150 in, 15 out, 2 events;
# bob: the first e3 only (200, 20); each event is one request.
EXPECTED = {
    DailyKey("alice", "gpt-4o", 0, 20148): Counts(150, 0, 0, 15, 2, 2),
    DailyKey("bob", "gpt-4o-mini", 0, 20148): Counts(200, 0, 0, 20, 1, 1),
}


@pytest.mark.parametrize("engine", ["python", "duckdb"])
@pytest.mark.parametrize("with_bad_rows", [False, True])
def test_parquet_rows_are_checked_and_deduplicated(tmp_path: Path, engine: str,
                                                   with_bad_rows: bool) -> None:
    trace = _write(tmp_path / "trace.parquet", GOOD + (BAD if with_bad_rows else []))
    rejects = tmp_path / "rejects.csv"
    result = aggregate_trace(TraceSpec(trace), rejects_path=rejects, engine=engine,
                             hourly=True)
    assert result.aggregates.daily == EXPECTED
    stats = result.stats
    assert (stats.events, stats.duplicates, stats.conflicts) == (3, 1, 1)
    assert stats.rejected == (2 if with_bad_rows else 0)
    assert stats.rows == len(GOOD) + (len(BAD) if with_bad_rows else 0)
    assert (stats.start, stats.end) == (AT_10, AT_11)
    # alice: 100 in at 10:00 and 50 at 11:00; bob 200 at 11:00. 10:00 on day 20148 is hour
    # 20148 x 24 + 10 = 483,562 since 1970.
    hours = {(k.customer_id, k.hour): c.input for k, c in result.aggregates.hourly.items()}
    assert hours == {("alice", 483562): 100, ("alice", 483563): 50, ("bob", 483563): 200}
    with rejects.open(newline="") as handle:
        reported = [(r[1], r[2]) for r in list(csv.reader(handle))[1:]]
    expected = [("5", "conflict")]
    if with_bad_rows:
        expected += [("6", "missing customer_id"), ("7", "negative input_tokens: -3")]
    assert sorted(reported) == sorted(expected)


def test_a_file_replaced_while_it_is_read_is_an_error(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import billing.usage.aggregate_engine as engine
    from billing.errors import TraceError

    trace = _write(tmp_path / "trace.parquet", GOOD)
    scan = engine._scan

    def scan_then_replace(*args: object, **kwargs: object) -> object:
        found = scan(*args, **kwargs)  # type: ignore[arg-type]
        _write(trace, GOOD + BAD)  # another writer finishes the file after the check pass
        return found

    monkeypatch.setattr(engine, "_scan", scan_then_replace)
    with pytest.raises(TraceError, match="the file changed while it was read"):
        aggregate_trace(TraceSpec(trace), engine="duckdb")
