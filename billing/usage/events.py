"""The usage event: one metered request, or one pre-aggregated batch of requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, Literal

from billing.errors import UsageError

__all__ = ["SERVICE_TIERS", "TOKEN_CLASSES", "ServiceTier", "TokenClass", "UsageEvent",
           "check_service_tier"]

ServiceTier = Literal["standard", "batch", "flex", "priority"]
SERVICE_TIERS: Final = ("standard", "batch", "flex", "priority")
"""How a request was served: ``standard`` (list prices), ``batch`` (an asynchronous batch API),
``flex`` (slower, best-effort) or ``priority``; suppliers price the same tokens differently by
tier (:mod:`billing.costs.tiers`)."""


def check_service_tier(value: object) -> str | None:
    """Why ``value`` is not a service tier (None when it is one)."""
    if isinstance(value, str) and value in SERVICE_TIERS:
        return None
    shown = repr(value) if value != "" else "empty"
    return f"unknown service_tier {shown} (service tiers: {', '.join(SERVICE_TIERS)})"


class TokenClass(StrEnum):
    """The four token classes every supplier prices separately."""

    INPUT = "input"  # fresh, uncached input
    CACHED_INPUT = "cached_input"  # cache reads
    CACHE_WRITE = "cache_write"
    OUTPUT = "output"  # reasoning included


TOKEN_CLASSES: Final = tuple(TokenClass)


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One usage event. ``id`` is the idempotency key: a second event with the same id is a
    duplicate (identical content) or a conflict (different content), never counted twice.

    Invalid events raise :class:`~billing.errors.UsageError` at construction: an empty id or
    customer, a naive timestamp, negative or non-integer token counts, more ``reasoning_tokens``
    than ``output_tokens`` (which include them), a ``service_tier`` that is not one of
    :data:`SERVICE_TIERS`.
    """

    id: str
    customer_id: str
    timestamp: datetime
    model: str
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    requests: int = 1
    session_id: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    service_tier: str = "standard"
    """How the request was served (:data:`SERVICE_TIERS`); suppliers and rate cards may price
    the same tokens differently by tier."""
    reasoning_tokens: int = 0
    """The part of ``output_tokens`` that is reasoning (thinking) tokens: included in
    ``output_tokens``, as providers bill them; a rate card may price them apart."""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise UsageError("event id is missing")
        if not isinstance(self.customer_id, str) or not self.customer_id:
            raise UsageError(f"event {self.id}: customer_id is missing")
        if not isinstance(self.model, str) or not self.model:
            raise UsageError(f"event {self.id}: model is missing")
        if not isinstance(self.timestamp, datetime):
            raise UsageError(f"event {self.id}: timestamp must be a datetime")
        if self.timestamp.tzinfo is None or self.timestamp.utcoffset() is None:
            raise UsageError(
                f"event {self.id}: naive timestamp {self.timestamp.isoformat()} "
                "(give it a time zone; billing never guesses one)"
            )
        object.__setattr__(self, "timestamp", self.timestamp.astimezone(UTC))
        for name in ("input_tokens", "cached_input_tokens", "cache_write_tokens",
                     "output_tokens", "requests", "reasoning_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"event {self.id}: {name} must be a whole number, got {value!r}")
            if value < 0:
                raise UsageError(f"event {self.id}: {name} is negative ({value})")
        if self.reasoning_tokens > self.output_tokens:
            raise UsageError(
                f"event {self.id}: reasoning_tokens ({self.reasoning_tokens}) is more than "
                f"output_tokens ({self.output_tokens}), which includes them")
        problem = check_service_tier(self.service_tier)
        if problem is not None:
            raise UsageError(f"event {self.id}: {problem}")

    def tokens(self, token_class: TokenClass) -> int:
        return int(getattr(self, f"{token_class.value}_tokens"))

    @property
    def prompt_tokens(self) -> int:
        """All input-side tokens (fresh + cached + cache writes): what context limits count."""
        return self.input_tokens + self.cached_input_tokens + self.cache_write_tokens
