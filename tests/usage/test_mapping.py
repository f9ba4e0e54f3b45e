"""Column mappings as a user writes them on the command line or in code."""

from pathlib import Path

import pytest

from billing.errors import TraceError
from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.mapping import TraceSpec, parse_mapping


def test_parse_mapping_reads_plain_and_composite_columns() -> None:
    got = parse_mapping(["customer_id=pool+client_id", "timestamp=window_start_s"],
                        ["pool", "client_id", "window_start_s"])
    assert got == {"customer_id": ("pool", "client_id"), "timestamp": "window_start_s"}


def test_parse_mapping_names_an_unknown_field() -> None:
    with pytest.raises(TraceError, match=r"unknown field 'customer'.*customer_id"):
        parse_mapping(["customer=client_id"])


def test_parse_mapping_lists_the_files_columns_for_an_unknown_column() -> None:
    with pytest.raises(TraceError, match=r"unknown column 'client'.*columns are: pool, client_id"):
        parse_mapping(["customer_id=pool+client"], ["pool", "client_id"], path="t.csv")


def test_parse_mapping_refuses_a_malformed_item() -> None:
    with pytest.raises(TraceError, match="FIELD=COLUMN"):
        parse_mapping(["customer_id"])


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_a_mapped_column_missing_from_the_file_is_named_with_the_files_columns(
        tmp_path: Path, engine: str) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("id,client,ts,input_tokens\ne1,a,2025-01-01T00:00:00Z,5\n")
    spec = TraceSpec(trace, columns={"customer_id": "customer", "timestamp": "ts"}, model="m")
    with pytest.raises(TraceError, match=r"'customer'.*not in the file.*id, client, ts"):
        aggregate_trace(spec, engine=engine)


def test_a_trace_without_model_needs_one_stated() -> None:
    spec = TraceSpec(Path("t.csv"), columns={"customer_id": "c", "timestamp": "ts"})
    with pytest.raises(TraceError, match=r"no model column"):
        spec.resolve(["c", "ts"])
