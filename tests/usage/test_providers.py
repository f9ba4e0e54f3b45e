"""Provider-native usage objects (OpenAI, Anthropic, Gemini) to usage events, costed by hand.

The usage objects are written as the providers' documentation shows them; the cost of each event
goes through the real cost-file loader and CostBook, at prices written in the test's cost file,
and is checked against the arithmetic in the comments.
"""

from __future__ import annotations

import json
import re
import textwrap
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import billing
import billing.cli
from billing.costs import CostBook
from billing.errors import ProviderUsageError, UsageError
from billing.usage import from_anthropic, from_gemini, from_openai
from billing.usage.aggregates import Counts
from billing.usage.events import UsageEvent

AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
COSTS = """
    models:
      - model: gpt-4o
        effective_from: 2025-01-01
        input_per_mtok: "2.50"
        cached_input_per_mtok: "1.25"
        output_per_mtok: "10"
      - model: claude-sonnet-4-5
        effective_from: 2025-01-01
        input_per_mtok: "3"
        cached_input_per_mtok: "0.30"
        cache_write_per_mtok: "3.75"
        output_per_mtok: "15"
      - model: gemini-2.5-flash
        effective_from: 2025-01-01
        input_per_mtok: "0.30"
        cached_input_per_mtok: "0.03"
        output_per_mtok: "2.50"
"""


@pytest.fixture
def book(tmp_path: Path) -> CostBook:
    path = tmp_path / "costs.yaml"
    path.write_text(textwrap.dedent(COSTS).lstrip(), encoding="utf-8")
    return CostBook.load(path)


def cost(book: CostBook, event: UsageEvent) -> Decimal:
    counts = Counts(event.input_tokens, event.cached_input_tokens, event.cache_write_tokens,
                    event.output_tokens, event.requests, 1)
    return book.cost(event.model, counts, band=0, at=date(2026, 1, 5)).amount


def ids(n: int = 1) -> dict[str, Any]:
    return {"id": f"req-{n}", "customer_id": "acme", "timestamp": AT}


# -- OpenAI ------------------------------------------------------------------------------------

# As in OpenAI's prompt-caching guide: 2,006 prompt tokens of which 1,920 cached.
CHAT_USAGE = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "total_tokens": 2306,
    "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                  "accepted_prediction_tokens": 0,
                                  "rejected_prediction_tokens": 0},
}


def test_openai_chat_completions_cached_prefix_is_not_billed_twice(book: CostBook) -> None:
    event = from_openai(CHAT_USAGE, model="gpt-4o", **ids())
    # fresh = 2,006 - 1,920 = 86; cached 1,920; output 300 (no cache writes at OpenAI)
    assert (event.input_tokens, event.cached_input_tokens, event.cache_write_tokens,
            event.output_tokens) == (86, 1920, 0, 300)
    # 86 x 2.50 + 1,920 x 1.25 + 300 x 10 = 215 + 2,400 + 3,000 = 5,615 per 1M -> 0.005615
    assert cost(book, event) == Decimal("0.005615")
    # Mapping prompt_tokens to input would have billed 2,006 x 2.50 + 1,920 x 1.25 + 3,000
    # = 10,415 per 1M: 85% too much.


def test_openai_responses_api_reasoning_is_already_in_output(book: CostBook) -> None:
    response = {
        "id": "resp_1", "object": "response", "model": "gpt-4o",
        "usage": {
            "input_tokens": 2006,
            "input_tokens_details": {"cached_tokens": 1920},
            "output_tokens": 1300,
            "output_tokens_details": {"reasoning_tokens": 1000},
            "total_tokens": 3306,
        },
    }
    event = from_openai(response, **ids())  # the model comes from the response
    assert event.model == "gpt-4o"
    # output_tokens 1,300 already includes the 1,000 reasoning tokens: output stays 1,300
    assert (event.input_tokens, event.cached_input_tokens, event.output_tokens) == (86, 1920, 1300)
    # 86 x 2.50 + 1,920 x 1.25 + 1,300 x 10 = 215 + 2,400 + 13,000 = 15,615 -> 0.015615
    assert cost(book, event) == Decimal("0.015615")


