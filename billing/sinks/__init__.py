"""Sinks: where closed invoices go (Stripe, with a fake Stripe for tests in ``stripe_testing``)."""

from typing import TYPE_CHECKING, Any

from billing.sinks.invoice_files import load_invoices

if TYPE_CHECKING:
    from billing.sinks.stripe import (
        PlannedInvoice,
        PlannedItem,
        PushOptions,
        PushResult,
        PushSummary,
        StripeSink,
        StripeState,
        StripeStateBusyError,
        check_invoice,
        plan_invoice,
        stripe_minor_units,
        to_stripe_amount,
    )


def __getattr__(name: str) -> Any:
    """The Stripe names load the Stripe SDK on first use, so commands that never push (and
    ``import billing``) do not pay for it."""
    if name in __all__ and name != "load_invoices":
        from billing.sinks import stripe

        return getattr(stripe, name)
    raise AttributeError(f"module 'billing.sinks' has no attribute {name!r}")


__all__ = [
    "PlannedInvoice",
    "PlannedItem",
    "PushOptions",
    "PushResult",
    "PushSummary",
    "StripeSink",
    "StripeState",
    "StripeStateBusyError",
    "check_invoice",
    "load_invoices",
    "plan_invoice",
    "stripe_minor_units",
    "to_stripe_amount",
]
