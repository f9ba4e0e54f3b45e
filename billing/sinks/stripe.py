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

Idempotency keys are ASCII and at most 255 characters for any id: characters outside printable
ASCII (and ``%`` and ``/``) are percent-encoded (UTF-8), and a key longer than 255 is replaced by
its SHA-256.

Amounts are checked against Stripe's rules before anything is sent (:func:`check_invoice`, also
what ``billing push --dry-run`` reports): minor units per Stripe's currency list, the last digit
0 for three-decimal currencies, whole ISK, and at most 8 digits of minor units per item and per
invoice (12 for IDR).

The API key comes from the ``api_key`` argument or ``STRIPE_API_KEY``; it is never written to the
state file, never logged, never put in an error message or a repr. A live key (``sk_live_``,
``rk_live_``) is refused unless ``live=True``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
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
from billing.money import TEN_MINOR_UNIT_CURRENCIES, check_currency

__all__ = [
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

# Stripe's own currency rules (docs.stripe.com/currencies), not CLDR's: they differ (CLDR gives
# ISK 0 digits, Stripe 2; CLDR gives HUF and TWD 2 digits, as does Stripe for charges).
ZERO_DECIMAL_CURRENCIES: frozenset[str] = frozenset(
    {
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
        "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
    }
)  # fmt: skip
"""Amounts are whole units: 500 JPY is sent as 500."""

THREE_DECIMAL_CURRENCIES: frozenset[str] = TEN_MINOR_UNIT_CURRENCIES
"""Amounts are in thousandths, and Stripe requires the last digit to be 0 (5.120 KWD is 5120):
rating rounds their lines to the nearest 0.010 (:data:`billing.money.TEN_MINOR_UNIT_CURRENCIES`)."""

MAX_AMOUNT = 99_999_999
"""Stripe's largest amount, in minor units, for most currencies: eight digits (999,999.99 USD)."""

_MAX_AMOUNT_BY_CURRENCY: dict[str, int] = {"IDR": 999_999_999_999}
"""Currencies Stripe allows more digits: IDR up to twelve (9,999,999,999.99 IDR)."""

WHOLE_UNIT_TWO_DECIMAL_CURRENCIES: frozenset[str] = frozenset({"ISK"})
"""Two-decimal in the API for backwards compatibility, but only whole units (5 ISK is 500)."""

METADATA_CUSTOMER = "billing_customer_id"
METADATA_INVOICE = "billing_invoice_id"
METADATA_LINE = "billing_line_id"
KEY_PREFIX = "token-billing/v1"

Step = Literal["customer", "invoice", "item", "finalize"]
T = TypeVar("T")


# --- amounts ------------------------------------------------------------------------------------


def stripe_minor_units(currency: str) -> int:
    """Decimal places Stripe expects for ``currency``: JPY 0, USD 2, ISK 2, KWD 3."""
    code = check_currency(currency)
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def to_stripe_amount(amount: Decimal, currency: str) -> int:
    """``amount`` (already rounded) as the integer Stripe expects, or :class:`StripeSyncError`.

    Never rounds: an amount with more decimals than Stripe takes for the currency is an error,
    because rounding belongs to rating (where the invoice line is produced), not to the sink.
    """
    code = check_currency(currency)
    digits = stripe_minor_units(code)
    scaled = amount.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise StripeSyncError(
            f"{amount} {code} has more decimals than Stripe accepts for {code} ({digits})"
        )
    value = int(scaled)
    if code in THREE_DECIMAL_CURRENCIES and value % 10:
        raise StripeSyncError(
            f"{amount} {code}: Stripe requires {code} amounts rounded to the nearest 0.010 "
            "(last of the three decimals 0); `billing rate` rounds every line so, re-rate the "
            "period (an invoice made by another tool must round its lines the same way)"
        )
    if code in WHOLE_UNIT_TWO_DECIMAL_CURRENCIES and value % 100:
        raise StripeSyncError(f"{amount} {code}: Stripe accepts only whole {code} amounts")
    return value


def max_amount(currency: str) -> int:
    """Stripe's largest amount in minor units for ``currency`` (99,999,999; IDR 999,999,999,999)."""
    return _MAX_AMOUNT_BY_CURRENCY.get(check_currency(currency), MAX_AMOUNT)


def _over_limit(amount: Decimal, value: int, code: str) -> str | None:
    limit = max_amount(code)
    if abs(value) <= limit:
        return None
    return (f"{amount} {code} is {abs(value)} minor units, Stripe's maximum is {limit} "
            f"({len(str(limit))} digits); split it across invoices")


def check_invoice(invoice: Invoice) -> list[str]:
    """Every reason Stripe would refuse ``invoice`` (empty when it can be pushed), one message per
    line or total: amounts Stripe cannot take in the currency, duplicate line ids, amounts past
    Stripe's maximum, lines that do not add up to the total."""
    code = invoice.currency
    problems: list[str] = []
    seen: set[str] = set()
    total = 0
    for line in invoice.lines:
        where = f"invoice {invoice.id} line {line.id}"
        if line.id in seen:
            problems.append(f"invoice {invoice.id}: line id {line.id} appears twice")
        seen.add(line.id)
        try:
            value = to_stripe_amount(line.rounded_amount, code)
        except StripeSyncError as exc:
            problems.append(f"{where}: {exc}")
            continue
        total += value
        if (over := _over_limit(line.rounded_amount, value, code)) is not None:
            problems.append(f"{where}: {over}")
    try:
        expected = to_stripe_amount(invoice.total, code)
    except StripeSyncError as exc:
        problems.append(f"invoice {invoice.id}: total {exc}")
        return problems
    if (over := _over_limit(invoice.total, expected, code)) is not None:
        problems.append(f"invoice {invoice.id}: total {over}")
    if not problems and total != expected:
        problems.append(
            f"invoice {invoice.id}: lines sum to {total} but the total is {expected} "
            f"(minor units of {code}); refusing to push an invoice that does not add up"
        )
    return problems


def _timestamp(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


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
                raise StripeSyncError("no Stripe API key: set STRIPE_API_KEY or pass an API key")
            key = cls(raw)
        if key.is_live and not live:
            raise StripeSyncError(
                "refusing a live Stripe key without an explicit --live (live=True): "
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


# --- the plan of what an invoice becomes in Stripe ----------------------------------------------


_KEY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "%/")
_KEY_MAX = 255  # Stripe's limit on an idempotency key's length


def _key(*parts: str) -> str:
    """``KEY_PREFIX/part/part``: each part kept when it is printable ASCII without ``%`` or
    ``/``, else percent-encoded (UTF-8); a key past 255 characters becomes its SHA-256."""
    key = "/".join((KEY_PREFIX, *(urllib.parse.quote(p, safe=_KEY_SAFE) for p in parts)))
    if len(key) <= _KEY_MAX:
        return key
    return f"{KEY_PREFIX}/sha256/{hashlib.sha256(key.encode('ascii')).hexdigest()}"


def idempotency_key(invoice_id: str, part: str) -> str:
    """Deterministic idempotency key for one POST: ``part`` is a line id, 'invoice' or 'finalize'.
    ASCII and at most 255 characters whatever the ids."""
    return _key(invoice_id, part)


def customer_idempotency_key(customer_id: str) -> str:
    """Deterministic idempotency key for creating the Stripe customer of ``customer_id``:
    ASCII and at most 255 characters for any id (``客户-1`` is ``.../customer/%E5%AE%A2%E6%88%B7-1``)."""
    return _key("customer", customer_id)


@dataclass(frozen=True, slots=True)
class PlannedItem:
    """One Stripe invoice item, as it will be sent."""

    line_id: str
    description: str
    amount: int
    """In Stripe's minor units of the invoice currency; negative for credits and discounts."""
    period_start: int
    period_end: int
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class PlannedInvoice:
    """What one invoice becomes in Stripe (computed offline; used by dry runs and pushes)."""

    invoice_id: str
    customer_id: str
    currency: str
    """Lower-case, as Stripe writes it."""
    items: tuple[PlannedItem, ...]
    total: int
    """Sum of the items, in minor units: equals the invoice total."""


def plan_invoice(invoice: Invoice) -> PlannedInvoice:
    """Convert ``invoice`` to Stripe amounts, or raise :class:`StripeSyncError` naming every
    line Stripe would refuse (:func:`check_invoice`)."""
    problems = check_invoice(invoice)
    if problems:
        raise StripeSyncError("; ".join(problems))
    items = [
        PlannedItem(
            line_id=line.id,
            description=line.description,
            amount=to_stripe_amount(line.rounded_amount, invoice.currency),
            period_start=_timestamp(line.period_start),
            period_end=_timestamp(line.period_end),
            idempotency_key=idempotency_key(invoice.id, line.id),
        )
        for line in invoice.lines
    ]
    total = sum(item.amount for item in items)
    return PlannedInvoice(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        currency=invoice.currency.lower(),
        items=tuple(items),
        total=total,
    )


# --- local state --------------------------------------------------------------------------------


class StripeStateBusyError(StripeSyncError):
    """Another run holds the state file's lock."""


class StripeState:
    """SQLite record of what was pushed: customer mappings and each step of each invoice.

    Rows are scoped by mode (test/live) and connected account, so a test run never feeds ids to
    a live one. It holds Stripe ids only: never the API key. :meth:`locked` holds an exclusive
    lock on it (on ``STATE.lock``, released when the block ends or the process dies).
    """

    _SCHEMA = """
    CREATE TABLE IF NOT EXISTS customers (
        scope TEXT NOT NULL, customer_id TEXT NOT NULL, stripe_customer_id TEXT NOT NULL,
        recorded_at TEXT NOT NULL, PRIMARY KEY (scope, customer_id));
    CREATE TABLE IF NOT EXISTS steps (
        scope TEXT NOT NULL, invoice_id TEXT NOT NULL, step TEXT NOT NULL,
        stripe_id TEXT NOT NULL, recorded_at TEXT NOT NULL,
        PRIMARY KEY (scope, invoice_id, step));
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._conn = sqlite3.connect(self.path)
            with self._conn:
                self._conn.executescript(self._SCHEMA)
        except sqlite3.Error as exc:
            raise StripeSyncError(
                f"{self.path}: cannot use as the Stripe state file: {exc}"
            ) from exc

    _lock_fd: int | None = None
    _lock_depth = 0

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state file's exclusive lock for the block (re-entrant in one object), or
        raise :class:`StripeStateBusyError` at once when another run holds it."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StripeSyncError(
                f"{self.lock_path}: cannot create the state file's lock: {exc.strerror}"
            ) from None
        try:
            _lock_exclusively(fd)
        except BlockingIOError:
            os.close(fd)
            raise StripeStateBusyError(
                f"{self.path}: another billing push is using the state file (its lock "
                f"{self.lock_path.name} is held); wait for it to finish, then re-run"
            ) from None
        self._lock_fd, self._lock_depth = fd, 1
        try:
            yield
        finally:
            self._lock_fd, self._lock_depth = None, 0
            os.close(fd)  # closing the descriptor releases the lock

    def close(self) -> None:
        self._conn.close()

    def __repr__(self) -> str:
        return f"StripeState({str(self.path)!r})"

    @staticmethod
    def _now() -> str:
        return datetime.now(UTC).isoformat(timespec="seconds")

    def customer(self, scope: str, customer_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT stripe_customer_id FROM customers WHERE scope = ? AND customer_id = ?",
            (scope, customer_id),
        ).fetchone()
        return None if row is None else str(row[0])

    def set_customer(self, scope: str, customer_id: str, stripe_customer_id: str) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO customers VALUES (?, ?, ?, ?)",
                (scope, customer_id, stripe_customer_id, self._now()),
            )

    def forget_customer(self, scope: str, customer_id: str) -> None:
        with self._conn:
            self._conn.execute(
                "DELETE FROM customers WHERE scope = ? AND customer_id = ?", (scope, customer_id)
            )

    def steps(self, scope: str, invoice_id: str) -> dict[str, str]:
        """Recorded steps of an invoice: step name ('invoice', 'item:L001', ...) -> Stripe id."""
        rows = self._conn.execute(
            "SELECT step, stripe_id FROM steps WHERE scope = ? AND invoice_id = ?",
            (scope, invoice_id),
        ).fetchall()
        return {str(step): str(sid) for step, sid in rows}

    def record(self, scope: str, invoice_id: str, step: str, stripe_id: str) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?)",
                (scope, invoice_id, step, stripe_id, self._now()),
            )

    def forget_invoice(self, scope: str, invoice_id: str) -> None:
        with self._conn:
            self._conn.execute(
                "DELETE FROM steps WHERE scope = ? AND invoice_id = ?", (scope, invoice_id)
            )


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


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock_exclusively(fd: int) -> None:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            raise BlockingIOError from None

else:
    import fcntl

    def _lock_exclusively(fd: int) -> None:
        """Lock ``fd`` exclusively, or raise ``BlockingIOError`` at once if another holds it."""
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
