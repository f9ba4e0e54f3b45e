"""The API key never leaks: not to the state file, logs, errors or reprs; live keys need --live."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from billing.errors import StripeSyncError
from billing.invoice import Invoice
from billing.sinks.stripe import ApiKey, PushOptions, StripeSink
from billing.sinks.stripe_testing import FakeStripe
from tests.stripe.helpers import TEST_KEY

LIVE_KEY = "sk_live_51NotARealLiveKeyButShapedLikeOne0000"


def test_key_absent_from_state_logs_errors_and_reprs(
    tmp_path: Path, usd_invoice: Invoice, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeStripe()
    fake.fail_next(400, path="/v1/invoiceitems", code="parameter_invalid_integer")
    caplog.set_level(logging.DEBUG)
    sink = StripeSink(
        TEST_KEY, state=tmp_path / "state.sqlite", http_client=fake, options=PushOptions()
    )

    result = sink.push(usd_invoice)
    sink.state.close()

    assert result.status == "failed"  # so an error message was produced
    assert caplog.records  # the SDK did log its requests
    secret = TEST_KEY[len("sk_test_") :]
    assert secret not in (tmp_path / "state.sqlite").read_bytes().decode("latin-1")
    assert secret not in caplog.text
    assert secret not in result.message
    assert secret not in repr(result) + repr(sink) + repr(ApiKey(TEST_KEY)) + str(ApiKey(TEST_KEY))


def test_rejected_key_stops_the_run_without_showing_it(
    tmp_path: Path, usd_invoice: Invoice
) -> None:
    # The fake accepts test keys only; this restricted key is refused with a 401.
    key = "rk_test_51RestrictedKeyThatTheFakeRefuses000"
    sink = StripeSink(key, state=tmp_path / "s.sqlite", http_client=FakeStripe())
    with pytest.raises(StripeSyncError) as info:
        sink.push_many([usd_invoice])
    sink.state.close()
    assert "Stripe 401" in str(info.value)
    assert key[len("rk_test_") :] not in str(info.value)


def test_live_key_needs_live(tmp_path: Path) -> None:
    with pytest.raises(StripeSyncError, match="live Stripe key without an explicit --live"):
        StripeSink(LIVE_KEY, state=tmp_path / "s.sqlite")
    sink = StripeSink(LIVE_KEY, state=tmp_path / "s.sqlite", live=True, http_client=FakeStripe())
    assert sink.scope == "live:platform"  # live mappings never mix with test ones
    sink.state.close()


def test_key_from_environment_or_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    with pytest.raises(StripeSyncError, match="set STRIPE_API_KEY"):
        StripeSink(state=tmp_path / "s.sqlite")
    monkeypatch.setenv("STRIPE_API_KEY", "pk_test_publishable")
    with pytest.raises(
        StripeSyncError, match=r"expected one starting with sk_ or rk_ \(value not shown\)"
    ):
        StripeSink(state=tmp_path / "s.sqlite")
    monkeypatch.setenv("STRIPE_API_KEY", TEST_KEY)
    sink = StripeSink(state=tmp_path / "s.sqlite", http_client=FakeStripe())
    assert sink.scope == "test:platform"
    sink.state.close()
