"""The aggregation on Spark: a session with the settings that keep it exact and fast, and the
hand-over of validated events to the Ibis PySpark backend.

``aggregate_trace(spec, engine="spark")`` (or ``engine=<SparkSession>`` or an Ibis PySpark
backend) reads and validates the file with DuckDB on this machine, exactly as the default engine
does (same row numbers, same reject reasons), hands the valid rows to Spark as an Arrow table,
and runs the same :func:`~billing.usage.groupings.dedupe_table` and
:func:`~billing.usage.groupings.aggregate_table` Ibis expressions there; only the
aggregate rows come back. Events that already live in the cluster go straight to
:func:`~billing.usage.groupings.aggregate_table` on ``ibis.pyspark.connect(spark)``
(see docs/scaling.md).

pyspark is imported lazily: nothing here loads Java unless Spark is asked for.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ibis
import ibis.expr.types as ir

from billing.errors import TraceError

__all__ = ["SPARK_SETTINGS", "spark_arrow", "spark_backend", "spark_session", "to_spark"]

SPARK_SETTINGS: dict[str, str] = {
    # Day and hour keys are computed from integer epoch seconds, so no result depends on the
    # zone; UTC keeps anything a user inspects in Spark consistent with the report.
    "spark.sql.session.timeZone": "UTC",
    # Arrow transfer: without it Ibis on Spark took 14-40 s on 10M rows instead of about 5 s.
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # ANSI mode: integer overflow raises instead of wrapping (the default since Spark 4).
    "spark.sql.ansi.enabled": "true",
    # No money is computed in Spark; should decimals ever run there, never cut them to 6 places.
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
}
"""Settings of the sessions :func:`spark_session` creates (documented in docs/scaling.md)."""


def _pyspark() -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise TraceError("engine 'spark' needs pyspark: pip install "
                         "'token-billing[spark]' (and Java 17 or later)") from exc
    return SparkSession


def spark_session(master: str | None = None, *, app_name: str = "token-billing",
                  settings: dict[str, str] | None = None) -> Any:
    """The active SparkSession, or a new one on ``master`` (default ``local[*]``).

    A session that is already running is returned as it is (its master and settings are the
    user's; ``master`` is then ignored). A new session gets :data:`SPARK_SETTINGS` plus
    ``settings`` (e.g. ``spark.driver.host``).
    """
    session_type = _pyspark()
    active = session_type.getActiveSession()
    if active is not None:
        return active
    builder = session_type.builder.master(master or "local[*]").appName(app_name)
    for key, value in {**SPARK_SETTINGS, **(settings or {})}.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # Java missing, master unreachable: say so, with the cause
        raise TraceError(f"cannot start Spark on {master or 'local[*]'}: {exc}") from exc


def spark_backend(engine: Any) -> Any | None:
    """The Ibis PySpark backend for ``engine`` if it asks for Spark, else None.

    ``engine`` may be ``"spark"`` (the active session, or a new ``local[*]`` one), a
    SparkSession, or an Ibis PySpark backend.
    """
    if getattr(engine, "name", None) == "pyspark":
        return engine
    if engine == "spark":
        session = spark_session()
    elif type(engine).__name__ == "SparkSession":
        session = engine
    else:
        return None
    with quiet_pandas_check():  # importing Ibis' PySpark backend imports pyspark.pandas
        return ibis.pyspark.connect(session)


@contextmanager
def quiet_pandas_check() -> Iterator[None]:
    """PySpark 4 warns that it does not yet fully support pandas 3 whenever it converts to
    Arrow; no pandas object is used on this path (the results are Arrow tables)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas",
                                FutureWarning)
        yield


@contextmanager
def to_spark(backend: Any, events: Any) -> Iterator[ir.Table]:
    """Hand an Arrow table of events to Spark as a temporary view; dropped on exit."""
    session = backend._session
    name = f"billing_events_{uuid.uuid4().hex[:12]}"
    with quiet_pandas_check():
        frame = session.createDataFrame(events)
    frame.createOrReplaceTempView(name)
    try:
        yield backend.table(name)
    finally:
        session.catalog.dropTempView(name)


def spark_arrow(backend: Any, expr: ir.Table) -> Any:
    """Run ``expr`` on Spark and return an Arrow table, without pandas in between (Ibis'
    ``to_pyarrow`` goes through ``toPandas``, whose Arrow path fails under pandas 3)."""
    return backend._session.sql(backend.compile(expr)).toArrow()
