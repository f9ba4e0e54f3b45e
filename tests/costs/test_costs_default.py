"""The default cost book: genai-prices' bundled data, priced per token class and per request band.

Prices below were read from the installed genai-prices 0.2.3 data (``genai_prices/data.py``),
USD per 1M tokens:

- anthropic ``claude-sonnet-4-5``: input 3 (tier >200,000: 6), cache_read 0.3 (0.6),
  cache_write 3.75 (7.5), output 15 (22.5); every price tiered at start=200000.
- openai ``gpt-4o-mini``: input 0.15, cache_read 0.075, output 0.6; no cache_write price.
- google ``gemini-2.5-pro``: input 1.25 (>200,000: 2.5), cache_read 0.125 (0.25), output 10 (15);
  no cache_write price.
- deepseek ``deepseek-reasoner`` (matches ``deepseek-r1*``): 0.55 / cache_read 0.14 / output 2.19
  from 00:30 to 16:30 UTC, 0.135 / 0.035 / 0.55 the other 8 hours (off-peak).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price
from genai_prices.types import (
    ClauseEquals,
    ConditionalPrice,
    ModelInfo,
    ModelPrice,
    TimeOfDateConstraint,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.costs import CostBook
from billing.costs.genai import GenaiPrices
from billing.errors import CostBookError, UnknownModelError
from billing.usage.aggregates import Counts

DAY = date(2026, 11, 16)


@pytest.fixture(scope="module")
def book() -> CostBook:
    return CostBook.default()


def band_of(book: CostBook, prompt_per_request: int) -> int:
    """The band the aggregation assigns: how many thresholds the prompt per request exceeds."""
    return sum(1 for t in book.thresholds() if prompt_per_request > t)


def test_thresholds_are_the_sorted_tier_starts_of_the_data(book: CostBook) -> None:
    edges = book.thresholds()
    assert list(edges) == sorted(set(edges))
    # Anthropic's and Google's 200K long-context tiers, and x-ai's 199999 start, are band edges.
    assert {199_999, 200_000} <= set(edges)


# (model, input, cached, cache_write, output, prompt per request, expected USD)
ROWS = [
    # 1M fresh input at 3 + 1M output at 15 = 18
    ("claude-sonnet-4-5", 1_000_000, 0, 0, 1_000_000, 1_000, Decimal("18")),
    # 2,000 x 3/1M = 0.006; 10,000 x 0.3/1M = 0.003; 4,000 x 3.75/1M = 0.015; 500 x 15/1M = 0.0075
    # total 0.0315
    ("claude-sonnet-4-5", 2_000, 10_000, 4_000, 500, 16_000, Decimal("0.0315")),
    # a dated alias matches the same model: same row as above
    ("claude-sonnet-4-5-20250929", 2_000, 10_000, 4_000, 500, 16_000, Decimal("0.0315")),
    # prompt exactly 200,000 is NOT above the threshold: 200,000 x 3/1M = 0.6; 1,000 x 15/1M = 0.015
    ("claude-sonnet-4-5", 200_000, 0, 0, 1_000, 200_000, Decimal("0.615")),
    # prompt 200,001 is above it: the WHOLE request at the long rates:
    # 1 x 6/1M = 0.000006; 150,000 x 0.6/1M = 0.09; 50,000 x 7.5/1M = 0.375; 1,000 x 22.5/1M = 0.0225
    # total 0.487506
    ("claude-sonnet-4-5", 1, 150_000, 50_000, 1_000, 200_001, Decimal("0.487506")),
    # 1M x 0.15 + 1M x 0.075 + 1M cache writes at the INPUT price 0.15 (no cache_write price)
    # + 1M x 0.6 = 0.975
    ("gpt-4o-mini", 1_000_000, 1_000_000, 1_000_000, 1_000_000, 3_000_000, Decimal("0.975")),
    # 123,456 x 0.15/1M = 0.0185184; 7 x 0.6/1M = 0.0000042; total 0.0185226
    ("gpt-4o-mini", 123_456, 0, 0, 7, 123_456, Decimal("0.0185226")),
    # gemini-2.5-pro below 200K: 100,000 x 1.25/1M = 0.125; 50,000 x 0.125/1M = 0.00625;
    # 10,000 x 10/1M = 0.1; total 0.23125
    ("gemini-2.5-pro", 100_000, 50_000, 0, 10_000, 150_000, Decimal("0.23125")),
    # above 200K: 250,000 x 2.5/1M = 0.625; 10,000 cache writes at long input 2.5: 0.025;
    # 2,000 x 15/1M = 0.03; total 0.68
    ("gemini-2.5-pro", 250_000, 0, 10_000, 2_000, 260_000, Decimal("0.68")),
    # deepseek-r1 -> deepseek-reasoner, at the rate in force 16 h of the day (0.55 / 0.14 / 2.19):
    # 1M x 0.55 + 1M x 0.14 + 1M x 2.19 = 2.88
    ("deepseek-r1", 1_000_000, 1_000_000, 0, 1_000_000, 2_000_000, Decimal("2.88")),
]


@pytest.mark.parametrize(("model", "inp", "cached", "write", "out", "prompt", "expected"), ROWS)
def test_cost_by_hand(
    book: CostBook, model: str, inp: int, cached: int, write: int, out: int, prompt: int,
    expected: Decimal,
) -> None:
    counts = Counts(input=inp, cached_input=cached, cache_write=write, output=out, requests=1)
    result = book.cost(model, counts, band_of(book, prompt), DAY)
    assert result.amount == expected
    assert sum(amount for _, amount in result.by_class) == result.amount
    assert [name for name, _ in result.by_class] == ["input", "cached_input", "cache_write", "output"]


def test_long_context_prices_apply_exactly_from_the_models_own_threshold(book: CostBook) -> None:
    edges = book.thresholds()
    i = edges.index(200_000)
    one_mtok_in = Counts(input=1_000_000)
    # band i: the prompt exceeded 199,999 (x-ai's edge) but not 200,000: still the base 3.00
    assert book.cost("claude-sonnet-4-5", one_mtok_in, i, DAY).amount == Decimal("3")
    # band i + 1 and above: long price 6.00 per 1M
    assert book.cost("claude-sonnet-4-5", one_mtok_in, i + 1, DAY).amount == Decimal("6")
    assert book.cost("claude-sonnet-4-5", one_mtok_in, len(edges), DAY).amount == Decimal("6")
    # a model without tiers ignores the band: gpt-4o-mini input 0.15 per 1M
    assert book.cost("gpt-4o-mini", one_mtok_in, len(edges), DAY).amount == Decimal("0.15")


def test_band_out_of_range_is_an_error(book: CostBook) -> None:
    with pytest.raises(CostBookError, match="band must be a whole number from 0"):
        book.cost("gpt-4o-mini", Counts(input=1), len(book.thresholds()) + 1, DAY)


def test_providers_are_known(book: CostBook) -> None:
    # supplier concentration needs who is paid for each model
    assert book.lookup("claude-sonnet-4-5", DAY).provider == "anthropic"
    assert book.lookup("gpt-5", DAY).provider == "openai"
    assert book.lookup("deepseek-r1", DAY).provider == "deepseek"
    assert book.lookup("gemini-2.5-flash", DAY).provider == "google"
    # an open model no provider claims by name: the host that lists it
    assert book.lookup("llama-3.3-70b-versatile", DAY).provider == "groq"
    assert book.cost("gpt-5", Counts(output=1), 0, DAY).provider == "openai"


def test_genai_price_versions_by_date(book: CostBook) -> None:
    # genai-prices: claude-sonnet-4-6 had a 200K tier (6.00 input above it) until a
    # StartDateConstraint of 2026-03-13 drops the tier (3.00 at any length).
    long_band = band_of(book, 300_000)
    one_mtok = Counts(input=1_000_000)
    assert book.cost("claude-sonnet-4-6", one_mtok, long_band, date(2026, 3, 12)).amount == 6
    assert book.cost("claude-sonnet-4-6", one_mtok, long_band, date(2026, 3, 13)).amount == 3
    # deepseek-v4-flash (deepseek): output 0.28, from 2026-08-17 0.66, from 2026-09-10 0.6
    out = Counts(output=1_000_000)
    assert book.cost("deepseek-v4-flash", out, 0, date(2026, 8, 16)).amount == Decimal("0.28")
    assert book.cost("deepseek-v4-flash", out, 0, date(2026, 8, 17)).amount == Decimal("0.66")
    assert book.cost("deepseek-v4-flash", out, 0, date(2026, 9, 10)).amount == Decimal("0.6")


def test_unknown_model_lists_the_closest_names(book: CostBook) -> None:
    assert not book.knows("claude-sonet-4-5")
    with pytest.raises(UnknownModelError) as info:
        book.lookup("claude-sonet-4-5", DAY)
    message = str(info.value)
    assert "'claude-sonet-4-5'" in message
    assert "closest known: " in message and "claude-sonnet-4-5" in message
    with pytest.raises(UnknownModelError):
        book.cost("m-small", Counts(input=1), 0, DAY)


def test_knows(book: CostBook) -> None:
    assert book.knows("gpt-4o-mini")
    assert book.knows("DeepSeek-R1")  # model names match case-insensitively, as in genai-prices
    assert not book.knows("m-small")


def test_every_bundled_model_converts_to_decimal_prices(book: CostBook) -> None:
    """No float anywhere: every token price of the whole bundled data is a Decimal."""
    from genai_prices.data import providers

    checked = 0
    for provider in providers:
        for info in provider.models:
            try:
                level = book.lookup(info.id, DAY)
            except CostBookError as exc:  # models priced per image/second/request only
                assert "other units than input/output tokens" in str(exc)
                continue
            while True:
                for value in (level.input, level.cached_input, level.cache_write, level.output):
                    assert type(value) is Decimal and value >= 0
                if level.long is None:
                    break
                level = level.long
            checked += 1
    assert checked > 1000


MODELS_TO_CROSS_CHECK = ["claude-sonnet-4-5", "gpt-4o-mini", "gemini-2.5-pro", "gpt-5"]


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(MODELS_TO_CROSS_CHECK),
    inp=st.integers(0, 400_000),
    cached=st.integers(0, 400_000),
    write=st.integers(0, 100_000),
    out=st.integers(0, 100_000),
)
def test_one_request_costs_what_genai_prices_calc_price_says(
    model: str, inp: int, cached: int, write: int, out: int
) -> None:
    """Our per-request cost equals genai-prices' own calc_price (its input_tokens count the whole
    prompt, cache reads and writes included), tiers and cache fallbacks included."""
    book = CostBook.default()
    provider = book.lookup(model, DAY).provider
    prompt = inp + cached + write
    ours = book.cost(
        model, Counts(input=inp, cached_input=cached, cache_write=write, output=out, requests=1),
        band_of(book, prompt), DAY,
    )
    usage = Usage(
        input_tokens=prompt, cache_read_tokens=cached, cache_write_tokens=write, output_tokens=out
    )
    theirs = calc_price(
        usage, model, provider_id=provider,
        genai_request_timestamp=datetime.combine(DAY, time(12, 0), tzinfo=UTC),
    )
    assert ours.amount == theirs.total_price


_times = st.times(timezones=st.one_of(
    st.none(), st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                timezone(timedelta(hours=-8))])))


@settings(max_examples=150, deadline=None)
@given(windows=st.lists(st.tuples(_times, _times), min_size=1, max_size=3),
       day=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)))
def test_time_of_day_prices_vote_as_counting_every_minute(
        windows: list[tuple[time, time]], day: date) -> None:
    """Daily rows cannot tell the hour: the price in force for the most minutes of the UTC day
    is taken, found from the windows' bounds instead of by asking about all 1,440 minutes."""
    prices = [ConditionalPrice(prices=ModelPrice(input_mtok=Decimal(1), output_mtok=Decimal(2)))]
    prices += [ConditionalPrice(constraint=TimeOfDateConstraint(start, end),
                                prices=ModelPrice(input_mtok=Decimal(n + 2),
                                                  output_mtok=Decimal(n + 3)))
               for n, (start, end) in enumerate(windows)]
    info = ModelInfo(id="m", match=ClauseEquals(equals="m"), prices=prices)
    midnight = datetime.combine(day, time(0), tzinfo=UTC)
    votes: dict[int, int] = {}
    chosen: dict[int, ModelPrice] = {}
    for minute in range(24 * 60):  # the definition, minute by minute (the first wins a tie)
        found = info.get_prices(midnight + timedelta(minutes=minute))
        chosen.setdefault(id(found), found)
        votes[id(found)] = votes.get(id(found), 0) + 1
    most = max(votes.values())
    expected = next(chosen[k] for k, v in votes.items() if v == most)
    got, note = GenaiPrices()._prices_on(info, day)
    assert got is expected
    assert note == f" (time-of-day prices: the one in force {most} min of the day)"


