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

- ``input_tokens`` and ``output_tokens`` must come from a column (named so or mapped) unless
  declared absent (``absent=``, ``--absent``, or mapped to the constant ``0``); the cache classes
  may be missing only when no column looks like them (``cache`` in its name, or close to the
  field's name), and are then counted as 0 and reported (:attr:`ResolvedSpec.absent`);
- values are stripped of surrounding spaces; an empty value in a mapped column makes the row bad
  (in JSONL, a key missing from one object while others have it is an empty value);
- a count (tokens, requests) is a plain decimal ``[+-]digits[.digits]``; negative is bad;
  fractional is bad unless ``round_tokens`` (then ROUND_HALF_UP to a whole number);
- an ISO timestamp without an offset is naive: bad unless ``assume_tz`` names its zone;
- a timestamp before 1970-01-01 or after 9999-12-30 (UTC) is bad (:data:`MIN_US`, :data:`MAX_US`);
- with ``input_includes_cached``, fresh input = input - cached input, and a row whose cached
  input exceeds its input is bad (:func:`fresh_input`);
- ``service_tier`` (how the request was served) is optional: a file without such a column is
  standard usage throughout, unless a column looks like one (``tier`` in its name), which must
  then be mapped or the field declared absent (``--absent service_tier``); in a present column
  an empty value or one that is not ``standard``, ``batch``, ``flex`` or ``priority`` makes the
  row bad (:func:`parse_service_tier`; with ``--usage-format openai``, OpenAI's ``default``
  reads as standard);
- ``reasoning_tokens`` (the part of ``output_tokens`` that is reasoning) is optional too: a file
  without such a column has no reasoning split (a plan that prices reasoning apart then refuses
  it), unless a column looks like one (``reasoning`` or ``thought`` in its name), which must then
  be mapped or the field declared absent (``--absent reasoning_tokens``: no reasoning, all output
  at the output price); in a present column the value is a count, and more reasoning than output
  makes the row bad (:func:`reasoning_above_output`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billing.errors import TraceError
from billing.usage.events import SERVICE_TIERS
from billing.usage.keys import EPOCH as KEYS_EPOCH
from billing.usage.keys import epoch_micros, instant

__all__ = [
    "COUNT_FIELDS",
    "FIELDS",
    "ResolvedSpec",
    "TraceSpec",
    "parse_mapping",
]

Format = Literal["csv", "jsonl", "parquet"]
UsageFormat = Literal["openai", "anthropic", "gemini"]
#: Providers whose usage objects a JSONL trace may hold (``--usage-format``).
USAGE_FORMATS: Final = ("openai", "anthropic", "gemini")
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
    "service_tier",
    "reasoning_tokens",
)
#: Count fields. ``requests`` may be absent (1 per row); token fields: see the module docstring.
COUNT_FIELDS: Final = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
)
COUNT_DEFAULTS: Final = {"input_tokens": 0, "cached_input_tokens": 0, "cache_write_tokens": 0,
                         "output_tokens": 0, "requests": 1}
#: The token count fields.
TOKEN_FIELDS: Final = ("input_tokens", "cached_input_tokens", "cache_write_tokens",
                       "output_tokens")
#: Token fields every trace must give (from a column, or declared absent).
REQUIRED_TOKENS: Final = ("input_tokens", "output_tokens")
#: Token fields that may be missing when no column looks like them.
CACHE_TOKENS: Final = ("cached_input_tokens", "cache_write_tokens")
#: Other fields that may be declared absent (``--absent``): no column, the default for all.
OPTIONAL_ABSENT: Final = ("service_tier", "reasoning_tokens")
#: What a provider's files call a service tier, by ``usage_format`` (OpenAI's responses say
#: ``default`` for the standard tier).
TIER_ALIASES: Final = {"openai": {"default": "standard"}}
#: Other names of the token fields seen in real exports (OpenAI, Anthropic): the closest match.
_ALIASES: Final = {
    "input_tokens": ("prompt_tokens", "prompt", "input", "tokens_in", "inputtokens"),
    "output_tokens": ("completion_tokens", "completion", "output", "tokens_out",
                      "generated_tokens", "outputtokens"),
    "cached_input_tokens": ("cache_read_input_tokens", "cache_read_tokens", "cached_tokens"),
    "cache_write_tokens": ("cache_creation_input_tokens", "cache_creation_tokens"),
}
UNIT_MICROS: Final = {"s": 1_000_000, "ms": 1_000, "us": 1}
EPOCH: Final = KEYS_EPOCH
#: The timestamps billing reads, in epoch microseconds: 1970-01-01 to 9999-12-30 (UTC), so
#: that every day, hour and period computed from them is a valid date.
MIN_US: Final = 0
MAX_US: Final = 253_402_127_999_999_999
OUT_OF_RANGE: Final = "timestamp out of range (billing reads 1970-01-01 to 9999-12-30 UTC)"
#: The longest line read (DuckDB's default ``max_line_size``); a longer line is one reject.
MAX_LINE_BYTES: Final = 2_000_000
LONG_LINE: Final = "line longer than 2 MB (2,000,000 bytes)"
NOT_UTF8: Final = "not UTF-8 text"

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
        f"{path}: cannot tell the format from the file name: name it .csv, .tsv, .jsonl, "
        ".ndjson or .parquet (optionally .gz), or pass format= in Python"
    )


