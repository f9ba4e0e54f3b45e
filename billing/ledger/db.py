"""The two databases the ledger runs on, behind one small interface.

- SQLite (``sqlite:///path`` or ``sqlite://`` in memory): one connection per ledger object,
  WAL journal and a busy timeout. Every write transaction starts with ``BEGIN IMMEDIATE``:
  SQLite has one writer at a time, so a read-then-write (authorize) runs alone from its first
  read to its commit. Writers of one file queue on an advisory file lock (``flock`` on
  ``<file>-lock``) before ``BEGIN IMMEDIATE``: a waiting writer wakes when the lock is free
  instead of SQLite's busy handler polling with sleeps of up to 100 ms.
  WAL checkpoints (PASSIVE) run after a writer's lock is released, every 50,000 rows a
  connection writes (a page written many times between two is copied once; a checkpoint
  another process is running makes this one return at once). SQLite's automatic one (inside
  the COMMIT that crosses its threshold, which made every other writer wait for the sync)
  stays as a backstop at 20,000 pages. Under sustained
  writing by several processes the WAL file grows to that backstop (about 80 MiB) before it
  restarts from its beginning (measured: 87 MB with 4 writers); it is deleted on last close.
  ``synchronous=NORMAL`` by default: a commit survives the process being killed at any moment
  (it is in the WAL file when the call returns); ``?synchronous=full`` in the URL makes each
  commit wait for the disk, so it also survives a power failure.
- PostgreSQL (``postgresql://...``): psycopg 3 with a connection pool, READ COMMITTED; a write
  that reads and decides (authorize, settle) first locks the customer's row (an upsert that
  holds the row lock to the commit), so decisions about one customer are serialized and
  decisions about different customers run in parallel. ``authorize`` sends the lock and its
  reads in one pipelined round trip and commits without waiting for the disk
  (:meth:`Database.lock_and_read`, docs/ledger.md "Holds and the disk").

SQL is written once with ``?`` placeholders and translated for psycopg. A URL's password never
appears in a repr, a log or an error message (:func:`redact`).
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit, urlunsplit

from billing.errors import LedgerError

__all__ = ["Cursor", "Database", "open_database", "redact"]

_CONFIG_LOCK = 7216355  # advisory lock key of the ledger's configuration
_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
_CHECKPOINT_ROWS = 50_000  # rows a connection writes between its WAL checkpoints
_BACKSTOP_PAGES = 20_000  # SQLite's automatic checkpoint, if those fall behind (80 MiB)
_ARRAY_PARAM = re.compile(r"\?(?=::\w+\[\])")
# PostgreSQL: create the customer's row if needed and lock it to the end of the transaction
# (DO UPDATE takes the row lock), returning its limit and the configuration's version.
_LOCK_CUSTOMER = ("INSERT INTO customers (customer_id) VALUES (?) ON CONFLICT (customer_id) "
                  "DO UPDATE SET customer_id = excluded.customer_id RETURNING spend_limit, "
                  "(SELECT value FROM meta WHERE key = 'config_version')")


def redact(text: str) -> str:
    """``text`` with the password of any URL in it replaced by ``***``."""
    return _PASSWORD.sub(r"\1***@", text)


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


class Database:
    """A connection source: ``write()`` and ``read()`` transactions yielding a cursor that
    takes ``?`` placeholders on both backends."""

    kind: str
    url: str

    def write(self, *, pipelined: bool = False) -> Any:  # pragma: no cover - interface
        """A write transaction yielding a cursor. ``pipelined``: PostgreSQL sends the
        statements (BEGIN and COMMIT included) without waiting for each result, until a result
        is fetched: fewer round trips for a transaction with few reads."""
        raise NotImplementedError

    def read(self) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def session(self) -> Any:
        """Keep this ledger object's connection to the calling thread until the block ends
        (SQLite: a batch staged by :meth:`staging` is still there for the write that follows;
        PostgreSQL: nothing to keep)."""
        return nullcontext()

    def staging(self) -> Any:  # pragma: no cover - interface
        """SQLite: a transaction on the connection's own temporary tables only, which takes
        no lock on the ledger's file (other writers go on meanwhile)."""
        raise NotImplementedError

    def lock_customer(self, cur: Cursor, customer_id: str) -> tuple[str | None, str]:
        """Serialize decisions about one customer until the transaction ends; returns the
        customer's spending limit (decimal text, or None) and the configuration's version
        (read in the same round trip)."""
        raise NotImplementedError  # pragma: no cover

    def lock_and_read(self, cur: Cursor, customer_id: str,
                      reads: Sequence[tuple[str, Sequence[Any]]], *, durable: bool = True
                      ) -> tuple[str | None, str, list[list[Any]]]:
        """:meth:`lock_customer`, then each read ``(sql, params)`` in order, each seeing what
        was committed before the lock was granted; returns the limit, the version and each
        read's rows. ``durable=False``: this transaction's commit need not wait for the disk
        (see docs/ledger.md, "Holds and the disk"); only for a transaction that writes a hold
        and no usage."""
        limit, version = self.lock_customer(cur, customer_id)
        out = []
        for sql, params in reads:
            cur.execute(sql, params)
            out.append(cur.fetchall())
        return limit, version, out

    def lock_config(self, cur: Cursor, *, exclusive: bool) -> str:  # pragma: no cover
        """Writers read the catalog and subscriptions under a shared lock, and changing them
        takes it exclusively, so no write uses a configuration that is being replaced.
        Returns the configuration's version."""
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redact(self.url)}>"


