"""Crash tests: kill the push after each step in turn, re-run, and count what Stripe holds.

The crash happens at the worst moment: Stripe has applied the POST but the client never sees the
answer, so neither the state file nor the run knows the step happened.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.invoice import Invoice
from billing.sinks.stripe_testing import FakeStripe, SimulatedCrash
from tests.stripe.helpers import SinkFactory

# POSTs of one push with --finalize: customer, invoice, 5 items (L001..L005), finalize = 8.
STEPS = ["customer", "invoice", "item L001", "item L002", "item L003", "item L004", "item L005",
         "finalize"]  # fmt: skip


def assert_billed_exactly_once(fake: FakeStripe, invoice: Invoice) -> None:
    assert [c["metadata"]["billing_customer_id"] for c in fake.customers()] == ["acme"]
    [stripe_invoice] = fake.invoices()
    assert stripe_invoice["status"] == "open"
    items = fake.items_of(stripe_invoice["id"])
    assert sorted((i["metadata"]["billing_line_id"], i["amount"]) for i in items) == [
        ("L001", 4900), ("L002", 3125), ("L003", 1235), ("L004", -2001), ("L005", -1259),
    ]  # fmt: skip
    assert stripe_invoice["total"] == 6000  # 4900 + 3125 + 1235 - 2001 - 1259


@pytest.mark.parametrize("keys_expired", [False, True], ids=["rerun-at-once", "rerun-after-24h"])
@pytest.mark.parametrize("crash_at", range(1, len(STEPS) + 1), ids=STEPS)
def test_crash_after_each_step_then_rerun(
    fake: FakeStripe,
    make_sink: SinkFactory,
    usd_invoice: Invoice,
    crash_at: int,
    keys_expired: bool,
) -> None:
    fake.crash_after_post(crash_at)
    with pytest.raises(SimulatedCrash):
        make_sink(finalize=True).push(usd_invoice)
    assert fake.posts_applied == crash_at
    if keys_expired:
        # Stripe forgot the idempotency keys: only reading Stripe's state avoids duplicates.
        fake.expire_idempotency_keys()

    result = make_sink(finalize=True).push(usd_invoice)

    # After a crash past the last step, Stripe already has everything: nothing left to do.
    assert result.status == ("skipped" if crash_at == len(STEPS) else "pushed")
    assert_billed_exactly_once(fake, usd_invoice)


@pytest.mark.parametrize("crash_at", range(1, len(STEPS) + 1), ids=STEPS)
def test_crash_then_rerun_with_the_state_file_gone(
    fake: FakeStripe, make_sink: SinkFactory, usd_invoice: Invoice, tmp_path: Path, crash_at: int
) -> None:
    fake.crash_after_post(crash_at)
    with pytest.raises(SimulatedCrash):
        make_sink(state=tmp_path / "lost.sqlite", finalize=True).push(usd_invoice)
    fake.expire_idempotency_keys()

    make_sink(state=tmp_path / "fresh.sqlite", finalize=True).push(usd_invoice)

    assert_billed_exactly_once(fake, usd_invoice)


def test_two_crashes_in_a_row(
    fake: FakeStripe, make_sink: SinkFactory, usd_invoice: Invoice
) -> None:
    fake.crash_after_post(3)  # customer, invoice, L001
    with pytest.raises(SimulatedCrash):
        make_sink(finalize=True).push(usd_invoice)
    fake.crash_after_post(2)  # L002, L003
    with pytest.raises(SimulatedCrash):
        make_sink(finalize=True).push(usd_invoice)

    result = make_sink(finalize=True).push(usd_invoice)

    assert result.created == ("item:L004", "item:L005", "finalize")
    assert_billed_exactly_once(fake, usd_invoice)
