"""Pushing invoices to the fake Stripe (Stripe's own example objects, Stripe's idempotency rules)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from billing.invoice import Invoice
from billing.sinks.stripe import StripeSink
from billing.sinks.stripe_testing import FakeStripe
from tests.stripe.helpers import TEST_KEY, SinkFactory, build_invoice

JAN_1_UTC = 1735689600  # 2025-01-01T00:00:00Z
FEB_1_UTC = 1738368000  # 2025-02-01T00:00:00Z = JAN_1_UTC + 31 * 86400


def test_push_creates_customer_draft_invoice_and_one_item_per_line(
    fake: FakeStripe, make_sink: SinkFactory, usd_invoice: Invoice
) -> None:
    result = make_sink().push(usd_invoice)

    assert result.status == "pushed"
    assert result.created == ("customer", "invoice", "item:L001", "item:L002", "item:L003",
                              "item:L004", "item:L005")  # fmt: skip
    [customer] = fake.customers()
    assert customer["metadata"] == {"billing_customer_id": "acme"}
    [invoice] = fake.invoices()
    assert invoice["customer"] == customer["id"] == result.stripe_customer_id
    assert invoice["status"] == "draft"
    assert invoice["currency"] == "usd"
    assert invoice["auto_advance"] is False  # Stripe must not finalize a half-pushed draft
    assert invoice["metadata"]["billing_invoice_id"] == usd_invoice.id
    items = fake.items_of(invoice["id"])
    # 49.00 -> 4900; 31.25 -> 3125; 12.34567 rounded 12.35 -> 1235;
    # -20.005 rounded half up -20.01 -> -2001; cap discount -12.59 -> -1259
    assert sorted((i["metadata"]["billing_line_id"], i["amount"]) for i in items) == [
        ("L001", 4900), ("L002", 3125), ("L003", 1235), ("L004", -2001), ("L005", -1259),
    ]  # fmt: skip
    # 4900 + 3125 + 1235 - 2001 - 1259 = 6000 = the invoice total 60.00
    assert invoice["total"] == 6000
    first = next(i for i in items if i["metadata"]["billing_line_id"] == "L001")
    assert first["description"] == "Pro plan, January"
    assert first["period"] == {"start": JAN_1_UTC, "end": FEB_1_UTC}
    assert first["metadata"]["billing_invoice_id"] == usd_invoice.id
    assert first["customer"] == customer["id"]


def test_jpy_amounts_are_whole_yen(
    fake: FakeStripe, make_sink: SinkFactory, jpy_invoice: Invoice
) -> None:
    assert make_sink().push(jpy_invoice).status == "pushed"
    [invoice] = fake.invoices()
    assert invoice["currency"] == "jpy"
    amounts = sorted(i["amount"] for i in fake.items_of(invoice["id"]))
    # 4900 yen -> 4900; 1234.5 rounded half up 1235 -> 1235; credits -500 -> -500
    assert amounts == [-500, 1235, 4900]
    assert invoice["total"] == 5635  # 4900 + 1235 - 500


def test_rerun_skips_what_stripe_already_has(
    fake: FakeStripe, make_sink: SinkFactory, usd_invoice: Invoice, jpy_invoice: Invoice
) -> None:
    first = make_sink().push_many([usd_invoice, jpy_invoice])
    posts_before = [r for r in fake.requests if r.method == "POST"]

    again = make_sink().push_many([usd_invoice, jpy_invoice])

    assert [r.status for r in first.results] == ["pushed", "pushed"]
    assert [r.status for r in again.results] == ["skipped", "skipped"]
    assert [r for r in fake.requests if r.method == "POST"] == posts_before
    assert again.render().startswith("pushed 0, skipped 2 (already pushed), failed 0")


def test_finalize_after_items(
    fake: FakeStripe, make_sink: SinkFactory, usd_invoice: Invoice
) -> None:
    result = make_sink(finalize=True).push(usd_invoice)

    assert result.created[-1] == "finalize"
    [invoice] = fake.invoices()
    assert invoice["status"] == "open"
    finalize = [r for r in fake.requests if r.path.endswith("/finalize")]
    assert len(finalize) == 1
    assert finalize[0].idempotency_key == f"token-billing/v1/{usd_invoice.id}/finalize"
    # Finalized means done: a re-run finds nothing to do.
    assert make_sink(finalize=True).push(usd_invoice).status == "skipped"


def test_send_invoice_sets_days_until_due(
    fake: FakeStripe, make_sink: SinkFactory, usd_invoice: Invoice
) -> None:
    make_sink(collection_method="send_invoice", days_until_due=14).push(usd_invoice)
    [invoice] = fake.invoices()
    assert (invoice["collection_method"], invoice["days_until_due"]) == ("send_invoice", 14)


def test_every_post_carries_a_key_derived_from_our_ids(
    tmp_path: Path, usd_invoice: Invoice
) -> None:
    """Two independent runs (fresh Stripe, fresh state) send exactly the same keys."""

    def keys() -> list[str | None]:
        fake = FakeStripe()
        sink = StripeSink(TEST_KEY, state=tmp_path / f"{id(fake)}.sqlite", http_client=fake)
        sink.push(usd_invoice)
        sink.state.close()
        return [r.idempotency_key for r in fake.requests if r.method == "POST"]

    first, second = keys(), keys()
    assert first == second
    assert first == [
        "token-billing/v1/customer/acme",
        f"token-billing/v1/{usd_invoice.id}/invoice",
        *(f"token-billing/v1/{usd_invoice.id}/L00{n}" for n in range(1, 6)),
    ]


def test_429_and_5xx_are_retried_with_backoff_and_the_same_key(
    fake: FakeStripe, make_sink: SinkFactory, usd_invoice: Invoice
) -> None:
    fake.fail_next(429, path="/v1/invoiceitems", times=2)
    fake.fail_next(503, path="/v1/invoices$", times=1)
    sleeps: list[float] = []

    result = make_sink(sleeps=sleeps).push(usd_invoice)

    assert result.status == "pushed"
    item_posts = [r for r in fake.requests if r.method == "POST" and r.path == "/v1/invoiceitems"]
    # L001 was tried 3 times (429, 429, created), always with its own key.
    assert [r.idempotency_key for r in item_posts[:3]] == [
        f"token-billing/v1/{usd_invoice.id}/L001"
    ] * 3
    # backoff: invoice 503 -> 0.5; item 429 -> 0.5, then 429 -> 1.0 (doubling)
    assert sleeps == [0.5, 0.5, 1.0]
    assert len(fake.items_of(fake.invoices()[0]["id"])) == 5


def test_retries_give_up_with_a_clear_message(
    fake: FakeStripe, make_sink: SinkFactory, usd_invoice: Invoice
) -> None:
    fake.fail_next(500, path="/v1/invoiceitems", times=100)
    result = make_sink(max_attempts=3).push(usd_invoice)
    assert result.status == "failed"
    assert "line L001: create item: Stripe 500" in result.message
    assert "(after 3 attempts)" in result.message


def test_a_4xx_stops_that_invoice_and_the_others_go_on(
    fake: FakeStripe, make_sink: SinkFactory, usd_invoice: Invoice, jpy_invoice: Invoice
) -> None:
    third = build_invoice("globex", "EUR", [("flat", "Team plan", "99.00")])
    sink = make_sink()
    sink.push(usd_invoice)
    # The JPY invoice's first item is refused (a 400 from Stripe).
    fake.fail_next(400, path="/v1/invoiceitems", times=1, code="parameter_invalid_integer")

    summary = sink.push_many([jpy_invoice, third])

    assert [r.status for r in summary.results] == ["failed", "pushed"]
    failed = summary.failed[0]
    assert failed.message.startswith(
        f"invoice {jpy_invoice.id} line L001: create item: Stripe 400 parameter_invalid_integer:"
    )
    assert "FAILED" in summary.render() and jpy_invoice.id in summary.render()
    eur = next(i for i in fake.invoices() if i["currency"] == "eur")
    assert [i["amount"] for i in fake.items_of(eur["id"])] == [9900]  # 99.00 EUR

    # Once Stripe accepts again, the re-run finishes the failed invoice and only it.
    rerun = make_sink().push_many([usd_invoice, jpy_invoice, third])
    assert [r.status for r in rerun.results] == ["skipped", "pushed", "skipped"]
    jpy = next(i for i in fake.invoices() if i["currency"] == "jpy")
    assert sorted(i["amount"] for i in fake.items_of(jpy["id"])) == [-500, 1235, 4900]


def test_an_invoice_changed_after_its_push_is_refused_not_billed_twice(
    fake: FakeStripe, make_sink: SinkFactory, usd_invoice: Invoice
) -> None:
    make_sink().push(usd_invoice)
    changed_line = usd_invoice.lines[0].model_copy(
        update={"rounded_amount": usd_invoice.lines[0].rounded_amount + 1}
    )
    changed = usd_invoice.model_copy(
        update={"lines": (changed_line, *usd_invoice.lines[1:]), "total": usd_invoice.total + 1}
    )

    result = make_sink().push(changed)

    assert result.status == "failed"
    assert "line L001: Stripe item" in result.message
    assert "has amount 4900, the invoice says 5000" in result.message  # 49.00 + 1 = 50.00
    assert len(fake.invoices()) == 1
    assert len(fake.items_of(fake.invoices()[0]["id"])) == 5


def test_same_key_other_parameters_is_an_idempotency_error(
    fake: FakeStripe, make_sink: SinkFactory, usd_invoice: Invoice
) -> None:
    """Stripe's rule, as the fake enforces it: within 24 hours a key is bound to its request."""
    sink = make_sink()
    sink.push(usd_invoice)
    # The draft lost its items (deleted by hand) and our first line's text changed since:
    # re-creating L001 reuses its key with a new body, which Stripe refuses.
    for item in fake.items_of(fake.invoices()[0]["id"]):
        fake.delete(item["id"])
    changed_line = usd_invoice.lines[0].model_copy(update={"description": "Pro plan (renamed)"})
    changed = usd_invoice.model_copy(update={"lines": (changed_line, *usd_invoice.lines[1:])})

    result = make_sink().push(changed)

    assert result.status == "failed"
    assert "Stripe 400" in result.message and "same parameters" in result.message
    replayed = [r for r in fake.requests if r.replayed]
    assert replayed == []


