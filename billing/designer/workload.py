"""Workload files: who the customers are, how they chat, which models they use.

A workload describes a synthetic customer population for the plan designer; ``billing simulate``
turns it into a usage trace (Parquet, labelled synthetic) that ``billing compare`` rates like a
real one. Example (``examples/workload.yaml`` has every field, commented)::

    seed: 7
    start: 2026-11-01T00:00:00Z
    days: 30
    conversations_per_day: 400
    customers:
      count: 73
      activity: {kind: zipf, exponent: "1.2"}
    model_mix:
      - {model: claude-sonnet-4-5, share: "0.3", grade: premium}
      - {model: deepseek-chat, share: "0.7", grade: commodity}
    conversation:
      turns: {dist: geometric, mean: 6}
      tokens_per_turn: 1200
      output_tokens_per_turn: 300
      context_window: 128000
      cache_hit_rate: "0.8"

Activity skew, fitted to ServeGen (Alibaba Bailian production, see data/README.md). The fit
matches what drives margins, the share of requests from the busiest customers, for the Zipf
weights ``r ** -s`` over the pool's client count:

- ``reason/deepseek-r1`` (73 clients, 1 day): the top client sends 29% of requests and the top
  10% of clients (8) send 63%; Zipf s = 1.2 over 73 customers gives 29% and 67%.
- ``language/m-small`` (43 clients, 14 days): top client 30%, top 10% (5) 77%; s = 1.5 over 43
  gives 43% and 76% (one exponent cannot match both: this pool has a few co-equal giants).

A straight line through log(requests) against log(rank) is much steeper (1.86 and 2.91) because
the long tail of tiny clients dominates it; as weights it overstates the head (s = 1.9 over 73
gives the top client 58%), so it is not the fit used here. Lognormal weights with ``sigma`` 1.8
give the top 10% of 73 customers about two thirds of the requests (top client about 22%).

So ``{kind: zipf, exponent: "1.2"}`` is a ServeGen-like population; ``{kind: uniform}`` is the
seat-pricing dream where everyone is average.

Numbers are read straight to :class:`~decimal.Decimal` (a YAML float never becomes a ``float``);
token counts are integers. Every problem of a file is reported at once, with its line:
``workload.yaml:12 conversation.cache_hit_rate: must be between 0 and 1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from billing.errors import FileProblem, WorkloadError
from billing.textfile import TextProblem, check_yaml_shape, read_text

__all__ = [
    "ActivitySpec",
    "ConversationSpec",
    "CustomersSpec",
    "LognormalActivity",
    "ModelShare",
    "TurnsSpec",
    "UniformActivity",
    "Workload",
    "WorkloadError",
    "WorkloadProblem",
    "ZipfActivity",
    "load_workload",
    "parse_workload",
]


WorkloadProblem = FileProblem
"""One problem in a workload file (``file:LINE path: message``)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UniformActivity(_Model):
    """Every customer equally active."""

    kind: Literal["uniform"] = "uniform"


class ZipfActivity(_Model):
    """The customer of rank r (1 = busiest) gets a weight ``r ** -exponent``."""

    kind: Literal["zipf"]
    exponent: Annotated[Decimal, Field(ge=0, le=10)]
    """Zipf exponent s; ServeGen's pools fit 1.2 (deepseek-r1, 73 clients) and 1.5 (m-small)."""


class LognormalActivity(_Model):
    """Each customer's weight is ``exp(sigma * Z)``, Z standard normal drawn with the seed."""

    kind: Literal["lognormal"]
    sigma: Annotated[Decimal, Field(ge=0, le=10)]
    """Standard deviation of log activity; 1.8 over 73 customers is ServeGen-like."""


ActivitySpec = Annotated[
    UniformActivity | ZipfActivity | LognormalActivity, Field(discriminator="kind")
]


class CustomersSpec(_Model):
    """The customer population."""

    count: Annotated[int, Field(ge=1, le=10_000_000)]
    """How many customers."""
    id_prefix: str = "cust-"
    """Customer ids are this prefix plus a zero-padded rank: ``cust-0001`` is the busiest."""
    activity: ActivitySpec = UniformActivity()
    """How conversations are spread over customers (the power-user skew)."""


