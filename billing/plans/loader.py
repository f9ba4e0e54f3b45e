"""Load plan files (YAML or TOML) into validated :class:`~billing.plans.model.Plan` objects.

Numbers go straight to ``Decimal`` (a YAML or TOML float never becomes a binary float). Every
problem of a file is reported at once, each with its line:
``plans/pro.yaml:42 charges[1].tiers.tiers[2].up_to: must be greater than ...``.
A file with any problem yields no plan at all: nothing half-loaded is ever used.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from billing.errors import PlanProblem, PlanValidationError
from billing.money import in_exact_context
from billing.plans.model import CHARGE_KINDS, Plan
from billing.plans.types import MAX_DIGITS, BareDecimal
from billing.textfile import TextProblem, check_brackets, check_yaml_shape, decode_text

__all__ = ["load_plan", "load_plan_text", "parse_document", "problems_from_validation"]

Loc = tuple[str | int, ...]


class _Document:
    """Plain data from a file plus the line of every key and list item, and the keys given
    twice in one mapping: (where, line of the repeat, line of the first)."""

    def __init__(self, data: Any, lines: dict[Loc, int],
                 duplicates: list[tuple[Loc, int, int]] | None = None) -> None:
        self.data = data
        self.lines = lines
        self.duplicates = duplicates or []

    def line_of(self, loc: Loc) -> int | None:
        for cut in range(len(loc), -1, -1):
            line = self.lines.get(loc[:cut])
            if line is not None:
                return line
        return None


_YAML_INT = "tag:yaml.org,2002:int"
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in
                        ("str", "int", "float", "bool", "null", "timestamp", "map", "seq"))
_YAML_FLOAT = "tag:yaml.org,2002:float"


def _yaml_scalar(node: yaml.ScalarNode) -> Any:
    tag, text = node.tag, node.value
    line = node.start_mark.line + 1
    if tag in (_YAML_FLOAT, _YAML_INT) and sum(c.isdigit() for c in text) > MAX_DIGITS:
        raise TextProblem(line, f"a number with {sum(c.isdigit() for c in text):,} digits "
                                f"(at most {MAX_DIGITS})")
    try:
        if tag == _YAML_FLOAT:
            cleaned = text.replace("_", "")
            if cleaned.lower() in {".nan", ".inf", "-.inf", "+.inf"}:
                raise ValueError(f"{text!r} is not a finite number")
            return BareDecimal(cleaned)
        if tag == _YAML_INT:
            return int(yaml.SafeLoader(text).construct_yaml_int(node))  # handles 0x, 0o, 1_000
        return yaml.SafeLoader("").construct_object(node)
    except (ValueError, ArithmeticError) as exc:
        raise TextProblem(line, f"{text!r} cannot be read: {exc}") from None


def _compose(node: yaml.Node, loc: Loc, lines: dict[Loc, int],
             duplicates: list[tuple[Loc, int, int]]) -> Any:
    lines.setdefault(loc, node.start_mark.line + 1)
    if node.tag == "tag:yaml.org,2002:merge":
        raise TextProblem(node.start_mark.line + 1,
                          "YAML merge keys (<<) are not supported in a plan file: write the keys "
                          "out (an anchor and alias may repeat a whole value)")
    if node.tag not in _PLAIN_TAGS:
        raise TextProblem(node.start_mark.line + 1,
                          f"the YAML tag {node.tag} is not allowed in a plan file")
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _compose(key_node, (), {}, [])
            child = (*loc, str(key))
            line = key_node.start_mark.line + 1
            if str(key) in out:
                duplicates.append((child, line, lines[child]))
            lines[child] = line
            out[str(key)] = _compose(value_node, child, lines, duplicates)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            child = (*loc, index)
            lines[child] = item.start_mark.line + 1
            items.append(_compose(item, child, lines, duplicates))
        return items
    assert isinstance(node, yaml.ScalarNode)
    return _yaml_scalar(node)


def _parse_yaml(text: str) -> _Document:
    check_yaml_shape(text)
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[Loc, int] = {}
    duplicates: list[tuple[Loc, int, int]] = []
    data = {} if node is None else _compose(node, (), lines, duplicates)
    return _Document(data, lines, duplicates)


_TOML_AT = re.compile(r"\(at line (\d+), column \d+\)")


def _parse_toml(text: str) -> _Document:
    check_brackets(text)
    try:
        data = tomllib.loads(text, parse_float=BareDecimal)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_AT.search(message)
        line = int(found.group(1)) if found else None
        reason = _TOML_AT.sub("", message).strip()
        if reason.startswith("Cannot overwrite a value") or reason.startswith("Cannot declare"):
            reason = "a key or table given twice (the later one would win)"
        raise TextProblem(line, f"not valid TOML: {reason}") from None
    except ValueError as exc:  # an integer past Python's digit limit
        long = re.search(rf"\d{{{MAX_DIGITS + 1},}}", text)
        line = None if long is None else text.count("\n", 0, long.start()) + 1
        reason = f"a number with more than {MAX_DIGITS} digits" if long else str(exc)
        raise TextProblem(line, f"not valid TOML: {reason}") from None
    # tomllib keeps no positions: find top-level keys and [[charges]] headers by text.
    lines: dict[Loc, int] = {}
    charge = -1
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("[[charges]]"):
            charge += 1
            lines[("charges", charge)] = number
        elif "=" in stripped and not stripped.startswith("#"):
            key = stripped.split("=", 1)[0].strip().strip('"')
            loc: Loc = ("charges", charge, key) if charge >= 0 else (key,)
            lines.setdefault(loc, number)
    return _Document(data, lines)


def parse_document(text: str, *, suffix: str) -> _Document:
    """Parse YAML (default) or TOML (``suffix == ".toml"``) into plain data with line numbers."""
    if suffix.lower() == ".toml":
        return _parse_toml(text)
    return _parse_yaml(text)


def _strip_tags(loc: Sequence[str | int]) -> Loc:
    """Drop the discriminator tags pydantic inserts (``charges.1.usage.tiers`` -> ``charges.1.tiers``)."""
    out: list[str | int] = []
    for index, part in enumerate(loc):
        if (
            isinstance(part, str)
            and index >= 2
            and loc[index - 2] == "charges"
            and isinstance(loc[index - 1], int)
            and part in CHARGE_KINDS
        ):
            continue
        out.append(part)
    return tuple(out)


def format_loc(loc: Loc) -> str:
    """A location as the user reads it: list positions count from 1 (``charges[1]`` is the
    first charge), keys joined with dots."""
    text = ""
    for part in loc:
        text += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    import typing

    stack = [annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            found: type[BaseModel] = item
            return found
        stack.extend(typing.get_args(item))
    return None


def _charge_model(data: Any, loc: Loc) -> type[BaseModel] | None:
    from billing.plans import model as m

    try:
        kind = data["charges"][loc[1]]["kind"]
    except (KeyError, IndexError, TypeError):
        return None
    models: dict[str, type[BaseModel]] = {
        "flat": m.FlatCharge, "seats": m.SeatsCharge, "usage": m.UsageCharge,
        "rate_card": m.RateCardCharge, "credits": m.CreditsCharge,
        "commitment": m.CommitmentCharge, "cap": m.CapCharge, "capacity": m.CapacityCharge,
    }
    return models.get(kind)


def _resolve_model(loc: Loc, data: Any) -> type[BaseModel] | None:
    """Model class of the mapping at ``loc``, walking through charges by their kind."""
    from billing.plans import model as m

    current: type[BaseModel] | None = m.Plan
    index = 0
    while index < len(loc) and current is not None:
        part = loc[index]
        if current is m.Plan and part == "charges" and index + 1 < len(loc):
            current = _charge_model(data, loc)
            index += 2
            continue
        if isinstance(part, int):
            index += 1
            continue
        field = current.model_fields.get(part)
        current = None if field is None else _inner_model(field.annotation)
        index += 1
    return current


def _message(error: Mapping[str, Any], loc: Loc, document: _Document) -> tuple[Loc, str]:
    data = document.data
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "plan_rule":
        subpath = str(ctx.get("subpath", ""))
        extra: list[str | int] = []
        for piece in subpath.replace("]", "").replace("[", ".").split("."):
            if piece:
                extra.append(int(piece) if piece.isdigit() else piece)
        message = str(ctx["message"])
        see, label = ctx.get("see"), ctx.get("see_label")
        if isinstance(see, str) and isinstance(label, str):
            # another place of the file the message names: add its line
            other: list[str | int] = []
            for piece in see.replace("]", "").replace("[", ".").split("."):
                if piece:
                    other.append(int(piece) if piece.isdigit() else piece)
            line = document.line_of((*loc, *other))
            if line is not None:
                message = message.replace(label, f"{label} (line {line})", 1)
        return (*loc, *extra), message
    if kind == "extra_forbidden":
        key = str(loc[-1])
        owner = _resolve_model(loc[:-1], data)
        hint = ""
        if owner is not None:
            known = list(owner.model_fields)
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"
        return loc, f"unknown key {key!r}{hint}"
    if kind == "union_tag_invalid":
        tag = ctx.get("tag")
        return (*loc, "kind"), (
            f"unknown charge kind {tag!r} (expected one of: {', '.join(CHARGE_KINDS)})"
        )
    if kind == "union_tag_not_found":
        return loc, f"a charge needs `kind:` (one of: {', '.join(CHARGE_KINDS)})"
    if kind == "missing":
        if loc and loc[-1] == "mode":
            return loc, "missing tier `mode`: say `mode: graduated` or `mode: volume` (never implied)"
        return loc, "required key is missing"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    return loc, message


def problems_from_validation(
    exc: ValidationError, document: _Document, filename: str, prefix: Loc = ()
) -> list[PlanProblem]:
    problems: list[PlanProblem] = []
    for error in exc.errors(include_url=False):
        loc = (*prefix, *_strip_tags(error["loc"]))
        loc, message = _message(error, loc, document)
        problems.append(PlanProblem(filename, document.line_of(loc), format_loc(loc), message))
    return sorted(problems, key=lambda p: (p.line or 0, p.path))


@in_exact_context
def load_plan_text(text: str, *, filename: str = "<plan>", suffix: str = ".yaml") -> Plan:
    """Validate one plan from text. Raises :class:`PlanValidationError` with every problem."""
    try:
        document = parse_document(decode_text(text.encode("utf-8", "surrogatepass")),
                                  suffix=suffix)
    except TextProblem as exc:
        raise PlanValidationError([PlanProblem(filename, exc.line, "", exc.reason)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise PlanValidationError(
            [PlanProblem(filename, line, "", f"not valid YAML: {exc.problem}")]
        ) from None
    except (yaml.YAMLError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise PlanValidationError([PlanProblem(filename, None, "", f"cannot parse: {reason}")]) from None
    except RecursionError:
        raise PlanValidationError(
            [PlanProblem(filename, None, "", "nested too deeply to be a plan")]
        ) from None
    if not text.strip() or (document.data in ({}, None) and not document.lines):
        raise PlanValidationError([PlanProblem(
            filename, 1, "", "the file is empty: a plan is a mapping of keys (id, version, "
            "currency, charges)")])
    if not isinstance(document.data, dict):
        raise PlanValidationError(
            [PlanProblem(filename, 1, "", "a plan file must be a mapping of keys (id, version, ...)")]
        )
    duplicates = [
        PlanProblem(filename, line, format_loc(loc),
                    f"duplicate key {loc[-1]!r} (first on line {first}; the later one would "
                    "win)")
        for loc, line, first in document.duplicates
    ]
    data = {k: (v.date() if isinstance(v, datetime) else v) for k, v in document.data.items()}
    version = data.get("version")
    if isinstance(version, str):
        with contextlib.suppress(ValueError):
            data["version"] = date.fromisoformat(version)
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        problems = duplicates + problems_from_validation(exc, document, filename)
        raise PlanValidationError(sorted(problems, key=lambda p: (p.line or 0, p.path))) from None
    if duplicates:
        raise PlanValidationError(duplicates)
    sources = {}
    for index, charge in enumerate(plan.charges):
        line = document.line_of(("charges", index))
        sources[charge.name] = filename if line is None else f"{filename}:{line}"
    return plan.with_charge_sources(sources)


def load_plan(path: str | Path) -> Plan:
    """Load and validate one plan file (``.yaml``, ``.yml`` or ``.toml``)."""
    file = Path(path)
    try:
        text = decode_text(file.read_bytes())
    except OSError as exc:
        raise PlanValidationError([PlanProblem(str(path), None, "", f"cannot read: {exc.strerror}")]) from None
    except TextProblem as exc:
        raise PlanValidationError([PlanProblem(str(path), exc.line, "", exc.reason)]) from None
    return load_plan_text(text, filename=str(path), suffix=file.suffix)


def plan_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories into their plan files (sorted); keep files as given."""
    out: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            out.extend(
                sorted(p for p in path.iterdir() if p.suffix.lower() in {".yaml", ".yml", ".toml"})
            )
        else:
            out.append(path)
    return out
