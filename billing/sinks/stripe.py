"""Push closed invoices to Stripe, exactly once.

One invoice becomes, in Stripe: the customer (found by our customer id in its metadata, or
created), one draft invoice (found by our invoice id in its metadata, or created), one invoice item
per invoice line (amount in Stripe's minor units, negative for credits and discounts), and
optionally the finalization of the invoice.

Exactly once, even across crashes and re-runs:

- every POST carries an idempotency key derived from our ids (never random): a retry of the same
  request can never create a second object, and the same key with different parameters is
  refused by Stripe (an invoice that changed after it was pushed is an error, not a second bill);
- a local SQLite state file records each step, but a run never trusts it alone: it reads
  Stripe's own state (the invoice and its items, by metadata) and creates only what is missing,
  which also covers idempotency keys older than Stripe's 24-hour retention;
- 429, 409, 5xx and connection errors are retried with backoff and the same key; any other 4xx
  stops that invoice with a clear message and the other invoices go on;
- a run holds an exclusive lock on the state file (``STATE.lock``): a second run on the same
  state file is refused with a one-line message while the first is pushing, so two runs can
  never create the same items twice, even once Stripe has forgotten the keys.

A customer is found by our id in constant requests, whatever the account's size: the state file,
else Stripe's customer search (``metadata['billing_customer_id']:'ID'``), else created with a
deterministic idempotency key. Search is eventually consistent (a customer created under a minute
ago may not show), but a customer that recent was created with the same key, which Stripe replays
for 24 hours: no second customer. Where search is unavailable (it is not offered to accounts in
India) the run lists the account's customers once, not once per new customer.

Amounts, currency rules, limits and idempotency keys are in :mod:`billing.sinks.stripe_plan`;
the state file and its lock in :mod:`billing.sinks.stripe_state` (both re-exported here). What
is left here (about 650 lines) is the push protocol itself, whose steps read best together.

The API key comes from the ``api_key`` argument or ``STRIPE_API_KEY``; it is never written to the
state file, never logged, never put in an error message or a repr. A live key (``sk_live_``,
``rk_live_``) is refused unless ``live=True``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import stripe
from stripe import HTTPClient, RequestOptions, StripeClient
from stripe.params import (
    CustomerCreateParams,
    InvoiceCreateParams,
    InvoiceFinalizeInvoiceParams,
    InvoiceItemCreateParams,
)

from billing.errors import StripeSyncError
from billing.invoice import Invoice, InvoiceLine
from billing.sinks.stripe_plan import (
    KEY_PREFIX,
    MAX_AMOUNT,
    METADATA_CUSTOMER,
    METADATA_INVOICE,
    METADATA_LINE,
    THREE_DECIMAL_CURRENCIES,
    WHOLE_UNIT_TWO_DECIMAL_CURRENCIES,
    ZERO_DECIMAL_CURRENCIES,
    PlannedInvoice,
    PlannedItem,
    check_invoice,
    customer_idempotency_key,
    idempotency_key,
    max_amount,
    plan_invoice,
    stripe_minor_units,
    to_stripe_amount,
)
from billing.sinks.stripe_state import StripeState, StripeStateBusyError

__all__ = [
    "KEY_PREFIX",
    "MAX_AMOUNT",
    "THREE_DECIMAL_CURRENCIES",
    "WHOLE_UNIT_TWO_DECIMAL_CURRENCIES",
    "ZERO_DECIMAL_CURRENCIES",
    "ApiKey",
    "PlannedInvoice",
    "PlannedItem",
    "PushOptions",
    "PushResult",
    "PushSummary",
    "StripeSink",
    "StripeState",
    "StripeStateBusyError",
    "check_invoice",
    "customer_idempotency_key",
    "idempotency_key",
    "max_amount",
    "plan_invoice",
    "stripe_minor_units",
    "to_stripe_amount",
]

Step = Literal["customer", "invoice", "item", "finalize"]
T = TypeVar("T")


# --- the secret ---------------------------------------------------------------------------------


class ApiKey:
    """A Stripe secret key that does not leak: its repr and str are masked."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        value = value.strip()
        if not value.startswith(("sk_", "rk_")):
            raise StripeSyncError(
                "not a Stripe secret key: expected one starting with sk_ or rk_ (value not shown)"
            )
        self._value = value

    @classmethod
    def resolve(cls, api_key: str | ApiKey | None, *, live: bool = False) -> ApiKey:
        """Take the key from the argument or ``STRIPE_API_KEY``; refuse a live key without ``live``."""
        if isinstance(api_key, ApiKey):
            key = api_key
        else:
            raw = api_key if api_key is not None else os.environ.get("STRIPE_API_KEY")
            if not raw:
                raise StripeSyncError("no Stripe API key: set STRIPE_API_KEY or pass --api-key")
            key = cls(raw)
        if key.is_live and not live:
            raise StripeSyncError(
                "refusing a live Stripe key without an explicit --live: "
                "this would bill real customers"
            )
        return key

    @property
    def is_live(self) -> bool:
        return self._value.startswith(("sk_live_", "rk_live_"))

    @property
    def mode(self) -> Literal["live", "test"]:
        return "live" if self.is_live else "test"

    def reveal(self) -> str:
        """The key itself, for the SDK only."""
        return self._value

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the key masked."""
        return text.replace(self._value, "sk_***redacted***") if self._value else text

    def __repr__(self) -> str:
        return f"ApiKey({self._value[:3]}{self.mode}_***)"

    __str__ = __repr__


# --- pushing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushOptions:
    """How invoices are created in Stripe and how hard to retry."""

    collection_method: Literal["charge_automatically", "send_invoice"] = "charge_automatically"
    days_until_due: int | None = None
    """Required by Stripe for ``send_invoice`` (defaults to 30 there); unused otherwise."""
    finalize: bool = False
    auto_advance: bool = True
    """On finalize: let Stripe collect (charge or e-mail) automatically."""
    max_attempts: int = 5
    initial_delay_s: float = 0.5  # float-ok: a delay in seconds, not money
    max_delay_s: float = 8.0  # float-ok: a delay in seconds, not money
    page_size: int = 100

    def __post_init__(self) -> None:
        if self.collection_method == "send_invoice" and self.days_until_due is None:
            object.__setattr__(self, "days_until_due", 30)
        if self.days_until_due is not None and self.days_until_due < 0:
            raise StripeSyncError(f"days_until_due must be >= 0, got {self.days_until_due}")
        if self.max_attempts < 1:
            raise StripeSyncError(f"max_attempts must be >= 1, got {self.max_attempts}")


PushStatus = Literal["pushed", "skipped", "failed"]


@dataclass(frozen=True, slots=True)
class PushResult:
    """What happened to one invoice."""

    invoice_id: str
    customer_id: str
    status: PushStatus
    """'pushed' (something was created), 'skipped' (Stripe already had it all) or 'failed'."""
    stripe_customer_id: str | None = None
    stripe_invoice_id: str | None = None
    created: tuple[str, ...] = ()
    """Steps that created something in this run: 'customer', 'invoice', 'item:L001', 'finalize'."""
    message: str = ""


@dataclass(slots=True)
class PushSummary:
    """Results of a batch, in input order."""

    results: list[PushResult] = field(default_factory=list)

    def _with(self, status: PushStatus) -> list[PushResult]:
        return [r for r in self.results if r.status == status]

    @property
    def pushed(self) -> list[PushResult]:
        return self._with("pushed")

    @property
    def skipped(self) -> list[PushResult]:
        return self._with("skipped")

    @property
    def failed(self) -> list[PushResult]:
        return self._with("failed")

    @property
    def ok(self) -> bool:
        return not self.failed

    def render(self) -> str:
        out = [
            f"pushed {len(self.pushed)}, skipped {len(self.skipped)} (already pushed), "
            f"failed {len(self.failed)}"
        ]
        out.extend(f"  FAILED {r.invoice_id} ({r.customer_id}): {r.message}" for r in self.failed)
        return "\n".join(out)


class _InvoiceFailed(Exception):
    """Stops one invoice; the batch goes on. ``status`` is Stripe's HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _RunStopped(StripeSyncError):
    """Stops the whole run: every invoice would fail the same way (e.g. the key is refused)."""


