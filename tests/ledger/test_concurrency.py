"""Holds under real concurrency and crashes, on both backends.

- 8 processes issue 1,000 authorize/settle pairs in total against customers with hard limits
  (a spend cap, prepaid credits with overage blocked, a spending limit): no limit is overshot
  by a cent, every settled request is recorded once, no hold is left open.
- A writer process is killed with SIGKILL at random moments, 50 times: whatever a call had
  returned before the kill is in the ledger after it, nothing is recorded twice, batches are
  all-or-nothing, and the dead writer's holds expire.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from billing.ledger import Denial, Ledger
from billing.usage.events import UsageEvent
from tests.ledger.helpers import NOW, open_ledger

_FORK = mp.get_context("fork")
WORKERS = 8
PAIRS = 1_000
# (customer, plan's limit): capped (cap 5.00), prepaid (500 credits = 5.00, blocked), and
# open-co with a spending limit of 3.00 set by the test.
CUSTOMERS = ("cap-co", "pre-co", "open-co")


def _worker(url: str, worker: int, pairs: int, out: Any) -> None:
    rng = random.Random(worker)
    ledger = Ledger.open(url, clock=_clock())
    granted = denied = settled = released = 0
    settled_ids = []
    for n in range(pairs):
        customer = CUSTOMERS[n % len(CUSTOMERS)]
        request = f"w{worker}-{n}"
        # worst case: 100,000 prompt tokens (as cache writes: 0.20) + 10,000 output (0.10)
        hold = ledger.authorize(customer, request, "m-1", 100_000, 10_000)
        if isinstance(hold, Denial):
            denied += 1
            continue
        granted += 1
        if rng.random() < 0.1:  # the model call failed: release
            ledger.release(hold.hold_id)
            released += 1
            continue
        # Mostly the worst case itself, so a hold granted beyond the limit would show as
        # settled spend beyond it; sometimes less.
        usage = ({"cache_write_tokens": 100_000, "output_tokens": 10_000}
                 if rng.random() < 0.7 else
                 {"input_tokens": rng.randrange(0, 60_000),
                  "cache_write_tokens": rng.randrange(0, 40_000),
                  "output_tokens": rng.randrange(0, 10_001)})
        ledger.settle(hold.hold_id, usage)
        settled += 1
        settled_ids.append(request)
    ledger.close_connection()
    out.put((granted, denied, settled, released, settled_ids))


def _clock() -> Any:
    from billing.rating.meter import FixedClock

    return FixedClock(NOW)


def test_concurrent_holds_never_overshoot_a_hard_limit(ledger_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Each settle adds one recent sum on SQLite: fold every 5 (the workers are forked with
    # it), so holds are decided while other processes fold.
    from billing.ledger import writes

    monkeypatch.setattr(writes, "FOLD_ROWS", 5)
    ledger = open_ledger(ledger_url)
    ledger.set_limit("open-co", Decimal("3.00"))
    queue = _FORK.Queue()
    procs = [_FORK.Process(target=_worker, args=(ledger_url, w, PAIRS // WORKERS, queue))
             for w in range(WORKERS)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    granted = sum(r[0] for r in results)
    denied = sum(r[1] for r in results)
    settled_ids = [i for r in results for i in r[4]]
    assert granted + denied == PAIRS
    assert denied > 0 and len(settled_ids) > 20  # the limits were really contended
    # Overshoot exactly 0 on every limit:
    cap = ledger.bill_to_date("cap-co")
    assert not [ln for ln in cap.lines if ln.kind == "cap_discount"]  # never above the cap
    assert sum(ln.rounded_amount for ln in cap.lines) <= Decimal("5.00")
    prepaid = ledger.bill_to_date("pre-co")
    assert prepaid.refused == ()  # no usage was beyond the credits
    assert ledger.bill_to_date("open-co").total <= Decimal("3.00")
    # Every settled request recorded once (its id is the event id), nothing else recorded.
    usage_events = sum(c.events for customer in CUSTOMERS
                       for c in ledger.usage(customer).daily.values())
    assert usage_events == len(settled_ids) == len(set(settled_ids))
    with ledger._db.read() as cur:
        cur.execute("SELECT COUNT(*) FROM events")
        assert cur.fetchone()[0] == len(settled_ids)
        cur.execute("SELECT state, COUNT(*) FROM holds GROUP BY state ORDER BY state")
        states = dict(cur.fetchall())
    # Holds sum to zero: none is open, each granted one is settled or released.
    assert "open" not in states
    assert states.get("settled", 0) == len(settled_ids)
    assert states.get("settled", 0) + states.get("released", 0) == granted
    assert ledger.holds() == []
    ledger.close_connection()


# --- crash ---------------------------------------------------------------------------------------

ROUNDS = 50
TTL = timedelta(seconds=30)


def _writer(url: str, round_: int, conn: Any) -> None:
    ledger = Ledger.open(url, clock=_clock(), hold_ttl=TTL)
    rng = random.Random(round_)
    # Re-send the previous round's last batch: new or duplicate, never a conflict.
    previous = _batch(round_ - 1, 9) if round_ else []
    done = ledger.record(previous)
    assert done.conflicts == 0
    conn.send(("ready", None))  # opened (the kill's random moment is counted from here)
    for n in range(10):
        batch = _batch(round_, n)
        ledger.record(batch)
        conn.send(("record", [e.id for e in batch]))
        hold = ledger.authorize("open-co", f"h{round_}-{n}", "m-1", 1_000, 1_000)
        conn.send(("hold", hold.hold_id))
        if rng.random() < 0.7:
            ledger.settle(hold.hold_id, {"input_tokens": 10 + n, "output_tokens": 5})
            conn.send(("settle", hold.hold_id))
    conn.send(("end", None))
    time.sleep(60)  # wait to be killed


def _batch(round_: int, n: int) -> list[UsageEvent]:
    at = NOW - timedelta(hours=1)
    return [UsageEvent(f"r{round_}-{n}-{i}", "open-co", at + timedelta(seconds=i), "m-1",
                       input_tokens=100 + i, output_tokens=3) for i in range(50)]


@pytest.mark.parametrize("seed", [20261120])
def test_a_writer_killed_at_random_moments_loses_nothing_it_returned(
        ledger_url: str, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # SQLite folds its recent sums into the daily rows every FOLD_ROWS rows: every few
    # batches here (the writers are forked with it), so kills also land in and around folds.
    from billing.ledger import writes

    monkeypatch.setattr(writes, "FOLD_ROWS", 7)
    ledger = open_ledger(ledger_url)
    rng = random.Random(seed)
    recorded: set[str] = set()
    holds: set[str] = set()
    settled: set[str] = set()
    started = time.monotonic()
    for round_ in range(ROUNDS):
        parent, child = _FORK.Pipe()
        proc = _FORK.Process(target=_writer, args=(ledger_url, round_, child))
        proc.start()
        # Opening a ledger in a new process (its plans, its raters) takes about 0.3 s, more
        # on a loaded machine: the random moment is counted from the writer's first batch.
        assert parent.poll(60) and parent.recv()[0] == "ready"
        deadline = time.monotonic() + rng.uniform(0.02, 0.4)
        while time.monotonic() < deadline:
            if parent.poll(max(deadline - time.monotonic(), 0)):
                kind, value = parent.recv()
                if kind == "record":
                    recorded.update(value)
                elif kind == "hold":
                    holds.add(value)
                elif kind == "settle":
                    settled.add(value)
        os.kill(proc.pid, signal.SIGKILL)  # type: ignore[arg-type]
        proc.join()
        while parent.poll():  # what it had said before it died
            kind, value = parent.recv()
            if kind == "record":
                recorded.update(value)
            elif kind == "hold":
                holds.add(value)
            elif kind == "settle":
                settled.add(value)
    elapsed = time.monotonic() - started
    with ledger._db.read() as cur:
        cur.execute("SELECT id, input FROM events")
        stored = {row[0]: int(row[1]) for row in cur.fetchall()}
        cur.execute("SELECT request_id, state FROM holds")
        hold_states = dict(cur.fetchall())
    assert recorded and settled  # the writer did get work done before the kills
    assert recorded <= stored.keys()  # every record that returned is there
    assert all(hold_states[h] == "settled" and h in stored for h in settled)
    assert holds <= hold_states.keys()
    # Nothing twice, batches whole: the aggregate rows equal the events they were made from.
    usage = ledger.usage("open-co")
    assert sum(c.events for c in usage.daily.values()) == len(stored)
    assert sum(c.input for c in usage.daily.values()) == sum(stored.values())
    batches: dict[str, int] = {}
    for event_id in stored:
        if event_id.startswith("r"):
            key = event_id.rsplit("-", 1)[0]
            batches[key] = batches.get(key, 0) + 1
    assert set(batches.values()) == {50}
    # The dead writers' open holds expire after the TTL and stop counting.
    open_now = [h for h, s in hold_states.items() if s == "open"]
    assert len(ledger.holds("open-co")) == len(open_now)
    assert ledger.holds("open-co", at=NOW + TTL) == []
    assert ledger.expire_holds(NOW + TTL) == len(open_now)
    assert elapsed < 60
    ledger.close_connection()
