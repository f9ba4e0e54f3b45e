"""Every DuckDB connection the library opens, made one way."""

from __future__ import annotations

from typing import Any

__all__ = ["connect", "quiet"]


def quiet(con: Any) -> Any:
    """``con``, a DuckDB connection, without its progress bar: DuckDB draws one on standard
    output for a query that runs over 2 s (10M events do), into what a command writes there."""
    con.execute("SET enable_progress_bar = false").fetchall()
    return con


def connect() -> Any:
    """A new embedded DuckDB connection, :func:`quiet`."""
    import duckdb

    return quiet(duckdb.connect())
