"""The ledger's targets, on SQLite and on a local PostgreSQL:

- record throughput: ``--writers`` processes (default 4) each recording batches of ``--batch``
  events (default 1,000) into one ledger, as lists of ``UsageEvent`` (``record``) and as Arrow
  tables (``record_batch``); batches are built before the clock starts; the figure is all
  events over the wall time from the first batch to the last commit (targets: 100,000
  events/s on SQLite, 50,000 on PostgreSQL). The events' customers are random among
  ``--customers`` and their timestamps random over ``--days`` days (default 19, the figure
  the targets are measured on: a batch's keys then land all over the daily rows; ``--days
  1`` is live traffic, where one customer's events of a day share their daily row);
- authorize latency: ``--customers`` customers (default 10,000) subscribed to the capped test
  plan, each with some usage, then ``--probes`` authorize calls on random customers, each
  followed by a release, one after another (targets: p99 2 ms on SQLite, 5 ms on PostgreSQL).

- the floor: the same writers loading the same batches as plain tuples into the ledger's
  ``events`` table with one commit per batch and nothing else (SQLite: one bare
  ``executemany``; PostgreSQL: one ``COPY``; no dedupe, no aggregate rows): a ledger that
  keeps each event as a row cannot record faster than this on the machine.

PostgreSQL is a throwaway server started for the run (initdb in a temporary directory, fsync
on) unless ``--pg-url`` names one. Prints a table; ``--json`` writes the figures.

    python benchmarks/ledger.py [--backends sqlite postgresql] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from billing.ledger import Ledger  # noqa: E402
from billing.plans import load_catalog  # noqa: E402
from billing.rating.meter import FixedClock  # noqa: E402
from billing.subscriptions import Subscription  # noqa: E402
from billing.usage.events import UsageEvent  # noqa: E402

PLANS = ROOT / "tests" / "ledger" / "plans"
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
_FORK = mp.get_context("fork")
DAYS = 19  # the record batches' timestamps are spread over this many days (--days)


def _events(writer: int, batches: int, size: int, customers: int) -> list[list[UsageEvent]]:
    rng = random.Random(writer)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    out = []
    for b in range(batches):
        out.append([UsageEvent(
            f"w{writer}-{b}-{i}", f"c{rng.randrange(customers):05d}",
            base + timedelta(seconds=rng.randrange(DAYS * 86_400)), rng.choice(("m-1", "m-2")),
            input_tokens=rng.randrange(5_000), cached_input_tokens=rng.randrange(2_000),
            output_tokens=rng.randrange(1_000)) for i in range(size)])
    return out


def _table(batch: list[UsageEvent]) -> Any:
    import pyarrow as pa

    return pa.table({
        "id": [e.id for e in batch], "customer_id": [e.customer_id for e in batch],
        "timestamp": pa.array([e.timestamp for e in batch], pa.timestamp("us", "UTC")),
        "model": [e.model for e in batch], "input_tokens": [e.input_tokens for e in batch],
        "cached_input_tokens": [e.cached_input_tokens for e in batch],
        "output_tokens": [e.output_tokens for e in batch]})


def _reporting(target: Any) -> Any:
    """``target`` run in a writer process: an error is sent back instead of leaving the
    parent waiting for a result that never comes."""
    def run(*args: Any) -> None:
        try:
            target(*args)
        except BaseException as exc:
            args[-1].put(("error", f"{type(exc).__name__}: {exc}", 0))
            raise
    return run


def _create(url: str) -> None:
    Ledger.open(url).close_connection()


def _writer(url: str, writer: int, batches: int, size: int, customers: int, columns: bool,
            start: Any, out: Any) -> None:
    work = _events(writer, batches, size, customers)
    tables = [_table(batch) for batch in work] if columns else []
    ledger = Ledger.open(url, clock=FixedClock(NOW))
    start.wait()
    began = time.perf_counter()
    if columns:
        for table in tables:
            ledger.record_batch(table)
    else:
        for batch in work:
            ledger.record(batch)
    out.put((began, time.perf_counter(), sum(len(b) for b in work)))
    ledger.close_connection()


def _floor_writer(url: str, writer: int, batches: int, size: int, customers: int,
                  columns: bool, start: Any, out: Any) -> None:
    """The floor: the same batches as plain tuples, loaded into the ledger's events table with
    one commit per batch and nothing else (no dedupe, no sums, no lock but the database's
    own): SQLite one bare ``executemany``, PostgreSQL one ``COPY``."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    rows = [[(e.id, e.customer_id, (e.timestamp - epoch) // timedelta(microseconds=1), e.model,
              e.input_tokens, e.cached_input_tokens, e.cache_write_tokens, e.output_tokens,
              e.requests, e.session_id, None) for e in batch]
            for batch in _events(writer, batches, size, customers)]
    insert = ("INSERT INTO events (id, customer_id, ts_us, model, input, cached_input, "
              "cache_write, output, requests, session_id, properties) VALUES "
              "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    if url.startswith("sqlite"):
        import sqlite3

        con = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=60)
        con.execute("PRAGMA synchronous = NORMAL")
        start.wait()
        began = time.perf_counter()
        for batch in rows:
            con.execute("BEGIN IMMEDIATE")
            con.executemany(insert, batch)
            con.execute("COMMIT")
        con.close()
    else:
        import psycopg

        copy = insert.split(" VALUES")[0].replace("INSERT INTO", "COPY") + " FROM STDIN"
        with psycopg.connect(url) as pg:
            start.wait()
            began = time.perf_counter()
            for batch in rows:
                with pg.transaction(), pg.cursor() as cur, cur.copy(copy) as load:
                    for row in batch:
                        load.write_row(row)
    out.put((began, time.perf_counter(), sum(len(b) for b in rows)))


