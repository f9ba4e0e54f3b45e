"""Supplier prices by service tier: ``standard``, ``batch``, ``flex``, ``priority``.

Providers sell the same tokens at different prices by how the request is served. How the cost
book prices a tier other than ``standard`` (first rule that applies):

1. a multiplier the user gave for the model's provider (``service_tiers:`` in a YAML cost file,
   or ``CostBook(service_tiers=...)``): the standard prices times it;
2. for a model priced by genai-prices' bundled data (not by a cost-file entry), the model's own
   published price for that tier when the data has one in force on the day
   (genai-prices' ``price_variants``: ``processing: batch``, ``service_tier: flex|priority``);
3. the built-in multiplier of the provider (:data:`DEFAULT_MULTIPLIERS`), from the providers'
   published prices (sources in ``docs/providers.md``);
4. otherwise a :class:`~billing.errors.CostBookError` naming the model, the provider and the
   tier: there is no provider-wide priority multiplier, because priority premiums differ by
   model (OpenAI) or are published as a range (Google: 75% to 100% above standard).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Final

from billing.costs.model import ModelCost
from billing.errors import CostBookError
from billing.money import UNROUNDED
from billing.usage.events import SERVICE_TIERS, ServiceTier

__all__ = ["DEFAULT_MULTIPLIERS", "SERVICE_TIERS", "ServiceTier", "check_tiers", "scaled"]

DEFAULT_MULTIPLIERS: Final[Mapping[str, Mapping[str, Decimal]]] = {
    # OpenAI: the Batch API is 50% off; Flex processing is priced at Batch API rates.
    "openai": {"batch": Decimal("0.5"), "flex": Decimal("0.5")},
    # Anthropic: the Message Batches API costs 50% of standard prices, on every token class.
    "anthropic": {"batch": Decimal("0.5")},
    # Google (Gemini API): Batch and Flex are 50% off standard.
    "google": {"batch": Decimal("0.5"), "flex": Decimal("0.5")},
}
"""Provider-wide multipliers of the standard prices, where the provider publishes one."""


def check_tiers(tiers: Mapping[str, Mapping[str, Decimal]]) -> dict[str, dict[str, Decimal]]:
    """Validated ``{provider: {tier: multiplier}}`` (a Decimal >= 0; ``standard`` is always 1)."""
    out: dict[str, dict[str, Decimal]] = {}
    for provider, by_tier in tiers.items():
        for tier, factor in by_tier.items():
            if tier not in SERVICE_TIERS or tier == "standard":
                raise CostBookError(f"service_tiers: {provider}: unknown tier {tier!r} (tiers: "
                                    "batch, flex, priority; standard is the list price)")
            if (isinstance(factor, bool) or not isinstance(factor, Decimal)
                    or not factor.is_finite() or factor < 0):
                raise CostBookError(f"service_tiers: {provider}: {tier} must be a decimal "
                                    f"multiplier >= 0 (e.g. \"0.5\"), got {factor!r}")
            out.setdefault(str(provider).lower(), {})[tier] = factor
    return out


def scaled(level: ModelCost, factor: Decimal, source: str) -> ModelCost:
    """``level`` (and its long-context levels) with every price times ``factor``, exactly."""
    longer = scaled(level.long, factor, source) if level.long is not None else None
    m = UNROUNDED.multiply
    return replace(level, input=m(level.input, factor), cached_input=m(level.cached_input, factor),
                   cache_write=m(level.cache_write, factor), output=m(level.output, factor),
                   long=longer, source=source)
