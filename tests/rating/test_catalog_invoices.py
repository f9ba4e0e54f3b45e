"""Each of the seven catalog plans, rated on a small hand-made usage, gives the invoice its header
comment implies. The arithmetic is written out per test."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from billing.costs import CostBook
from billing.subscriptions import Subscription

from .conftest import event, rate_events


def test_01_payg_prices_every_class_by_the_first_matching_rate() -> None:
    result = rate_events("01-payg-rate-card.yaml", [
        # claude-sonnet: 1M x 4.50 + 2M x 0.45 + 0.1M x 5.60 + 0.2M x 22.50
        #              = 4.50 + 0.90 + 0.56 + 4.50 = 10.46
        event(1, 2, "claude-sonnet-4-5", input=1_000_000, cached=2_000_000, write=100_000,
              output=200_000),
        # gpt-4o-mini: 3M x 0.25 + 1M x 1.00 = 1.75
        event(2, 3, "gpt-4o-mini", input=3_000_000, output=1_000_000),
        # llama (third rate): 0.5M x 0.60 + 0.25M x 2.40 = 0.30 + 0.60 = 0.90
        event(3, 4, "llama-3.1-70b", input=500_000, output=250_000),
        # anything else ("*"): 0.1M x 5.00 + 0.04M x 1.25 + 0.01M x 20.00 = 0.50 + 0.05 + 0.20
        event(4, 5, "mistral-large", input=100_000, cached=40_000, output=10_000),
    ])
    invoice = result.invoice
    amounts = {line.model: line.rounded_amount for line in invoice.lines}
    assert amounts == {
        "claude-sonnet-4-5": Decimal("10.46"), "gpt-4o-mini": Decimal("1.75"),
        "llama-3.1-70b": Decimal("0.90"), "mistral-large": Decimal("0.75"),
    }
    assert invoice.total == Decimal("13.86")  # 10.46 + 1.75 + 0.90 + 0.75
    grades = {line.model: line.grade for line in invoice.lines}
    assert grades["claude-sonnet-4-5"] == "premium"
    assert grades["llama-3.1-70b"] == "commodity"
    assert grades["mistral-large"] is None


def test_02_seats_prorated_by_day_with_a_pooled_per_seat_allowance() -> None:
    sub = Subscription.model_validate({
        "customer_id": "acme", "plan": "team-seats", "start": "2026-11-01",
        "seats": [{"effective": "2026-11-01", "seats": 10}, {"effective": "2026-11-16", "seats": 11}],
    })
    result = rate_events("02-seats.yaml", [
        event(1, 3, "gpt-5", input=10_000_000, output=5_000_000),
        event(2, 20, "claude-sonnet-4-5", input=8_000_000, cached=2_000_000, write=500_000),
    ], subscription=sub)
    lines = {line.kind: line for line in result.invoice.lines}
    # Seats: 10 x 30.00 + 1 seat for 15 of 30 days x 30.00 = 300.00 + 15.00 = 315.00
    assert lines["seats"].quantity == Decimal("10.5")
    assert lines["seats"].rounded_amount == Decimal("315.00")
    # Pool: 2M x 10.5 seat-months = 21M. Used 15M + 10.5M = 25.5M: 4.5M over x 4.00/M = 18.00
    assert lines["usage"].rounded_amount == Decimal("18.00")
    assert result.invoice.total == Decimal("333.00")


def test_03_platform_fee_includes_usage_then_graduated_overage_discount() -> None:
    result = rate_events("03-base-plus-overage.yaml", [
        # claude-sonnet: 100M input x 4.00 + 50M output x 20.00 = 400 + 1,000 = 1,400.00
        event(1, 2, "claude-sonnet-4-5", input=100_000_000, output=50_000_000),
        # gpt-5 ("*"): 1,000M input x 2.00 + 500M output x 8.00 = 2,000 + 4,000 = 6,000.00
        event(2, 9, "gpt-5", input=1_000_000_000, output=500_000_000),
    ])
    # usage 7,400.00; the fee covers 500.00; overage 6,900.00:
    #   first 5,000.00 at 1.00 = 5,000.00; next 1,900.00 at 0.90 = 1,710.00 -> 6,710.00
    # total = 500.00 fee + 6,710.00 = 7,210.00
    # The overage is its own line, the models' values and the included 500.00 its breakdown.
    kinds = [(line.kind, line.model, line.rounded_amount) for line in result.invoice.lines]
    assert kinds == [
        ("flat", None, Decimal("500.00")),
        ("overage", None, Decimal("6900.00")),  # 1,400.00 + 6,000.00 - 500.00
        ("overage_discount", None, Decimal("-190.00")),  # 6,710.00 - 6,900.00
    ]
    overage = result.invoice.lines[1]
    assert overage.description == "Model usage: overage above the 500 included"
    assert list(overage.details) == [
        ("claude-sonnet-4-5 at list price", Decimal("1400.00")),
        ("gpt-5 at list price", Decimal("6000.00")),
        ("included in the plan's fees (up to 500)", Decimal("-500.00")),
    ]
    assert result.invoice.total == Decimal("7210.00")


def test_04_credits_burn_grant_first_and_auto_top_up_fires_twice() -> None:
    result = rate_events("04-prepaid-credits.yaml", [
        # Nov 3: "*" 2M input x 3.00 = 6.00 = 600 credits, all from the free grant (1,000 -> 400)
        event(1, 3, "gpt-5", input=2_000_000),
        # Nov 10: sonnet 100M output x 20.00 = 2,000.00 = 200,000 credits; balance 400:
        #   shortfall 199,600 -> 2 packs (200,000 credits, 1,800.00); free grant 400 burns first
        event(2, 10, "claude-sonnet-4-5", output=100_000_000),
        # Nov 20: "*" 1M output x 12.00 = 12.00 = 1,200 credits; balance 400 -> 1 more pack
        event(3, 20, "gpt-5", output=1_000_000),
    ])
    invoice = result.invoice
    packs = [line for line in invoice.lines if line.kind == "credit_pack"]
    assert [(p.quantity, p.rounded_amount) for p in packs] == [
        (Decimal(2), Decimal("1800.00")), (Decimal(1), Decimal("900.00")),
    ]
    applied = {line.model: line.rounded_amount for line in invoice.lines
               if line.kind == "credits_applied"}
    # credits applied per model, so each model's usage and credit round alike:
    # sonnet 200,000 credits = 2,000.00; gpt-5 600 + 1,200 = 1,800 credits = 18.00
    assert applied == {"claude-sonnet-4-5": Decimal("-2000.00"), "gpt-5": Decimal("-18.00")}
    usage = sum(line.rounded_amount for line in invoice.lines if line.kind == "rate_card")
    assert usage == Decimal("2018.00")  # 6.00 + 2,000.00 + 12.00
    assert invoice.total == Decimal("2700.00")  # 3 packs x 900.00; usage nets to zero
    grant = next(b for b in invoice.credits if b.source.startswith("Monthly free credits"))
    assert (grant.burned, grant.remaining) == (Decimal(1000), Decimal(0))
    # Pack credits left: 300,000 bought - 199,600 - 1,200 = 99,200 (not expired: breakage 0)
    assert sum(b.remaining for b in invoice.credits if b.paid) == Decimal(99_200)
    assert invoice.breakage == 0


def test_05_baseload_all_720_hours_plus_spot_by_new_york_time_of_use() -> None:
    result = rate_events("05-spot-baseload.yaml", [
        # Mon Nov 2, 15:00 UTC = 10:00 New York (EST): peak. Weighted 10M + 5M x 4 = 30M:
        #   20M covered, 10M x 6.00/M = 60.00
        event(1, 2, "gpt-5", hour=15, input=10_000_000, output=5_000_000),
        # Sat Nov 7, 15:00 UTC: off-peak. Weighted 25M + 10M x 0.1 = 26M: 6M x 3.00/M = 18.00
        event(2, 7, "gpt-5", hour=15, input=25_000_000, cached=10_000_000),
        # Tue Nov 3, 02:00 UTC: 5M, all covered by the reservation
        event(3, 3, "gpt-5", hour=2, input=5_000_000),
    ])
    lines = {line.kind: line.rounded_amount for line in result.invoice.lines}
    assert lines["capacity_baseload"] == Decimal("21600.00")  # 720 h x 20M x 1.50/M
    assert lines["capacity_spot"] == Decimal("78.00")  # 60.00 + 18.00
    assert result.invoice.total == Decimal("21678.00")
    # utilization = (20M + 20M + 5M) covered / (720 x 20M) reserved = 45 / 14,400 = 0.003125
    assert result.covered is not None and result.reserved is not None
    assert result.covered / result.reserved == Decimal("0.003125")


def test_06_cost_plus_with_volume_discount_commitment_and_cap(tmp_path: Path) -> None:
    book_file = tmp_path / "costs.yaml"
    book_file.write_text(
        "currency: USD\nmodels:\n  - model: acme-large\n    provider: acme\n"
        "    effective_from: 2026-01-01\n    input_per_mtok: \"2.00\"\n    output_per_mtok: \"10.00\"\n"
    )
    book = CostBook.load(book_file)

    def total(input_tokens: int, output_tokens: int = 0) -> Decimal:
        result = rate_events("06-cost-plus-commit.yaml", [
            event(1, 5, "acme-large", input=input_tokens, output=output_tokens),
        ], costbook=book)
        return result.invoice.total

    # cost 1,000M x 2.00 + 100M x 10.00 = 3,000.00; x 1.35 = 4,050.00 (under 10,000: no discount)
    assert total(1_000_000_000, 100_000_000) == Decimal("4050.00")
    # cost 100M x 2.00 = 200.00; x 1.35 = 270.00; true-up to the 2,000.00 minimum
    assert total(100_000_000) == Decimal("2000.00")
    # cost 10,000M x 2.00 = 20,000.00; x 1.35 = 27,000.00; volume tier 2: x 0.90 = 24,300.00
    assert total(10_000_000_000) == Decimal("24300.00")
    # cost 30,000M x 2.00 = 60,000.00; x 1.35 = 81,000.00; x 0.90 = 72,900.00; capped at 50,000
    assert total(30_000_000_000) == Decimal("50000.00")


def test_07_graduated_output_volume_input_and_request_packages_in_euros() -> None:
    result = rate_events("07-tiered-tokens.yaml", [
        event(1, 2, "gpt-5", input=100_000_000, cached=30_000_000, output=100_000_000,
              requests=1_200),
        event(2, 12, "gpt-5", input=20_000_000, output=50_000_000, requests=1_300),
    ])
    lines = {line.charge: line.rounded_amount for line in result.invoice.lines}
    # output 150M: 10 x 15.00 + 90 x 12.00 + 50 x 9.00 = 150 + 1,080 + 450 = 1,680.00
    assert lines["Output tokens"] == Decimal("1680.00")
    # input 120M + 30M cached = 150M: volume tier "up to 1000": all 150 x 2.50 = 375.00
    assert lines["Input tokens"] == Decimal("375.00")
    # 2,500 requests: 3 packages (rounded up) x 0.50 = 1.50
    assert lines["Requests"] == Decimal("1.50")
    assert result.invoice.currency == "EUR"
    assert result.invoice.total == Decimal("2056.50")


def test_subscription_starting_mid_period_prorates_the_fee_by_day() -> None:
    sub = Subscription(customer_id="acme", plan="growth-hybrid", start=date(2026, 11, 16),
                       anchor=date(2026, 11, 1))
    result = rate_events("03-base-plus-overage.yaml", [], subscription=sub)
    # 15 of 30 days x 500.00 = 250.00
    assert result.invoice.total == Decimal("250.00")