def bench_record(url: str, writers: int, batches: int, size: int, customers: int,
                 columns: bool = False, *, floor: bool = False) -> dict[str, Any]:
    start = _FORK.Event()
    out = _FORK.Queue()
    target = _reporting(_floor_writer if floor else _writer)
    procs = [_FORK.Process(target=target,
                           args=(url, w, batches, size, customers, columns, start, out))
             for w in range(writers)]
    for proc in procs:
        proc.start()
    time.sleep(2 + 0.5 * writers)  # let every writer build its events
    t0 = time.perf_counter()
    start.set()
    results = [out.get(timeout=3_600) for _ in procs]
    t1 = time.perf_counter()
    failed = [r[1] for r in results if r[0] == "error"]
    if failed:
        raise SystemExit(f"a writer failed: {failed[0]}")
    for proc in procs:
        proc.join()
    events = sum(r[2] for r in results)
    elapsed = t1 - t0
    return {"events": events, "seconds": round(elapsed, 3),
            "events_per_s": round(events / elapsed)}


def bench_authorize(url: str, customers: int, probes: int) -> dict[str, Any]:
    ledger = Ledger.open(url, clock=FixedClock(NOW))
    ledger.set_catalog(load_catalog([PLANS]))
    names = [f"a{i:05d}" for i in range(customers)]
    ledger.set_subscriptions(Subscription(customer_id=n, plan="capped", start=date(2026, 11, 1))
                             for n in names)
    rng = random.Random(7)
    usage = [UsageEvent(f"u{i}", names[i % customers],
                        NOW - timedelta(days=rng.randrange(19), seconds=rng.randrange(86_400)),
                        "m-1", input_tokens=rng.randrange(20_000),
                        output_tokens=rng.randrange(2_000)) for i in range(customers * 5)]
    for start in range(0, len(usage), 10_000):
        ledger.record(usage[start:start + 10_000])
    for name in names[:50]:  # warm up: compiled raters, connections, caches
        hold = ledger.authorize(name, f"warm-{name}", "m-1", 10_000, 1_000)
        ledger.release(hold.hold_id)
    timings = []
    for i in range(probes):
        name = rng.choice(names)
        t0 = time.perf_counter()
        hold = ledger.authorize(name, f"p{i}", "m-1", 10_000, 1_000)
        timings.append(time.perf_counter() - t0)
        ledger.release(hold.hold_id)
    ledger.close_connection()
    timings.sort()
    return {"customers": customers, "probes": probes,
            "p50_ms": round(statistics.median(timings) * 1e3, 3),
            "p99_ms": round(timings[int(len(timings) * 0.99) - 1] * 1e3, 3),
            "max_ms": round(timings[-1] * 1e3, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--batches", type=int, default=50, help="Batches per writer.")
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=19,
                        help="Spread the recorded events' timestamps over this many days "
                             "(default 19: random days of the period, each batch's keys "
                             "spread over the daily rows; 1: live traffic, every event of "
                             "the run on one day).")
    parser.add_argument("--probes", type=int, default=2_000)
    parser.add_argument("--measure", nargs="+", default=["record", "authorize"],
                        choices=["record", "authorize"])
    parser.add_argument("--pg-url", help="An existing PostgreSQL database (else one is started).")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    global DAYS
    DAYS = args.days  # the writers are forked: they see it

    figures: dict[str, Any] = {}
    server = None
    folder = Path(tempfile.mkdtemp(prefix="billing-ledger-bench-"))
    try:
        for backend in args.backends:
            def url(name: str, backend: str = backend) -> str:
                nonlocal server
                if backend == "sqlite":
                    return f"sqlite:///{folder / (name + '.db')}"
                if args.pg_url:
                    return str(args.pg_url)
                if server is None:
                    from tests.ledger.pgserver import PgServer

                    server = PgServer(fsync=True).start()
                return server.new_schema(f"{name}_{uuid.uuid4().hex[:8]}")

            figures[backend] = {}
            recording = (("record", False), ("record_batch", True), ("floor", False))
            for name, columns in recording if "record" in args.measure else ():
                record_url = url(name)
                # Create the schema once, in a child: a pool thread left in this process would
                # be forked into the writers in whatever state it was in.
                maker = _FORK.Process(target=_create, args=(record_url,))
                maker.start()
                maker.join()
                rec = figures[backend][name] = bench_record(
                    record_url, args.writers, args.batches, args.batch, args.customers, columns,
                    floor=name == "floor")
                how = ("bare load of tuples into the events table" if name == "floor"
                       else "Arrow tables" if columns else "UsageEvent lists")
                print(f"{backend:10s} {name} ({how}): {rec['events']:,} events by "
                      f"{args.writers} writers in batches of {args.batch:,}: "
                      f"{rec['events_per_s']:,} events/s", flush=True)
            if "authorize" not in args.measure:
                continue
            auth = figures[backend]["authorize"] = bench_authorize(
                url("authorize"), args.customers, args.probes)
            print(f"{backend:10s} authorize ({auth['customers']:,} customers, "
                  f"{auth['probes']:,} calls): p50 {auth['p50_ms']} ms, p99 {auth['p99_ms']} ms",
                  flush=True)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)  # the ledgers' files (hundreds of MB)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
