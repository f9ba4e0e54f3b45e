"""Simulated traces: labelled synthetic, deterministic, and their totals follow the rules."""

from __future__ import annotations

import csv
import gzip
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from billing.cli import main
from billing.designer import (
    conversation_input_tokens,
    load_workload,
    parse_workload,
    simulate,
    simulate_to_parquet,
    write_trace,
)
from billing.designer.simulate import allocate
from billing.designer.workload import Workload

ROOT = Path(__file__).resolve().parents[2]
TINY = Path(__file__).parent / "fixtures" / "tiny_workload.yaml"


def _workload(**changes: object) -> Workload:
    """The shipped example with some fields replaced (a user editing their copy)."""
    base = load_workload(ROOT / "examples" / "workload.yaml")
    return Workload.model_validate({**base.model_dump(), **changes})


def test_tiny_workload_through_the_cli_matches_hand_arithmetic(tmp_path: Path) -> None:
    out = tmp_path / "trace.parquet"
    assert main(["simulate", str(TINY), "--out", str(out)]) == 0
    table = pq.read_table(out)

    # Labelled synthetic: in the file metadata and on every row.
    meta = table.schema.metadata
    assert meta[b"synthetic"] == b"true"
    assert set(table.column("label").to_pylist()) == {"synthetic"}
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.column_names[:10] == [
        "id", "customer_id", "timestamp", "model", "input_tokens", "cached_input_tokens",
        "cache_write_tokens", "output_tokens", "requests", "session_id",
    ]

    rows = table.to_pylist()
    per_customer: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        c = per_customer[row["customer_id"]]
        for name in ("input_tokens", "cached_input_tokens", "cache_write_tokens",
                     "output_tokens", "requests"):
            c[name] += row[name]
        c["sessions"] += row["id"].endswith("-t1")
    # See the fixture's header: per conversation fresh 130,000, cached 50,000, output 20,000,
    # 4 requests; cust-0001 has 2 conversations (Zipf weights 1 : 1/2 over 3), cust-0002 has 1.
    assert dict(per_customer["cust-0001"]) == {
        "input_tokens": 260_000, "cached_input_tokens": 100_000, "cache_write_tokens": 0,
        "output_tokens": 40_000, "requests": 8, "sessions": 2,
    }
    assert dict(per_customer["cust-0002"]) == {
        "input_tokens": 130_000, "cached_input_tokens": 50_000, "cache_write_tokens": 0,
        "output_tokens": 20_000, "requests": 4, "sessions": 1,
    }
    assert {row["model"] for row in rows} == {"claude-sonnet-4-5"}
    assert {row["timestamp"].date() for row in rows} == {date(2026, 11, 2)}
    assert len({row["id"] for row in rows}) == 12  # unique ids


def test_python_api_yields_the_events_the_cli_writes(tmp_path: Path) -> None:
    events = list(simulate(load_workload(TINY)))
    out = tmp_path / "trace.parquet"
    assert write_trace(events, out) == 12
    rows = pq.read_table(out).to_pylist()
    assert [(e.id, e.customer_id, e.timestamp, e.input_tokens, e.cached_input_tokens)
            for e in events] == [
        (r["id"], r["customer_id"], r["timestamp"], r["input_tokens"], r["cached_input_tokens"])
        for r in rows
    ]
    assert all(e.properties["synthetic"] == "true" for e in events)
    # Turns of a conversation are 60 s apart.
    first, second = events[0], events[1]
    assert first.session_id == second.session_id
    assert (second.timestamp - first.timestamp).total_seconds() == 60


def test_same_seed_same_trace_other_seed_other_trace(tmp_path: Path) -> None:
    w = _workload(days=2)
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    simulate_to_parquet(w, a)
    simulate_to_parquet(w, b)
    assert pq.read_table(a).equals(pq.read_table(b))
    other = list(simulate(_workload(days=2, seed=8)))
    assert [e.timestamp for e in other] != pq.read_table(a).column("timestamp").to_pylist()


def test_every_conversation_follows_the_token_rule() -> None:
    w = _workload(days=2)
    conv = w.conversation
    by_session: dict[str | None, list[int]] = defaultdict(list)
    cached: Counter[str | None] = Counter()
    for e in simulate(w):
        by_session[e.session_id].append(e.input_tokens + e.cached_input_tokens)
        cached[e.session_id] += e.cached_input_tokens
        assert e.output_tokens == conv.output_tokens_per_turn
    assert len(by_session) == 400 * 2  # conversations_per_day * days
    for session, prompts in by_session.items():
        n = len(prompts)
        total = conversation_input_tokens(n, conv.tokens_per_turn, conv.context_window)
        assert sum(prompts) == total
        # cached = 0.8 * re-read prefix; uncapped prefix total = k*n(n-1)/2 (window 128k holds
        # 106 turns of 1,200), each turn's rounding is exact here since 0.8*1200*(i-1) is whole.
        if n * conv.tokens_per_turn <= conv.context_window:
            assert cached[session] == 960 * n * (n - 1) // 2


