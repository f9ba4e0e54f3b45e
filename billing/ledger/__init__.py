"""The live ledger: durable, idempotent usage recording, holds, alerts and period close, on
SQLite or PostgreSQL. See ``docs/ledger.md``."""

from billing.ledger.db import redact
from billing.ledger.ledger import DEFAULT_HOLD_TTL, Ledger
from billing.ledger.model import (
    Alert,
    Balance,
    Denial,
    Hold,
    HoldState,
    RecordResult,
    Settlement,
)
from billing.ledger.schema import SCHEMA_VERSION

__all__ = ["DEFAULT_HOLD_TTL", "SCHEMA_VERSION", "Alert", "Balance", "Denial", "Hold",
           "HoldState", "Ledger", "RecordResult", "Settlement", "redact"]
