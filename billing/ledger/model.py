"""What the ledger returns: record counts, holds, denials, settlements, balances, alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

__all__ = ["Alert", "Balance", "Denial", "Hold", "HoldState", "RecordResult", "Settlement"]

HoldState = Literal["open", "settled", "released", "expired"]


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What one :meth:`~billing.ledger.Ledger.record` call did, counted as ``billing rate``
    counts a trace: new events, exact copies of a recorded event (duplicates), and events whose
    id was recorded with different content (conflicts: ignored, their ids listed)."""

    new: int = 0
    duplicates: int = 0
    conflicts: int = 0
    conflict_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Hold:
    """A reservation of a request's worst-case cost. ``hold_id`` is the request id."""

    hold_id: str
    customer_id: str
    model: str
    max_input_tokens: int
    max_output_tokens: int
    amount: Decimal
    """Worst-case cost of the request under the customer's plan when it was authorized."""
    currency: str
    created_at: datetime
    expires_at: datetime
    state: HoldState

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Denial:
    """An authorization refused: the request's worst case does not fit what the customer may
    still spend. Falsy, so ``if not ledger.authorize(...)`` reads naturally."""

    request_id: str
    customer_id: str
    reason: str
    """``credits`` (credits exhausted, overage blocked), ``cap`` (the plan's spend cap),
    ``limit`` (the customer's spending limit) or ``no subscription``."""
    amount: Decimal
    """Worst-case cost of the request."""
    available: Decimal
    """What the customer may still spend under that limit, open holds deducted."""
    currency: str
    message: str

    def __bool__(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Settlement:
    """A hold settled to the real usage: the usage is recorded and the hold freed."""

    hold_id: str
    amount: Decimal
    """What the real usage cost, under the plan, when it was settled."""
    currency: str
    duplicate: bool = False
    """True when this settle repeated an earlier one (nothing recorded twice)."""


@dataclass(frozen=True, slots=True)
class Balance:
    """A customer's standing at an instant: bill to date, credits, holds, headroom."""

    customer_id: str
    currency: str
    period_start: date
    period_end: date
    bill_to_date: Decimal
    remaining_credits: Decimal
    open_holds: int
    held: Decimal
    available: Decimal | None
    """What may still be authorized under the tightest limit (None: no limit applies)."""
    limit_reason: str | None


@dataclass(frozen=True, slots=True)
class Alert:
    """A threshold crossing, written once per customer, period and threshold."""

    seq: int
    customer_id: str
    period_start: date
    threshold: Decimal
    """Percent of the limit, e.g. 80."""
    basis: str
    """``credits``, ``cap`` or ``limit``."""
    used: Decimal
    limit: Decimal
    currency: str
    created_at: datetime
