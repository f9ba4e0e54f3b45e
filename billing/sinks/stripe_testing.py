"""A fake Stripe for tests: an HTTP client for the official SDK that answers like Stripe.

Plug it into the sink (or any ``StripeClient``) as its ``http_client``; no network is used::

    fake = FakeStripe()
    sink = StripeSink("sk_test_fake", state=tmp_path / "state.sqlite", http_client=fake)
    sink.push(invoice)
    assert [i["amount"] for i in fake.items_of(fake.invoices()[0]["id"])] == [1250, -200]

It covers what the sink uses and localstripe lacks: standalone draft invoices, finalization, and
Stripe's idempotency rules (a POST repeated with the same key and the same parameters returns the
first response, marked ``Idempotent-Replayed: true``; the same key with other parameters is a 400
``idempotency_error``). Responses start from Stripe's own example objects
(``stripe_examples.json``, copied from Stripe's OpenAPI fixtures) and override only what the
request sets. Faults can be injected: errors before a request executes (:meth:`fail_next`), and a
crash after Stripe applied a POST but before the client saw the answer (:meth:`crash_after_post`).

It also answers customer search (``GET /v1/customers/search`` with a ``metadata['key']:'value'``
query), eventually consistent like Stripe's when ``search_lag`` is set; refuses, as the HTTP
stack under the real SDK does, a header value that is not Latin-1; can forget idempotency keys
altogether (``ignore_idempotency_keys``, as if every key had expired); and can be served over
real HTTP to other processes (:func:`serve`), e.g. two ``billing push`` runs at once.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe
from stripe import HTTPClient

__all__ = ["FakeStripe", "RecordedRequest", "SimulatedCrash", "serve"]

Json = dict[str, Any]


class SimulatedCrash(BaseException):
    """The process 'dies': raised after Stripe applied a POST, before the answer came back.

    A ``BaseException`` (like ``KeyboardInterrupt``), so no ``except Exception`` swallows it.
    """


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake received it (headers other than the idempotency key dropped)."""

    method: str
    path: str
    params: Json
    idempotency_key: str | None
    replayed: bool = False


@dataclass(slots=True)
class _Fault:
    status: int
    method: str
    path_pattern: str
    remaining: int
    code: str | None


@lru_cache(maxsize=1)
def _examples() -> Json:
    text = resources.files("billing.sinks").joinpath("stripe_examples.json").read_text("utf-8")
    data: Json = json.loads(text)
    return data


def _decode_form(pairs: list[tuple[str, str]]) -> Json:
    """``a[b][c]=v`` form pairs (as the SDK encodes them) into nested dicts."""
    out: Json = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _ApiError(400, f"Invalid integer: {value}", param=name) from None


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: Json = {"error": {"type": type_, "message": message}}
        if code:
            self.body["error"]["code"] = code
        if param:
            self.body["error"]["param"] = param