def test_openai_sdk_objects_by_attribute_and_by_model_dump() -> None:
    as_attrs = SimpleNamespace(
        prompt_tokens=2006, completion_tokens=300, total_tokens=2306,
        prompt_tokens_details=SimpleNamespace(cached_tokens=1920),
        completion_tokens_details=None,
    )

    class Dumps:
        def model_dump(self) -> dict[str, Any]:
            return CHAT_USAGE

    for obj in (as_attrs, Dumps()):
        event = from_openai(obj, model="gpt-4o", **ids())
        assert (event.input_tokens, event.cached_input_tokens, event.output_tokens) == (
            86, 1920, 300)


@pytest.mark.parametrize(("usage", "field"), [
    ({"prompt_tokens": 100, "completion_tokens": 1,
      "prompt_tokens_details": {"cached_tokens": 101}}, "cached_tokens (101) is more than"),
    ({"prompt_tokens": -1, "completion_tokens": 1}, "prompt_tokens is negative (-1)"),
    ({"completion_tokens": 1}, "prompt_tokens is missing"),
    ({"input_tokens": 5}, "output_tokens is missing"),
    ({"prompt_tokens": 5, "completion_tokens": "7"}, "completion_tokens must be a whole number"),
    ({"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 13},
     "total_tokens (13) is not prompt_tokens + completion_tokens"),
    ({"prompt_tokens": 5, "completion_tokens": 7,
      "completion_tokens_details": {"reasoning_tokens": 8}}, "reasoning_tokens (8) is more than"),
    ({"prompt_tokens": 5, "completion_tokens": 7,
      "prompt_tokens_details": {"audio_tokens": 2}}, "prompt_tokens_details.audio_tokens is not 0"),
])
def test_openai_bad_usage_names_the_field(usage: dict[str, Any], field: str) -> None:
    with pytest.raises(ProviderUsageError, match=r"^openai usage: ") as caught:
        from_openai(usage, model="gpt-4o", **ids())
    assert field in str(caught.value)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, UsageError)


def test_missing_model_is_an_error() -> None:
    with pytest.raises(ProviderUsageError, match="model is missing"):
        from_openai(CHAT_USAGE, **ids())


# -- Anthropic ---------------------------------------------------------------------------------

# As the Messages API returns it with prompt caching: input_tokens excludes both cache classes.
ANTHROPIC_MESSAGE = {
    "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
    "usage": {
        "input_tokens": 50,
        "cache_read_input_tokens": 100_000,
        "cache_creation_input_tokens": 3_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 2_000, "ephemeral_1h_input_tokens": 1_000},
        "output_tokens": 500,
    },
}


def test_anthropic_one_hour_writes_are_refused_by_default() -> None:
    with pytest.raises(ProviderUsageError,
                       match=r"cache_creation\.ephemeral_1h_input_tokens is 1000: 1-hour"):
        from_anthropic(ANTHROPIC_MESSAGE, **ids())


def test_anthropic_cache_reads_and_both_write_durations(book: CostBook) -> None:
    event = from_anthropic(ANTHROPIC_MESSAGE, one_hour_cache_writes="as_cache_write", **ids())
    assert event.model == "claude-sonnet-4-5"
    # input_tokens excludes the cache classes: fresh 50, reads 100,000, writes 2,000 + 1,000
    assert (event.input_tokens, event.cached_input_tokens, event.cache_write_tokens,
            event.output_tokens) == (50, 100_000, 3_000, 500)
    assert event.properties == {"cache_write_1h_tokens": "1000"}
    # 50 x 3 + 100,000 x 0.30 + 3,000 x 3.75 + 500 x 15
    # = 150 + 30,000 + 11,250 + 7,500 = 48,900 per 1M -> 0.0489
    # (the 1,000 1-hour writes at the 5-minute price, as the option says: Anthropic bills them
    # 1,000 x 6 = 6,000, i.e. 2,250 per 1M more)
    assert cost(book, event) == Decimal("0.0489")


