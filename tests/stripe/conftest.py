"""Shared fixtures for the Stripe sink: realistic invoices, the fake Stripe, and localstripe.

localstripe (a stateful fake Stripe server) is started once per session on 127.0.0.1 and a free
port, with its on-disk state turned off; its data is wiped before every test that uses it
(``DELETE /_config/data``) and the server is stopped at the end.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from billing.invoice import Invoice
from billing.sinks.stripe import PushOptions, StripeSink
from billing.sinks.stripe_testing import FakeStripe
from tests.stripe.helpers import TEST_KEY, SinkFactory, build_invoice


@pytest.fixture
def usd_invoice() -> Invoice:
    """A USD invoice with a credit line and a cap discount (both negative)."""
    return build_invoice(
        "acme",
        "USD",
        [
            ("flat", "Pro plan, January", "49.00"),
            ("rate_card", "gpt-4o input, 12.5M tokens @ 2.50", "31.25"),
            ("rate_card", "gpt-4o output, 1.234567M tokens @ 10.00", "12.34567"),  # -> 12.35
            ("credits_applied", "Prepaid credits applied", "-20.005"),  # -> -20.01 (half up)
            ("cap_discount", "Monthly cap of 60.00", "-12.59"),
        ],
    )


@pytest.fixture
def jpy_invoice() -> Invoice:
    """A JPY (zero-decimal) invoice: 1 yen is 1 unit in Stripe."""
    return build_invoice(
        "kabushiki",
        "JPY",
        [
            ("flat", "Pro plan, January", "4900"),
            ("usage", "claude-sonnet tokens", "1234.5"),  # -> 1235 (half up)
            ("credits_applied", "Promotional credits", "-500"),
        ],
    )


@pytest.fixture
def fake() -> FakeStripe:
    return FakeStripe()


@pytest.fixture
def make_sink(fake: FakeStripe, tmp_path: Path) -> Iterator[SinkFactory]:
    """Build sinks on the fake Stripe, sharing one state file; ``sleeps`` records backoff."""
    sinks: list[StripeSink] = []

    def factory(
        state: Path | None = None, sleeps: list[float] | None = None, **options: object
    ) -> StripeSink:
        record = sleeps if sleeps is not None else []
        sink = StripeSink(
            TEST_KEY,
            state=state or tmp_path / "state.sqlite",
            options=PushOptions(**options),  # type: ignore[arg-type]
            http_client=fake,
            sleep=record.append,
        )
        sinks.append(sink)
        return sink

    yield factory
    for sink in sinks:
        sink.state.close()


# --- localstripe ----------------------------------------------------------------------------------

_LAUNCH = """
import sys
from aiohttp import web
import localstripe.resources as resources
# No state file: localstripe pickles its store to a fixed path on every write, and reloads it.
resources.Store.dump_to_disk = lambda self: None
resources.Store.try_load_from_disk = lambda self: None
from localstripe.server import app
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http(method: str, url: str) -> int:
    request = urllib.request.Request(url, method=method)
    request.add_header("Authorization", f"Bearer {TEST_KEY}")
    with urllib.request.urlopen(request, timeout=2) as response:
        return int(response.status)


@pytest.fixture(scope="session")
def localstripe_server() -> Iterator[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-c", _LAUNCH, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _http("GET", f"{base}/v1/customers")
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"localstripe did not start on {base}:\n{err}") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture
def localstripe(localstripe_server: str) -> str:
    """The address of a localstripe with no data in it."""
    assert _http("DELETE", f"{localstripe_server}/_config/data") == 200
    return localstripe_server