def test_a_separate_supplier_reasoning_price_is_named_not_silent(tmp_path: Path) -> None:
    """genai-prices 0.2.3 lists perplexity ``sonar-deep-research`` at input 2, output 8 and
    reasoning output 3 per 1M. Supplier cost prices all output at 8, so reasoning tokens are
    overstated by up to 8 - 3 = 5 per 1M: the cost book says so, and ``billing compare``
    carries it as a note. A model without a reasoning price, or priced by a cost file, has no
    note."""
    from billing.cli import main

    book = CostBook.default()
    day = date(2026, 3, 1)
    note = book.reasoning_note("sonar-deep-research", day)
    assert note is not None
    assert "at 3 per 1M against 8 for output" in note and "up to 5 per 1M" in note
    assert book.reasoning_note("gpt-4o-mini", day) is None
    costs = tmp_path / "costs.yaml"
    costs.write_text("models:\n  - model: sonar-deep-research\n    effective_from: 2026-01-01\n"
                     "    input_per_mtok: 2\n    output_per_mtok: 5\n", encoding="utf-8")
    assert CostBook.load(costs).reasoning_note("sonar-deep-research", day) is None

    trace = tmp_path / "t.csv"
    trace.write_text("id,customer_id,timestamp,model,input_tokens,output_tokens\n"
                     "e1,a,2026-03-01T10:00:00Z,sonar-deep-research,1000000,1000000\n",
                     encoding="utf-8")
    plan = tmp_path / "payg.yaml"
    plan.write_text("id: payg\nname: PAYG\nversion: 2026-01-01\ncurrency: USD\n"
                    "interval: month\ncharges:\n  - kind: rate_card\n    name: Tokens\n"
                    "    rates:\n      - models: ['*']\n        input: '5'\n"
                    "        output: '20'\n", encoding="utf-8")
    out = tmp_path / "report.json"
    assert main(["compare", "--plans", str(plan), "--trace", str(trace), "--json", str(out),
                 "--no-break-even", "--quiet", "--absent", "cached_input_tokens",
                 "--absent", "cache_write_tokens"]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert any("sonar-deep-research: genai-prices lists its reasoning tokens at 3" in n
               for n in report["notes"])