def test_anthropic_five_minute_writes_only(book: CostBook) -> None:
    usage = {"input_tokens": 50, "cache_read_input_tokens": 0,
             "cache_creation_input_tokens": 2_000,
             "cache_creation": {"ephemeral_5m_input_tokens": 2_000,
                                "ephemeral_1h_input_tokens": 0},
             "output_tokens": 500}
    event = from_anthropic(usage, model="claude-sonnet-4-5", **ids())
    assert event.properties == {}
    # 50 x 3 + 2,000 x 3.75 + 500 x 15 = 150 + 7,500 + 7,500 = 15,150 per 1M -> 0.01515
    assert cost(book, event) == Decimal("0.01515")


@pytest.mark.parametrize(("usage", "field"), [
    ({"output_tokens": 1}, "input_tokens is missing"),
    ({"input_tokens": 1, "output_tokens": 1, "cache_read_input_tokens": -5},
     "cache_read_input_tokens is negative (-5)"),
    ({"input_tokens": 1, "output_tokens": 1, "cache_creation_input_tokens": 10,
      "cache_creation": {"ephemeral_5m_input_tokens": 4, "ephemeral_1h_input_tokens": 0}},
     "cache_creation_input_tokens (10) is not the sum"),
])
def test_anthropic_bad_usage_names_the_field(usage: dict[str, Any], field: str) -> None:
    with pytest.raises(ProviderUsageError, match=r"^anthropic usage: ") as caught:
        from_anthropic(usage, model="claude-sonnet-4-5", **ids())
    assert field in str(caught.value)


# -- Gemini ------------------------------------------------------------------------------------

# A generateContent response (REST, camelCase) with cached content and thoughts.
GEMINI_RESPONSE = {
    "candidates": [],
    "modelVersion": "gemini-2.5-flash",
    "usageMetadata": {
        "promptTokenCount": 10_000,
        "cachedContentTokenCount": 8_000,
        "candidatesTokenCount": 400,
        "thoughtsTokenCount": 1_200,
        "totalTokenCount": 11_600,
    },
}


def test_gemini_cached_content_and_thoughts(book: CostBook) -> None:
    event = from_gemini(GEMINI_RESPONSE, **ids())
    assert event.model == "gemini-2.5-flash"
    # fresh = 10,000 - 8,000 = 2,000; cached 8,000; output = 400 + 1,200 thoughts = 1,600
    assert (event.input_tokens, event.cached_input_tokens, event.cache_write_tokens,
            event.output_tokens) == (2_000, 8_000, 0, 1_600)
    # 2,000 x 0.30 + 8,000 x 0.03 + 1,600 x 2.50 = 600 + 240 + 4,000 = 4,840 per 1M
    assert cost(book, event) == Decimal("0.00484")


def test_gemini_snake_case_sdk_shape_with_tool_use_prompt(book: CostBook) -> None:
    usage = SimpleNamespace(prompt_token_count=10_000, cached_content_token_count=8_000,
                            tool_use_prompt_token_count=500, candidates_token_count=400,
                            thoughts_token_count=None, total_token_count=10_900)
    event = from_gemini(usage, model="gemini-2.5-flash", **ids())
    # fresh = 10,000 - 8,000 + 500 tool-use prompt = 2,500; output 400 (no thoughts)
    assert (event.input_tokens, event.cached_input_tokens, event.output_tokens) == (
        2_500, 8_000, 400)
    # 2,500 x 0.30 + 8,000 x 0.03 + 400 x 2.50 = 750 + 240 + 1,000 = 1,990 per 1M
    assert cost(book, event) == Decimal("0.00199")


