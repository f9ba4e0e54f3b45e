"""Supplier prices by service tier (standard, batch, flex, priority) through the real cost book:
genai-prices' per-model tier prices, the built-in provider multipliers, cost-file overrides."""

from __future__ import annotations

import textwrap
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from billing.costs import CostBook, CostFileError
from billing.errors import CostBookError
from billing.usage.aggregates import Counts

DAY = date(2026, 11, 12)  # genai-prices 0.2.3's tier prices are in force from 2026-10-12/14
COUNTS = Counts(input=1_000_000, cached_input=2_000_000, cache_write=0, output=100_000)


def cost(book: CostBook, model: str, tier: str, at: date = DAY) -> Decimal:
    return book.cost(model, COUNTS, band=0, at=at, tier=tier).amount  # type: ignore[arg-type]


def test_a_models_own_tier_price_from_genai_prices() -> None:
    book = CostBook.default()
    # gpt-5 standard: 1.25 input, 0.125 cached, 10 output per 1M
    # 1,000,000 x 1.25 + 2,000,000 x 0.125 + 100,000 x 10 = 1.25 + 0.25 + 1.00 = 2.50
    assert cost(book, "gpt-5", "standard") == Decimal("2.5")
    # flex (genai-prices: 0.625 / 0.0625 / 5): 0.625 + 0.125 + 0.50 = 1.25
    assert cost(book, "gpt-5", "flex") == Decimal("1.25")
    # priority (2.5 / 0.25 / 20): 2.50 + 0.50 + 2.00 = 5.00
    assert cost(book, "gpt-5", "priority") == Decimal("5")
    assert book.tier_prices("gpt-5", DAY, "flex").source.endswith("flex price")


def test_the_providers_multiplier_where_the_model_has_no_tier_price() -> None:
    book = CostBook.default()
    # gemini-2.5-flash has no flex price in the data: Google's flex is 50% off standard
    # standard 0.30 / 0.03 / 2.50: (1,000,000 x 0.30 + 2,000,000 x 0.03 + 100,000 x 2.50) x 0.5
    # = (0.30 + 0.06 + 0.25) x 0.5 = 0.305
    assert cost(book, "gemini-2.5-flash", "flex") == Decimal("0.305")
    # Anthropic batch before genai-prices' batch prices start: the 50% multiplier
    # claude-sonnet-4-5: 3 / 0.30 / 15: (3 + 0.60 + 1.50) x 0.5 = 2.55
    assert cost(book, "claude-sonnet-4-5", "batch", date(2026, 1, 5)) == Decimal("2.55")


def test_no_price_for_a_tier_is_an_error_naming_it() -> None:
    with pytest.raises(CostBookError, match=r"no priority price for model 'gpt-4o' "
                                            r"\(provider openai\).*service_tiers"):
        cost(CostBook.default(), "gpt-4o", "priority", date(2026, 1, 5))
    with pytest.raises(CostBookError, match="unknown service tier 'turbo'"):
        cost(CostBook.default(), "gpt-5", "turbo")


def test_the_cost_file_overrides_the_multipliers(tmp_path: Path) -> None:
    path = tmp_path / "costs.yaml"
    path.write_text(textwrap.dedent("""
        models:
          - model: our-gpt
            provider: openai
            effective_from: 2026-01-01
            input_per_mtok: "2"
            cached_input_per_mtok: "0.5"
            output_per_mtok: "8"
        service_tiers:
          openai: {priority: "1.75", batch: "0.6"}
    """).lstrip(), encoding="utf-8")
    book = CostBook.load(path)
    # our-gpt standard: 1,000,000 x 2 + 2,000,000 x 0.5 + 100,000 x 8 = 2 + 1 + 0.8 = 3.8
    assert cost(book, "our-gpt", "standard") == Decimal("3.8")
    assert cost(book, "our-gpt", "priority") == Decimal("6.65")  # 3.8 x 1.75
    # the file's batch multiplier wins over genai-prices' own gpt-5 batch price: 2.50 x 0.6
    assert cost(book, "gpt-5", "batch") == Decimal("1.5")
    # flex is not overridden: gpt-5's own flex price (1.25, as above)
    assert cost(book, "gpt-5", "flex") == Decimal("1.25")


@pytest.mark.parametrize(("tiers", "message"), [
    ('{openai: {turbo: "0.5"}}', "unknown tier 'turbo'"),
    ('{openai: {batch: "-1"}}', "batch must be a decimal multiplier >= 0"),
    ('{openai: {batch: "half"}}', "batch must be a decimal multiplier"),
    ('[1, 2]', "expected provider: {tier: multiplier}"),
])
def test_a_bad_service_tiers_names_the_line(tmp_path: Path, tiers: str, message: str) -> None:
    path = tmp_path / "costs.yaml"
    path.write_text('models:\n  - model: m\n    effective_from: 2026-01-01\n'
                    '    input_per_mtok: "1"\n    output_per_mtok: "2"\n'
                    f"service_tiers: {tiers}\n", encoding="utf-8")
    with pytest.raises(CostFileError) as caught:
        CostBook.load(path)
    assert f"{path}:6: service_tiers: " in str(caught.value)
    assert message in str(caught.value)
