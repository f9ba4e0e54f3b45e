"""The local record of a push: a SQLite file of customer mappings and invoice steps, and the
exclusive lock a run holds on it (``STATE.lock``), so that two runs on one state file never push
at once: the second is refused with a one-line message while the first is pushing.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from billing.errors import StripeStateBusyError, StripeSyncError

__all__ = ["StripeState", "StripeStateBusyError"]


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