def test_state_file_lost_and_keys_expired_still_bills_once(
    fake: FakeStripe, make_sink: SinkFactory, usd_invoice: Invoice, tmp_path: Path
) -> None:
    """A re-run weeks later from another machine: Stripe's own state is what counts."""
    make_sink(state=tmp_path / "first.sqlite").push(usd_invoice)
    fake.expire_idempotency_keys()

    result = make_sink(state=tmp_path / "other-machine.sqlite", finalize=True).push(usd_invoice)

    assert result.created == ("finalize",)
    assert len(fake.customers()) == 1
    [invoice] = fake.invoices()
    assert len(fake.items_of(invoice["id"])) == 5


def test_customer_deleted_in_stripe_is_created_again(
    fake: FakeStripe, make_sink: SinkFactory, usd_invoice: Invoice, jpy_invoice: Invoice
) -> None:
    sink = make_sink()
    sink.push(usd_invoice)
    old = fake.customers()[0]["id"]
    fake.delete(old)
    fake.expire_idempotency_keys()

    other = build_invoice("acme", "USD", [("flat", "Pro plan, February", "49.00")])
    other = other.model_copy(update={"id": "in_acme_february"})
    result = sink.push(other)

    assert result.status == "pushed" and result.created[0] == "customer"
    assert result.stripe_customer_id != old
    assert [c["metadata"]["billing_customer_id"] for c in fake.customers()] == ["acme"]


