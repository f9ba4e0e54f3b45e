"""Against localstripe, a stateful fake Stripe server spoken to over real HTTP by the real SDK.

localstripe covers customers, listing with pagination, and error responses; it has no standalone
invoices (the fake in ``billing.sinks.stripe_testing`` covers those).
"""

from __future__ import annotations

from pathlib import Path

from stripe import StripeClient

from billing.sinks.stripe import PushOptions, StripeSink
from tests.stripe.helpers import TEST_KEY, build_invoice


def _sink(
    base: str, state: Path, page_size: int = 100, sleeps: list[float] | None = None
) -> StripeSink:
    return StripeSink(
        TEST_KEY,
        state=state,
        api_base=base,
        options=PushOptions(page_size=page_size, max_attempts=3),
        sleep=(sleeps if sleeps is not None else []).append,
    )


def _customers(base: str) -> list[dict[str, str]]:
    client = StripeClient(TEST_KEY, base_addresses={"api": base})
    return [
        {"id": str(c.id), **(c.metadata.to_dict() if c.metadata else {})}
        for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()
    ]


def test_customer_is_created_once_with_our_id_in_metadata(localstripe: str, tmp_path: Path) -> None:
    sink = _sink(localstripe, tmp_path / "a.sqlite")
    created: list[str] = []
    first = sink.ensure_customer("acme", created)
    again = sink.ensure_customer("acme", created)  # from the mapping, checked in Stripe

    assert first == again and first.startswith("cus_")
    assert created == ["customer"]
    assert _customers(localstripe) == [{"id": first, "billing_customer_id": "acme"}]
    sink.state.close()


def test_customer_is_found_across_pages_without_local_state(
    localstripe: str, tmp_path: Path
) -> None:
    first = _sink(localstripe, tmp_path / "a.sqlite")
    ours = first.ensure_customer("acme")
    first.state.close()
    client = StripeClient(TEST_KEY, base_addresses={"api": localstripe})
    for n in range(5):
        client.v1.customers.create({"metadata": {"billing_customer_id": f"other{n}"}})

    # A fresh state file, 2 customers per page: 6 customers, 3 pages to walk.
    fresh = _sink(localstripe, tmp_path / "b.sqlite", page_size=2)
    created: list[str] = []
    found = fresh.ensure_customer("acme", created)

    assert found == ours
    assert created == []
    assert len(_customers(localstripe)) == 6  # 1 + 5, none added
    fresh.state.close()


def test_a_stale_mapping_is_checked_in_stripe_and_replaced(
    localstripe: str, tmp_path: Path
) -> None:
    sink = _sink(localstripe, tmp_path / "a.sqlite")
    sink.state.set_customer(sink.scope, "acme", "cus_GoneFromStripe")

    found = sink.ensure_customer("acme")

    assert found != "cus_GoneFromStripe"
    assert sink.state.customer(sink.scope, "acme") == found
    assert _customers(localstripe) == [{"id": found, "billing_customer_id": "acme"}]
    sink.state.close()


def test_server_errors_are_retried_then_fail_that_invoice_and_the_batch_goes_on(
    localstripe: str, tmp_path: Path
) -> None:
    """localstripe answers a standalone invoice with a 500: a real server error over real HTTP."""
    invoices = [
        build_invoice("acme", "USD", [("flat", "Pro plan", "49.00")]),
        build_invoice("globex", "USD", [("flat", "Team plan", "99.00")]),
    ]
    sleeps: list[float] = []
    sink = _sink(localstripe, tmp_path / "a.sqlite", sleeps=sleeps)

    summary = sink.push_many(invoices)
    rerun = sink.push_many(invoices)

    assert [r.status for r in summary.results] == ["failed", "failed"]
    for result, invoice in zip(summary.results, invoices, strict=True):
        assert result.message.startswith(f"invoice {invoice.id}: create: Stripe 500")
        assert result.message.endswith("(after 3 attempts)")
        assert result.stripe_customer_id is not None
    # 3 attempts per invoice, 2 waits each (0.5 then 1.0), for 2 invoices in each of 2 runs
    assert sleeps == [0.5, 1.0] * 4
    # Both customers exist exactly once, even after the re-run.
    assert sorted(c["billing_customer_id"] for c in _customers(localstripe)) == ["acme", "globex"]
    assert [r.created for r in rerun.results] == [(), ()]
    sink.state.close()
