"""Invariants of every invoice, on random usage (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.usage.events import UsageEvent

from .conftest import rate_events

MODELS = ["claude-sonnet-4-5", "gpt-4o-mini", "llama-3.1-8b", "gpt-5"]
VOLUME_TIERED = {"07-tiered-tokens.yaml"}  # its input tokens are priced in volume tiers
PLANS = ["01-payg-rate-card.yaml", "02-seats.yaml", "03-base-plus-overage.yaml",
         "04-prepaid-credits.yaml", "05-spot-baseload.yaml", "07-tiered-tokens.yaml"]

events = st.lists(
    st.builds(
        lambda n, minutes, model, i, c, o: (n, minutes, model, i, c, o),
        st.integers(0, 10**6), st.integers(0, 29 * 24 * 60), st.sampled_from(MODELS),
        st.integers(0, 50_000_000), st.integers(0, 20_000_000), st.integers(0, 30_000_000),
    ),
    max_size=12,
)


def _events(rows: list[tuple[int, int, str, int, int, int]]) -> list[UsageEvent]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        UsageEvent(f"e{k}", "acme", start + timedelta(minutes=minutes), model,
                   input_tokens=i, cached_input_tokens=c, output_tokens=o)
        for k, (_n, minutes, model, i, c, o) in enumerate(rows)
    ]


@pytest.mark.parametrize("plan", PLANS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=events, extra=events)
def test_total_is_the_sum_of_rounded_lines_and_exact_amounts_never_drop_when_usage_grows(
    plan: str, rows: list[tuple[int, int, str, int, int, int]],
    extra: list[tuple[int, int, str, int, int, int]],
) -> None:
    base = rate_events(plan, _events(rows)).invoice
    assert base.total == sum((line.rounded_amount for line in base.lines), Decimal(0))
    for line in base.lines:
        assert type(line.amount) is Decimal
        if line.details:
            assert sum((d for _, d in line.details), Decimal(0)) == line.amount
    for balance in base.credits:
        assert balance.remaining >= 0
        assert balance.burned + balance.expired + balance.remaining == balance.granted
    if plan in VOLUME_TIERED:
        # Volume tiers price every unit at the tier reached, so crossing a tier can lower the
        # bill (100M input tokens at 3.00 = 300.00; 101M at 2.50 = 252.50): by design, as in
        # Stripe. Growth need not be monotone there.
        return
    more = rate_events(plan, _events(rows + extra)).invoice
    # The exact amounts never drop when usage grows. Each line is rounded once, by at most half
    # a minor unit, so the rounded total can only drop by what the rounding of the lines allows.
    exact_base = sum((line.amount for line in base.lines), Decimal(0))
    exact_more = sum((line.amount for line in more.lines), Decimal(0))
    assert exact_more >= exact_base
    slack = Decimal("0.005") * (len(base.lines) + len(more.lines))
    assert more.total >= base.total - slack
