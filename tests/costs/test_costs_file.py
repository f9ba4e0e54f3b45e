"""User cost files, YAML and CSV, through the real loader: overrides, dates, long context, errors."""

from __future__ import annotations

import textwrap
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from billing.costs import CostBook, CostFileError
from billing.errors import CostBookError, UnknownModelError
from billing.usage.aggregates import Counts

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


YAML = """
    # our negotiated prices
    currency: USD
    models:
      - model: "claude-sonnet-4-5*"
        effective_from: 2026-11-01
        input_per_mtok: 2.70
        cached_input_per_mtok: 0.27
        cache_write_per_mtok: 3.375
        output_per_mtok: 13.50
      - model: "m-small"
        provider: alibaba
        effective_from: 2026-01-01
        input_per_mtok: 0.1
        output_per_mtok: 0.2
      - model: "m-small"
        provider: alibaba
        effective_from: 2026-12-01
        input_per_mtok: 0.07
        output_per_mtok: 0.14
    """


def test_yaml_overrides_and_extends_the_default_book(tmp_path: Path) -> None:
    book = CostBook.load(write(tmp_path, "costs.yaml", YAML))
    sonnet = book.lookup("claude-sonnet-4-5-20250929", date(2026, 11, 1))
    assert (sonnet.input, sonnet.cached_input, sonnet.cache_write, sonnet.output) == (
        Decimal("2.70"), Decimal("0.27"), Decimal("3.375"), Decimal("13.50"))
    # provider omitted: the one genai-prices names for the model
    assert sonnet.provider == "anthropic"
    assert sonnet.source.endswith("costs.yaml:4")
    # before its effective_from the override is not in force: genai-prices' list price 3.00
    assert book.lookup("claude-sonnet-4-5", date(2026, 10, 31)).input == Decimal("3")
    # models the file does not list keep their genai-prices price (gpt-4o-mini input 0.15)
    assert book.lookup("gpt-4o-mini", date(2026, 11, 1)).input == Decimal("0.15")
    assert book.knows("m-small")


def test_yaml_numbers_are_exact_decimals(tmp_path: Path) -> None:
    book = CostBook.load(write(tmp_path, "costs.yaml", YAML))
    price = book.lookup("m-small", date(2026, 6, 1))
    assert type(price.input) is Decimal and price.input == Decimal("0.1")
    # 3M tokens x 0.1/1M = 0.3 exactly (a float 0.1 x 3 would be 0.30000000000000004);
    # cached input falls back to the input price: 3M x 0.1/1M = 0.3; total 0.6
    result = book.cost("m-small", Counts(input=3_000_000, cached_input=3_000_000), 0, date(2026, 6, 1))
    assert result.amount == Decimal("0.6")
    assert result.provider == "alibaba"


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2025, 12, 31), None),  # before any version: the model is unknown that day
        (date(2026, 1, 1), Decimal("0.3")),  # 1M x 0.1 + 1M x 0.2 = 0.3
        (date(2026, 11, 30), Decimal("0.3")),
        (date(2026, 12, 1), Decimal("0.21")),  # new price: 1M x 0.07 + 1M x 0.14 = 0.21
        (date(2027, 6, 1), Decimal("0.21")),
    ],
)
def test_effective_from_picks_the_version_in_force(
    tmp_path: Path, day: date, expected: Decimal | None
) -> None:
    book = CostBook.load(write(tmp_path, "costs.yaml", YAML))
    counts = Counts(input=1_000_000, output=1_000_000)
    if expected is None:
        with pytest.raises(UnknownModelError):
            book.cost("m-small", counts, 0, day)
    else:
        assert book.cost("m-small", counts, 0, day).amount == expected


CSV = """
    model,provider,effective_from,input_per_mtok,cached_input_per_mtok,cache_write_per_mtok,output_per_mtok,long_context_threshold,long_input_per_mtok,long_output_per_mtok
    gpt-4o-mini*,,2026-01-01,0.12,0.06,,0.48,,,
    house-llama-*,self-hosted,2026-01-01,0.20,0.05,,0.80,100000,0.40,1.20
    """


def test_csv_override_with_a_long_context_tier(tmp_path: Path) -> None:
    book = CostBook.load(write(tmp_path, "costs.csv", CSV))
    day = date(2026, 11, 16)
    mini = book.lookup("gpt-4o-mini", day)
    assert (mini.input, mini.cached_input, mini.cache_write, mini.output, mini.provider) == (
        Decimal("0.12"), Decimal("0.06"), Decimal("0.12"), Decimal("0.48"), "openai")
    # the file's threshold joins the band edges
    assert 100_000 in book.thresholds()
    edges = book.thresholds()
    below = sum(1 for t in edges if t < 100_000)  # prompt of exactly 100,000: not above
    above = sum(1 for t in edges if t < 100_001)
    counts = Counts(input=40_000, cached_input=60_000, output=2_000, requests=1)
    # at the base prices: 40,000 x 0.20/1M = 0.008; 60,000 x 0.05/1M = 0.003;
    # 2,000 x 0.80/1M = 0.0016; total 0.0126
    assert book.cost("house-llama-70b", counts, below, day).amount == Decimal("0.0126")
    # above 100,000 the whole request at the long prices: 40,000 x 0.40/1M = 0.016;
    # cached keeps its own price 0.05 (no long_cached_input given): 0.003;
    # 2,000 x 1.20/1M = 0.0024; total 0.0214
    result = book.cost("house-llama-70b", counts, above, day)
    assert result.amount == Decimal("0.0214")
    assert result.by_class == (
        ("input", Decimal("0.016")), ("cached_input", Decimal("0.003")),
        ("cache_write", Decimal("0")), ("output", Decimal("0.0024")),
    )
    assert result.provider == "self-hosted"