@pytest.mark.parametrize(("usage", "field"), [
    ({"promptTokenCount": 10, "cachedContentTokenCount": 11}, "cachedContentTokenCount (11)"),
    ({"candidatesTokenCount": 10}, "promptTokenCount is missing"),
    ({"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 5,
      "totalTokenCount": 15}, "totalTokenCount (15) is not"),
    ({"promptTokenCount": 10, "thoughtsTokenCount": -1}, "thoughtsTokenCount is negative"),
])
def test_gemini_bad_usage_names_the_field(usage: dict[str, Any], field: str) -> None:
    with pytest.raises(ProviderUsageError, match=r"^gemini usage: ") as caught:
        from_gemini(usage, model="gemini-2.5-flash", **ids())
    assert field in str(caught.value)


def test_exported_from_the_package() -> None:
    assert billing.from_openai is from_openai
    assert billing.from_anthropic is from_anthropic
    assert billing.from_gemini is from_gemini
    assert issubclass(billing.ProviderUsageError, billing.UsageError)


# -- --input-includes-cached: custom files whose input column counts the cached prefix --------

ROOT = Path(__file__).parents[2]
HEADER = "id,customer_id,timestamp,model,input_tokens,cached_input_tokens,output_tokens\n"


def _trace(tmp_path: Path, name: str, input_tokens: int, extra_row: str = "") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + f"e1,cobalt-ai,2026-11-12T10:00:00Z,gpt-5,{input_tokens},"
                    f"600000,100000\n" + extra_row, encoding="utf-8")
    return path


def _rate_total(events: Path, tmp_path: Path, *extra: str) -> str:
    out = tmp_path / f"invoices-{events.stem}.json"
    code = billing.cli.main([
        "rate", "--plans", str(ROOT / "plans"), "--subscriptions",
        str(ROOT / "examples" / "subscriptions.yaml"), "--events", str(events),
        "--period", "2026-11", "--out", str(out), *extra])
    assert code == 0
    (invoice,) = [i for i in json.loads(out.read_text()) if i["customer_id"] == "cobalt-ai"]
    return str(invoice["total"])


def test_rate_input_includes_cached_bills_like_a_fresh_input_column(tmp_path: Path) -> None:
    whole = _trace(tmp_path, "whole.csv", 1_000_000)  # 1,000,000 prompt, 600,000 of it cached
    fresh = _trace(tmp_path, "fresh.csv", 400_000)
    # cobalt-ai is on payg (examples/subscriptions.yaml), whose "*" rate prices gpt-5 at
    # 5.00 input, 1.25 cached input, 20.00 output per 1M:
    # 400,000 x 5.00 + 600,000 x 1.25 + 100,000 x 20.00 = 2.00 + 0.75 + 2.00 = 4.75
    assert _rate_total(whole, tmp_path, "--input-includes-cached") == "4.75"
    assert _rate_total(fresh, tmp_path) == "4.75"
    # Without the flag the cached prefix is billed twice: 1,000,000 x 5.00 -> 5.00 + 2.75 = 7.75
    assert _rate_total(whole, tmp_path) == "7.75"


@pytest.mark.parametrize("engine", ["duckdb", "python"])
def test_compare_input_includes_cached_same_supplier_cost(tmp_path: Path, engine: str) -> None:
    bad_row = "e2,cobalt-ai,2026-11-13T10:00:00Z,gpt-5,500,600,1\n"
    whole = _trace(tmp_path, "whole.csv", 1_000_000, bad_row)
    fresh = _trace(tmp_path, "fresh.csv", 400_000)
    costs = tmp_path / "costs.yaml"
    costs.write_text('- model: gpt-5\n  effective_from: 2025-01-01\n  input_per_mtok: "1.25"\n'
                     '  cached_input_per_mtok: "0.125"\n  output_per_mtok: "10"\n',
                     encoding="utf-8")

    def supplier_cost(trace: Path, *extra: str) -> tuple[str, int]:
        out = tmp_path / f"report-{trace.stem}.json"
        rejects = tmp_path / f"rejects-{trace.stem}.csv"
        code = billing.cli.main([
            "compare", "--plans", str(ROOT / "plans"), "--trace", str(trace), "--fx",
            "EUR=1.08", "--quiet", "--no-break-even", "--costs", str(costs), "--engine", engine,
            "--rejects", str(rejects), "--json", str(out), *extra])
        assert code == 0
        report = json.loads(out.read_text())
        return report["plans"][0]["cost"], report["trace"]["rejected"]

    # 400,000 x 1.25 + 600,000 x 0.125 + 100,000 x 10 = 0.5 + 0.075 + 1.0 = 1.575 USD;
    # the row with 600 cached of 500 input is a reject, not a negative fresh input. The report
    # writes money to the cent, half up: 1.58 (counting the cached prefix twice would give
    # 600,000 x 1.25 more, 2.33).
    assert supplier_cost(whole, "--input-includes-cached") == ("1.58", 1)
    assert supplier_cost(fresh) == ("1.58", 0)
    rejects = (tmp_path / "rejects-whole.csv").read_text()
    assert "cached_input_tokens (600) is more than input_tokens (500)" in rejects