class ModelShare(_Model):
    """One model of the mix and its share of conversations (or of customers)."""

    model: Annotated[str, Field(min_length=1)]
    """Model name as the cost book and rate cards know it."""
    share: Annotated[Decimal, Field(gt=0, le=1)]
    """Share of conversations (``model_assignment: conversation``) or of customers."""
    grade: str | None = None
    """Optional grade for the reader (premium, commodity); rating takes grades from the plan."""


class TurnsSpec(_Model):
    """Turns per conversation: a distribution with a mean (every conversation has >= 1 turn)."""

    dist: Literal["fixed", "poisson", "geometric"]
    """``fixed``: exactly ``mean`` turns (mean must be whole); ``poisson``: 1 + Poisson(mean - 1);
    ``geometric``: Geometric(1 / mean) on 1, 2, 3, ... (a long tail of long chats)."""
    mean: Annotated[Decimal, Field(ge=1, le=10_000)]
    """Mean turns per conversation."""
    max: Annotated[int, Field(ge=1)] | None = None
    """Optional cap on turns (draws above it are cut to it, which lowers the mean)."""

    @model_validator(mode="after")
    def _fixed_is_whole(self) -> TurnsSpec:
        if self.dist == "fixed" and self.mean != self.mean.to_integral_value():
            raise ValueError(f"a fixed number of turns must be whole, got {self.mean}")
        return self


class ConversationSpec(_Model):
    """How one conversation spends tokens (see billing.designer.conversation for the rule)."""

    turns: TurnsSpec
    tokens_per_turn: Annotated[int, Field(ge=1)]
    """Tokens each turn adds to the context (user message and previous reply)."""
    output_tokens_per_turn: Annotated[int, Field(ge=0)]
    """Output tokens generated per turn."""
    context_window: Annotated[int, Field(ge=1)]
    """The model's context window: the prompt never exceeds it."""
    cache_hit_rate: Annotated[Decimal, Field(ge=0, le=1)] = Decimal(0)
    """Share of the re-read prefix served from the prompt cache (priced as cached input)."""
    seconds_between_turns: Annotated[int, Field(ge=0)] = 60
    """Time between consecutive turns of a conversation."""

    @model_validator(mode="after")
    def _window_holds_a_turn(self) -> ConversationSpec:
        if self.context_window < self.tokens_per_turn:
            raise ValueError(
                f"context_window ({self.context_window}) must hold at least one turn "
                f"(tokens_per_turn {self.tokens_per_turn})"
            )
        return self


