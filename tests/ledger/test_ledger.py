"""The ledger's API on both backends: schema versions, durable idempotent recording, holds,
alerts, secrets kept out of messages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.errors import LedgerError
from billing.ledger import SCHEMA_VERSION, Alert, Denial, Hold, Ledger
from billing.ledger.db import open_database
from billing.ledger.schema import migrate
from billing.rating.meter import FixedClock
from billing.usage.events import UsageEvent
from tests.ledger.helpers import NOW, open_ledger
from tests.ledger.pgserver import PASSWORD

AT = datetime(2026, 11, 10, 9, tzinfo=UTC)


def _event(i: int, customer: str = "open-co", **counts: int) -> UsageEvent:
    return UsageEvent(f"e{i}", customer, AT + timedelta(minutes=i), "m-1", **counts)


# --- schema ------------------------------------------------------------------------------------


def test_a_new_ledger_has_the_current_schema_and_an_older_one_is_upgraded(ledger_url: str
                                                                          ) -> None:
    db = open_database(ledger_url)
    assert migrate(db, upto=1) == 0  # a ledger as version 1 of the schema made it
    db.close()
    ledger = open_ledger(ledger_url)  # opening it upgrades to the current version
    with ledger._db.read() as cur:
        cur.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        assert int(cur.fetchone()[0]) == SCHEMA_VERSION == 4
    ledger.set_alerts([50], customer="open-co")  # a table version 2 added
    ledger.close_connection()


def test_a_version_2_ledger_keeps_its_usage_rows_when_upgraded(ledger_url: str) -> None:
    # Version 3 splits the aggregate rows by writer slot: an older ledger's rows move over.
    db = open_database(ledger_url)
    migrate(db, upto=2)
    day = (AT.date() - date(1970, 1, 1)).days
    with db.write() as cur:
        cur.execute("INSERT INTO usage_daily (customer_id, model, band, day, input, "
                    "cached_input, cache_write, output, requests, events) VALUES "
                    "('open-co', 'm-1', 0, ?, 1000, 0, 0, 10, 1, 1)", (day,))
    db.close()
    ledger = open_ledger(ledger_url)
    ledger.record([_event(1, input_tokens=500)])  # the same day: 1,000 + 500 = 1,500
    counts = ledger.usage("open-co").daily[("m-1", 0, day)]
    assert (counts.input, counts.output, counts.events) == (1_500, 10, 2)
    ledger.close_connection()


def test_a_ledger_from_a_newer_version_is_refused_clearly(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    with ledger._db.write() as cur:
        cur.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    ledger.close_connection()
    with pytest.raises(LedgerError, match=r"schema version 99, newer than this library's \(4\)"):
        Ledger.open(ledger_url)


def test_passwords_never_appear_in_reprs_or_errors(pg_server: object) -> None:
    ledger = open_ledger(pg_server.new_schema("secrets"))  # type: ignore[attr-defined]
    assert PASSWORD not in repr(ledger) and PASSWORD not in repr(ledger._db)
    ledger.close_connection()
    port = pg_server.port  # type: ignore[attr-defined]
    wrong = f"postgresql://postgres:not-the-{PASSWORD}@127.0.0.1:{port}/postgres"
    with pytest.raises(LedgerError) as caught:
        Ledger.open(wrong)
    assert "not-the" not in str(caught.value) and PASSWORD not in str(caught.value)
    assert "***" in str(caught.value)
    with pytest.raises(LedgerError) as caught:
        Ledger.open(f"mysql://root:{PASSWORD}@host/db")
    assert PASSWORD not in str(caught.value)


# --- record ------------------------------------------------------------------------------------


def test_record_counts_new_duplicates_and_conflicts_across_restarts(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    first = ledger.record([_event(1, input_tokens=10), _event(2, input_tokens=20),
                           _event(1, input_tokens=10), _event(2, input_tokens=21)])
    # e1, e2 new; the second e1 is an exact copy; the second e2 differs.
    assert (first.new, first.duplicates, first.conflicts) == (2, 1, 1)
    assert first.conflict_ids == ("e2",)
    ledger.close_connection()
    # Another process (a new connection) after a restart: the ids are remembered.
    again = open_ledger(ledger_url)
    second = again.record([_event(1, input_tokens=10), _event(2, input_tokens=99),
                           _event(3, input_tokens=30)])
    assert (second.new, second.duplicates, second.conflicts) == (1, 1, 1)
    usage = again.usage("open-co")
    # 10 + 20 + 30 input tokens, 3 events, nothing counted twice
    assert sum(c.input for c in usage.daily.values()) == 60
    assert sum(c.events for c in usage.daily.values()) == 3
    again.close_connection()


def test_sessions_and_properties_are_kept_whatever_the_batch_carries(ledger_url: str) -> None:
    # SQLite stages a batch many rows per statement and leaves out the session and
    # properties columns when no row of the batch has one: what is kept must still be each
    # event's own. 250 events (three statements' worth), a session on every 7th, properties
    # on every 11th; a batch with neither; then the same events again.
    def event(i: int, session: bool = True) -> UsageEvent:
        return UsageEvent(f"s{i}", "open-co", AT + timedelta(seconds=i), "m-1", input_tokens=i,
                          session_id=f"chat-{i}" if session and i % 7 == 0 else None,
                          properties={"team": f"t{i}"} if session and i % 11 == 0 else {})

    ledger = open_ledger(ledger_url)
    assert ledger.record([event(i) for i in range(250)]).new == 250
    assert ledger.record([event(i, session=False) for i in range(250, 300)]).new == 50
    ledger.close_connection()
    again = open_ledger(ledger_url)
    # Identical copies are duplicates: every kept session and property matches its event.
    same = again.record([event(i) for i in range(250)]
                        + [event(i, session=False) for i in range(250, 300)])
    assert (same.new, same.duplicates, same.conflicts) == (0, 300, 0)
    # A copy without its session (s7, s14) or properties (s11) is a conflict, not a duplicate.
    changed = again.record([event(7, session=False), event(11, session=False),
                            event(14, session=False), event(15, session=False)])
    assert (changed.duplicates, changed.conflicts) == (1, 3)
    assert sorted(changed.conflict_ids) == ["s11", "s14", "s7"]
    # input tokens 0 + 1 + ... + 299 = 299 x 300 / 2 = 44,850, each event once
    usage = again.usage("open-co")
    assert sum(c.input for c in usage.daily.values()) == 44_850
    assert sum(c.events for c in usage.daily.values()) == 300
    again.close_connection()


def test_text_outside_ascii_is_kept_exactly(ledger_url: str) -> None:
    # PostgreSQL receives a batch as one JSON document, SQLite as bound values: either way an
    # id, customer, session or property in any script is kept as given (a re-sent copy is a
    # duplicate, not a conflict) and its usage is found under the same customer.
    event = UsageEvent("évt-€-1", "café-Zürich", AT, "m-1", input_tokens=7,
                       session_id="chat-日本", properties={"équipe": "naïve \"quoted\" 🚀"})
    ledger = open_ledger(ledger_url)
    assert ledger.record(event).new == 1
    again = ledger.record([event])
    assert (again.new, again.duplicates, again.conflicts) == (0, 1, 0)
    assert ledger.usage("café-Zürich").by_model()["m-1"].input == 7
    ledger.close_connection()


def test_text_the_ledger_cannot_store_is_refused_clearly_on_both_backends(ledger_url: str) -> None:
    # PostgreSQL cannot store NUL in text, and SQLite's JSON functions cut text at it (an id
    # "a\x00b" read back as "a" once counted a re-sent event twice): the ledger refuses it,
    # naming the event and the field, and records nothing of that batch.
    from billing.errors import UsageError

    ledger = open_ledger(ledger_url)
    bad = UsageEvent("a\x00b", "open-co", AT, "m-1", input_tokens=10)
    with pytest.raises(UsageError, match=r"event 'a\\x00b': id holds a NUL character"):
        ledger.record([_event(1, input_tokens=1), bad])
    bad_customer = UsageEvent("c1", "open\x00co", AT, "m-1", input_tokens=10)
    with pytest.raises(UsageError, match="customer_id holds a NUL character"):
        ledger.record(bad_customer)
    assert ledger.customers() == []
    # A lone surrogate has no UTF-8 form: refused as clearly, not a driver's traceback.
    with pytest.raises(UsageError, match=r"cannot store as UTF-8: '\\ud800'"):
        ledger.record(UsageEvent("half-\ud800", "open-co", AT, "m-1", input_tokens=1))
    ledger.close_connection()


def test_two_ledgers_on_one_database_share_one_dedupe_memory(ledger_url: str) -> None:
    a, b = open_ledger(ledger_url), open_ledger(ledger_url)
    assert a.record(_event(1, output_tokens=5)).new == 1
    assert b.record(_event(1, output_tokens=5)).duplicates == 1
    # one event of 5 output tokens at 10.00 per 1M = 0.00005 -> 0.00
    assert b.usage("open-co").by_model()["m-1"].output == 5
    a.close_connection()
    b.close_connection()


# --- holds -------------------------------------------------------------------------------------

# Test plans price "*" at 1.00 (input), 0.10 (cached), 2.00 (cache write), 10.00 (output) USD per
# 1M tokens. A request of 100,000 prompt and 10,000 output tokens at worst (all cache writes):
# 0.1 x 2.00 + 0.01 x 10.00 = 0.20 + 0.10 = 0.30 USD.


def test_holds_never_cross_the_cap_and_say_what_is_available(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    holds = [ledger.authorize("cap-co", f"r{i}", "m-1", 100_000, 10_000) for i in range(16)]
    assert all(isinstance(h, Hold) and h.amount == Decimal("0.30") for h in holds)
    # 16 x 0.30 = 4.80 held; a 17th would make 5.10 > the 5.00 cap: 0.20 left.
    denied = ledger.authorize("cap-co", "r16", "m-1", 100_000, 10_000)
    assert isinstance(denied, Denial) and not denied
    assert (denied.reason, denied.amount, denied.available) == ("cap", Decimal("0.30"),
                                                                 Decimal("0.20"))
    # A smaller request fits: 100,000 prompt tokens as cache writes = 0.20 <= 0.20.
    assert ledger.authorize("cap-co", "small", "m-1", 100_000, 0)
    # Settling to less frees the rest: r0 really used 10,000 input and 1,000 output tokens,
    # 0.01 + 0.01 = 0.02 USD.
    settled = ledger.settle("r0", {"input_tokens": 10_000, "output_tokens": 1_000})
    assert settled.amount == Decimal("0.02") and not settled.duplicate
    # Held now: 15 x 0.30 + 0.20 = 4.70, spent 0.02: 5.00 - 4.72 = 0.28 available.
    assert ledger.balance("cap-co").available == Decimal("0.28")
    # 100,000 cache writes and 8,000 output: 0.20 + 0.08 = 0.28, exactly what is left.
    assert ledger.authorize("cap-co", "r17", "m-1", 100_000, 8_000)
    assert ledger.balance("cap-co").available == Decimal("0.00")
    ledger.close_connection()


def test_prepaid_credits_with_overage_blocked_deny_beyond_the_credits(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    # 500 credits x 0.01 = 5.00 USD: the same 16 requests of 0.30 fit, the 17th does not.
    for i in range(16):
        assert ledger.authorize("pre-co", f"p{i}", "m-1", 100_000, 10_000)
    denied = ledger.authorize("pre-co", "p16", "m-1", 100_000, 10_000)
    assert isinstance(denied, Denial)
    assert (denied.reason, denied.available) == ("credits", Decimal("0.20"))
    ledger.close_connection()


def test_a_spending_limit_on_a_customer_is_a_hard_limit_too(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    ledger.set_limit("open-co", Decimal("0.50"))
    assert ledger.authorize("open-co", "a", "m-1", 100_000, 10_000)  # 0.30
    denied = ledger.authorize("open-co", "b", "m-1", 100_000, 10_000)  # 0.60 > 0.50
    assert isinstance(denied, Denial) and (denied.reason, denied.available) == (
        "limit", Decimal("0.20"))
    ledger.close_connection()


def test_authorize_settle_and_release_are_idempotent_by_request_id(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    hold = ledger.authorize("open-co", "req", "m-1", 1_000, 100)
    assert ledger.authorize("open-co", "req", "m-1", 1_000, 100) == hold
    first = ledger.settle("req", {"input_tokens": 800, "output_tokens": 50})
    again = ledger.settle("req", {"input_tokens": 800, "output_tokens": 50})
    assert again.duplicate and again.amount == first.amount
    with pytest.raises(LedgerError, match="already settled with other usage"):
        ledger.settle("req", {"input_tokens": 801})
    # recorded once: 800 input tokens, one event
    assert ledger.usage("open-co").by_model()["m-1"].input == 800
    assert ledger.authorize("open-co", "req", "m-1", 1_000, 100).state == "settled"
    other = ledger.authorize("open-co", "req2", "m-1", 1_000, 100)
    assert ledger.release(other.hold_id).state == "released"
    assert ledger.release(other.hold_id).state == "released"
    with pytest.raises(LedgerError, match="was released"):
        ledger.settle("req2", {"input_tokens": 1})
    with pytest.raises(LedgerError, match="exceeds what was authorized"):
        ledger.settle(ledger.authorize("open-co", "req3", "m-1", 10, 10).hold_id,
                      {"output_tokens": 11})
    ledger.close_connection()


def test_holds_expire_after_their_ttl_and_free_the_room(ledger_url: str) -> None:
    clock = FixedClock(NOW)
    ledger = open_ledger(ledger_url, clock=clock, hold_ttls={"capped": timedelta(minutes=2)})
    for i in range(16):
        ledger.authorize("cap-co", f"x{i}", "m-1", 100_000, 10_000)
    assert not ledger.authorize("cap-co", "late", "m-1", 100_000, 10_000)
    clock.at = NOW + timedelta(minutes=1)
    assert not ledger.authorize("cap-co", "late2", "m-1", 100_000, 10_000)
    clock.at = NOW + timedelta(minutes=2)  # the plan's TTL: every hold has expired
    assert ledger.holds("cap-co") == []
    assert ledger.hold("x0").state == "expired"  # type: ignore[union-attr]
    assert ledger.authorize("cap-co", "late3", "m-1", 100_000, 10_000)
    # A per-call TTL wins over the plan's.
    hold = ledger.authorize("open-co", "t", "m-1", 1, 1, ttl=timedelta(seconds=5))
    assert hold.expires_at - hold.created_at == timedelta(seconds=5)  # type: ignore[union-attr]
    # An expired hold settles only if its usage still fits: here the cap has room.
    assert ledger.settle("x1", {"input_tokens": 1_000}).amount == Decimal("0.00")
    ledger.close_connection()


def test_close_reads_the_events_through_the_one_scan_not_the_rows_kept_for_holds(
        ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    ledger.record([_event(i, input_tokens=100_000, output_tokens=10_000) for i in range(3)])
    assert ledger.scan() == ledger.aggregates()  # the kept rows are the scan's rows
    with ledger._db.write() as cur:  # lose the kept rows: close must not read them
        cur.execute("DELETE FROM usage_daily")
        cur.execute("DELETE FROM usage_recent")
    invoices = {inv.customer_id: inv for inv in ledger.close("2026-11").invoices}
    # open-co: 3 x (100,000 input x 1.00 + 10,000 output x 10.00) / 1M = 3 x 0.20 = 0.60 USD
    assert invoices["open-co"].total == Decimal("0.60")
    ledger.close_connection()


def test_a_hold_the_ledger_does_not_know_settles_like_an_expired_one(ledger_url: str) -> None:
    # On PostgreSQL a hold is committed without waiting for the disk, so a server crash can
    # lose the last ones (docs/ledger.md). Its settle, given the customer and model, records
    # the usage only if it still fits, and only once.
    ledger = open_ledger(ledger_url)
    with pytest.raises(LedgerError, match=r"no hold 'lost' \(.*customer_id and model"):
        ledger.settle("lost", {"input_tokens": 10_000})
    # 16 holds of 0.30 = 4.80 of the 5.00 cap are held: 0.20 is left.
    for i in range(16):
        assert ledger.authorize("cap-co", f"h{i}", "m-1", 100_000, 10_000)
    # 100,000 input + 20,000 output = 0.10 + 0.20 = 0.30 > 0.20: refused, nothing recorded.
    too_much = {"input_tokens": 100_000, "output_tokens": 20_000}
    with pytest.raises(LedgerError, match=r"not in the ledger .* cap: nothing was recorded"):
        ledger.settle("lost", too_much, customer_id="cap-co", model="m-1")
    assert ledger.usage("cap-co").daily == {}
    # 100,000 input + 10,000 output = 0.10 + 0.10 = 0.20 <= 0.20: recorded, once.
    fits = {"input_tokens": 100_000, "output_tokens": 10_000}
    first = ledger.settle("lost", fits, customer_id="cap-co", model="m-1")
    assert (first.amount, first.currency, first.duplicate) == (Decimal("0.20"), "USD", False)
    again = ledger.settle("lost", fits, customer_id="cap-co", model="m-1")
    assert (again.amount, again.duplicate) == (Decimal("0.20"), True)
    assert ledger.settle("lost", fits).duplicate  # now known: no need to say whose it is
    counts = ledger.usage("cap-co").by_model()["m-1"]
    assert (counts.input, counts.output, counts.events) == (100_000, 10_000, 1)
    # 5.00 - 4.80 held - 0.20 spent = 0.00
    assert ledger.balance("cap-co").available == Decimal("0.00")
    with pytest.raises(LedgerError, match="belongs to 'cap-co', not 'open-co'"):
        ledger.settle("h0", fits, customer_id="open-co", model="m-1")
    ledger.close_connection()


def test_releasing_a_hold_the_ledger_does_not_know_is_harmless(ledger_url: str) -> None:
    # A hold lost with the database server's last commits (docs/ledger.md, "Holds and the
    # disk") is released by a worker whose model call failed: it reserved nothing, so the
    # release frees nothing and must not fail, as for an expired hold.
    ledger = open_ledger(ledger_url)
    assert ledger.balance("cap-co").available == Decimal("5.00")  # the cap, nothing used
    released = ledger.release("lost")
    assert (released.hold_id, released.state, released.amount) == ("lost", "released",
                                                                   Decimal("0"))
    assert ledger.release("lost").state == "released"  # idempotent
    # Given the customer and model, the request id stays released like any released hold:
    # a retried authorize returns it, a settle is refused, nothing is recorded.
    hold = ledger.release("lost2", customer_id="cap-co", model="m-1")
    assert (hold.customer_id, hold.model, hold.state) == ("cap-co", "m-1", "released")
    assert ledger.authorize("cap-co", "lost2", "m-1", 1_000, 100).state == "released"
    with pytest.raises(LedgerError, match="was released"):
        ledger.settle("lost2", {"input_tokens": 10}, customer_id="cap-co", model="m-1")
    assert ledger.usage("cap-co").daily == {}
    assert ledger.balance("cap-co").available == Decimal("5.00")  # nothing held or spent
    ledger.close_connection()


# --- alerts ------------------------------------------------------------------------------------


def test_each_threshold_crossing_is_written_once_per_period(ledger_url: str) -> None:
    seen: list[Alert] = []
    ledger = open_ledger(ledger_url, on_alert=seen.append)
    ledger.set_alerts([50, 80, 100], plan="capped")
    # 1M output tokens = 10.00 USD: one event of 250,000 output = 2.50 = 50% of the 5.00 cap.
    ledger.record(_event(1, "cap-co", output_tokens=250_000))
    assert [(a.threshold, a.basis, a.used) for a in ledger.alerts()] == [
        (Decimal(50), "cap", Decimal("2.50"))]
    ledger.record(_event(2, "cap-co", output_tokens=10_000))  # 2.60: nothing new
    ledger.record(_event(1, "cap-co", output_tokens=250_000))  # a duplicate: nothing new
    assert len(ledger.alerts()) == 1
    hold = ledger.authorize("cap-co", "h", "m-1", 0, 200_000)  # 2.00 held: 4.60 < 5.00
    ledger.settle(hold.hold_id, {"output_tokens": 150_000})  # 2.60 + 1.50 = 4.10 = 82%
    alerts = ledger.alerts()
    assert [a.threshold for a in alerts] == [Decimal(50), Decimal(80)]
    assert [a.threshold for a in seen] == [Decimal(50), Decimal(80)]
    assert ledger.alerts(since=alerts[0].seq) == alerts[1:]
    # Another process sees the same outbox and writes nothing twice.
    other = open_ledger(ledger_url)
    other.record(_event(3, "cap-co", output_tokens=1_000))
    assert len(other.alerts()) == 2
    other.close_connection()
    ledger.close_connection()


def test_sqlite_url_options_are_checked(tmp_path: object) -> None:
    path = f"{tmp_path}/full.db"
    ledger = Ledger.open(f"sqlite:///{path}?synchronous=full")
    with ledger._db.read() as cur:
        cur.execute("PRAGMA synchronous")
        assert cur.fetchone()[0] == 2  # FULL
    ledger.close_connection()
    with pytest.raises(LedgerError, match=r"unknown option\(s\) journal"):
        Ledger.open(f"sqlite:///{path}?journal=off")
    with pytest.raises(LedgerError, match="synchronous must be normal, full or extra"):
        Ledger.open(f"sqlite:///{path}?synchronous=off")


def test_the_cli_says_what_is_wrong_in_one_line_without_the_password(
        capsys: pytest.CaptureFixture[str]) -> None:
    from billing.cli import main

    code = main(["ledger", "balance", f"postgresql://u:{PASSWORD}@127.0.0.1:1/db", "acme"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: cannot open ledger postgresql://u:***@127.0.0.1:1/db")
    assert PASSWORD not in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_record_batch_of_columns_counts_and_sums_as_record_does(ledger_url: str) -> None:
    import pyarrow as pa

    ledger = open_ledger(ledger_url)
    events = [_event(i, "open-co" if i % 2 else "cap-co", input_tokens=i, output_tokens=2 * i)
              for i in range(1, 41)]
    ledger.record(events[:10])  # e1..e10 first, one by one in a batch of objects

    def table(batch: list[UsageEvent]) -> pa.Table:
        return pa.table({
            "id": [e.id for e in batch], "customer_id": [e.customer_id for e in batch],
            "timestamp": pa.array([e.timestamp for e in batch], pa.timestamp("us", "UTC")),
            "model": [e.model for e in batch],
            "input_tokens": [e.input_tokens for e in batch],
            "output_tokens": [e.output_tokens for e in batch]})

    # e5..e40 as columns: e5..e10 are duplicates, e11..e40 new; e7 with other tokens conflicts.
    changed = [UsageEvent(e.id, e.customer_id, e.timestamp, e.model, input_tokens=999)
               if e.id == "e7" else e for e in events[4:]]
    done = ledger.record_batch(table(changed))
    assert (done.new, done.duplicates, done.conflicts, done.conflict_ids) == (30, 5, 1, ("e7",))
    # An id twice within one batch: the first copy wins, as in record().
    again = ledger.record_batch(table([_event(50, input_tokens=1), _event(50, input_tokens=2)]))
    assert (again.new, again.conflicts) == (1, 1)
    usage = [ledger.usage(c) for c in ("open-co", "cap-co")]
    # input tokens: 1 + 2 + ... + 40 = 820, plus e50's 1 = 821; events 40 + 1 = 41
    assert sum(c.input for u in usage for c in u.daily.values()) == 821
    assert sum(c.events for u in usage for c in u.daily.values()) == 41
    ledger.close_connection()


def test_recent_sums_folded_into_the_daily_rows_read_the_same_before_and_after(
        ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # SQLite appends each batch's sums and folds them into the daily rows every FOLD_ROWS
    # rows (billing/ledger/writes.py); every reader adds the rows not folded yet.
    from billing.ledger import writes

    monkeypatch.setattr(writes, "FOLD_ROWS", 5)
    ledger = open_ledger(ledger_url)
    day = (AT.date() - date(1970, 1, 1)).days
    seen = []
    for batch in range(4):  # 3 events of open-co on one key per batch, 1 of cap-co
        ledger.record([_event(10 * batch + i, input_tokens=100, output_tokens=1)
                       for i in range(3)] + [_event(10 * batch + 9, "cap-co", input_tokens=7)])
        with ledger._db.read() as cur:
            cur.execute("SELECT count(*) FROM usage_recent")
            seen.append(cur.fetchone()[0])
        counts = ledger.usage("open-co").daily[("m-1", 0, day)]
        # (batch + 1) x 3 events of 100 input and 1 output tokens
        assert (counts.input, counts.output, counts.events) == (
            300 * (batch + 1), 3 * (batch + 1), 3 * (batch + 1))
        assert ledger.aggregates() == ledger.scan()
        assert ledger.customers() == ["cap-co", "open-co"]
    if ledger.backend == "sqlite":
        # 2 rows a batch (one key per customer): 2, 4, then 6 >= 5 folds to 0, then 2
        assert seen == [2, 4, 0, 2]
    # cap-co: 4 events x 7 input tokens x 1.00 / 1M = 0.000028 USD, billed 0.00 of its fee
    assert ledger.usage("cap-co").by_model()["m-1"].input == 28
    ledger.close_connection()


def test_a_batch_that_would_pass_64_bit_sums_is_refused_even_with_sums_not_folded(
        ledger_url: str) -> None:
    # The fold must never meet a sum past 2**63 - 1 (it would refuse every later batch): a
    # batch that could take a total there is summed straight into the daily rows.
    from billing.errors import UsageError

    ledger = open_ledger(ledger_url)
    ledger.record([_event(1, input_tokens=5)])  # kept as a recent sum on SQLite
    ledger.record([_event(2, input_tokens=2**63 - 1 - 5)])  # 5 + (2**63 - 6) = 2**63 - 1
    with pytest.raises(UsageError, match=r"exceed 2\*\*63 - 1"):
        ledger.record([_event(3, input_tokens=1)])  # 2**63 - 1 + 1 passes 64 bits
    ledger.record([_event(4, "cap-co", input_tokens=10)])  # other keys are still recorded
    day = (AT.date() - date(1970, 1, 1)).days
    assert ledger.usage("open-co").daily[("m-1", 0, day)].input == 2**63 - 1
    assert ledger.usage("cap-co").daily[("m-1", 0, day)].input == 10
    with ledger._db.read() as cur:
        cur.execute("SELECT count(*) FROM events WHERE id = 'e3'")
        assert cur.fetchone()[0] == 0  # the refused batch left nothing
    ledger.close_connection()


def test_one_batch_whose_key_sum_passes_64_bits_is_refused_whole(ledger_url: str) -> None:
    # Two events on one key, 2**62 input tokens each: 2**63 passes 2**63 - 1 by one. The
    # batch is refused (SQLite's staged sums would otherwise have turned to floating point)
    # and leaves nothing; the same events on two different days are two keys, and fit.
    from billing.errors import UsageError

    ledger = open_ledger(ledger_url)
    same_day = [_event(1, input_tokens=2**62), _event(2, input_tokens=2**62)]
    with pytest.raises(UsageError, match=r"exceed 2\*\*63 - 1"):
        ledger.record(same_day)
    assert ledger.customers() == []
    two_days = [UsageEvent(f"d{i}", "open-co", AT + timedelta(days=i), "m-1",
                           input_tokens=2**62) for i in range(2)]
    assert ledger.record(two_days).new == 2
    # 2 x 2**62 = 2**63 input tokens over the two days, each day's key at 2**62
    assert sorted(c.input for c in ledger.usage("open-co").daily.values()) == [2**62, 2**62]
    ledger.close_connection()