# -- --usage-format: JSONL traces whose lines are the providers' usage objects ----------------


def _jsonl(tmp_path: Path, name: str, lines: list[dict[str, Any]]) -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _line(n: int, model: str, **usage: Any) -> dict[str, Any]:
    return {"id": f"r{n}", "customer_id": "cobalt-ai",
            "timestamp": f"2026-11-12T1{n}:00:00Z", "model": model, **usage}


OPENAI_LINES = [
    # Chat Completions, nested under "usage": the 2,006 / 1,920 example x 1,000
    _line(1, "gpt-4o", usage={"prompt_tokens": 2_006_000, "completion_tokens": 300_000,
                              "total_tokens": 2_306_000,
                              "prompt_tokens_details": {"cached_tokens": 1_920_000},
                              "completion_tokens_details": {"reasoning_tokens": 0}}),
    # Responses API, at the top level: output_tokens includes the reasoning tokens
    _line(2, "gpt-4o", input_tokens=1_000_000, output_tokens=500_000,
          input_tokens_details={"cached_tokens": 200_000},
          output_tokens_details={"reasoning_tokens": 300_000}),
    _line(3, "gpt-4o", usage={"prompt_tokens": 10, "completion_tokens": 1,
                              "prompt_tokens_details": {"cached_tokens": 11}}),
]
ANTHROPIC_LINES = [
    _line(1, "claude-sonnet-4-5", usage={
        "input_tokens": 50, "cache_read_input_tokens": 100_000,
        "cache_creation_input_tokens": 2_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 2_000, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 500}),
    _line(2, "claude-sonnet-4-5", usage={
        "input_tokens": 50, "cache_creation_input_tokens": 1_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1_000},
        "output_tokens": 5}),
    _line(3, "claude-sonnet-4-5", input_tokens=1_000, output_tokens=100),
]
GEMINI_LINES = [
    _line(1, "gemini-2.5-flash", usageMetadata={
        "promptTokenCount": 10_000, "cachedContentTokenCount": 8_000,
        "candidatesTokenCount": 400, "thoughtsTokenCount": 1_200, "totalTokenCount": 11_600}),
    _line(2, "gemini-2.5-flash", usage_metadata={
        "prompt_token_count": 10_000, "cached_content_token_count": 8_000,
        "tool_use_prompt_token_count": 500, "candidates_token_count": 400}),
    _line(3, "gemini-2.5-flash", promptTokenCount=100),  # zero counts left out (proto3 JSON)
]


