"""The seeds' pricing economics, checked against the seeds' worked numbers.

Seeds: price p = 6 per 1M tokens, N = 20M tokens per task, mean S = 0.4 hours saved, valued at
200 per hour. z = rate*S/N = 200*0.4/20M per token = 80/20M = 4 per 1M tokens; |e| = p/z = 6/4 =
1.5; MC = p - z = 6 - 4 = 2 per 1M; margin = 1/|e| = 4/6 = 2/3; margin / n for n competitors.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from billing.cli import main
from billing.designer.economics import (
    EconomicsError,
    competitive_margin,
    demand_share,
    economics_view,
    implied_marginal_cost_per_mtok,
    lerner_margin,
    price_elasticity,
    willingness_to_pay_per_mtok,
)
from billing.errors import FloatMoneyError

SEEDS: dict[str, str | int] = {"price_per_mtok": "6", "tokens_per_task": 20_000_000, "hours_saved": "0.4",
         "hourly_rate": 200}


def test_willingness_to_pay_per_token_is_hours_saved_times_rate_over_tokens() -> None:
    # 200 * 0.4 = 80 per task; 80 / 20,000,000 tokens * 1,000,000 = 4 per 1M tokens
    assert willingness_to_pay_per_mtok("0.4", 200, 20_000_000) == Decimal(4)


def test_elasticity_of_the_exponential_demand() -> None:
    # |e| = p*N/(rate*S) = 6/1M * 20M / (200 * 0.4) = 120 / 80 = 1.5
    assert price_elasticity(**SEEDS) == Decimal("1.5")


def test_demand_share_is_exp_of_minus_elasticity() -> None:
    # exp(-1.5) = 0.22313016014842982893...
    assert demand_share(**SEEDS).quantize(Decimal("1e-12")) == Decimal("0.223130160148")
    # At price 0 every task is bought.
    assert demand_share("0", 20_000_000, "0.4", 200) == 1


def test_implied_marginal_cost_from_the_seeds() -> None:
    # MC = p - rate*S/N = 6 - 4 = 2 per 1M tokens
    assert implied_marginal_cost_per_mtok(**SEEDS) == Decimal(2)


def test_lerner_margin_is_two_thirds_exactly() -> None:
    # (p - MC)/p = 1/|e| = 1/1.5 = 2/3, equal to 2/3 at the context's precision
    assert lerner_margin(Decimal("1.5")) == Decimal(2) / Decimal(3)
    # The same from the Lerner condition read directly: (6 - 2)/6
    assert (Decimal(6) - implied_marginal_cost_per_mtok(**SEEDS)) / 6 == Decimal(2) / Decimal(3)


@pytest.mark.parametrize(
    ("competitors", "numerator", "denominator", "seed_percent"),
    [
        (1, 2, 3, 67),  # 2/3 = 66.67%, which the seed rounds to 67%
        (2, 1, 3, 33),  # 2/3 / 2 = 1/3  (duopoly)
        (3, 2, 9, 22),  # 2/3 / 3 = 2/9
        (4, 1, 6, 16),  # 2/3 / 4 = 1/6 = 16.67%, which the seed truncates to 16%
        (5, 2, 15, 13),  # 2/3 / 5 = 2/15
    ],
)
def test_margin_under_n_symmetric_competitors(
    competitors: int, numerator: int, denominator: int, seed_percent: int
) -> None:
    exact = Decimal(numerator) / Decimal(denominator)
    assert lerner_margin(Decimal("1.5"), competitors) == exact
    view = economics_view(**SEEDS, competitors=[competitors])
    assert view.margins_by_competitors == ((competitors, exact),)
    # The seed prints whole percent: 67% for n = 1, then truncated: 33%, 22%, 16%, 13%.
    shown = round(exact * 100) if competitors == 1 else int(exact * 100)
    assert shown == seed_percent


def test_competitive_margin_divides_a_given_margin() -> None:
    # 0.60 margin shared by 3 competitors: 0.20 each
    assert competitive_margin(Decimal("0.60"), 3) == Decimal("0.20")
    with pytest.raises(EconomicsError, match="competitors"):
        competitive_margin(Decimal("0.60"), 0)


def test_bad_inputs_are_refused_with_the_reason() -> None:
    with pytest.raises(EconomicsError, match="tokens_per_task must be greater than 0"):
        willingness_to_pay_per_mtok("0.4", 200, 0)
    with pytest.raises(EconomicsError, match="elasticity must not be 0"):
        lerner_margin(0)
    with pytest.raises(FloatMoneyError):
        implied_marginal_cost_per_mtok(6.0, 20_000_000, "0.4", 200)  # type: ignore[arg-type]


SEED_ARGS = ["economics", "--price-per-mtok", "6", "--tokens-per-task", "20000000",
             "--hours-saved", "0.4", "--hourly-rate", "200", "--competitors", "1,2,3,4,5"]


def test_cli_json_gives_the_seeds_numbers_as_decimal_strings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*SEED_ARGS, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["marginal_cost_per_mtok"] == "2"
    assert data["willingness_to_pay_per_mtok"] == "4"
    assert Decimal(data["margin"]) == Decimal(2) / Decimal(3)
    margins = {row["competitors"]: Decimal(row["margin"]) for row in data["margins_by_competitors"]}
    assert margins == {
        1: Decimal(2) / 3, 2: Decimal(1) / 3, 3: Decimal(2) / 9, 4: Decimal(1) / 6,
        5: Decimal(2) / 15,
    }


def test_cli_table_shows_mc_and_margins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(SEED_ARGS) == 0
    out = capsys.readouterr().out
    assert "MC = p - rate*S/N" in out
    # 2/3 = 66.7%, 1/3 = 33.3%, 2/9 = 22.2%, 1/6 = 16.7%, 2/15 = 13.3%
    for percent in ("66.7%", "33.3%", "22.2%", "16.7%", "13.3%"):
        assert percent in out


def test_cli_refuses_a_bad_number(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["economics", "--price-per-mtok", "six", "--tokens-per-task", "20000000",
                 "--hours-saved", "0.4", "--hourly-rate", "200"])
    assert code == 2
    assert "--price-per-mtok: not a decimal number: 'six'" in capsys.readouterr().err


def test_cli_json_writes_tiny_numbers_fixed_point(capsys: pytest.CaptureFixture[str]) -> None:
    # p = 0.0000001 per 1M, N = 1 token, S = 0.000001 h at 1 per hour:
    # z = 1 * 0.000001 / 1 token = 0.000001 per token = 1 per 1M tokens;
    # |e| = p / z = 0.0000001 / 1 = 0.0000001. str() would write "1E-7" for both.
    assert main(["economics", "--price-per-mtok", "0.0000001", "--tokens-per-task", "1",
                 "--hours-saved", "0.000001", "--hourly-rate", "1", "--json"]) == 0
    out = capsys.readouterr().out
    assert "E-" not in out and "E+" not in out
    data = json.loads(out)
    assert data["inputs"]["price_per_mtok"] == "0.0000001"
    assert Decimal(data["elasticity"]) == Decimal("0.0000001")