def test_activity_skew_matches_servegen_deepseek_r1() -> None:
    # The real pool: requests per client, from the shipped trace.
    path = ROOT / "data" / "traces" / "servegen_reason_deepseek-r1_client_windows.csv.gz"
    real: Counter[str] = Counter()
    with gzip.open(path, "rt", newline="") as f:
        for row in csv.DictReader(f):
            real[row["client_id"]] += int(Decimal(row["requests_expected"]))
    assert len(real) == 73
    real_sorted = sorted(real.values(), reverse=True)
    real_top1 = Decimal(real_sorted[0]) / sum(real_sorted)
    real_top10 = Decimal(sum(real_sorted[:8])) / sum(real_sorted)  # top 10% of 73 = 8 clients

    w = _workload(
        days=1, conversations_per_day=7_300,
        customers={"count": 73, "activity": {"kind": "zipf", "exponent": "1.2"}},
        conversation={**_workload().conversation.model_dump(),
                      "turns": {"dist": "fixed", "mean": 1}},
    )
    simulated = Counter(e.customer_id for e in simulate(w))
    sim_sorted = sorted(simulated.values(), reverse=True)
    sim_top1 = Decimal(sim_sorted[0]) / sum(sim_sorted)
    sim_top10 = Decimal(sum(sim_sorted[:8])) / sum(sim_sorted)
    # Real: top client 28.6%, top 8 clients 63.0%; Zipf 1.2: 28.8% and 67.1%.
    assert abs(sim_top1 - real_top1) < Decimal("0.01")
    assert abs(sim_top10 - real_top10) < Decimal("0.05")


def test_model_mix_by_conversation_and_by_customer() -> None:
    w = _workload(days=10)  # 4,000 conversations drawn 0.3 / 0.2 / 0.5
    models = Counter(e.model for e in simulate(w) if e.id.endswith("-t1"))
    assert sum(models.values()) == 4_000
    assert abs(Decimal(models["claude-sonnet-4-5"]) / 4_000 - Decimal("0.3")) < Decimal("0.03")
    assert abs(Decimal(models["deepseek-chat"]) / 4_000 - Decimal("0.5")) < Decimal("0.03")

    per_customer = _workload(days=2, model_assignment="customer")
    seen: dict[str, set[str]] = defaultdict(set)
    for e in simulate(per_customer):
        seen[e.customer_id].add(e.model)
    assert all(len(m) == 1 for m in seen.values())  # each customer sticks to one model
    counts = Counter(next(iter(m)) for m in seen.values())
    # 73 customers split 0.3 / 0.2 / 0.5: quotas 21.9 / 14.6 / 36.5 -> 21 / 14 / 36 + 2 left
    # over, to the largest remainders .9 (sonnet) and .6 (gpt-4o-mini): 22 / 15 / 36.
    assert counts == {"claude-sonnet-4-5": 22, "gpt-4o-mini": 15, "deepseek-chat": 36}


@pytest.mark.parametrize(
    ("turns", "expected_mean", "tolerance"),
    [
        ({"dist": "fixed", "mean": 3}, Decimal(3), Decimal(0)),
        ({"dist": "poisson", "mean": "6"}, Decimal(6), Decimal("0.15")),
        ({"dist": "geometric", "mean": "6"}, Decimal(6), Decimal("0.25")),
        # Geometric capped at 2 turns: every conversation has 1 or 2 turns.
        ({"dist": "geometric", "mean": "6", "max": 2}, Decimal("1.83"), Decimal("0.05")),
    ],
)
def test_turns_per_conversation(turns: dict[str, object], expected_mean: Decimal,
                                tolerance: Decimal) -> None:
    w = _workload(
        days=10, conversation={**_workload().conversation.model_dump(), "turns": turns}
    )
    per_session = Counter(e.session_id for e in simulate(w))
    # Capped at 2: P(1) = 1/6, P(2) = 5/6 -> mean 1/6 + 10/6 = 11/6 = 1.83
    assert len(per_session) == 4_000
    assert min(per_session.values()) >= 1
    mean = Decimal(sum(per_session.values())) / len(per_session)
    assert abs(mean - expected_mean) <= tolerance