@dataclass(frozen=True, slots=True)
class TraceSpec:
    """A trace file and how to read it into usage events.

    ``columns`` maps our field names (see :data:`FIELDS`) to the file's columns; a tuple of
    columns builds a composite value joined with ``/``. A field the mapping does not name is
    read from the file column of the same name when there is one. A token field mapped to the
    constant ``0`` (or ``"0"``) is declared absent, as if listed in ``absent``.
    """

    path: Path
    columns: Mapping[str, str | tuple[str, ...] | int] = field(default_factory=dict)
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
    absent: Collection[str] = ()
    """Token fields the file does not have, on purpose: counted as 0 in every row, and said so
    in the summary (``--absent output_tokens`` on the command line)."""
    input_includes_cached: bool = False
    """The input column counts the whole prompt, cached prefix included (as OpenAI's
    ``prompt_tokens`` and Gemini's ``promptTokenCount`` do): fresh input = input - cached, and a
    row whose cached count exceeds its input is bad (``--input-includes-cached``)."""
    usage_format: UsageFormat | None = None
    """Each line of the (JSONL) trace is a provider's usage object, or a record holding one
    under ``usage`` / ``usageMetadata``: the token counts come from it as
    :data:`billing.usage.providers.FILE_FORMATS` says (``--usage-format openai``); the other
    fields are mapped as usual."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        cols: dict[str, str | tuple[str, ...]] = {}
        absent = set(self.absent)
        for target, source in dict(self.columns).items():
            if target not in FIELDS:
                raise TraceError(
                    f"{self.path}: unknown field {target!r} in the column mapping; "
                    f"fields are {', '.join(FIELDS)}"
                )
            if isinstance(source, int) or source == "0":
                if source not in (0, "0") or isinstance(source, bool):
                    raise TraceError(f"{self.path}: {target} mapped to {source!r}: a field is "
                                     "mapped to a column name, or to 0 to declare it absent")
                absent.add(target)
                continue
            if isinstance(source, str):
                parts = tuple(source.split("+")) if "+" in source else (source,)
                cols[target] = parts[0] if len(parts) == 1 else parts
            else:
                cols[target] = tuple(source)
        object.__setattr__(self, "columns", cols)
        bad = sorted(absent - set(REQUIRED_TOKENS + CACHE_TOKENS + OPTIONAL_ABSENT))
        if bad:
            raise TraceError(f"{self.path}: only token counts can be declared absent "
                             f"({', '.join(REQUIRED_TOKENS + CACHE_TOKENS)}; and service_tier, "
                             "reasoning_tokens), "
                             f"not {', '.join(bad)}")
        both = sorted(absent & set(cols))
        if both:
            raise TraceError(f"{self.path}: {', '.join(both)} both mapped to a column and "
                             "declared absent")
        object.__setattr__(self, "absent", frozenset(absent))
        object.__setattr__(self, "skip_when", dict(self.skip_when))
        if self.model_map is not None:
            object.__setattr__(self, "model_map", dict(self.model_map))
        if self.time_origin is not None and self.time_origin.utcoffset() is None:
            raise TraceError(f"{self.path}: --time-origin needs a time zone (time_origin= in "
                             "Python must be tz-aware)")
        if self.timestamp_unit not in ("iso", *UNIT_MICROS):
            raise TraceError(f"{self.path}: --timestamp-unit must be iso, s, ms or us "
                             "(timestamp_unit= in Python)")
        if self.assume_tz is not None:
            try:
                ZoneInfo(self.assume_tz)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise TraceError(f"{self.path}: --assume-tz {self.assume_tz!r} is not a known "
                                 "time zone (an IANA name, e.g. UTC or Europe/Paris)") from exc
        if self.model is not None and self.model_map is not None:
            raise TraceError(f"{self.path}: give --model or --model-map, not both")
        if self.usage_format is not None:
            self._check_usage_format()

    def _check_usage_format(self) -> None:
        if self.usage_format not in USAGE_FORMATS:
            raise TraceError(f"{self.path}: --usage-format must be one of "
                             f"{', '.join(USAGE_FORMATS)}, not {self.usage_format!r}")
        if self.file_format != "jsonl":
            raise TraceError(f"{self.path}: --usage-format reads JSONL files (one usage object "
                             "per line), not " + self.file_format)
        if self.input_includes_cached:
            raise TraceError(f"{self.path}: --usage-format already knows whether the input "
                             "includes the cached prefix: drop --input-includes-cached")
        tokens = sorted(({*self.columns} | set(self.absent)) & set(TOKEN_FIELDS))
        if tokens:
            raise TraceError(f"{self.path}: with --usage-format the token counts come from the "
                             f"usage objects: drop the --map or --absent of {', '.join(tokens)}")

    @property
    def file_format(self) -> Format:
        return self.format or detect_format(self.path)

    def resolve(self, file_columns: Sequence[str]) -> ResolvedSpec:
        """Check the mapping against the file's columns; raise :class:`TraceError` naming
        every problem at once (with the command-line option that solves each) if off."""
        present = list(file_columns)
        where = str(self.path)
        listing = ", ".join(present[:40]) or "(none)"
        if len(present) > 40:
            listing += f", ... ({len(present)} columns)"
        if len(listing) > 400:
            listing = listing[:400] + "..."
        sources: dict[str, tuple[str, ...]] = {}
        problems: list[str] = []
        unresolved: set[str] = set()
        for target in FIELDS:
            if target in self.absent:
                continue
            mapped = self.columns.get(target)
            if mapped is None or isinstance(mapped, int):  # (0s became ``absent``)
                if mapped is None and target in present:
                    sources[target] = (target,)
                continue
            parts = (mapped,) if isinstance(mapped, str) else mapped
            missing = [part for part in parts if part not in present]
            for part in missing:
                problems.append(f"column {part!r} (mapped to {target}) is not in the file")
            if missing:
                unresolved.add(target)
            else:
                sources[target] = parts
        for column in self.skip_when:
            if column not in present:
                problems.append(f"--skip-when column {column!r} is not in the file")
        used = {c for parts in sources.values() for c in parts} | set(self.skip_when)
        free = [c for c in present if c not in used]
        for target in ("customer_id", "timestamp"):
            if target not in sources and target not in unresolved:
                problems.append(_missing(target, _closest(target, free)))
        if self.model is not None:
            sources.pop("model", None)
        elif "model" not in sources and "model" not in unresolved:
            problems.append("no model column: --model NAME, or --map model=COLUMN")
        tokens = False
        if self.usage_format is not None:  # the counts come from the usage objects
            for target in TOKEN_FIELDS:
                sources.pop(target, None)
        for target in REQUIRED_TOKENS:
            if (target in sources or target in unresolved or target in self.absent
                    or self.usage_format is not None):
                continue
            problems.append(_missing(target, _closest(target, free)))
            tokens = True
        absent: list[str] = []
        for target in CACHE_TOKENS:
            if (target in sources or target in unresolved or target in self.absent
                    or self.usage_format is not None):
                continue
            look = _lookalike(target, free)
            if look is None:
                absent.append(target)
            else:
                problems.append(_missing(target, look))
                tokens = True
        if (self.usage_format is not None and "service_tier" not in sources
                and "service_tier" not in unresolved and "service_tier" not in self.absent):
            from billing.usage.providers import FILE_FORMATS  # (it reads this module)

            tier = FILE_FORMATS[self.usage_format].tier
            if tier is not None:  # the tier the usage objects report
                sources["service_tier"] = (tier.column,)
        if (self.usage_format is not None and "reasoning_tokens" not in self.columns
                and "reasoning_tokens" not in self.absent):
            from billing.usage.providers import FILE_FORMATS  # (it reads this module)

            usage_fmt = FILE_FORMATS[self.usage_format]
            if usage_fmt.reasoning is not None:  # the reasoning the usage objects report
                sources["reasoning_tokens"] = (usage_fmt.term(usage_fmt.reasoning).column,)
            else:
                sources.pop("reasoning_tokens", None)
        if ("service_tier" not in sources and "service_tier" not in unresolved
                and "service_tier" not in self.absent):
            look = _tier_lookalike(free)
            if look is not None:
                problems.append(
                    f"no service_tier column, but {look!r} looks like one: --map "
                    f"service_tier={look}, or --absent service_tier if it is something else "
                    "(every event is then standard)")
        if ("reasoning_tokens" not in sources and "reasoning_tokens" not in unresolved
                and "reasoning_tokens" not in self.absent):
            look = _reasoning_lookalike(free)
            if look is not None:
                problems.append(
                    f"no reasoning_tokens column, but {look!r} looks like one: --map "
                    f"reasoning_tokens={look}, or --absent reasoning_tokens if it is something "
                    "else (no reasoning split: all output at the output price)")
        if tokens:
            problems.append("--absent FIELD for a token field the file lacks on purpose")
        for target in sorted(self.absent):
            if target in present:
                problems.append(f"{target} is declared absent (--absent or a mapping to 0) "
                                f"but the file has a column {target!r}: drop one of the two")
        for target in ("timestamp", "model", "id", "session_id", "service_tier",
                       "reasoning_tokens", *COUNT_FIELDS):
            if len(sources.get(target, ())) > 1:
                problems.append(f"{target} joins several columns; only customer_id may")
        if problems:
            raise TraceError(f"{where}: " + "; ".join(problems) + f". Columns: {listing}")
        origin = self.time_origin.astimezone(UTC) if self.time_origin is not None else EPOCH
        return ResolvedSpec(spec=self, sources=sources, file_columns=tuple(present),
                            origin=origin, absent=tuple(absent),
                            declared_absent=tuple(sorted(self.absent)))


def _closest(target: str, columns: Sequence[str]) -> str | None:
    """The column a user most likely meant for ``target``: a known other name (OpenAI's
    ``prompt_tokens``), the same name differently cased, else the closest by difflib."""
    lowered = {c.lower(): c for c in columns}
    for alias in (target, *_ALIASES.get(target, ())):
        if alias in lowered:
            return lowered[alias]
    found = difflib.get_close_matches(target, list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None


def _missing(target: str, close: str | None) -> str:
    """The problem of a field without a column, with the ``--map`` that solves it."""
    if close is None:
        return f"no {target} column: --map {target}=COLUMN"
    return f"no {target} column (closest: {close!r}): --map {target}={close}"


def _tier_lookalike(columns: Sequence[str]) -> str | None:
    """A column that looks like a service tier (``tier`` in its name), if any."""
    return next((c for c in columns if "tier" in c.lower()), None)


def _reasoning_lookalike(columns: Sequence[str]) -> str | None:
    """A column that looks like a reasoning count (``reasoning`` or ``thought`` in its name)."""
    return next((c for c in columns if "reasoning" in c.lower() or "thought" in c.lower()),
                None)


def _lookalike(target: str, columns: Sequence[str]) -> str | None:
    """A column that looks like the cache class ``target`` (``cache`` in its name, a known
    other name, or a name within difflib ratio 0.85 of the field's)."""
    candidates = [c for c in columns
                  if "cache" in c.lower() or c.lower() in _ALIASES.get(target, ())
                  or difflib.SequenceMatcher(None, target, c.lower()).ratio() >= 0.85]
    if not candidates:
        return None
    return max(candidates, key=lambda c: difflib.SequenceMatcher(None, target, c.lower()).ratio())


@dataclass(frozen=True, slots=True)
class ResolvedSpec:
    """A spec checked against a file: each present field with its source columns."""

    spec: TraceSpec
    sources: Mapping[str, tuple[str, ...]]
    file_columns: tuple[str, ...]
    origin: datetime
    absent: tuple[str, ...] = ()
    """Cache classes the file has no column for (and none looks like them): counted as 0."""
    declared_absent: tuple[str, ...] = ()
    """Token fields the user declared absent: counted as 0."""

    @property
    def derived_ids(self) -> bool:
        return "id" not in self.sources

    @property
    def service_tiers(self) -> bool:
        """The file has a service tier column (without one, every event is standard)."""
        return "service_tier" in self.sources

    @property
    def reasoning(self) -> bool:
        """The file has a reasoning tokens column."""
        return "reasoning_tokens" in self.sources

    @property
    def reasoning_known(self) -> bool:
        """The reasoning split is known: a column, ``--absent reasoning_tokens`` (none), or a
        ``usage_format`` (the usage objects' own count; Anthropic's reports none: 0)."""
        return (self.reasoning or "reasoning_tokens" in self.spec.absent
                or self.spec.usage_format is not None)

    @property
    def tier_aliases(self) -> Mapping[str, str]:
        """Values of the service tier column read as another tier (:data:`TIER_ALIASES`)."""
        return TIER_ALIASES.get(self.spec.usage_format or "", {})

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
            raise TraceError(f"{where}--map {item!r}: write FIELD=COLUMN, "
                             "or FIELD=COL1+COL2 for a composite")
        if target not in FIELDS:
            raise TraceError(f"{where}--map {item!r}: unknown field {target!r}; fields are "
                             f"{', '.join(FIELDS)}")
        if target in result:
            raise TraceError(f"{where}--map: field {target!r} is mapped twice")
        parts = tuple(part.strip() for part in source.split("+"))
        if any(not part for part in parts):
            raise TraceError(f"{where}--map {item!r}: empty column name")
        if file_columns is not None and source != "0":
            for part in parts:
                if part not in file_columns:
                    raise TraceError(f"{where}--map {item!r}: unknown column {part!r}; the file's "
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
        raise BadValue(f"fractional {name}: {text} (pass --round-tokens to round it)")
    return whole


#: The reject reason of a service tier value that is not one: before and after its repr.
UNKNOWN_TIER: Final = ("unknown service_tier ", f" (service tiers: {', '.join(SERVICE_TIERS)})")


def unknown_tier(text: str) -> str:
    """The reject reason of a service tier value that is not one."""
    return f"{UNKNOWN_TIER[0]}{text!r}{UNKNOWN_TIER[1]}"


def parse_service_tier(raw: str, aliases: Mapping[str, str]) -> str:
    """A service tier column's value: one of :data:`SERVICE_TIERS` (or an alias of one)."""
    text = raw.strip(" ")
    if not text:
        raise BadValue("empty service_tier")
    tier = aliases.get(text, text)
    if tier not in SERVICE_TIERS:
        raise BadValue(unknown_tier(text))
    return tier


def reasoning_above_output(reasoning: str, output: str) -> str:
    """The reject reason of a row with more reasoning tokens than output tokens (texts)."""
    return f"reasoning_tokens ({reasoning}) is more than output_tokens ({output}), which includes them"


def fresh_input(input_tokens: int, cached_input_tokens: int) -> int:
    """Fresh input of a row whose input count includes the cached prefix."""
    if cached_input_tokens > input_tokens:
        raise BadValue(cached_above_input(str(cached_input_tokens), str(input_tokens)))
    return input_tokens - cached_input_tokens


def cached_above_input(cached: str, input_tokens: str) -> str:
    """The reject reason of a row whose cached input exceeds the input that includes it."""
    return (f"cached_input_tokens ({cached}) is more than input_tokens ({input_tokens}), "
            "which includes them (--input-includes-cached)")


def parse_timestamp(raw: str, resolved: ResolvedSpec) -> datetime:
    spec = resolved.spec
    text = raw.strip(" ")
    if not text:
        raise BadValue("empty timestamp")
    if spec.timestamp_unit != "iso":
        if not _NUMBER.match(text):
            raise BadValue(f"unparseable timestamp: {text!r}")
        micros = Decimal(text) * UNIT_MICROS[spec.timestamp_unit]
        return in_range(datetime_to_micros(resolved.origin)
                        + int(micros.to_integral_value(rounding=ROUND_HALF_UP)))
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
    return checked(value)


def checked(value: datetime) -> datetime:
    """A tz-aware instant in UTC, or :class:`BadValue` if it falls outside what billing reads
    (year 1 at +01:00 is year 0 in UTC: Python cannot even represent it)."""
    try:
        micros = datetime_to_micros(value)
    except OverflowError:
        raise BadValue(OUT_OF_RANGE) from None
    return in_range(micros)


def in_range(micros: int) -> datetime:
    """Epoch microseconds as a UTC datetime, or :class:`BadValue` outside MIN_US..MAX_US."""
    if not MIN_US <= micros <= MAX_US:
        raise BadValue(OUT_OF_RANGE)
    return micros_to_datetime(micros)


datetime_to_micros = epoch_micros
micros_to_datetime = instant
