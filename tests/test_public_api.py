"""The public surface is pinned: removing or renaming a name is a deliberate, visible change."""

from __future__ import annotations

import billing

EXPECTED = {
    "BillingError", "Clock", "CostBook", "CostBookError", "CurrencyMismatchError", "D",
    "FixedClock", "FloatMoneyError", "Invoice", "InvoiceLine", "Ledger", "LedgerError", "M", "Meter", "Money",
    "MoneyError", "Period", "Plan", "PlanCatalog", "PlanError", "PlanValidationError",
    "ProviderUsageError", "Rater",
    "RatingError", "RatingResult", "Rounding", "SinkError", "StripeSyncError", "Subscription",
    "SubscriptionError", "SystemClock", "TokenClass", "TraceError", "TraceSpec",
    "UnknownCurrencyError", "UnknownModelError", "UnknownPlanError", "UnpricedModelError",
    "UsageAggregates", "UsageError", "UsageEvent", "__version__", "aggregate_events",
    "aggregate_trace", "from_anthropic", "from_gemini", "from_openai",
    "invoices_to_json", "load_catalog", "load_plan", "load_plan_text",
    "load_subscriptions", "period_for_label", "rate_period", "round_money",
}


def test_public_names_are_pinned() -> None:
    assert set(billing.__all__) == EXPECTED
    for name in billing.__all__:
        assert hasattr(billing, name), name


def test_every_library_error_is_a_billing_error() -> None:
    errors = [getattr(billing, n) for n in billing.__all__ if n.endswith("Error")]
    assert errors and all(issubclass(e, billing.BillingError) for e in errors)