def test_lognormal_population_is_deterministic_and_ranked() -> None:
    w = _workload(days=2, customers={"count": 20, "activity": {"kind": "lognormal",
                                                               "sigma": "1.8"}})
    first = [e.id for e in simulate(w)]
    assert first == [e.id for e in simulate(w)]
    sessions = Counter(e.customer_id for e in simulate(w) if e.id.endswith("-t1"))
    ranked = [sessions.get(f"cust-{i:04d}", 0) for i in range(1, 21)]
    assert ranked == sorted(ranked, reverse=True)  # cust-0001 is the busiest
    assert sum(ranked) == 800


def test_no_conversations_writes_an_empty_labelled_trace(tmp_path: Path) -> None:
    out = tmp_path / "empty.parquet"
    assert simulate_to_parquet(_workload(conversations_per_day=0), out) == 0
    table = pq.read_table(out)
    assert table.num_rows == 0
    assert table.schema.metadata[b"synthetic"] == b"true"


def test_allocation_is_proportional_and_exact() -> None:
    # 10 over weights 1, 1/2, 1/3 (sum 11/6): quotas 5.45, 2.73, 1.82 -> 5, 2, 1 + 2 left over
    # to the largest remainders (.82 then .73): 5, 3, 2.
    assert allocate(10, [Decimal(1), Decimal(1) / 2, Decimal(1) / 3]) == [5, 3, 2]
    assert allocate(0, [Decimal(1)]) == [0]
    with pytest.raises(ValueError, match="positive weight"):
        allocate(3, [])


def test_cli_reports_workload_problems_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "w.yaml"
    bad.write_text(TINY.read_text(encoding="utf-8").replace("days: 1", "days: one"),
                   encoding="utf-8")
    line = next(n for n, text in enumerate(bad.read_text(encoding="utf-8").splitlines(), 1)
                if text.startswith("days:"))
    assert main(["simulate", str(bad), "--out", str(tmp_path / "t.parquet")]) == 1
    assert f"{bad}:{line} days: Input should be a valid integer" in capsys.readouterr().err
    assert not (tmp_path / "t.parquet").exists()


def test_cli_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    out = tmp_path / "t.parquet"
    assert main(["simulate", str(TINY), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    # 3 conversations: fresh 3*130,000, cached 3*50,000, output 3*20,000
    assert summary["tokens"] == {"input": 390_000, "cached_input": 150_000, "cache_write": 0,
                                 "output": 60_000}
    assert (summary["events"], summary["conversations"], summary["customers"]) == (12, 3, 2)
    assert summary["synthetic"] is True


def test_start_offset_time_zone_is_kept_as_an_instant() -> None:
    text = TINY.read_text(encoding="utf-8").replace(
        "start: 2026-11-02T00:00:00Z", "start: 2026-11-02T09:00:00+09:00"
    )
    events = list(simulate(parse_workload(text)))
    # 09:00 in UTC+9 is midnight UTC: same instants as the UTC fixture.
    assert [e.timestamp for e in events] == [e.timestamp for e in simulate(load_workload(TINY))]
    assert all(e.timestamp.tzinfo == UTC for e in events)
    assert min(e.timestamp for e in events) >= datetime(2026, 11, 2, tzinfo=UTC)


def test_the_trace_reader_aggregates_a_simulated_trace_to_the_hand_totals(
    tmp_path: Path,
) -> None:
    from billing.usage.mapping import TraceSpec
    from billing.usage.readers import aggregate_trace_python

    out = tmp_path / "trace.parquet"
    assert main(["simulate", str(TINY), "--out", str(out)]) == 0
    result = aggregate_trace_python(TraceSpec(path=out))
    assert (result.stats.events, result.stats.rejected, result.stats.customers) == (12, 0, 2)
    totals = {key.customer_id: counts.as_tuple() for key, counts in result.aggregates.daily.items()}
    # (input, cached_input, cache_write, output, requests, events), from the fixture's header
    assert totals == {
        "cust-0001": (260_000, 100_000, 0, 40_000, 8, 8),
        "cust-0002": (130_000, 50_000, 0, 20_000, 4, 4),
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"days": 3},
        {"days": 2, "model_assignment": "customer", "seed": 11},
        {"days": 2, "customers": {"count": 30, "activity": {"kind": "lognormal", "sigma": "1.8"}},
         "start": "2026-11-01T08:30:00.250000+02:00"},
    ],
)
def test_columnar_writer_writes_exactly_the_simulated_events(
    tmp_path: Path, changes: dict[str, object]
) -> None:
    w = _workload(**changes)
    by_event, by_column = tmp_path / "events.parquet", tmp_path / "columns.parquet"
    rows = write_trace(simulate(w), by_event)
    assert simulate_to_parquet(w, by_column) == rows > 0
    assert pq.read_table(by_column).equals(pq.read_table(by_event))
