"""The multi-turn conversation model: input grows as k*n(n+1)/2 until the window caps it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.designer.conversation import (
    TurnTokens,
    conversation_input_tokens,
    conversation_turns,
    turn_tokens,
)


@pytest.mark.parametrize(
    ("turns", "k", "window", "expected"),
    [
        (10, 1_000, 128_000, 55_000),  # 1000 * 10*11/2 = 55,000 (the example)
        (1, 1_000, 128_000, 1_000),  # one turn: just k
        (0, 1_000, 128_000, 0),  # no turns, no tokens
        (20, 1_000, 128_000, 210_000),  # 1000 * 20*21/2 = 210,000 (20k < 128k: uncapped)
        # Capped: window 5,000 with k = 1,000 -> turns 1..5 send 1k..5k (15,000), then 5,000 each:
        (10, 1_000, 5_000, 40_000),  # 15,000 + 5 * 5,000 = 40,000
        # Window not a multiple of k: 2,500 -> turns 1,2 send 1k, 2k (3,000), then 2,500 each:
        (5, 1_000, 2_500, 10_500),  # 3,000 + 3 * 2,500 = 10,500
        (3, 1_000, 1_000, 3_000),  # window holds one turn: 1,000 per turn
    ],
)
def test_total_input_in_closed_form_and_per_turn(
    turns: int, k: int, window: int, expected: int
) -> None:
    assert conversation_input_tokens(turns, k, window) == expected
    assert sum(t.prompt for t in conversation_turns(turns, k, window)) == expected


def test_cached_share_of_the_re_read_prefix() -> None:
    # k = 1,000, window 3,000, hit rate 0.8. Turn prompts 1k, 2k, 3k, 3k; prefixes 0, 1k, 2k, 2k;
    # cached = 0.8 * prefix = 0, 800, 1,600, 1,600; fresh = prompt - cached.
    assert conversation_turns(4, 1_000, 3_000, Decimal("0.8")) == [
        TurnTokens(turn=1, prompt=1_000, prefix=0, cached=0, fresh=1_000),
        TurnTokens(turn=2, prompt=2_000, prefix=1_000, cached=800, fresh=1_200),
        TurnTokens(turn=3, prompt=3_000, prefix=2_000, cached=1_600, fresh=1_400),
        TurnTokens(turn=4, prompt=3_000, prefix=2_000, cached=1_600, fresh=1_400),
    ]


def test_cached_tokens_round_half_up() -> None:
    # prefix of turn 2 = 5 tokens; 0.5 * 5 = 2.5 -> 3 cached (half up), 10 - 3 = 7 fresh
    assert turn_tokens(2, 5, 100, Decimal("0.5")) == TurnTokens(2, 10, 5, 3, 7)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1, 1_000, 500), "context_window \\(500\\) must hold at least one turn"),
        ((0, 1_000, 5_000), "turns are numbered from 1"),
        ((1, 0, 5_000), "tokens_per_turn must be at least 1"),
    ],
)
def test_impossible_conversations_are_refused(args: tuple[int, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        turn_tokens(*args)


def test_cache_hit_rate_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="cache_hit_rate must be between 0 and 1"):
        turn_tokens(2, 1_000, 5_000, Decimal("1.2"))


@given(
    turns=st.integers(0, 60),
    k=st.integers(1, 5_000),
    window_turns=st.integers(1, 80),
    extra=st.integers(0, 4_999),
    rate=st.decimals(0, 1, places=3),
)
def test_per_turn_rule_matches_the_closed_form(
    turns: int, k: int, window_turns: int, extra: int, rate: Decimal
) -> None:
    window = k * window_turns + extra % k if k > 1 else window_turns
    per_turn = conversation_turns(turns, k, window, rate)
    assert sum(t.prompt for t in per_turn) == conversation_input_tokens(turns, k, window)
    for t in per_turn:
        assert t.fresh + t.cached == t.prompt <= window
        assert 0 <= t.cached <= t.prefix == t.prompt - k
    if turns * k <= window:  # never capped: exactly k * n * (n + 1) / 2
        assert conversation_input_tokens(turns, k, window) * 2 == k * turns * (turns + 1)
