"""Sinks: where closed invoices go (Stripe, with a fake Stripe for tests in ``stripe_testing``)."""

from billing.sinks.invoice_files import load_invoices
from billing.sinks.stripe import (
    PlannedInvoice,
    PlannedItem,
    PushOptions,
    PushResult,
    PushSummary,
    StripeSink,
    StripeState,
    plan_invoice,
    stripe_minor_units,
    to_stripe_amount,
)

__all__ = [
    "PlannedInvoice",
    "PlannedItem",
    "PushOptions",
    "PushResult",
    "PushSummary",
    "StripeSink",
    "StripeState",
    "load_invoices",
    "plan_invoice",
    "stripe_minor_units",
    "to_stripe_amount",
]