def test_state_file_records_each_step(
    make_sink: SinkFactory, usd_invoice: Invoice, tmp_path: Path
) -> None:
    sink = make_sink(finalize=True)
    sink.push(usd_invoice)
    sink.state.close()
    with sqlite3.connect(tmp_path / "state.sqlite") as conn:
        steps = sorted(
            r[0]
            for r in conn.execute("SELECT step FROM steps WHERE invoice_id = ?", (usd_invoice.id,))
        )
        customers = conn.execute("SELECT scope, customer_id FROM customers").fetchall()
    conn.close()
    assert steps == [
        "finalize",
        "invoice",
        "item:L001",
        "item:L002",
        "item:L003",
        "item:L004",
        "item:L005",
    ]
    assert customers == [("test:platform", "acme")]


def test_an_invoice_that_does_not_add_up_is_not_pushed(
    fake: FakeStripe, make_sink: SinkFactory, usd_invoice: Invoice
) -> None:
    broken = usd_invoice.model_copy(update={"total": usd_invoice.total + 1})
    result = make_sink().push(broken)
    assert result.status == "failed"
    # lines: 6000 minor units; total 60.00 + 1 = 61.00 -> 6100
    assert "lines sum to 6000 but the total is 6100" in result.message
    assert fake.requests == []
