"""User cost files: override or extend the supplier prices, in YAML or CSV.

One entry per (model glob, effective date). Columns / keys (prices in USD per 1M tokens)::

    model                       shell glob matched against the usage's model name (case-insensitive)
    effective_from              date the price applies from (YYYY-MM-DD)
    input_per_mtok              fresh input
    output_per_mtok             output (reasoning included)
    cached_input_per_mtok       optional; default: input_per_mtok (no cache discount)
    cache_write_per_mtok        optional; default: input_per_mtok
    provider                    optional; default: the provider genai-prices names for the model
    long_context_threshold      optional; prompt tokens per request above which the long prices
                                apply to the whole request
    long_input_per_mtok         required with long_context_threshold
    long_cached_input_per_mtok  optional; default: cached_input_per_mtok if given, else long input
    long_cache_write_per_mtok   optional; default: cache_write_per_mtok if given, else long input
    long_output_per_mtok        optional; default: output_per_mtok (output not tiered)

A YAML file is either a list of entries or a mapping with ``models:`` (the list), an optional
``currency: USD`` and optional ``service_tiers:`` (``{provider: {tier: multiplier}}``, e.g.
``openai: {batch: "0.5", priority: "1.75"}``: the multipliers of the standard prices that
override the built-in ones, see :mod:`billing.costs.tiers`; :func:`read_service_tiers`). YAML floats are read straight into ``Decimal``; CSV cells are strings parsed
to ``Decimal``. Every problem of a file is reported at once, each as ``file:line: field: reason``.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import yaml

from billing.errors import CostBookError, CostFileError, CostProblem, MoneyError
from billing.money import D
from billing.textfile import TextProblem, check_yaml_shape, read_text

__all__ = ["CostEntry", "CostFileError", "CostProblem", "read_cost_file", "read_service_tiers"]

FIELDS: Final = (
    "model",
    "provider",
    "effective_from",
    "input_per_mtok",
    "cached_input_per_mtok",
    "cache_write_per_mtok",
    "output_per_mtok",
    "long_context_threshold",
    "long_input_per_mtok",
    "long_cached_input_per_mtok",
    "long_cache_write_per_mtok",
    "long_output_per_mtok",
)
_REQUIRED: Final = ("model", "effective_from", "input_per_mtok", "output_per_mtok")
_LONG_PRICES: Final = (
    "long_input_per_mtok",
    "long_cached_input_per_mtok",
    "long_cache_write_per_mtok",
    "long_output_per_mtok",
)


@dataclass(frozen=True, slots=True)
class CostEntry:
    """One user price: a model glob's prices from ``effective_from`` on (USD per 1M tokens).

    ``cached_input`` / ``cache_write`` of ``None`` mean "same as input" (no separate cache price).
    ``long_*`` of ``None`` follow the rules in the module docstring.
    """

    model: str
    effective_from: date
    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    provider: str | None = None
    long_context_threshold: int | None = None
    long_input: Decimal | None = None
    long_cached_input: Decimal | None = None
    long_cache_write: Decimal | None = None
    long_output: Decimal | None = None
    source: str = ""


def read_cost_file(path: str | Path) -> tuple[CostEntry, ...]:
    """Read and validate a YAML (``.yaml``/``.yml``) or CSV (``.csv``) cost file.

    Raises :class:`CostFileError` listing every problem (``file:line: field: reason``).
    """
    p = Path(path)
    name = str(path)
    suffix = p.suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv"):
        raise CostFileError([CostProblem(name, None, "", "a cost file must end in .yaml, .yml or .csv")])
    try:
        text = read_text(p)
    except OSError as exc:
        raise CostFileError([CostProblem(name, None, "", f"cannot read: {exc.strerror or exc}")]) from None
    except TextProblem as exc:
        raise CostFileError([CostProblem(name, exc.line, "", exc.reason)]) from None
    rows = _yaml_rows(name, text) if suffix in (".yaml", ".yml") else _csv_rows(name, text)
    problems: list[CostProblem] = []
    entries: list[CostEntry] = []
    seen: dict[tuple[str, date], int] = {}
    for row in rows:
        entry = _entry(name, row, problems)
        if entry is None:
            continue
        key = (entry.model.lower(), entry.effective_from)
        if key in seen:
            problems.append(CostProblem(
                name, row.lines.get("effective_from", row.line), "effective_from",
                f"{entry.model!r} already has a price from {entry.effective_from} (line {seen[key]})",
            ))
            continue
        seen[key] = row.line
        entries.append(entry)
    if problems:
        raise CostFileError(problems)
    return tuple(entries)


# -- rows ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    line: int
    values: dict[str, Any]
    lines: dict[str, int]
    problems: list[CostProblem]


class _LineDict(dict[Any, Any]):
    """A YAML mapping that remembers the line of itself and of each key."""

    line: int = 0
    key_lines: dict[Any, int]
    duplicates: list[tuple[Any, int, int]]  # key, its line, the line of its first use


class _Loader(yaml.SafeLoader):
    """Safe YAML with floats as Decimal (never float) and line numbers on mappings."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal | str:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    try:
        value = Decimal(text.replace("_", ""))
    except ArithmeticError:
        return text  # .inf, .nan, 1:30.5 ...: left as text, refused by D() with a clear reason
    return value if value.is_finite() else text


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.Node) -> _LineDict:
    assert isinstance(node, yaml.MappingNode)
    loader.flatten_mapping(node)
    data = _LineDict()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    data.duplicates = []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            key = str(key)
        if key in data:
            data.duplicates.append((key, line, data.key_lines[key]))
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines.setdefault(key, line)  # the first use: a duplicate is an error anyway
    return data


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    try:
        return loader.construct_yaml_timestamp(node)  # type: ignore[arg-type]
    except ValueError:  # 2026-13-01: left as text, refused with the line and the reason
        return str(loader.construct_scalar(node))  # type: ignore[arg-type]


