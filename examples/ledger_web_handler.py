"""A web handler that bills LLM calls through the ledger: authorize, call the model, settle.

Run from the repository root:  python examples/ledger_web_handler.py [LEDGER_URL]

LEDGER_URL defaults to a SQLite file in a temporary folder; a ``postgresql://`` URL works the
same. The handler is a plain WSGI application (any WSGI server can serve it: gunicorn with
several workers, each with its own ledger connection). Per request it:

1. asks the ledger for a hold on the request's worst case (the prompt it was sent and the
   ``max_tokens`` it will let the model write), and answers 402 with what is still available
   when the customer's limit would be crossed;
2. calls the model (a stub here, which fails on purpose when the prompt says "fail");
   a retried request id that was already answered gets 409, never a second model call;
3. settles the hold to the usage the model reports, or releases it when the call failed, so a
   failed call costs the customer nothing.

``main`` sends four requests through the application in-process and prints the answers: one
served and settled, one failed and released, one refused (402: its worst case, 24,000 prompt
tokens at 5.00 USD per 1M and 4,000 output tokens at 20.00 = 0.12 + 0.08 = 0.20 USD, is above
the 0.05 USD limit), and a retry of the first.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

from billing.ledger import Denial, Ledger
from billing.plans import load_catalog
from billing.subscriptions import Subscription

ROOT = Path(__file__).resolve().parents[1]
MODEL = "gpt-5"
Respond = Callable[[str, list[tuple[str, str]]], Any]


class ModelError(Exception):
    """The model call failed (timeout, 5xx...)."""


def call_model(prompt: str, max_tokens: int) -> tuple[str, dict[str, int]]:
    """A stub for the real model call: returns the answer and the usage the provider reports."""
    if "fail" in prompt:
        raise ModelError("upstream timed out")
    answer = "ok: " + prompt[:20]
    return answer, {"input_tokens": len(prompt.split()) * 4, "output_tokens": min(120, max_tokens)}


def make_app(ledger: Ledger) -> Callable[[dict[str, Any], Respond], Iterable[bytes]]:
    def app(environ: dict[str, Any], respond: Respond) -> Iterable[bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(size) or b"{}")
        customer, request_id = body["customer"], body["request_id"]
        prompt, max_tokens = body["prompt"], int(body.get("max_tokens", 1_000))
        # The worst case: every prompt token billed at the dearest prompt rate, max_tokens out.
        hold = ledger.authorize(customer, request_id, MODEL,
                                max_input_tokens=len(prompt.split()) * 4,
                                max_output_tokens=max_tokens)
        if isinstance(hold, Denial):
            return _json(respond, "402 Payment Required",
                         {"error": hold.reason, "available": str(hold.available),
                          "needed": str(hold.amount), "currency": hold.currency})
        if hold.state != "open":  # a retry of a request already answered (or abandoned)
            return _json(respond, "409 Conflict", {"error": f"request {request_id} is "
                                                            f"{hold.state}"})
        try:
            answer, usage = call_model(prompt, max_tokens)
        except ModelError as exc:
            ledger.release(hold.hold_id)  # nothing was used: free the hold
            return _json(respond, "502 Bad Gateway", {"error": str(exc)})
        except BaseException:
            ledger.release(hold.hold_id)
            raise
        # customer_id and model: a hold lost with the database server's last commits (holds
        # do not wait for the disk) settles like an expired one, if the usage still fits.
        settled = ledger.settle(hold.hold_id, usage, customer_id=customer, model=MODEL)
        return _json(respond, "200 OK", {"answer": answer, "cost": str(settled.amount),
                                         "currency": settled.currency})

    return app


def _json(respond: Respond, status: str, payload: dict[str, str]) -> list[bytes]:
    data = json.dumps(payload).encode()
    respond(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def post(app: Callable[[dict[str, Any], Respond], Iterable[bytes]], body: dict[str, Any]
         ) -> tuple[str, dict[str, str]]:
    """Send one POST through the WSGI application, in process."""
    import io

    data = json.dumps(body).encode()
    environ: dict[str, Any] = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(data)),
                               "wsgi.input": io.BytesIO(data)}
    setup_testing_defaults(environ)
    status: list[str] = []
    out = b"".join(app(environ, lambda s, headers: status.append(s)))
    return status[0], json.loads(out)


def main(url: str) -> None:
    ledger = Ledger.open(url)
    ledger.set_catalog(load_catalog([ROOT / "plans"]))
    ledger.set_subscriptions([Subscription(customer_id="cobalt-ai", plan="payg",
                                           start=date(2026, 11, 1))])
    # A hard spending limit for the demo: 0.05 USD a period.
    ledger.set_limit("cobalt-ai", Decimal("0.05"))
    app = make_app(ledger)
    requests = [
        {"customer": "cobalt-ai", "request_id": "req-1", "prompt": "summarise this " * 50,
         "max_tokens": 500},
        {"customer": "cobalt-ai", "request_id": "req-2", "prompt": "please fail", "max_tokens": 500},
        {"customer": "cobalt-ai", "request_id": "req-3", "prompt": "a long essay " * 2_000,
         "max_tokens": 4_000},
        {"customer": "cobalt-ai", "request_id": "req-1", "prompt": "summarise this " * 50,
         "max_tokens": 500},
    ]
    for body in requests:
        status, answer = post(app, body)
        print(f"{body['request_id']}: {status} {json.dumps(answer)}")
    balance = ledger.balance("cobalt-ai")
    print(f"bill to date {balance.bill_to_date} {balance.currency}, open holds "
          f"{balance.open_holds}, available {balance.available}")
    ledger.close_connection()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(f"sqlite:///{Path(folder) / 'ledger.db'}")
