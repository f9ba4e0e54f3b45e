"""How a trace file's columns become usage events: :class:`TraceSpec` and the per-value rules.

A trace rarely uses our field names, so a spec maps each field to a file column
(``customer_id="client_id"``), or to several columns joined with ``/``
(``customer_id=("pool", "client_id")``, written ``customer_id=pool+client_id`` on the command line).
What the trace does not say, the user states: the model (``model="deepseek-r1"`` or
``model_map`` on a column), the time zone of naive timestamps (``assume_tz``), the origin of
numeric timestamps (``timestamp_unit="s"``, ``time_origin``), whether fractional token figures
may be rounded (``round_tokens``), and which rows carry no usage at all (``skip_when``).

The value rules here are the single definition both readers follow (the pure-Python reader and
the DuckDB reader must reject the same rows with the same reason):

- values are stripped of surrounding spaces; an empty value in a mapped column makes the row bad;
- a count (tokens, requests) is a plain decimal ``[+-]digits[.digits]``; negative is bad;
  fractional is bad unless ``round_tokens`` (then ROUND_HALF_UP to a whole number);
- an ISO timestamp without an offset is naive: bad unless ``assume_tz`` names its zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billing.errors import TraceError

__all__ = [
    "COUNT_FIELDS",
    "FIELDS",
    "ResolvedSpec",
    "TraceSpec",
    "parse_mapping",
]

Format = Literal["csv", "jsonl", "parquet"]
TimestampUnit = Literal["iso", "s", "ms", "us"]

#: Fields a trace column can be mapped to.
FIELDS: Final = (
    "id",
    "customer_id",
    "timestamp",
    "model",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
    "session_id",
)
#: Count fields: absent from the file means 0 for every row (1 for ``requests``).
COUNT_FIELDS: Final = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
)
COUNT_DEFAULTS: Final = {"input_tokens": 0, "cached_input_tokens": 0, "cache_write_tokens": 0,
                         "output_tokens": 0, "requests": 1}
UNIT_MICROS: Final = {"s": 1_000_000, "ms": 1_000, "us": 1}
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

#: A plain decimal number: what a count or a numeric timestamp must look like.
NUMBER_RE: Final = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
#: The ISO 8601 forms accepted for timestamp strings (date, optional time, optional offset).
ISO_RE: Final = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
                 r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?$")
#: The part of an ISO timestamp that gives its offset.
OFFSET_RE: Final = r"[0-9](Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
MAX_COUNT: Final = 2**63 - 1
_NUMBER = re.compile(NUMBER_RE)
_ISO = re.compile(ISO_RE)


def detect_format(path: Path) -> Format:
    name = path.name.lower()
    for suffix in (".gz", ".zst"):
        name = name.removesuffix(suffix)
    if name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise TraceError(
        f"{path}: cannot tell the format from the file name; pass format='csv', 'jsonl' or "
        "'parquet'"
    )


@dataclass(frozen=True, slots=True)
class TraceSpec:
    """A trace file and how to read it into usage events.

    ``columns`` maps our field names (see :data:`FIELDS`) to the file's columns; a tuple of
    columns builds a composite value joined with ``/``. A field the mapping does not name is
    read from the file column of the same name when there is one.
    """

    path: Path
    columns: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    format: Format | None = None
    model: str | None = None
    """The model of every event, for traces without a model column."""
    model_map: Mapping[str, str] | None = None
    """Maps each value of the model column to a model name; a value not listed is rejected."""
    timestamp_unit: TimestampUnit = "iso"
    """``iso`` for ISO 8601 strings (or typed timestamps), else numbers of s/ms/us."""
    time_origin: datetime | None = None
    """What numeric timestamps count from (tz-aware); the Unix epoch when not given."""
    assume_tz: str | None = None
    """IANA zone of naive timestamps; without it naive timestamps are rejected."""
    round_tokens: bool = False
    """Round fractional counts half-up to whole numbers instead of rejecting the row."""
    skip_when: Mapping[str, str] = field(default_factory=dict)
    """Column -> value: rows where any column holds its value carry no usage and are skipped."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        cols: dict[str, str | tuple[str, ...]] = {}
        for target, source in dict(self.columns).items():
            if target not in FIELDS:
                raise TraceError(
                    f"{self.path}: unknown field {target!r} in the column mapping; "
                    f"fields are {', '.join(FIELDS)}"
                )
            if isinstance(source, str):
                parts = tuple(source.split("+")) if "+" in source else (source,)
                cols[target] = parts[0] if len(parts) == 1 else parts
            else:
                cols[target] = tuple(source)
        object.__setattr__(self, "columns", cols)
        object.__setattr__(self, "skip_when", dict(self.skip_when))
        if self.model_map is not None:
            object.__setattr__(self, "model_map", dict(self.model_map))
        if self.time_origin is not None and self.time_origin.utcoffset() is None:
            raise TraceError(f"{self.path}: time_origin must be tz-aware")
        if self.timestamp_unit not in ("iso", *UNIT_MICROS):
            raise TraceError(f"{self.path}: timestamp_unit must be iso, s, ms or us")
        if self.assume_tz is not None:
            try:
                ZoneInfo(self.assume_tz)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise TraceError(f"{self.path}: unknown time zone {self.assume_tz!r}") from exc
        if self.model is not None and self.model_map is not None:
            raise TraceError(f"{self.path}: give model or model_map, not both")

    @property
    def file_format(self) -> Format:
        return self.format or detect_format(self.path)

    def resolve(self, file_columns: Sequence[str]) -> ResolvedSpec:
        """Check the mapping against the file's columns; raise :class:`TraceError` if off."""
        present = list(file_columns)
        where = str(self.path)
        listing = ", ".join(present)
        sources: dict[str, tuple[str, ...]] = {}
        for target in FIELDS:
            mapped = self.columns.get(target)
            if mapped is None:
                if target in present:
                    sources[target] = (target,)
                continue
            parts = (mapped,) if isinstance(mapped, str) else mapped
            for part in parts:
                if part not in present:
                    raise TraceError(
                        f"{where}: column {part!r} (mapped to {target}) is not in the file; "
                        f"its columns are: {listing}"
                    )
            sources[target] = parts
        for column in self.skip_when:
            if column not in present:
                raise TraceError(
                    f"{where}: skip_when column {column!r} is not in the file; "
                    f"its columns are: {listing}"
                )
        if "customer_id" not in sources:
            raise TraceError(f"{where}: no customer_id column; map one (customer_id=COLUMN). "
                             f"Columns: {listing}")
        if "timestamp" not in sources:
            raise TraceError(f"{where}: no timestamp column; map one (timestamp=COLUMN). "
                             f"Columns: {listing}")
        if self.model is not None:
            sources.pop("model", None)
        elif "model" not in sources:
            raise TraceError(f"{where}: no model column; give the model (model=NAME) or map "
                             f"a column (model=COLUMN with model_map). Columns: {listing}")
        for target in ("timestamp", "model", "id", "session_id", *COUNT_FIELDS):
            if len(sources.get(target, ())) > 1:
                raise TraceError(f"{where}: only customer_id may join several columns")
        origin = self.time_origin.astimezone(UTC) if self.time_origin is not None else EPOCH
        return ResolvedSpec(spec=self, sources=sources, file_columns=tuple(present),
                            origin=origin)


