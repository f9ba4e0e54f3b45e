"""Bad input stops the run with one clear line naming the file and the reason (exit code 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.cli import main

from .conftest import COSTBOOK, PLANS, REPO, TRACES, write

AZURE = str(TRACES / "azure2023_requests.csv.gz")


def _error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["compare", *args, "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    return lines[0]


def test_a_missing_trace(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = _error(capsys, "--plans", str(PLANS), "--trace", str(tmp_path / "nope.csv"),
                  "--model", "gpt-4o-mini")
    assert "nope.csv: no such trace file" in line


def test_a_mapping_to_a_column_the_trace_lacks(capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, "--plans", str(PLANS / "01-payg-rate-card.yaml"), "--trace", AZURE,
                  "--map", "customer_id=client", "--model", "gpt-4o-mini", "--assume-tz", "UTC")
    assert "azure2023_requests.csv.gz" in line
    assert "column 'client' (mapped to customer_id) is not in the file" in line
    assert "timestamp, service, input_tokens, output_tokens" in line  # the columns it has


def test_a_mapping_to_an_unknown_field(capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, "--plans", str(PLANS), "--trace", AZURE, "--map", "customer=service",
                  "--model", "gpt-4o-mini")
    assert "unknown field 'customer'" in line


def test_a_model_the_cost_book_does_not_know_lists_the_closest(
        capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, "--plans", str(PLANS / "01-payg-rate-card.yaml"), "--trace", AZURE,
                  "--map", "customer_id=service", "--assume-tz", "UTC",
                  "--model", "gpt-4o-minii", "--costs", str(COSTBOOK))
    assert "no supplier price for model 'gpt-4o-minii'" in line
    assert "closest known: gpt-4o-mini" in line


def test_a_plan_that_fails_to_load_names_file_and_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    broken = REPO / "tests" / "fixtures" / "broken-plans" / "negative-price.yaml"
    line = _error(capsys, "--plans", str(broken), "--trace", AZURE,
                  "--map", "customer_id=service", "--model", "gpt-4o-mini")
    assert "negative-price.yaml:" in line


def test_naive_timestamps_without_a_zone_are_all_rejected(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # every sampled timestamp is naive: the run stops before reading, naming the option
    line = _error(capsys, "--plans", str(PLANS / "01-payg-rate-card.yaml"), "--trace", AZURE,
                  "--map", "customer_id=service", "--model", "gpt-4o-mini")
    assert "no time zone in timestamps like" in line
    assert "--assume-tz ZONE" in line


def test_a_bad_seats_file_names_its_line(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    seats = write(tmp_path / "seats.csv", "customer_id,seats\nconv,3\ncode,many\n")
    line = _error(capsys, "--plans", str(PLANS), "--trace", AZURE, "--map",
                  "customer_id=service", "--model", "gpt-4o-mini", "--seats", str(seats))
    assert f"{seats}:3: seats must be a whole number" in line


def test_the_no_event_error_names_the_trace(capsys: pytest.CaptureFixture[str]) -> None:
    # the service names (code, conv) are no token counts: every row is rejected
    line = _error(capsys, "--plans", str(PLANS / "01-payg-rate-card.yaml"), "--trace", AZURE,
                  "--map", "customer_id=service", "--model", "gpt-4o-mini", "--assume-tz",
                  "UTC", "--map", "output_tokens=service", "--map", "input_tokens=output_tokens")
    assert "azure2023_requests.csv.gz: no valid usage event to compare: 28185 rows rejected" in line


@pytest.mark.parametrize("seats", ["0", "-3"])
def test_a_seat_count_below_one_is_refused_by_its_flag(
        capsys: pytest.CaptureFixture[str], seats: str) -> None:
    # --seats 0 used to rate every seat plan with no seat (platform fee only) without a word;
    # --seats -3 said "not a number", though it is one
    line = _error(capsys, "--plans", str(PLANS), "--trace", AZURE, "--map", "customer_id=service",
                  "--model", "gpt-4o-mini", "--assume-tz", "UTC", "--fx", "EUR=1.08",
                  "--seats", seats)
    assert f"--seats {seats}: the number of seats per customer must be 1 or more" in line
