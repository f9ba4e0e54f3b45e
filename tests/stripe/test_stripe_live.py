"""Opt-in: push one small invoice to real Stripe test mode.

Runs only when STRIPE_API_KEY holds a test key (sk_test_...); skipped otherwise, and never run
with a live key.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from stripe import StripeClient

from billing.sinks.stripe import PushOptions, StripeSink
from tests.stripe.helpers import build_invoice

KEY = os.environ.get("STRIPE_API_KEY", "")

pytestmark = [
    pytest.mark.stripe_live,
    pytest.mark.skipif(
        not KEY.startswith(("sk_test_", "rk_test_")),
        reason="set STRIPE_API_KEY to a Stripe test-mode key to run against real Stripe",
    ),
]


def test_push_to_stripe_test_mode_exactly_once(tmp_path: Path) -> None:
    customer = f"tb-live-test-{uuid.uuid4().hex[:12]}"  # a fresh customer per run
    invoice = build_invoice(
        customer,
        "USD",
        [("flat", "Pro plan, January", "49.00"), ("credits_applied", "Credits", "-9.00")],
    )
    sink = StripeSink(KEY, state=tmp_path / "state.sqlite", options=PushOptions(finalize=False))
    first = sink.push(invoice)
    again = sink.push(invoice)
    sink.state.close()

    assert first.status == "pushed", first.message
    assert again.status == "skipped", again.message
    client = StripeClient(KEY)
    assert first.stripe_invoice_id is not None
    stripe_invoice = client.v1.invoices.retrieve(first.stripe_invoice_id)
    items = list(
        client.v1.invoice_items.list({"invoice": first.stripe_invoice_id}).auto_paging_iter()
    )
    assert sorted(i.amount for i in items) == [-900, 4900]
    assert stripe_invoice.total == 4000  # 4900 - 900 cents
    client.v1.invoices.delete(first.stripe_invoice_id)  # leave the test account clean