def test_first_matching_glob_wins_and_base_book_is_optional(tmp_path: Path) -> None:
    path = write(tmp_path, "costs.yaml", """
        - {model: "acme-large", effective_from: 2026-01-01, input_per_mtok: 5, output_per_mtok: 10}
        - {model: "acme-*", effective_from: 2026-01-01, input_per_mtok: 1, output_per_mtok: 2}
        """)
    book = CostBook.load(path, base=CostBook())  # an empty base: no genai-prices fallback
    day = date(2026, 2, 1)
    assert book.lookup("acme-large", day).input == Decimal("5")
    assert book.lookup("ACME-small", day).input == Decimal("1")
    assert book.lookup("acme-small", day).provider == "unknown"
    assert book.thresholds() == ()
    with pytest.raises(UnknownModelError, match="closest known: acme-large"):
        book.lookup("acm-large", day)


def test_the_shipped_example_file_loads() -> None:
    book = CostBook.load(REPO / "examples" / "costbook.yaml")
    assert book.lookup("claude-sonnet-4-5", date(2026, 11, 1)).input == Decimal("2.70")
    assert book.lookup("deepseek-r1", date(2026, 12, 1)).provider == "self-hosted"
    assert book.lookup("m-small", date(2026, 12, 1)).output == Decimal("0.20")


# -- bad files ----------------------------------------------------------------------------------


def test_bad_yaml_lists_every_problem_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", """
        models:
          - model: "gpt-4o-mini"
            effective_from: 2026-01-01
            input_per_mtok: -0.15
            output_per_mtok: 0.6
          - model: "claude-*"
            effective_from: 2026-13-01
            input_per_mtok: three
            output_price: 15
          - model: "x"
            effective_from: 2026-01-01
            input_per_mtok: 1
            output_per_mtok: 2
            long_output_per_mtok: 4
          - model: "y"
            effective_from: 2026-01-01
            input_per_mtok: 1
            output_per_mtok: 2
          - model: "Y"
            effective_from: 2026-01-01
            input_per_mtok: 1.5
            output_per_mtok: 2
        """)
    with pytest.raises(CostFileError) as info:
        CostBook.load(path)
    lines = str(info.value).splitlines()
    name = str(path)
    assert f"{name}:4: input_per_mtok: must not be negative, got -0.15" in lines
    assert f"{name}:7: effective_from: must be a date written YYYY-MM-DD, got '2026-13-01'" in lines
    assert any(line.startswith(f"{name}:8: input_per_mtok: not a decimal number") for line in lines)
    assert f"{name}:9: output_price: unknown field (did you mean 'output_per_mtok'?)" in lines
    assert f"{name}:6: output_per_mtok: missing (required)" in lines
    assert any(line.startswith(f"{name}:14: long_output_per_mtok: needs long_context_threshold")
               for line in lines)
    # model globs are case-insensitive, so "Y" repeats "y" (line 15) for the same day
    assert f"{name}:20: effective_from: 'Y' already has a price from 2026-01-01 (line 15)" in lines
    assert len(info.value.problems) == 7
    assert isinstance(info.value, CostBookError)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", """
        models:
          - model: "a"
            input_per_mtok: [1, 2
        """)
    with pytest.raises(CostFileError, match=rf"^{path}:4: not valid YAML"):
        CostBook.load(path)


def test_yaml_other_currency_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "eur.yaml", """
        currency: EUR
        models: []
        """)
    with pytest.raises(CostFileError, match=r"eur.yaml:1: currency: supplier prices are in USD"):
        CostBook.load(path)


def test_bad_csv_rows_name_their_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", """
        model,effective_from,input_per_mtok,output_per_mtok,long_context_threshold,long_input_per_mtok
        ok-model,2026-01-01,1.00,2.00,,
        bad-model,2026-01-01,1.5.0,2.00,,
        long-model,2026-01-01,1.00,2.00,200k,
        short-row,2026-01-01
        """)
    with pytest.raises(CostFileError) as info:
        CostBook.load(path)
    lines = str(info.value).splitlines()
    name = str(path)
    assert any(line.startswith(f"{name}:3: input_per_mtok: not a decimal number: '1.5.0'")
               for line in lines)
    assert f"{name}:4: long_context_threshold: must be a whole number of prompt tokens > 0, got '200k'" in lines
    assert f"{name}:5: 2 cells, but the header has 6 columns" in lines
    assert f"{name}:5: input_per_mtok: missing (required)" in lines


def test_csv_header_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "header.csv", """
        model,input_per_mtok,ouput_per_mtok
        a,1,2
        """)
    with pytest.raises(CostFileError) as info:
        CostBook.load(path)
    message = str(info.value)
    assert f"{path}:1: ouput_per_mtok: unknown field (did you mean 'output_per_mtok'?)" in message
    assert f"{path}:1: effective_from: missing column" in message


def test_missing_file_and_wrong_extension(tmp_path: Path) -> None:
    with pytest.raises(CostFileError, match=r"nope.yaml: cannot read"):
        CostBook.load(tmp_path / "nope.yaml")
    with pytest.raises(CostFileError, match=r"costs.json: a cost file must end in"):
        CostBook.load(write(tmp_path, "costs.json", "{}"))
