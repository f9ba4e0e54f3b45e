"""The ledger does not store service tiers yet: an event of another tier than standard is
refused with one line, never recorded (and later priced) at list prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from billing.errors import BillingError, UsageError
from billing.ledger import Ledger
from billing.rating.meter import FixedClock
from billing.usage.events import UsageEvent
from tests.ledger.helpers import NOW, PLANS, open_ledger

AT = datetime(2026, 11, 10, 9, tzinfo=UTC)


def _ledger(tmp_path: Path) -> Ledger:
    return open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", FixedClock(NOW))


def _event(i: int, tier: str = "standard") -> UsageEvent:
    return UsageEvent(f"e{i}", "open-co", AT + timedelta(minutes=i), "m-1", input_tokens=100,
                      output_tokens=10, service_tier=tier)


def test_record_refuses_a_batch_event_and_records_nothing(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    with pytest.raises(UsageError) as refused:
        ledger.record([_event(1), _event(2, "batch")])
    message = str(refused.value)
    assert "\n" not in message
    assert "'e2'" in message and "'batch'" in message and "service tier" in message
    # Nothing of the batch was recorded: recording both standard events now counts 2 new.
    assert ledger.record([_event(1), _event(2)]).new == 2


def test_record_batch_refuses_a_non_standard_service_tier_column(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    columns = {
        "id": ["a", "b"], "customer_id": ["open-co", "open-co"],
        "timestamp": pa.array([AT, AT], pa.timestamp("us", "UTC")),
        "model": ["m-1", "m-1"], "input_tokens": [1, 2], "output_tokens": [1, 2],
        "service_tier": ["standard", "flex"],
    }
    with pytest.raises(UsageError) as refused:
        ledger.record_batch(columns)
    assert "row 1" in str(refused.value) and "'flex'" in str(refused.value)
    # A column of standard tiers only is accepted (the ledger's rows are standard usage).
    columns["service_tier"] = ["standard", "standard"]
    assert ledger.record_batch(columns).new == 2


def test_settle_takes_no_service_tier(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    assert ledger.authorize("open-co", "r1", "m-1", 1_000, 100)
    with pytest.raises(BillingError) as refused:
        ledger.settle("r1", {"input_tokens": 10, "output_tokens": 1, "service_tier": "batch"})
    assert "service_tier" in str(refused.value) and "\n" not in str(refused.value)


def test_an_unknown_tier_is_refused_when_the_event_is_made() -> None:
    with pytest.raises(UsageError, match="unknown service_tier 'turbo'"):
        _event(1, "turbo")


def test_ledger_import_of_a_tiered_file_stops_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from billing.cli import main

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    subs = tmp_path / "subs.yaml"
    subs.write_text("subscriptions:\n  - {customer_id: open-co, plan: open, start: 2026-11-01}\n",
                    encoding="utf-8")
    assert main(["ledger", "init", url, "--plans", str(PLANS), "--subscriptions", str(subs)]) == 0
    events = tmp_path / "events.csv"
    events.write_text("id,customer_id,timestamp,model,input_tokens,output_tokens,service_tier\n"
                      "a,open-co,2026-11-10T09:00:00Z,m-1,100,10,standard\n"
                      "b,open-co,2026-11-10T09:00:00Z,m-1,100,10,flex\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["ledger", "import", url, str(events)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'b' has service tier 'flex'" in err