@dataclass(frozen=True, slots=True)
class ResolvedSpec:
    """A spec checked against a file: each present field with its source columns."""

    spec: TraceSpec
    sources: Mapping[str, tuple[str, ...]]
    file_columns: tuple[str, ...]
    origin: datetime

    @property
    def derived_ids(self) -> bool:
        return "id" not in self.sources

    def derived_id(self, row: int) -> str:
        return f"{self.spec.path.name}:{row}"

    def skip_reason(self, values: Mapping[str, str]) -> str | None:
        for column, value in self.spec.skip_when.items():
            if values.get(column, "").strip(" ") == value:
                return f"skipped: {column}={value}"
        return None


def parse_mapping(items: Sequence[str], file_columns: Sequence[str] | None = None,
                  *, path: str | Path | None = None) -> dict[str, str | tuple[str, ...]]:
    """Parse the CLI form ``["customer_id=pool+client_id", "timestamp=window_start_s"]``.

    Raises :class:`TraceError` naming an unknown field, or an unknown column (listing the
    file's columns) when ``file_columns`` is given.
    """
    where = f"{path}: " if path is not None else ""
    result: dict[str, str | tuple[str, ...]] = {}
    for item in items:
        target, sep, source = (part.strip() for part in item.partition("="))
        if not sep or not target or not source:
            raise TraceError(f"{where}bad column mapping {item!r}: write FIELD=COLUMN, "
                             "or FIELD=COL1+COL2 for a composite")
        if target not in FIELDS:
            raise TraceError(f"{where}unknown field {target!r} in {item!r}; fields are "
                             f"{', '.join(FIELDS)}")
        if target in result:
            raise TraceError(f"{where}field {target!r} is mapped twice")
        parts = tuple(part.strip() for part in source.split("+"))
        if any(not part for part in parts):
            raise TraceError(f"{where}bad column mapping {item!r}: empty column name")
        if file_columns is not None:
            for part in parts:
                if part not in file_columns:
                    raise TraceError(f"{where}unknown column {part!r} in {item!r}; the file's "
                                     f"columns are: {', '.join(file_columns)}")
        result[target] = parts[0] if len(parts) == 1 else parts
    return result