class Workload(_Model):
    """A synthetic workload: population, model mix and conversation shape, with a seed."""

    name: str | None = None
    """Free text, copied into the trace's metadata."""
    seed: Annotated[int, Field(ge=0)]
    """Same seed, same workload file: the same trace, event for event."""
    start: datetime
    """First instant of the trace (ISO 8601 with a time zone)."""
    days: Annotated[int, Field(ge=1, le=3660)]
    """Length of the trace in days."""
    conversations_per_day: Annotated[int, Field(ge=0)]
    """Conversations per day across the whole population."""
    customers: CustomersSpec
    model_mix: Annotated[list[ModelShare], Field(min_length=1)]
    model_assignment: Literal["conversation", "customer"] = "conversation"
    """``conversation``: each conversation draws its model by share; ``customer``: each customer
    is given one model, the shares being shares of customers (assigned in a seeded random order,
    so heavy users are not all on the first model)."""
    conversation: ConversationSpec

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"start {value.isoformat()} has no time zone (write e.g. 2026-11-01T00:00:00Z)"
            )
        return value

    @field_validator("model_mix")
    @classmethod
    def _shares_sum_to_one(cls, value: list[ModelShare]) -> list[ModelShare]:
        total = sum((m.share for m in value), Decimal(0))
        if total != 1:
            raise ValueError(f"shares must sum to 1, they sum to {total}")
        names = [m.model for m in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model listed twice: {', '.join(dupes)}")
        return value


# ---------------------------------------------------------------------------- YAML loading


class _DecimalLoader(yaml.SafeLoader):
    """SafeLoader whose floats are Decimals (the YAML text, never a binary float)."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "")  # type: ignore[arg-type]
    return Decimal(text)


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def _line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """1-based line of the YAML node at pydantic location ``loc`` (deepest node found)."""
    node = root
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    node = value
                    line = key.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _dotted(loc: Sequence[int | str]) -> str:
    """``model_mix[1].share``: positions counted from 1, as a user counts (and plan errors)."""
    out = ""
    for part in loc:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_workload(text: str, file: str = "<workload>") -> Workload:
    """Validate workload YAML ``text``; ``file`` names it in error messages."""
    try:
        check_yaml_shape(text)  # no alias bomb, no 20,000-deep nesting reaches the loader
        root = yaml.compose(text, Loader=_DecimalLoader)
        data: Any = yaml.load(text, Loader=_DecimalLoader)
    except TextProblem as exc:
        raise WorkloadError([WorkloadProblem(file, exc.line, "", exc.reason)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise WorkloadError([WorkloadProblem(file, line, "", f"not valid YAML: {reason}")]) from None
    except ArithmeticError as exc:
        raise WorkloadError([WorkloadProblem(file, None, "", f"bad number: {exc}")]) from None
    if not isinstance(data, dict):
        raise WorkloadError([WorkloadProblem(file, 1, "", "a workload must be a YAML mapping")])
    duplicates = _duplicate_keys(root, file)
    if duplicates:
        raise WorkloadError(duplicates)
    try:
        return Workload.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            # Drop discriminator tags (e.g. 'zipf') that pydantic inserts into the location.
            loc = [p for p in err["loc"] if not (isinstance(p, str) and "[" in p)]
            loc = _strip_union_tags(data, loc)
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown field (check the spelling; see examples/workload.yaml)"
            problems.append(WorkloadProblem(file, _line_of(root, loc), _dotted(loc), message))
        raise WorkloadError(problems) from None


def _duplicate_keys(root: yaml.Node | None, file: str) -> list[WorkloadProblem]:
    """A key given twice in one mapping (YAML would keep the last one silently)."""
    problems: list[WorkloadProblem] = []
    todo = [root] if root is not None else []
    seen_nodes: set[int] = set()
    while todo:
        node = todo.pop()
        if id(node) in seen_nodes:  # an alias: the same node again
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                line = key.start_mark.line + 1
                if isinstance(key, yaml.ScalarNode):
                    if key.value in first:
                        problems.append(WorkloadProblem(
                            file, line, key.value,
                            f"given twice (first on line {first[key.value]})"))
                    first.setdefault(key.value, line)
                todo.append(value)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
    return sorted(problems, key=lambda p: p.line or 0)


_MISSING: Any = object()


def _child(node: Any, part: int | str) -> Any:
    if isinstance(node, dict):
        return node.get(part, _MISSING)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return _MISSING


def _strip_union_tags(data: Any, loc: Sequence[int | str]) -> list[int | str]:
    """Keep only location parts that exist in the document (drops union member tags)."""
    out: list[int | str] = []
    node = data
    for index, part in enumerate(loc):
        child = _child(node, part)
        if child is not _MISSING:
            node = child
            out.append(part)
        elif isinstance(node, dict | list):
            # A tag like 'zipf' between a union field and its member's fields: skip it,
            # unless it is the missing or unknown key itself (the last part).
            if index == len(loc) - 1:
                out.append(part)
        else:
            out.append(part)
    return out


def load_workload(path: str | Path) -> Workload:
    """Read and validate a workload file; raise :class:`WorkloadError` listing every problem."""
    p = Path(path)
    try:
        text = read_text(p)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise WorkloadError([WorkloadProblem(str(p), None, "", f"cannot read: {reason}")]) from None
    except TextProblem as exc:
        raise WorkloadError([WorkloadProblem(str(p), exc.line, "", exc.reason)]) from None
    return parse_workload(text, str(p))
