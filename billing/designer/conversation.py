"""The multi-turn conversation model: how input tokens grow when a chat re-reads its context.

A chat model is stateless: every turn sends the whole conversation so far. With ``k`` tokens
added per turn (the user's message plus the previous reply: everything a turn adds to the
context) and a context window of ``W`` tokens, the rule is:

- turn ``i`` (1-based) sends a prompt of ``min(i * k, W)`` tokens;
- of it, ``k`` tokens are new and the rest, ``min((i - 1) * k, W - k)``, is the **re-read
  prefix** from earlier turns (when the window is full the oldest turns fall out of it);
- a share ``cache_hit_rate`` of the re-read prefix is served from the prompt cache:
  ``cached = round_half_up(cache_hit_rate * prefix)`` tokens are cached input, the remaining
  ``prompt - cached`` are fresh input. The new ``k`` tokens are never cached.

So n turns send ``k * n * (n + 1) / 2`` input tokens in total while ``n * k <= W`` (10 turns of
1,000 tokens: 55,000), and beyond that each further turn adds ``W``: quadratic growth until the
window caps it, linear after. :func:`conversation_input_tokens` is that closed form;
:func:`turn_tokens` is the per-turn rule the simulator uses, and the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from billing.money import D

__all__ = ["TurnTokens", "conversation_input_tokens", "conversation_turns", "turn_tokens"]


@dataclass(frozen=True, slots=True)
class TurnTokens:
    """Input-side tokens of one turn: ``prompt == fresh + cached``, ``prefix <= prompt``."""

    turn: int
    prompt: int  # everything the turn sends: min(turn * k, window)
    prefix: int  # re-read part from earlier turns: prompt - k
    cached: int  # round_half_up(cache_hit_rate * prefix): priced as cached input
    fresh: int  # prompt - cached: priced as fresh input


def _check(tokens_per_turn: int, context_window: int) -> None:
    if tokens_per_turn < 1:
        raise ValueError(f"tokens_per_turn must be at least 1, got {tokens_per_turn}")
    if context_window < tokens_per_turn:
        raise ValueError(
            f"context_window ({context_window}) must hold at least one turn "
            f"(tokens_per_turn {tokens_per_turn})"
        )


def turn_tokens(
    turn: int, tokens_per_turn: int, context_window: int, cache_hit_rate: Decimal | str = "0"
) -> TurnTokens:
    """Tokens of turn ``turn`` (1-based) under the rule in the module docstring.

    >>> turn_tokens(3, 1000, 128_000, Decimal("0.5"))
    TurnTokens(turn=3, prompt=3000, prefix=2000, cached=1000, fresh=2000)
    """
    _check(tokens_per_turn, context_window)
    if turn < 1:
        raise ValueError(f"turns are numbered from 1, got {turn}")
    rate = D(cache_hit_rate)
    if not 0 <= rate <= 1:
        raise ValueError(f"cache_hit_rate must be between 0 and 1, got {rate}")
    prompt = min(turn * tokens_per_turn, context_window)
    prefix = prompt - tokens_per_turn
    cached = int((rate * prefix).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return TurnTokens(turn=turn, prompt=prompt, prefix=prefix, cached=cached, fresh=prompt - cached)


def conversation_turns(
    turns: int, tokens_per_turn: int, context_window: int, cache_hit_rate: Decimal | str = "0"
) -> list[TurnTokens]:
    """Every turn of an ``turns``-turn conversation, in order."""
    return [
        turn_tokens(i, tokens_per_turn, context_window, cache_hit_rate)
        for i in range(1, turns + 1)
    ]


def conversation_input_tokens(turns: int, tokens_per_turn: int, context_window: int) -> int:
    """Total prompt tokens (fresh + cached) of ``turns`` turns, in closed form.

    With ``m = min(turns, W // k)`` turns before the window is full:
    ``k * m * (m + 1) / 2 + (turns - m) * W``; uncapped that is ``k * n * (n + 1) / 2``.

    >>> conversation_input_tokens(10, 1000, 128_000)
    55000
    """
    _check(tokens_per_turn, context_window)
    if turns < 0:
        raise ValueError(f"turns must not be negative, got {turns}")
    k, w = tokens_per_turn, context_window
    m = min(turns, w // k)
    return k * m * (m + 1) // 2 + (turns - m) * w