# ---- value rules shared by the pure-Python reader (the engine reader mirrors them in SQL) ----

class BadValue(ValueError):
    """A value that makes its row bad; the message is the reject reason."""


def parse_count(name: str, raw: str, round_tokens: bool) -> int:
    text = raw.strip(" ")
    if not text:
        raise BadValue(f"empty {name}")
    if not _NUMBER.match(text):
        raise BadValue(f"{name} is not a number: {text!r}")
    number = Decimal(text)
    if number < 0:
        raise BadValue(f"negative {name}: {text}")
    whole = int(number.to_integral_value(rounding=ROUND_HALF_UP))
    if whole > MAX_COUNT:
        raise BadValue(f"{name} is too large: {text}")
    if whole != number and not round_tokens:
        raise BadValue(f"fractional {name}: {text} (pass round_tokens to round it)")
    return whole


def parse_timestamp(raw: str, resolved: ResolvedSpec) -> datetime:
    spec = resolved.spec
    text = raw.strip(" ")
    if not text:
        raise BadValue("empty timestamp")
    if spec.timestamp_unit != "iso":
        if not _NUMBER.match(text):
            raise BadValue(f"unparseable timestamp: {text!r}")
        micros = Decimal(text) * UNIT_MICROS[spec.timestamp_unit]
        return micros_to_datetime(
            datetime_to_micros(resolved.origin)
            + int(micros.to_integral_value(rounding=ROUND_HALF_UP))
        )
    if not _ISO.match(text):
        raise BadValue(f"unparseable timestamp: {text!r}")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadValue(f"unparseable timestamp: {text!r}") from None
    if value.tzinfo is None:
        if spec.assume_tz is None:
            raise BadValue(f"naive timestamp {text!r} (no time zone; state it with --assume-tz)")
        value = value.replace(tzinfo=ZoneInfo(spec.assume_tz))
    return value.astimezone(UTC)


def datetime_to_micros(value: datetime) -> int:
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def micros_to_datetime(micros: int) -> datetime:
    from datetime import timedelta

    return EPOCH + timedelta(microseconds=micros)
