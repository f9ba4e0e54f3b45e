"""The usage event: one metered request, or one pre-aggregated batch of requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from billing.errors import UsageError

__all__ = ["TOKEN_CLASSES", "TokenClass", "UsageEvent"]


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
    customer, a naive timestamp, negative or non-integer token counts.
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
                     "output_tokens", "requests"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"event {self.id}: {name} must be a whole number, got {value!r}")
            if value < 0:
                raise UsageError(f"event {self.id}: {name} is negative ({value})")

    def tokens(self, token_class: TokenClass) -> int:
        return int(getattr(self, f"{token_class.value}_tokens"))

    @property
    def prompt_tokens(self) -> int:
        """All input-side tokens (fresh + cached + cache writes): what context limits count."""
        return self.input_tokens + self.cached_input_tokens + self.cache_write_tokens