def _meta(obj: Any) -> dict[str, str]:
    """An SDK object's metadata as a plain dict (empty when it has none)."""
    metadata = getattr(obj, "metadata", None)
    if not metadata:
        return {}
    plain = metadata.to_dict() if hasattr(metadata, "to_dict") else dict(metadata)
    return {str(k): str(v) for k, v in plain.items()}


def _is_retryable(exc: stripe.StripeError) -> bool:
    if isinstance(exc, stripe.RateLimitError | stripe.APIConnectionError):
        return True
    status = exc.http_status or 0
    return status == 409 or status >= 500


class StripeSink:
    """Pushes invoices to Stripe through the official SDK (``StripeClient``, ``client.v1``).

    ``http_client`` and ``api_base`` exist for tests: pass
    :class:`billing.sinks.stripe_testing.FakeStripe`, or the address of a localstripe server.
    """

    def __init__(
        self,
        api_key: str | ApiKey | None = None,
        *,
        state: StripeState | str | Path,
        live: bool = False,
        options: PushOptions | None = None,
        stripe_account: str | None = None,
        http_client: HTTPClient | None = None,
        api_base: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._key = ApiKey.resolve(api_key, live=live)
        self.options = options or PushOptions()
        self.state = state if isinstance(state, StripeState) else StripeState(state)
        self.scope = f"{self._key.mode}:{stripe_account or 'platform'}"
        self._sleep = sleep
        self._customer_index: dict[str, list[str]] | None = None
        """Our customer id -> Stripe ids, listed once when customer search is unavailable."""
        self._client = StripeClient(
            self._key.reveal(),
            stripe_account=stripe_account,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=0,  # we retry ourselves, always with our own idempotency key
            http_client=http_client,
        )

    def __repr__(self) -> str:
        return f"StripeSink(key={self._key!r}, scope={self.scope!r}, state={self.state!r})"

    # -- batch ----------------------------------------------------------------------------------

    def push_many(
        self,
        invoices: Iterable[Invoice],
        *,
        on_result: Callable[[PushResult], None] | None = None,
    ) -> PushSummary:
        """Push every invoice; a failed invoice never stops the others. The state file is locked
        for the whole batch (:class:`StripeStateBusyError` when another run holds it)."""
        summary = PushSummary()
        with self.state.locked():
            for invoice in invoices:
                result = self.push(invoice)
                summary.results.append(result)
                if on_result is not None:
                    on_result(result)
        return summary

    def push(self, invoice: Invoice) -> PushResult:
        """Push one invoice (resuming whatever a previous run left undone), holding the state
        file's lock (:class:`StripeStateBusyError` when another run holds it)."""
        with self.state.locked():
            return self._push(invoice)

    def _push(self, invoice: Invoice) -> PushResult:
        created: list[str] = []
        ids: dict[str, str] = {}
        try:
            plan = plan_invoice(invoice)
            ids["customer"] = self.ensure_customer(invoice.customer_id, created)
            stripe_invoice = self._ensure_invoice(invoice, plan, ids["customer"], created)
            ids["invoice"] = str(stripe_invoice.id)
            status = self._ensure_items(invoice, plan, ids["customer"], stripe_invoice, created)
            if self.options.finalize and status == "draft":
                self._finalize(invoice, ids["invoice"], created)
        except _RunStopped:
            raise
        except (_InvoiceFailed, StripeSyncError) as exc:
            return PushResult(
                invoice_id=invoice.id,
                customer_id=invoice.customer_id,
                status="failed",
                stripe_customer_id=ids.get("customer"),
                stripe_invoice_id=ids.get("invoice"),
                created=tuple(created),
                message=self._key.redact(str(exc)),
            )
        return PushResult(
            invoice_id=invoice.id,
            customer_id=invoice.customer_id,
            status="pushed" if created else "skipped",
            stripe_customer_id=ids["customer"],
            stripe_invoice_id=ids["invoice"],
            created=tuple(created),
        )

    # -- calls ----------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one SDK call, retrying 429/409/5xx/network errors with backoff (same key)."""
        delay = self.options.initial_delay_s
        for attempt in range(1, self.options.max_attempts + 1):
            try:
                return fn()
            except stripe.AuthenticationError as exc:
                # Every invoice would fail the same way: stop the run.
                raise _RunStopped(self._describe(what, exc)) from None
            except stripe.StripeError as exc:
                if not _is_retryable(exc) or attempt == self.options.max_attempts:
                    suffix = f" (after {attempt} attempts)" if attempt > 1 else ""
                    raise _InvoiceFailed(self._describe(what, exc) + suffix,
                                         exc.http_status) from None
                self._sleep(delay)
                delay = min(delay * 2, self.options.max_delay_s)
        raise AssertionError("unreachable")  # pragma: no cover

    def _retrieve(self, what: str, fn: Callable[[], T]) -> T | None:
        """``_call`` for a retrieve of an id we remembered: None when Stripe no longer has it."""
        try:
            return self._call(what, fn)
        except _InvoiceFailed as exc:
            if exc.status != 404:
                raise
            return None

    def _describe(self, what: str, exc: stripe.StripeError) -> str:
        code = getattr(exc, "code", None)
        parts = [f"{what}: Stripe"]
        if exc.http_status:
            parts.append(str(exc.http_status))
        if code:
            parts.append(str(code))
        text = " ".join(parts) + f": {exc.user_message or type(exc).__name__}"
        if exc.request_id:
            text += f" (request {exc.request_id})"
        return self._key.redact(text)

    def _options(self, key: str) -> RequestOptions:
        return {"idempotency_key": key}

    # -- customer -------------------------------------------------------------------------------

    def ensure_customer(self, customer_id: str, created: list[str] | None = None) -> str:
        """The Stripe customer id for our ``customer_id``: remembered, found, or created."""
        known = self.state.customer(self.scope, customer_id)
        if known is not None:
            found = self._retrieve(
                f"customer {customer_id}: retrieve {known}",
                lambda: self._client.v1.customers.retrieve(known),
            )
            if found is not None and not getattr(found, "deleted", False):
                return known
            self.state.forget_customer(self.scope, customer_id)
        matches = self._find_customers(customer_id)
        if len(matches) > 1:
            listed = ", ".join(matches)
            raise _InvoiceFailed(
                f"customer {customer_id}: {len(matches)} Stripe customers carry "
                f"{METADATA_CUSTOMER}={customer_id} ({listed}); keep one, then re-run"
            )
        if matches:
            stripe_id = matches[0]
        else:
            params: CustomerCreateParams = {
                "description": f"billing customer {customer_id}",
                "metadata": {METADATA_CUSTOMER: customer_id},
            }
            customer = self._call(
                f"customer {customer_id}: create",
                lambda: self._client.v1.customers.create(
                    params, self._options(customer_idempotency_key(customer_id))
                ),
            )
            stripe_id = str(customer.id)
            if self._customer_index is not None:
                self._customer_index.setdefault(customer_id, []).append(stripe_id)
            if created is not None:
                created.append("customer")
        self.state.set_customer(self.scope, customer_id, stripe_id)
        return stripe_id

    def _find_customers(self, customer_id: str) -> list[str]:
        """Stripe ids of the customers carrying our ``customer_id``: one search request; where
        search is unavailable, the account's customers listed once per run."""
        if self._customer_index is None:
            value = customer_id.replace("\\", "\\\\").replace("'", "\\'")
            query = f"metadata['{METADATA_CUSTOMER}']:'{value}'"
            try:
                found = self._call(
                    f"customer {customer_id}: search",
                    lambda: self._client.v1.customers.search({"query": query, "limit": 10}),
                )
            except _InvoiceFailed as exc:
                if exc.status not in (400, 404):
                    raise
            else:
                return [str(c.id) for c in found.data
                        if _meta(c).get(METADATA_CUSTOMER) == customer_id]
            index: dict[str, list[str]] = {}
            for c in self._call(
                "list customers (customer search is unavailable)",
                lambda: list(
                    self._client.v1.customers.list(
                        {"limit": self.options.page_size}
                    ).auto_paging_iter()
                ),
            ):
                ours = _meta(c).get(METADATA_CUSTOMER)
                if ours is not None:
                    index.setdefault(ours, []).append(str(c.id))
            self._customer_index = index
        return list(self._customer_index.get(customer_id, []))

    # -- invoice --------------------------------------------------------------------------------

    def _ensure_invoice(
        self, invoice: Invoice, plan: PlannedInvoice, customer: str, created: list[str]
    ) -> stripe.Invoice:
        where = f"invoice {invoice.id}"
        recorded = self.state.steps(self.scope, invoice.id).get("invoice")
        found: stripe.Invoice | None = None
        if recorded is not None:
            found = self._retrieve(
                f"{where}: retrieve {recorded}",
                lambda: self._client.v1.invoices.retrieve(recorded),
            )
            if found is not None and _meta(found).get(METADATA_INVOICE) != invoice.id:
                found = None
            if found is None:
                self.state.forget_invoice(self.scope, invoice.id)
        if found is None:
            matches = [
                inv
                for inv in self._call(
                    f"{where}: list invoices of {customer}",
                    lambda: list(
                        self._client.v1.invoices.list(
                            {"customer": customer, "limit": self.options.page_size}
                        ).auto_paging_iter()
                    ),
                )
                if _meta(inv).get(METADATA_INVOICE) == invoice.id
            ]
            live = [inv for inv in matches if inv.status != "void"]
            if len(live) > 1:
                listed = ", ".join(str(inv.id) for inv in live)
                raise _InvoiceFailed(
                    f"{where}: {len(live)} Stripe invoices carry {METADATA_INVOICE}={invoice.id} "
                    f"({listed}); void the extra ones, then re-run"
                )
            if live:
                found = live[0]
            elif matches:
                raise _InvoiceFailed(
                    f"{where}: its Stripe invoice {matches[0].id} was voided; not billing again"
                )
        if found is None:
            found = self._create_invoice(invoice, plan, customer)
            created.append("invoice")
        if found.status == "void":
            raise _InvoiceFailed(
                f"{where}: its Stripe invoice {found.id} is void; not billing again"
            )
        if (found.currency or "").lower() != plan.currency:
            raise _InvoiceFailed(
                f"{where}: Stripe invoice {found.id} is in {found.currency}, ours in {plan.currency}"
            )
        self.state.record(self.scope, invoice.id, "invoice", str(found.id))
        return found

    def _create_invoice(
        self, invoice: Invoice, plan: PlannedInvoice, customer: str
    ) -> stripe.Invoice:
        params: InvoiceCreateParams = {
            "customer": customer,
            "currency": plan.currency,
            "collection_method": self.options.collection_method,
            # Never let Stripe finalize a draft on its own: finalizing is our last step.
            "auto_advance": False,
            "pending_invoice_items_behavior": "exclude",
            "description": (
                f"{invoice.plan_id} (version {invoice.plan_version}), "
                f"{invoice.period_start} to {invoice.period_end} (exclusive)"
            ),
            "metadata": {
                METADATA_INVOICE: invoice.id,
                METADATA_CUSTOMER: invoice.customer_id,
                "billing_plan_id": invoice.plan_id,
                "billing_plan_version": invoice.plan_version.isoformat(),
            },
        }
        if (
            self.options.collection_method == "send_invoice"
            and self.options.days_until_due is not None
        ):
            params["days_until_due"] = self.options.days_until_due
        return self._call(
            f"invoice {invoice.id}: create",
            lambda: self._client.v1.invoices.create(
                params, self._options(idempotency_key(invoice.id, "invoice"))
            ),
        )

    # -- items ----------------------------------------------------------------------------------

    def _ensure_items(
        self,
        invoice: Invoice,
        plan: PlannedInvoice,
        customer: str,
        stripe_invoice: stripe.Invoice,
        created: list[str],
    ) -> str | None:
        """Create the items Stripe does not have yet; return the Stripe invoice status."""
        where = f"invoice {invoice.id}"
        sid = str(stripe_invoice.id)
        existing = self._call(
            f"{where}: list items of {sid}",
            lambda: list(
                self._client.v1.invoice_items.list(
                    {"invoice": sid, "limit": self.options.page_size}
                ).auto_paging_iter()
            ),
        )
        by_line: dict[str, stripe.InvoiceItem] = {}
        planned = {item.line_id: item for item in plan.items}
        for ex in existing:
            meta = _meta(ex)
            line_id = meta.get(METADATA_LINE)
            if meta.get(METADATA_INVOICE) != invoice.id or line_id not in planned:
                raise _InvoiceFailed(
                    f"{where}: Stripe invoice {sid} holds item {ex.id} that is not one of our "
                    f"lines ({METADATA_LINE}={line_id!r}); remove it, then re-run"
                )
            if line_id in by_line:
                raise _InvoiceFailed(
                    f"{where}: Stripe invoice {sid} holds line {line_id} twice "
                    f"({by_line[line_id].id}, {ex.id})"
                )
            if ex.amount != planned[line_id].amount:
                raise _InvoiceFailed(
                    f"{where} line {line_id}: Stripe item {ex.id} has amount {ex.amount}, "
                    f"the invoice says {planned[line_id].amount}; the invoice changed after it "
                    "was pushed (fix it in Stripe or issue a new invoice)"
                )
            by_line[line_id] = ex
            self.state.record(self.scope, invoice.id, f"item:{line_id}", str(ex.id))
        missing = [item for item in plan.items if item.line_id not in by_line]
        status = stripe_invoice.status
        if missing and status != "draft":
            raise _InvoiceFailed(
                f"{where}: Stripe invoice {sid} is {status} but lacks lines "
                f"{', '.join(i.line_id for i in missing)}; cannot add items to it"
            )
        lines = {line.id: line for line in invoice.lines}
        for item in missing:
            created_item = self._create_item(
                invoice, lines[item.line_id], item, plan, customer, sid
            )
            self.state.record(self.scope, invoice.id, f"item:{item.line_id}", str(created_item.id))
            created.append(f"item:{item.line_id}")
        return status

    def _create_item(
        self,
        invoice: Invoice,
        line: InvoiceLine,
        item: PlannedItem,
        plan: PlannedInvoice,
        customer: str,
        stripe_invoice_id: str,
    ) -> stripe.InvoiceItem:
        params: InvoiceItemCreateParams = {
            "customer": customer,
            "invoice": stripe_invoice_id,
            "amount": item.amount,
            "currency": plan.currency,
            "description": item.description,
            "period": {"start": item.period_start, "end": item.period_end},
            "metadata": {
                METADATA_INVOICE: invoice.id,
                METADATA_LINE: line.id,
                "billing_kind": line.kind,
                "billing_charge": line.charge,
                # plan file:line of the charge (Stripe keeps metadata values up to 500 chars)
                **({"billing_source": line.source[-500:]} if line.source else {}),
            },
        }
        return self._call(
            f"invoice {invoice.id} line {line.id}: create item",
            lambda: self._client.v1.invoice_items.create(
                params, self._options(item.idempotency_key)
            ),
        )

    # -- finalize -------------------------------------------------------------------------------

    def _finalize(self, invoice: Invoice, stripe_invoice_id: str, created: list[str]) -> None:
        params: InvoiceFinalizeInvoiceParams = {"auto_advance": self.options.auto_advance}
        finalized = self._call(
            f"invoice {invoice.id}: finalize {stripe_invoice_id}",
            lambda: self._client.v1.invoices.finalize_invoice(
                stripe_invoice_id, params, self._options(idempotency_key(invoice.id, "finalize"))
            ),
        )
        self.state.record(self.scope, invoice.id, "finalize", str(finalized.id))
        created.append("finalize")