class SqliteDatabase(Database):
    kind = "sqlite"

    def __init__(self, url: str, path: str, *, busy_timeout_ms: int = 60_000,
                 synchronous: str = "normal") -> None:
        self.url = url
        self.path = path
        self._lock = threading.RLock()
        self._file_lock: int | None = None
        if synchronous not in ("normal", "full", "extra"):
            raise LedgerError(f"ledger URL {redact(url)}: synchronous must be normal, full or "
                              "extra")
        try:
            self._con = sqlite3.connect(path or ":memory:", isolation_level=None,
                                        check_same_thread=False, timeout=busy_timeout_ms / 1000)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open ledger {redact(url)}: {exc}") from None
        con = self._con
        con.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if path:
            mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # pragma: no cover - a file system without WAL
                raise LedgerError(f"ledger {redact(url)}: SQLite refused WAL mode ({mode})")
        con.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        con.execute("PRAGMA cache_size = -65536")  # 64 MiB of pages per connection
        con.execute("PRAGMA mmap_size = 1073741824")  # read pages in place, shared by processes
        con.execute("PRAGMA temp_store = MEMORY")  # the staged batch (billing/ledger/writes.py)
        if path:
            self._file_lock = os.open(path + "-lock", os.O_RDWR | os.O_CREAT, 0o600)
            # Checkpoints (copying the WAL into the file, then a sync) run after the writer's
            # lock is released (see write), not inside the COMMIT that crosses SQLite's
            # threshold while every other writer waits; SQLite's own stays as a backstop.
            con.execute(f"PRAGMA wal_autocheckpoint = {_BACKSTOP_PAGES}")
        self._changes = 0
        con.execute("PRAGMA foreign_keys = ON")

    @contextmanager
    def write(self, *, pipelined: bool = False) -> Iterator[Cursor]:
        with self._lock:
            if self._file_lock is not None:
                fcntl.flock(self._file_lock, fcntl.LOCK_EX)
            before = self._con.total_changes
            try:
                with self._transaction("BEGIN IMMEDIATE") as cur:
                    yield cur
            finally:
                if self._file_lock is not None:
                    fcntl.flock(self._file_lock, fcntl.LOCK_UN)
            self._changes += self._con.total_changes - before
            if self._file_lock is not None and self._changes >= _CHECKPOINT_ROWS:
                self._changes = 0
                # PASSIVE: copies what no reader needs, never waits for a writer or reader.
                # The commit has returned: a checkpoint that fails (another process is
                # checkpointing) is left to the next one, never reported as a failed write.
                with suppress(sqlite3.Error):
                    self._con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def session(self) -> Any:
        return self._lock

    @contextmanager
    def staging(self) -> Iterator[Cursor]:
        # A deferred BEGIN that writes only temporary tables never takes the file's locks.
        with self._lock, self._transaction("BEGIN") as cur:
            yield cur

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[Cursor]:
        """A transaction started by ``begin``: committed when the block ends, rolled back if
        it raises."""
        cur = self._con.cursor()
        cur.execute(begin)
        try:
            yield cur
        except BaseException:
            self._con.rollback()
            raise
        else:
            cur.execute("COMMIT")
        finally:
            cur.close()

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        with self._lock:
            cur = self._con.cursor()
            cur.execute("BEGIN")
            try:
                yield cur
            finally:
                self._con.rollback()
                cur.close()

    def lock_customer(self, cur: Cursor, customer_id: str) -> tuple[str | None, str]:
        # BEGIN IMMEDIATE already holds the database's single write lock.
        cur.execute("SELECT (SELECT spend_limit FROM customers WHERE customer_id = ?), "
                    "(SELECT value FROM meta WHERE key = 'config_version')", (customer_id,))
        row = cur.fetchone()
        return row[0], str(row[1])

    def lock_config(self, cur: Cursor, *, exclusive: bool) -> str:
        cur.execute("SELECT value FROM meta WHERE key = 'config_version'")  # likewise
        return str(cur.fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._con.close()
            if self._file_lock is not None:
                os.close(self._file_lock)
                self._file_lock = None


class _PgCursor:
    """A psycopg cursor taking ``?`` placeholders."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    @staticmethod
    def _sql(sql: str) -> str:
        # An array parameter (``?::text[]``, a list of customers) is sent in binary: psycopg's
        # text format quotes every element with a regular expression.
        return _ARRAY_PARAM.sub("%b", sql.replace("%", "%%")).replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cur.execute(self._sql(sql), params, prepare=False)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self._cur.executemany(self._sql(sql), rows)

    def fetchall(self) -> list[Any]:
        return list(self._cur.fetchall())

    def fetchone(self) -> Any:
        return self._cur.fetchone()


class PostgresDatabase(Database):
    kind = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 4) -> None:
        self.url = url
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError:  # pragma: no cover - a dependency of the package
            raise LedgerError("PostgreSQL ledgers need psycopg 3 and psycopg-pool "
                              "(pip install 'psycopg[binary]' psycopg-pool)") from None
        self._psycopg = psycopg
        try:
            # One direct connection first: a bad password or host fails now, with its reason,
            # instead of the pool retrying in the background until its timeout.
            psycopg.connect(url, connect_timeout=15).close()
            self._pool = ConnectionPool(
                url, min_size=1, max_size=pool_size, open=True, timeout=30,
                kwargs={"autocommit": False}, name="billing-ledger")
            self._pool.wait(timeout=30)
        except Exception as exc:  # psycopg's errors carry the connection string's parts
            raise LedgerError(f"cannot open ledger {redact(url)}: "
                              f"{redact(type(exc).__name__ + ': ' + ' '.join(str(exc).split()))}") from None

    @contextmanager
    def write(self, *, pipelined: bool = False) -> Iterator[Cursor]:
        with self._pool.connection() as con, \
                con.pipeline() if pipelined else nullcontext(), con.transaction(), \
                con.cursor() as cur:
            yield _PgCursor(cur)

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        with self._pool.connection() as con, con.transaction(), con.cursor() as cur:
            yield _PgCursor(cur)

    def lock_customer(self, cur: Cursor, customer_id: str) -> tuple[str | None, str]:
        # One round trip: the upsert creates the row if needed and locks it (DO UPDATE takes
        # the row lock, held to the end of the transaction), and returns the limit and the
        # configuration's version.
        cur.execute(_LOCK_CUSTOMER, (customer_id,))
        row = cur.fetchone()
        return row[0], str(row[1])

    def lock_and_read(self, cur: Cursor, customer_id: str,
                      reads: Sequence[tuple[str, Sequence[Any]]], *, durable: bool = True
                      ) -> tuple[str | None, str, list[list[Any]]]:
        # One round trip (pipeline mode): the server runs the statements in order, so each
        # read starts after the lock is granted and, under READ COMMITTED, takes its snapshot
        # then: it sees every decision about the customer committed before this one.
        con = cur._cur.connection  # type: ignore[attr-defined]
        with con.pipeline():
            if not durable:
                con.execute("SET LOCAL synchronous_commit = off")
            lock = con.execute(_PgCursor._sql(_LOCK_CUSTOMER), (customer_id,))
            found = [con.execute(_PgCursor._sql(sql), params) for sql, params in reads]
        row = lock.fetchone()
        return row[0], str(row[1]), [list(c.fetchall()) for c in found]

    def lock_config(self, cur: Cursor, *, exclusive: bool) -> str:
        # An advisory lock (in the lock manager): a shared row lock on the meta row would
        # rewrite that row for every batch and make concurrent writers queue on it.
        mode = "" if exclusive else "_shared"
        cur.execute(f"SELECT pg_advisory_xact_lock{mode}({_CONFIG_LOCK}), "
                    "(SELECT value FROM meta WHERE key = 'config_version')")
        return str(cur.fetchone()[1])

    def close(self) -> None:
        self._pool.close()


def open_database(url: str) -> Database:
    """The database named by ``url``: ``sqlite:///path``, ``sqlite://`` (in memory) or
    ``postgresql://user:password@host:port/dbname``."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        if parts.netloc:
            raise LedgerError(f"ledger URL {redact(url)}: write sqlite:///relative/path, "
                              "sqlite:////absolute/path or sqlite:// (in memory)")
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        query = parse_qs(parts.query)
        unknown = sorted(set(query) - {"synchronous"})
        if unknown:
            raise LedgerError(f"ledger URL {redact(url)}: unknown option(s) "
                              f"{', '.join(unknown)} (SQLite takes ?synchronous=normal|full)")
        synchronous = query.get("synchronous", ["normal"])[-1].lower()
        return SqliteDatabase(url, path, synchronous=synchronous)
    if parts.scheme in ("postgresql", "postgres"):
        return PostgresDatabase(urlunsplit(("postgresql", *parts[1:])))
    raise LedgerError(f"ledger URL {redact(url)}: the scheme must be sqlite:// or "
                      "postgresql://")