class FakeStripe(HTTPClient):
    """A stateful, in-memory Stripe for customers, invoices, invoice items and finalization."""

    name = "billing-fake-stripe"

    def __init__(self) -> None:
        super().__init__()
        self._objects: dict[str, Json] = {}
        self._order: list[str] = []
        self._counter = 0
        self._idempotency: dict[str, tuple[str, str, Json, int, str]] = {}
        self._faults: list[_Fault] = []
        self._crash_at: int | None = None
        self.posts_applied = 0
        self.requests: list[RecordedRequest] = []
        self.search_lag = 0
        """Requests after its creation before a customer shows in search results (Stripe's
        search is eventually consistent: "under a minute" in normal conditions)."""
        self.ignore_idempotency_keys = False
        """Execute every POST, keys or not (as if every key had expired)."""
        self.delay_s = 0.0  # float-ok: seconds each request takes, not money
        self._made_at: dict[str, int] = {}
        self._lock = threading.RLock()

    # -- fault injection and inspection ---------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        method: str = "POST",
        path: str = "",
        times: int = 1,
        code: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``, before executing them.

        ``path`` is a regular expression searched in the request path ('' matches all).
        """
        self._faults.append(_Fault(status, method.upper(), path, times, code))

    def crash_after_post(self, n: int | None) -> None:
        """Apply the ``n``-th POST from now, then raise :class:`SimulatedCrash` (None: never)."""
        self._crash_at = None if n is None else self.posts_applied + n

    def expire_idempotency_keys(self) -> None:
        """Forget every idempotency key, as Stripe does after 24 hours."""
        self._idempotency.clear()

    def add_customers(self, n: int, *, prefix: str = "existing") -> None:
        """Add ``n`` customers at once (``billing_customer_id`` = ``{prefix}-{i}``), as an
        account's other customers, without going through requests."""
        for i in range(n):
            obj = self._new("customer", "cus")
            obj["description"] = f"customer {i}"
            obj["metadata"] = {"billing_customer_id": f"{prefix}-{i}"}

    def objects(self, kind: str) -> list[Json]:
        """Stored objects of one kind ('customer', 'invoice', 'invoiceitem'), oldest first."""
        return [
            copy.deepcopy(self._objects[i])
            for i in self._order
            if self._objects[i]["object"] == kind
        ]

    def customers(self) -> list[Json]:
        return [c for c in self.objects("customer") if not c.get("deleted")]

    def invoices(self) -> list[Json]:
        return self.objects("invoice")

    def items_of(self, invoice_id: str) -> list[Json]:
        return [i for i in self.objects("invoiceitem") if i["invoice"] == invoice_id]

    def delete(self, object_id: str) -> None:
        """Delete a customer (as a user would in the Dashboard) or a draft's invoice item."""
        obj = self._objects[object_id]
        if obj["object"] == "customer":
            obj["deleted"] = True
        else:
            self._detach_item(obj)
            self._order.remove(object_id)
            del self._objects[object_id]

    # -- HTTPClient -----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        for name, value in (headers or {}).items():
            try:
                str(value).encode("latin-1")
            except UnicodeEncodeError as exc:
                # What the SDK's requests client raises when http.client cannot encode a header.
                raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                    "Unexpected error communicating with Stripe. It looks like there's probably "
                    f"a configuration issue locally. (header {name}: {exc})"
                ) from None
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            return self._request(method, url, headers, post_data)

    def _request(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any
    ) -> tuple[str, int, Mapping[str, str]]:
        method = method.upper()
        parts = urlsplit(url)
        path = parts.path
        headers = headers or {}
        key = headers.get("Idempotency-Key")
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        params = _decode_form(parse_qsl(parts.query) + parse_qsl(body))
        if not str(headers.get("Authorization", "")).startswith("Bearer sk_test_"):
            return self._answer(
                method, path, params, key, 401, {"error": {"type": "invalid_request_error",
                "message": "Invalid API Key provided (the fake accepts sk_test_ keys only)"}}
            )  # fmt: skip
        for fault in self._faults:
            if fault.remaining and fault.method == method and re.search(fault.path_pattern, path):
                fault.remaining -= 1
                err = _ApiError(fault.status, f"injected {fault.status}", code=fault.code)
                if fault.status == 429:
                    err.body["error"]["type"] = "rate_limit_error"
                elif fault.status >= 500:
                    err.body["error"]["type"] = "api_error"
                return self._answer(method, path, params, key, fault.status, err.body)
        honoured = None if self.ignore_idempotency_keys else key
        if method == "POST" and honoured is not None and honoured in self._idempotency:
            first_method, first_path, first_params, status, saved = self._idempotency[honoured]
            if (first_method, first_path, first_params) != (method, path, params):
                err = _ApiError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                    type_="idempotency_error",
                )
                return self._answer(method, path, params, key, 400, err.body)
            self.requests.append(RecordedRequest(method, path, params, key, replayed=True))
            return saved, status, {"Request-Id": "req_replay", "Idempotent-Replayed": "true"}
        try:
            status, payload = 200, self._route(method, path, params)
        except _ApiError as err:
            status, payload = err.status, err.body
        text = json.dumps(payload)
        self.requests.append(RecordedRequest(method, path, params, key))
        if method == "POST":
            if honoured is not None and (status < 400 or status >= 500):
                # Stripe saves the result once execution began (not for failed validation).
                self._idempotency[honoured] = (method, path, params, status, text)
            if status < 400:
                self.posts_applied += 1
                if self._crash_at is not None and self.posts_applied >= self._crash_at:
                    self._crash_at = None
                    raise SimulatedCrash(f"crash after {method} {path}")
        return text, status, {"Request-Id": f"req_fake{len(self.requests)}"}

    def close(self) -> None:
        pass

    def _answer(
        self, method: str, path: str, params: Json, key: str | None, status: int, body: Json
    ) -> tuple[str, int, Mapping[str, str]]:
        self.requests.append(RecordedRequest(method, path, params, key))
        return json.dumps(body), status, {"Request-Id": f"req_fake{len(self.requests)}"}

    # -- the API --------------------------------------------------------------------------------

    def _new(self, kind: str, prefix: str) -> Json:
        self._counter += 1
        obj: Json = copy.deepcopy(_examples()[kind])
        obj["id"] = f"{prefix}_fake{self._counter:05d}"
        obj["created"] = 1_700_000_000 + self._counter
        obj["livemode"] = False
        obj["metadata"] = {}
        self._objects[obj["id"]] = obj
        self._order.append(obj["id"])
        self._made_at[obj["id"]] = len(self.requests)
        return obj

    def _get(self, object_id: str, kind: str) -> Json:
        obj = self._objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise _ApiError(
                404, f"No such {kind}: '{object_id}'", code="resource_missing", param="id"
            )
        return obj

    def _live(self, kind: str) -> list[Json]:
        """Stored objects of one kind, not copied (deleted customers left out)."""
        return [o for i in self._order if (o := self._objects[i])["object"] == kind
                and not o.get("deleted")]

    def _list(self, kind_objects: list[Json], params: Json, url: str) -> Json:
        """Stripe list semantics: newest first, ``limit`` (default 10), ``starting_after``."""
        newest_first = sorted(kind_objects, key=lambda o: o["created"], reverse=True)
        limit = _int(params.get("limit", 10), "limit")
        after = params.get("starting_after")
        if after is not None:
            ids = [o["id"] for o in newest_first]
            if after not in ids:
                raise _ApiError(400, f"No such object: '{after}'", param="starting_after")
            newest_first = newest_first[ids.index(after) + 1 :]
        page = copy.deepcopy(newest_first[:limit])
        return {"object": "list", "url": url, "has_more": len(newest_first) > limit, "data": page}

    def _search(self, params: Json, url: str) -> Json:
        """Customer search by one metadata value: ``metadata['key']:'value'`` (or "value")."""
        query = str(params.get("query", ""))
        found = re.fullmatch(
            r"""\s*metadata\[(['"])(.+?)\1\]\s*:\s*(['"])((?:\\.|(?!\3).)*)\3\s*""", query)
        if found is None:
            raise _ApiError(400, f"The fake answers metadata['key']:'value' queries only: {query!r}",
                            param="query")
        key, value = found.group(2), re.sub(r"\\(.)", r"\1", found.group(4))
        visible = len(self.requests) - self.search_lag
        hits = [c for c in self._live("customer") if c["metadata"].get(key) == value
                and self._made_at.get(c["id"], 0) < visible]
        limit = _int(params.get("limit", 10), "limit")
        return {"object": "search_result", "url": url, "has_more": len(hits) > limit,
                "next_page": None, "data": copy.deepcopy(hits[:limit])}

    def _route(self, method: str, path: str, params: Json) -> Json:
        seg = path.strip("/").split("/")
        if seg[0] != "v1" or len(seg) < 2:
            raise _ApiError(404, f"Unrecognized request URL ({method}: {path})")
        resource, rest = seg[1], seg[2:]
        if resource == "customers":
            return self._customers(method, rest, params, path)
        if resource == "invoices":
            return self._invoices(method, rest, params, path)
        if resource == "invoiceitems":
            return self._invoice_items(method, rest, params, path)
        raise _ApiError(404, f"Unrecognized request URL ({method}: {path})")

    def _customers(self, method: str, rest: list[str], params: Json, path: str) -> Json:
        if method == "POST" and not rest:
            obj = self._new("customer", "cus")
            for name in ("description", "email", "name"):
                obj[name] = params.get(name)
            obj["metadata"] = dict(params.get("metadata", {}))
            return obj
        if method == "GET" and not rest:
            return self._list(self._live("customer"), params, path)
        if method == "GET" and rest == ["search"]:
            return self._search(params, path)
        if method == "GET" and len(rest) == 1:
            obj = self._get(rest[0], "customer")
            if obj.get("deleted"):
                return {"id": obj["id"], "object": "customer", "deleted": True}
            return obj
        raise _ApiError(404, f"Unrecognized request URL ({method}: {path})")

    def _invoices(self, method: str, rest: list[str], params: Json, path: str) -> Json:
        if method == "POST" and not rest:
            customer = self._get(str(params.get("customer")), "customer")
            collection = params.get("collection_method", "charge_automatically")
            if collection == "send_invoice" and "days_until_due" not in params:
                raise _ApiError(
                    400,
                    "Missing required param: days_until_due or due_date (send_invoice).",
                    param="days_until_due",
                )
            obj = self._new("invoice", "in")
            obj.update(
                customer=customer["id"],
                currency=params.get("currency", "usd"),
                collection_method=collection,
                days_until_due=(
                    _int(params["days_until_due"], "days_until_due")
                    if "days_until_due" in params
                    else None
                ),
                auto_advance=params.get("auto_advance", "true") == "true",
                description=params.get("description"),
                metadata=dict(params.get("metadata", {})),
                status="draft",
                number=None,
                billing_reason="manual",
                subscription=None,
                lines={"object": "list", "data": [], "has_more": False,
                       "url": f"/v1/invoices/{obj['id']}/lines"},
            )  # fmt: skip
            self._set_totals(obj)
            return obj
        if method == "GET" and not rest:
            invoices = self.invoices()
            if "customer" in params:
                invoices = [i for i in invoices if i["customer"] == params["customer"]]
            return self._list(invoices, params, path)
        if method == "GET" and len(rest) == 1:
            return self._get(rest[0], "invoice")
        if method == "POST" and len(rest) == 2 and rest[1] == "finalize":
            obj = self._get(rest[0], "invoice")
            if obj["status"] != "draft":
                raise _ApiError(
                    400, "This invoice is already finalized, you can't re-finalize a "
                    "non-draft invoice.", code="invoice_not_editable"
                )  # fmt: skip
            obj["status"] = "open"
            obj["number"] = f"FAKE-{self._counter:04d}"
            obj["auto_advance"] = params.get("auto_advance", "true") == "true"
            return obj
        raise _ApiError(404, f"Unrecognized request URL ({method}: {path})")

    def _invoice_items(self, method: str, rest: list[str], params: Json, path: str) -> Json:
        if method == "POST" and not rest:
            customer = self._get(str(params.get("customer")), "customer")
            if "amount" not in params:
                raise _ApiError(400, "Missing required param: amount.", param="amount")
            amount = _int(params["amount"], "amount")
            invoice = None
            if "invoice" in params:
                invoice = self._get(str(params["invoice"]), "invoice")
                if invoice["status"] != "draft":
                    raise _ApiError(
                        400, "You can only add invoice items to draft invoices.",
                        code="invoice_not_editable", param="invoice",
                    )  # fmt: skip
                if invoice["customer"] != customer["id"]:
                    raise _ApiError(400, "The invoice belongs to another customer.")
                if params.get("currency") != invoice["currency"]:
                    raise _ApiError(400, "Currency does not match the invoice's.", param="currency")
            obj = self._new("invoiceitem", "ii")
            period = params.get("period") or {}
            start = _int(period.get("start", obj["created"]), "period[start]")
            end = _int(period.get("end", obj["created"]), "period[end]")
            if end < start:
                raise _ApiError(400, "period[end] must be after period[start]", param="period")
            obj.update(
                customer=customer["id"],
                invoice=None if invoice is None else invoice["id"],
                amount=amount,
                currency=params.get("currency"),
                description=params.get("description"),
                period={"start": start, "end": end},
                metadata=dict(params.get("metadata", {})),
                quantity=1,
                parent=None,
            )
            if invoice is not None:
                self._set_totals(invoice)
            return obj
        if method == "GET" and not rest:
            items = self.objects("invoiceitem")
            if "invoice" in params:
                items = [i for i in items if i["invoice"] == params["invoice"]]
            if "customer" in params:
                items = [i for i in items if i["customer"] == params["customer"]]
            return self._list(items, params, path)
        raise _ApiError(404, f"Unrecognized request URL ({method}: {path})")

    def _set_totals(self, invoice: Json) -> None:
        items = [o for o in self._objects.values() if o["object"] == "invoiceitem"
                 and o["invoice"] == invoice["id"]]  # fmt: skip
        total = sum(int(i["amount"]) for i in items)
        for name in ("subtotal", "subtotal_excluding_tax", "total", "total_excluding_tax"):
            invoice[name] = total
        for name in ("amount_due", "amount_remaining"):
            invoice[name] = max(total, 0)
        invoice["amount_paid"] = 0

    def _detach_item(self, item: Json) -> None:
        if item["object"] == "invoiceitem" and item.get("invoice"):
            item_invoice = self._objects[item["invoice"]]
            item["invoice"] = None
            self._set_totals(item_invoice)


@contextmanager
def serve(fake: FakeStripe, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``fake`` over HTTP on a free port of ``host`` (threads, one per connection) for
    other processes (``billing push --api-base ADDRESS``); yields the address, stops after."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items()}
            try:
                text, status, extra = fake.request(
                    self.command, f"http://{host}{self.path}", headers, body or None)
            except stripe.APIConnectionError:
                status, text, extra = 400, json.dumps({"error": {
                    "type": "invalid_request_error", "message": "bad header"}}), {}
            data = text.encode("utf-8")
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