@pytest.mark.parametrize("engine", ["duckdb", "python"])
@pytest.mark.parametrize(("fmt", "lines", "cost", "rejected", "reason"), [
    # r1: 86,000 x 2.50 + 1,920,000 x 1.25 + 300,000 x 10 = 215,000 + 2,400,000 + 3,000,000
    # r2: 800,000 x 2.50 + 200,000 x 1.25 + 500,000 x 10 = 2,000,000 + 250,000 + 5,000,000
    # total 12,865,000 per 1M = 12.865 USD; r3 (11 cached of 10) is a reject
    ("openai", OPENAI_LINES, "12.865000000", 1,
     "cached_tokens (11) is more than prompt_tokens (10)"),
    # r1: 50 x 3 + 100,000 x 0.30 + 2,000 x 3.75 + 500 x 15 = 150 + 30,000 + 7,500 + 7,500
    # r3: 1,000 x 3 + 100 x 15 = 3,000 + 1,500; total 49,650 per 1M; r2 (1-hour writes) refused
    ("anthropic", ANTHROPIC_LINES, "0.049650000", 1,
     "cache_creation.ephemeral_1h_input_tokens is 1000: 1-hour cache writes cost 2x input"),
    # r1: (10,000 - 8,000) x 0.30 + 8,000 x 0.03 + (400 + 1,200) x 2.50 = 600 + 240 + 4,000
    # r2: (10,000 - 8,000 + 500) x 0.30 + 8,000 x 0.03 + 400 x 2.50 = 750 + 240 + 1,000
    # r3: 100 x 0.30 = 30; total 6,860 per 1M
    ("gemini", GEMINI_LINES, "0.006860000", 0, None),
])
def test_compare_usage_format_costs_by_hand(tmp_path: Path, engine: str, fmt: str,
                                            lines: list[dict[str, Any]], cost: str,
                                            rejected: int, reason: str | None) -> None:
    trace = _jsonl(tmp_path, f"{fmt}.jsonl", lines)
    # The report writes money to the cent, so the supplier prices are 1,000 times COSTS's
    # (the costs below x 1,000 keep every digit of the hand arithmetic).
    costs = tmp_path / "costs.yaml"
    costs.write_text(re.sub(r'_per_mtok: "([0-9.]+)"',
                            lambda m: f'_per_mtok: "{Decimal(m[1]) * 1000}"',
                            textwrap.dedent(COSTS).lstrip()), encoding="utf-8")
    out, rejects = tmp_path / "report.json", tmp_path / "rejects.csv"
    code = billing.cli.main([
        "compare", "--plans", str(ROOT / "plans"), "--trace", str(trace), "--fx", "EUR=1.08",
        "--quiet", "--no-break-even", "--costs", str(costs), "--engine", engine,
        "--usage-format", fmt, "--rejects", str(rejects), "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert Decimal(report["plans"][0]["cost"]) == Decimal(cost) * 1000
    assert report["trace"]["rejected"] == rejected
    if reason is not None:
        assert reason in rejects.read_text()


def test_rate_usage_format_openai(tmp_path: Path) -> None:
    trace = _jsonl(tmp_path, "openai.jsonl", OPENAI_LINES)
    # payg's "*" rate: 5.00 input, 1.25 cached input, 20.00 output per 1M
    # r1: 86,000 x 5 + 1,920,000 x 1.25 + 300,000 x 20 = 430,000 + 2,400,000 + 6,000,000
    # r2: 800,000 x 5 + 200,000 x 1.25 + 500,000 x 20 = 4,000,000 + 250,000 + 10,000,000
    # total 23,080,000 per 1M = 23.08 USD
    assert _rate_total(trace, tmp_path, "--usage-format", "openai") == "23.08"


def test_usage_format_refuses_a_token_mapping_and_csv(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    trace = _jsonl(tmp_path, "openai.jsonl", OPENAI_LINES)
    out = tmp_path / "invoices.json"
    base = ["rate", "--plans", str(ROOT / "plans"), "--subscriptions",
            str(ROOT / "examples" / "subscriptions.yaml"), "--period", "2026-11",
            "--out", str(out), "--usage-format", "openai"]
    assert billing.cli.main([*base, "--events", str(trace),
                             "--map", "input_tokens=prompt_tokens"]) == 2
    assert "the token counts come from the usage objects" in capsys.readouterr().err
    csv_trace = _trace(tmp_path, "whole.csv", 1_000)
    assert billing.cli.main([*base, "--events", str(csv_trace)]) == 2
    assert "--usage-format reads JSONL files" in capsys.readouterr().err
