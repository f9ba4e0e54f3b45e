"""token-billing: price and bill LLM token usage exactly.

The package follows the pipeline::

    plans (load, validate) -> usage (read, aggregate once) -> rating (price) -> invoice
        -> sinks (Stripe, JSON)          compare (margins of every plan on a trace)

Everything a backend needs is importable from here; the sub-packages hold the details.
"""

from billing.costs import CostBook
from billing.errors import (
    BillingError,
    CostBookError,
    CurrencyMismatchError,
    FloatMoneyError,
    LedgerError,
    MoneyError,
    PlanError,
    PlanValidationError,
    ProviderUsageError,
    RatingError,
    SinkError,
    StripeSyncError,
    SubscriptionError,
    TraceError,
    UnknownCurrencyError,
    UnknownModelError,
    UnknownPlanError,
    UnpricedModelError,
    UsageError,
)
from billing.invoice import Invoice, InvoiceLine
from billing.ledger import Ledger
from billing.money import D, M, Money, Rounding, round_money
from billing.periods import Period, period_for_label
from billing.plans import Plan, PlanCatalog, load_catalog, load_plan, load_plan_text
from billing.rating.batch import invoices_to_json, rate_period
from billing.rating.meter import Clock, FixedClock, Meter, SystemClock
from billing.rating.rater import Rater, RatingResult
from billing.subscriptions import Subscription, load_subscriptions
from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.aggregate_python import aggregate_events
from billing.usage.aggregates import UsageAggregates
from billing.usage.events import TokenClass, UsageEvent
from billing.usage.mapping import TraceSpec
from billing.usage.providers import from_anthropic, from_gemini, from_openai

__version__ = "0.1.0"

__all__ = [
    "BillingError",
    "Clock",
    "CostBook",
    "CostBookError",
    "CurrencyMismatchError",
    "D",
    "FixedClock",
    "FloatMoneyError",
    "Invoice",
    "InvoiceLine",
    "Ledger",
    "LedgerError",
    "M",
    "Meter",
    "Money",
    "MoneyError",
    "Period",
    "Plan",
    "PlanCatalog",
    "PlanError",
    "PlanValidationError",
    "ProviderUsageError",
    "Rater",
    "RatingError",
    "RatingResult",
    "Rounding",
    "SinkError",
    "StripeSyncError",
    "Subscription",
    "SubscriptionError",
    "SystemClock",
    "TokenClass",
    "TraceError",
    "TraceSpec",
    "UnknownCurrencyError",
    "UnknownModelError",
    "UnknownPlanError",
    "UnpricedModelError",
    "UsageAggregates",
    "UsageError",
    "UsageEvent",
    "__version__",
    "aggregate_events",
    "aggregate_trace",
    "from_anthropic",
    "from_gemini",
    "from_openai",
    "invoices_to_json",
    "load_catalog",
    "load_plan",
    "load_plan_text",
    "load_subscriptions",
    "period_for_label",
    "rate_period",
    "round_money",
]