class _LineList(list[Any]):
    """A YAML sequence that remembers the line of each item."""

    item_lines: list[int]


def _construct_sequence(loader: yaml.SafeLoader, node: yaml.Node) -> _LineList:
    assert isinstance(node, yaml.SequenceNode)
    data = _LineList(loader.construct_object(item, deep=True) for item in node.value)
    data.item_lines = [item.start_mark.line + 1 for item in node.value]
    return data


_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _yaml_rows(name: str, text: str) -> list[_Row]:
    try:
        check_yaml_shape(text)  # no alias bomb, no 20,000-deep nesting reaches the loader
        doc = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: safe
    except TextProblem as exc:
        raise CostFileError([CostProblem(name, exc.line, "", exc.reason)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise CostFileError([CostProblem(name, line, "", f"not valid YAML: {reason}")]) from None
    entries: Any = doc
    if isinstance(doc, _LineDict):
        problems = _dict_problems(name, doc, allowed=("models", "currency", "service_tiers"))
        currency = doc.get("currency", "USD")
        if str(currency).upper() != "USD":
            problems.append(CostProblem(
                name, doc.key_lines.get("currency"), "currency",
                f"supplier prices are in USD (genai-prices' currency), got {_show(currency)}",
            ))
        if "models" not in doc:
            problems.append(CostProblem(name, doc.line, "models", "missing: the list of model prices"))
        if problems:
            raise CostFileError(problems)
        entries = doc["models"]
    if doc is None or entries is None:
        raise CostFileError([CostProblem(name, 1 if doc is None else doc.line, "",
                                         "no model prices in the file")])
    if not isinstance(entries, list):
        raise CostFileError([CostProblem(name, getattr(entries, "line", None), "models",
                                         "expected a list of model prices")])
    rows: list[_Row] = []
    for index, item in enumerate(entries):
        if not isinstance(item, _LineDict):
            line = entries.item_lines[index] if isinstance(entries, _LineList) else None
            raise CostFileError([CostProblem(
                name, line, f"model price {index + 1}",
                f"expected a mapping of model, input_per_mtok, ..., got {_show(item)}",
            )])
        rows.append(_Row(item.line, dict(item), dict(item.key_lines), _dict_problems(name, item)))
    return rows


def read_service_tiers(path: str | Path) -> dict[str, dict[str, Decimal]]:
    """The ``service_tiers:`` of a YAML cost file (``{}`` for none, and for CSV files);
    raises :class:`CostFileError` naming the line of a bad one. Call after
    :func:`read_cost_file`, which checks the rest of the file."""
    from billing.costs.tiers import check_tiers

    p = Path(path)
    name = str(path)
    if p.suffix.lower() not in (".yaml", ".yml"):
        return {}
    text = read_text(p)
    check_yaml_shape(text)
    doc = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: safe
    if not isinstance(doc, _LineDict) or "service_tiers" not in doc:
        return {}
    raw = doc["service_tiers"]
    line = doc.key_lines.get("service_tiers")

    def bad(message: str) -> CostFileError:
        return CostFileError([CostProblem(name, line, "service_tiers", message)])

    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise bad("expected provider: {tier: multiplier}, e.g. openai: {batch: \"0.5\"}")
    tiers: dict[str, dict[str, Decimal]] = {}
    for provider, by_tier in raw.items():
        for tier, value in by_tier.items():
            try:
                factor = value if isinstance(value, Decimal) else (
                    Decimal(value) if isinstance(value, int | str) and not isinstance(value, bool)
                    else None)
            except ArithmeticError:
                factor = None
            if factor is None:
                raise bad(f"{provider}: {tier} must be a decimal multiplier, got {_show(value)}")
            tiers.setdefault(str(provider), {})[str(tier)] = factor
    try:
        return check_tiers(tiers)
    except CostBookError as exc:
        raise bad(str(exc).removeprefix("service_tiers: ")) from None


def _show(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages that quote a user's value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dict_problems(
    name: str, data: _LineDict, allowed: Sequence[str] = FIELDS
) -> list[CostProblem]:
    problems = [
        CostProblem(name, line, key, f"given twice (first on line {first})")
        for key, line, first in data.duplicates
    ]
    for key in data:
        if key not in allowed:
            problems.append(CostProblem(name, data.key_lines.get(key), key, _unknown(key, allowed)))
    return problems


def _unknown(key: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(allowed)})"
    return f"unknown field{hint}"


def _csv_rows(name: str, text: str) -> list[_Row]:
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = next(reader)
    except StopIteration:
        raise CostFileError([CostProblem(name, 1, "", "empty file (expected a header row)")]) from None
    except csv.Error as exc:
        raise CostFileError([CostProblem(name, reader.line_num, "", f"not valid CSV: {exc}")]) from None
    columns = [c.strip() for c in header]
    header_problems = [
        CostProblem(name, 1, column, _unknown(column, FIELDS)) for column in columns if column not in FIELDS
    ]
    header_problems += [
        CostProblem(name, 1, column, "missing column") for column in _REQUIRED if column not in columns
    ]
    if header_problems:
        raise CostFileError(header_problems)
    rows: list[_Row] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            problems: list[CostProblem] = []
            if len(cells) != len(columns):
                problems.append(CostProblem(
                    name, line, "", f"{len(cells)} cells, but the header has {len(columns)} columns"
                ))
            values = {c: v.strip() for c, v in zip(columns, cells, strict=False) if v.strip()}
            rows.append(_Row(line, values, dict.fromkeys(values, line), problems))
    except csv.Error as exc:
        raise CostFileError([CostProblem(name, reader.line_num, "", f"not valid CSV: {exc}")]) from None
    if not rows:
        raise CostFileError([CostProblem(name, 1, "", "no model prices in the file")])
    return rows


# -- validation ---------------------------------------------------------------------------------


def _entry(name: str, row: _Row, problems: list[CostProblem]) -> CostEntry | None:
    start = len(problems)
    problems.extend(row.problems)
    values = row.values

    def bad(field: str, message: str) -> None:
        problems.append(CostProblem(name, row.lines.get(field, row.line), field, message))

    for field in _REQUIRED:
        if values.get(field) in (None, ""):
            bad(field, "missing (required)")

    model = values.get("model")
    if model is not None and not isinstance(model, str):
        bad("model", f"must be text (a model name or glob), got {_show(model)}")
    provider = values.get("provider")
    if provider is not None and (not isinstance(provider, str) or not provider.strip()):
        bad("provider", f"must be a provider id such as 'anthropic', got {_show(provider)}")

    effective_from = None
    if "effective_from" in values:
        effective_from = _date(values["effective_from"], lambda m: bad("effective_from", m))

    def price(field: str) -> Decimal | None:
        if values.get(field) in (None, ""):
            return None
        try:
            amount = D(values[field])
        except MoneyError as exc:
            bad(field, f"{exc} (write a price per 1M tokens, e.g. 3.00)")
            return None
        if amount < 0:
            bad(field, f"must not be negative, got {amount}")
            return None
        return amount

    prices = {field: price(field) for field in FIELDS if field.endswith("_per_mtok")}

    threshold: int | None = None
    raw_threshold = values.get("long_context_threshold")
    if raw_threshold not in (None, ""):
        threshold = _threshold(raw_threshold, lambda m: bad("long_context_threshold", m))
        if threshold is not None and "long_input_per_mtok" not in values:
            bad("long_input_per_mtok", "required with long_context_threshold")
    else:
        for field in _LONG_PRICES:
            if field in values:
                bad(field, "needs long_context_threshold (the prompt size above which it applies)")

    if len(problems) > start:
        return None
    assert isinstance(model, str) and effective_from is not None
    input_price, output_price = prices["input_per_mtok"], prices["output_per_mtok"]
    assert input_price is not None and output_price is not None
    return CostEntry(
        model=model.strip(),
        effective_from=effective_from,
        input=input_price,
        output=output_price,
        cached_input=prices["cached_input_per_mtok"],
        cache_write=prices["cache_write_per_mtok"],
        provider=provider.strip() if isinstance(provider, str) else None,
        long_context_threshold=threshold,
        long_input=prices["long_input_per_mtok"],
        long_cached_input=prices["long_cached_input_per_mtok"],
        long_cache_write=prices["long_cache_write_per_mtok"],
        long_output=prices["long_output_per_mtok"],
        source=f"{name}:{row.line}",
    )


def _date(value: object, bad: Any) -> date | None:
    if isinstance(value, datetime):
        bad(f"must be a date (YYYY-MM-DD), not a timestamp: {value.isoformat()}")
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    bad(f"must be a date written YYYY-MM-DD, got {_show(value)}")
    return None


def _threshold(value: object, bad: Any) -> int | None:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().replace("_", "").isdigit():
        number = int(value.strip().replace("_", ""))
    if number is None or number <= 0:
        bad(f"must be a whole number of prompt tokens > 0, got {_show(value)}")
        return None
    return number

