"""Every exception the library raises, in one hierarchy; catch the level you need.

::

    BillingError
     ├── MoneyError                 malformed or inexact amounts
     │    ├── FloatMoneyError        a float handed to money
     │    ├── CurrencyMismatchError  arithmetic across currencies
     │    └── UnknownCurrencyError   not an ISO 4217 code
     ├── PlanError                  plan files and the plan catalog
     │    ├── PlanValidationError    a file with problems (all of them, with file:line)
     │    └── UnknownPlanError       no plan/version with that id at that date
     ├── UsageError                 usage traces and events
     │    ├── TraceError             a trace that cannot be read at all (bad file, bad mapping)
     │    └── WorkloadError          a workload file for `billing simulate` (billing.designer)
     ├── CostBookError              supplier cost book
     │    ├── CostFileError          a cost override file with problems (billing.costs)
     │    └── UnknownModelError      a model the cost book does not price (closest names listed)
     ├── RatingError                rating a subscription for a period
     │    └── UnpricedModelError     a model no rate of the plan matches
     ├── PeriodError                a billing period that cannot be computed (billing.periods)
     ├── EconomicsError             impossible inputs to the pricing economics (billing.designer)
     ├── SubscriptionError          subscription files
     │    └── SubscriptionFileError  a subscription file with problems (billing.subscriptions)
     ├── SinkError                  pushing invoices out
     │    └── StripeSyncError        a Stripe push that failed (never carries the API key)
     └── LedgerError                the live ledger (never carries a database password)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BillingError",
    "CostBookError",
    "CostFileError",
    "CostProblem",
    "CurrencyMismatchError",
    "EconomicsError",
    "FileProblem",
    "FloatMoneyError",
    "LedgerError",
    "MoneyError",
    "PeriodError",
    "PlanError",
    "PlanProblem",
    "PlanValidationError",
    "ProviderUsageError",
    "RatingError",
    "SinkError",
    "StripeStateBusyError",
    "StripeSyncError",
    "SubscriptionError",
    "SubscriptionFileError",
    "TextProblem",
    "TraceError",
    "UnknownCurrencyError",
    "UnknownModelError",
    "UnknownPlanError",
    "UnpricedModelError",
    "UsageError",
    "WorkloadError",
]


class BillingError(Exception):
    """Base of every error this library raises on purpose."""


class MoneyError(BillingError, ValueError):
    """An amount that is not an exact, finite decimal."""


class FloatMoneyError(MoneyError, TypeError):
    """A ``float`` was handed to money."""


class CurrencyMismatchError(MoneyError):
    """Arithmetic mixing two currencies."""


class PeriodError(BillingError, ValueError):
    """A period that cannot be computed: unknown interval, malformed or ambiguous label."""


class EconomicsError(BillingError, ValueError):
    """Inputs for which the economics formulas are undefined (zero tokens, zero hours, ...)."""


@dataclass(frozen=True, slots=True)
class TextProblem(Exception):
    """What is wrong with a file's text, and the line (1-based) where, if known.

    Raised by :mod:`billing.textfile`; every reader of a user's file catches it and reports it
    as its own file error, with the file's name."""

    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line is not None else self.reason


class UnknownCurrencyError(MoneyError):
    """A currency code that is not in ISO 4217 (per CLDR)."""


class PlanError(BillingError):
    """A plan that cannot be used."""


@dataclass(frozen=True, slots=True)
class FileProblem:
    """One problem in a user's file (plan, subscriptions, workload): where it is and what to do
    about it, printed as ``file:LINE path: message``."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


PlanProblem = FileProblem
"""A problem in a plan file (the name plan code has always used)."""


class PlanValidationError(PlanError):
    """A plan file with one or more problems; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[FileProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UnknownPlanError(PlanError, LookupError):
    """No plan with that id, or no version of it in force at that date."""


class UsageError(BillingError):
    """Usage events that cannot be rated."""


class WorkloadError(UsageError, ValueError):
    """A workload file with one or more problems; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[FileProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class TraceError(UsageError):
    """A trace file that cannot be read at all: missing, unreadable, or a bad column mapping."""


class ProviderUsageError(UsageError, ValueError):
    """A provider's usage object (OpenAI, Anthropic, Gemini) that cannot become a usage event:
    a missing or negative count, cached tokens above the prompt, a count this library cannot
    price; the message names the provider and the field."""


class CostBookError(BillingError):
    """The supplier cost book cannot price something."""


@dataclass(frozen=True, slots=True)
class CostProblem:
    """One problem in a cost file: where it is and what is wrong."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class CostFileError(CostBookError):
    """A cost file with one or more problems; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[CostProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UnknownModelError(CostBookError, LookupError):
    """A model name the cost book does not know; the message lists the closest known names."""


class RatingError(BillingError):
    """A subscription that cannot be rated for a period."""


class UnpricedModelError(RatingError):
    """A model that no rate of the plan's rate card matches."""


class SubscriptionError(BillingError):
    """A subscription file or object that does not make sense."""


class SubscriptionFileError(SubscriptionError):
    """A subscription file with one or more problems; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[FileProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SinkError(BillingError):
    """An invoice that could not be written to its destination."""


class StripeSyncError(SinkError):
    """A push to Stripe that failed. Messages never include the API key."""


class StripeStateBusyError(StripeSyncError):
    """Another run holds the Stripe state file's lock."""


class LedgerError(BillingError):
    """The live ledger cannot do what was asked (a bad URL, a schema from a newer version,
    a hold that cannot be settled); the message never carries a database password."""
