"""What a supplier charges for one model, and the exact cost of a token sum at those prices.

Everything here is pure Decimal arithmetic: no I/O, no clock, no globals. The arithmetic runs in a
wide context that traps ``Inexact``, so a cost is either exact or an error, never silently rounded.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from billing.errors import CostBookError
from billing.money import MTOK, UNROUNDED, ZERO
from billing.usage.aggregates import Counts
from billing.usage.events import TokenClass

__all__ = ["CostResult", "ModelCost", "price_counts"]

# Exact or nothing: 80 digits hold any price times any token count; Inexact is trapped.
_EXACT: Final = UNROUNDED
CLASS_ORDER: Final = (TokenClass.INPUT, TokenClass.CACHED_INPUT, TokenClass.CACHE_WRITE,
                      TokenClass.OUTPUT)
"""The token classes in the order of every per-class tuple of this module."""
_MTOK_EXPONENT: Final = -len(str(MTOK)) + 1  # prices are per 1M tokens: shift by -6


@dataclass(frozen=True)
class ModelCost:
    """A supplier's prices for one model, in USD per 1M tokens (``Decimal``).

    ``cached_input`` and ``cache_write`` are always set: where the supplier publishes no separate
    cache price, the input price stands in for it (a cache read or write of a model without prompt
    caching is an ordinary input token), mirroring genai-prices, which prices such tokens as input.

    ``long_context_threshold``: prompt tokens per request (fresh input + cache reads + cache writes)
    ABOVE which every token of the request, of every class, is priced at ``long`` (the supplier's
    "cliff" tier, as genai-prices' ``TieredPrices`` documents it: 200,001 prompt tokens at a 200K
    tier are all priced at the tier rate, not just the 1 token above it). ``long`` may itself carry
    a higher threshold when a supplier publishes several tiers. ``None``: one price at any length.
    """

    model: str
    """The name the price is listed under: a genai-prices model id or a cost-file glob."""
    provider: str
    """Who is paid for these tokens (e.g. ``anthropic``, ``groq``): the supplier for HHI."""
    input: Decimal
    cached_input: Decimal
    cache_write: Decimal
    output: Decimal
    long_context_threshold: int | None = None
    long: ModelCost | None = None
    source: str = ""
    """Where the price comes from (``genai-prices 0.2.3`` or ``costs.yaml:12``), for reports."""

    def __post_init__(self) -> None:
        for name in ("input", "cached_input", "cache_write", "output"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise CostBookError(f"{self.model}: {name} price must be a Decimal >= 0, got {value!r}")
        if (self.long_context_threshold is None) != (self.long is None):
            raise CostBookError(
                f"{self.model}: long_context_threshold and long prices go together (one is missing)"
            )
        if self.long_context_threshold is not None and self.long_context_threshold <= 0:
            raise CostBookError(f"{self.model}: long_context_threshold must be positive")

    def prices(self) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """The prices per 1M tokens of every class, in :data:`CLASS_ORDER`."""
        return (self.input, self.cached_input, self.cache_write, self.output)

    def price_of(self, token_class: TokenClass) -> Decimal:
        """The price per 1M tokens of ``token_class`` at this level."""
        return {
            TokenClass.INPUT: self.input,
            TokenClass.CACHED_INPUT: self.cached_input,
            TokenClass.CACHE_WRITE: self.cache_write,
            TokenClass.OUTPUT: self.output,
        }[token_class]

    def thresholds(self) -> tuple[int, ...]:
        """Every long-context threshold of this model, ascending (several for multi-tier models)."""
        out: list[int] = []
        level: ModelCost | None = self
        while level is not None and level.long_context_threshold is not None:
            out.append(level.long_context_threshold)
            level = level.long
        return tuple(out)

    def for_prompt_above(self, exceeded: int | None) -> ModelCost:
        """The price level for a request whose prompt exceeded the threshold ``exceeded``.

        ``exceeded`` is the largest threshold (of any model) the prompt per request is known to
        exceed, ``None`` for none. The level whose threshold is <= ``exceeded`` applies.
        """
        level = self
        while (
            exceeded is not None
            and level.long_context_threshold is not None
            and level.long is not None
            and level.long_context_threshold <= exceeded
        ):
            level = level.long
        return level


@dataclass(frozen=True)
class CostResult:
    """The exact supplier cost of some tokens: ``amount == sum of by_class`` (USD, unrounded)."""

    amount: Decimal
    by_class: tuple[tuple[str, Decimal], ...]
    """``(token class, cost)`` for input, cached_input, cache_write, output, in that order."""
    provider: str


def price_counts(level: ModelCost, counts: Counts) -> CostResult:
    """Price the token sums ``counts`` at one price level, exactly.

    Each class costs ``tokens x price_per_mtok / 1,000,000``; the division is a decimal shift, so
    the result is exact (``Inexact`` is trapped). Requests and events carry no price here.
    """
    tokens = (counts.input, counts.cached_input, counts.cache_write, counts.output)
    for token_class, n in zip(CLASS_ORDER, tokens, strict=True):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise CostBookError(f"{token_class.value} tokens must be a whole number >= 0, got {n!r}")
    by_class, total = price_tokens(level.prices(), tokens)
    return CostResult(
        amount=total,
        by_class=tuple((c.value, amount) for c, amount in zip(CLASS_ORDER, by_class, strict=True)),
        provider=level.provider,
    )


def price_tokens(prices: tuple[Decimal, Decimal, Decimal, Decimal],
                 tokens: tuple[int, int, int, int]
                 ) -> tuple[tuple[Decimal, Decimal, Decimal, Decimal], Decimal]:
    """The exact cost of each class of ``tokens`` (whole numbers >= 0, in :data:`CLASS_ORDER`)
    at ``prices`` per 1M tokens, and their exact sum: :func:`price_counts` without the checks,
    for callers that price many rows of engine sums."""
    multiply, add = _EXACT.multiply, _EXACT.add
    c0 = multiply(prices[0], Decimal(tokens[0])).scaleb(_MTOK_EXPONENT, context=_EXACT)
    c1 = multiply(prices[1], Decimal(tokens[1])).scaleb(_MTOK_EXPONENT, context=_EXACT)
    c2 = multiply(prices[2], Decimal(tokens[2])).scaleb(_MTOK_EXPONENT, context=_EXACT)
    c3 = multiply(prices[3], Decimal(tokens[3])).scaleb(_MTOK_EXPONENT, context=_EXACT)
    return (c0, c1, c2, c3), add(add(add(add(ZERO, c0), c1), c2), c3)


def price_token_columns(prices: Sequence[tuple[Decimal, Decimal, Decimal, Decimal]],
                        level: Any, tokens: Sequence[Any]) -> tuple[list[Any], Any]:
    """:func:`price_tokens` on many rows at once: row ``i`` at ``prices[level[i]]`` (``level``
    an integer numpy array), ``tokens`` one numpy object array of Python ints per class (in
    :data:`CLASS_ORDER`). Returns each class's cost and the rows' totals as numpy object arrays
    of the same ``Decimal`` values, digit for digit: ``price x n`` shifted by 10^-6 is
    ``(price shifted by 10^-6) x n``, coefficient and exponent alike, and the sums run in the
    same order in the same exact context."""
    import numpy as np

    by_class: list[Any] = []
    with decimal.localcontext(_EXACT):
        total: Any = np.full(len(level), ZERO, dtype=object)
        for k, counts in enumerate(tokens):
            shifted = np.empty(len(prices), dtype=object)
            shifted[:] = [p[k].scaleb(_MTOK_EXPONENT, context=_EXACT) for p in prices]
            cost = counts * shifted[level]
            by_class.append(cost)
            total = total + cost
    return by_class, total
