"""Usage events from what the model providers return: OpenAI, Anthropic and Gemini usage objects.

Providers disagree on what a token count means, and this library's ``input_tokens`` is *fresh*
input only (see ``docs/providers.md`` for every field, its meaning and its source):

- **OpenAI** (Chat Completions ``usage`` and Responses API ``usage``): ``prompt_tokens`` /
  ``input_tokens`` *include* ``prompt_tokens_details.cached_tokens`` /
  ``input_tokens_details.cached_tokens``, so fresh input = prompt - cached; cached tokens are
  cache reads; OpenAI reports no cache writes. ``completion_tokens`` / ``output_tokens`` already
  *include* the reasoning tokens of the details, so output = completion.
- **Anthropic** (Messages ``usage``): ``input_tokens`` *excludes* ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``; the three are fresh input, cache reads and cache writes.
  ``cache_creation`` splits the writes into 5-minute and 1-hour ones (see below).
  ``output_tokens`` includes extended-thinking tokens.
- **Gemini** (``usageMetadata``, camelCase as in the REST API or snake_case as in the SDKs):
  ``promptTokenCount`` *includes* ``cachedContentTokenCount``, so fresh input = prompt - cached;
  ``toolUsePromptTokenCount`` is reported apart and is input; ``thoughtsTokenCount`` is reported
  apart from ``candidatesTokenCount`` and billed as output, so output = candidates + thoughts.
  Proto3 JSON leaves out zero counts, so every Gemini count but ``promptTokenCount`` may be
  absent (0). When ``totalTokenCount`` is given it must equal prompt + tool-use prompt +
  candidates + thoughts.

**1-hour cache writes.** A usage event has one cache-write class, which the cost book prices at
the supplier's cache-write price: for Anthropic that is the 5-minute price (1.25x input), while a
1-hour write costs 2x input. Recording 1-hour writes as ordinary cache writes would understate
the supplier cost by 0.75x input per token, silently, so :func:`from_anthropic` refuses a usage
object with 1-hour writes unless the caller says what to do
(``one_hour_cache_writes="as_cache_write"``: record them as cache writes, knowing the cost book
prices them at the 5-minute rate; the event's ``properties`` then carry
``cache_write_1h_tokens`` so the choice stays visible).

Counts a cost book cannot price (OpenAI audio tokens, OpenAI's ``cache_write_tokens`` detail
whose inclusion in the prompt count is not documented) are refused when non-zero rather than
billed as text tokens. Every error is a :class:`~billing.errors.ProviderUsageError` naming the
provider and the field.

**Reasoning.** The event's ``reasoning_tokens`` is the part of its output that is reasoning:
OpenAI's ``completion_tokens_details.reasoning_tokens`` / ``output_tokens_details.reasoning_tokens``
(included in the output count), Gemini's ``thoughtsTokenCount`` (added to the output), and 0 for
Anthropic (extended thinking is billed as output and not reported apart).

**Service tiers.** Each function takes ``service_tier=`` (``standard``, ``batch``, ``flex``,
``priority``), and otherwise reads the tier the provider reports: OpenAI's response
``service_tier`` (``default`` is standard; ``flex``, ``priority``; ``scale``, OpenAI's Scale Tier
of reserved units, is refused: its tokens are not priced per token), Anthropic's
``usage.service_tier`` (``standard``, ``priority``, ``batch``). Gemini reports the tier in an
HTTP header (``x-gemini-service-tier``), not in the body: pass it as ``service_tier=``. A
keyword that contradicts a reported tier other than standard is an error; a keyword ``batch``
over a reported standard tier is taken (batch results carry the standard tier's name).

The functions accept a usage object or the whole response (anything with a ``usage`` /
``usageMetadata`` / ``usage_metadata`` member, whose ``model`` / ``modelVersion`` is then the
default model), as a ``dict`` or as an SDK object (read through ``model_dump()`` when it has one,
else attribute by attribute).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from billing.errors import ProviderUsageError, UsageError
from billing.usage.events import UsageEvent, check_service_tier
from billing.usage.mapping import BadValue

__all__ = [
    "FILE_FORMATS",
    "FileFormat",
    "ProviderCounts",
    "Term",
    "anthropic_counts",
    "file_counts",
    "from_anthropic",
    "from_gemini",
    "from_openai",
    "gemini_counts",
    "openai_counts",
    "term_value",
]

OneHourWrites = Literal["error", "as_cache_write"]
_MISSING: Final = object()


@dataclass(frozen=True, slots=True)
class ProviderCounts:
    """A provider's usage split into this library's token classes."""

    input_tokens: int
    """Fresh (uncached) input."""
    cached_input_tokens: int
    """Cache reads."""
    cache_write_tokens: int
    """Cache writes (Anthropic 5-minute writes, plus 1-hour writes when accepted)."""
    output_tokens: int
    """Output, reasoning / thinking included."""
    reasoning_tokens: int = 0
    """The part of ``output_tokens`` the provider reports as reasoning: the event's
    ``reasoning_tokens`` (OpenAI's reasoning details, Gemini's thoughts; 0 for Anthropic, which
    reports no split)."""
    cache_write_1h_tokens: int = 0
    """The part of ``cache_write_tokens`` written to Anthropic's 1-hour cache."""


# -- reading the providers' objects ------------------------------------------------------------


def _as_mapping(obj: Any, provider: str, what: str) -> Mapping[str, Any] | Any:
    """A dict stays a dict; a pydantic SDK object becomes its ``model_dump()``; any other object
    is read attribute by attribute."""
    if obj is None:
        raise ProviderUsageError(f"{provider} usage: {what} is missing")
    if isinstance(obj, Mapping):
        return obj
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        dumped = dump()
        if isinstance(dumped, Mapping):
            return dumped
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        converted = to_dict()
        if isinstance(converted, Mapping):
            return converted
    return obj


def _member(obj: Any, *names: str) -> Any:
    """The first of ``names`` that ``obj`` has (key or attribute) and is not ``None``."""
    for name in names:
        if isinstance(obj, Mapping):
            value = obj.get(name, _MISSING)
        else:
            value = getattr(obj, name, _MISSING)
        if value is not _MISSING and value is not None:
            return value
    return _MISSING


def _count(obj: Any, provider: str, path: str, *names: str, required: bool = False) -> int:
    """A token count: a whole number >= 0; absent is 0 unless ``required``."""
    value = _member(obj, *names)
    if value is _MISSING:
        if required:
            raise ProviderUsageError(f"{provider} usage: {path} is missing")
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ProviderUsageError(
                f"{provider} usage: {path} must be a whole number, got {value!r}"
            )
    if value < 0:
        raise ProviderUsageError(f"{provider} usage: {path} is negative ({value})")
    return value


def _details(obj: Any, provider: str, *names: str) -> Any:
    found = _member(obj, *names)
    return None if found is _MISSING else _as_mapping(found, provider, names[0])


def _unwrap(obj: Any, provider: str, usage_keys: tuple[str, ...],
            model_keys: tuple[str, ...]) -> tuple[Any, str | None, Any]:
    """The usage object inside a response (or ``obj`` itself), the response's model, and the
    response (None when ``obj`` is the usage object)."""
    obj = _as_mapping(obj, provider, "the usage object")
    inner = _member(obj, *usage_keys)
    if inner is _MISSING:
        return obj, None, None
    model = _member(obj, *model_keys)
    return _as_mapping(inner, provider, usage_keys[0]), (
        model if isinstance(model, str) and model else None
    ), obj


_OPENAI_TIERS: Final = {"default": "standard", "standard": "standard", "flex": "flex",
                        "priority": "priority", "batch": "batch"}
_ANTHROPIC_TIERS: Final = {"standard": "standard", "priority": "priority", "batch": "batch"}


def _service_tier(provider: str, reported: Any, names: Mapping[str, str], given: str | None,
                  where: str) -> str:
    """The event's tier: ``given`` (the keyword) or the ``reported`` one, read through
    ``names``; refused when unknown or when the two disagree (see the module docstring)."""
    found: str | None = None
    if reported is not _MISSING:
        found = names.get(reported) if isinstance(reported, str) else None
        if found is None:
            why = (" (OpenAI's Scale Tier is paid by reserved units, not per token)"
                   if reported == "scale" else "")
            raise ProviderUsageError(f"{provider} usage: {where} {reported!r} is not a service "
                                     f"tier billing prices{why}; known: "
                                     f"{', '.join(sorted(names))}")
    if given is not None:
        problem = check_service_tier(given)
        if problem is not None:
            raise ProviderUsageError(f"{provider} usage: service_tier=: {problem}")
        if found is not None and found not in ("standard", given):
            raise ProviderUsageError(f"{provider} usage: service_tier={given!r} but the "
                                     f"response says {where} {reported!r}")
        return given
    return found or "standard"


def _refuse_nonzero(obj: Any, provider: str, path: str, name: str, reason: str) -> None:
    if obj is not None and _count(obj, provider, path, name):
        raise ProviderUsageError(f"{provider} usage: {path} is not 0 ({reason})")


# -- the splits ---------------------------------------------------------------------------------


def openai_counts(usage: Any) -> ProviderCounts:
    """Split an OpenAI ``usage`` (Chat Completions or Responses API shape)."""
    p = "openai"
    usage = _as_mapping(usage, p, "the usage object")
    if _member(usage, "prompt_tokens") is not _MISSING or _member(
            usage, "completion_tokens") is not _MISSING:
        prompt_name, output_name = "prompt_tokens", "completion_tokens"
        in_details, out_details = "prompt_tokens_details", "completion_tokens_details"
    else:
        prompt_name, output_name = "input_tokens", "output_tokens"
        in_details, out_details = "input_tokens_details", "output_tokens_details"
    prompt = _count(usage, p, prompt_name, prompt_name, required=True)
    output = _count(usage, p, output_name, output_name, required=True)
    details_in = _details(usage, p, in_details)
    details_out = _details(usage, p, out_details)
    cached = 0 if details_in is None else _count(
        details_in, p, f"{in_details}.cached_tokens", "cached_tokens")
    reasoning = 0 if details_out is None else _count(
        details_out, p, f"{out_details}.reasoning_tokens", "reasoning_tokens")
    for details, side in ((details_in, in_details), (details_out, out_details)):
        _refuse_nonzero(details, p, f"{side}.audio_tokens", "audio_tokens",
                        "audio tokens have their own prices, which the cost book does not hold")
    _refuse_nonzero(details_in, p, f"{in_details}.cache_write_tokens", "cache_write_tokens",
                    "whether the prompt count includes them is not documented; record this "
                    "request with UsageEvent directly")
    if cached > prompt:
        raise ProviderUsageError(
            f"{p} usage: {in_details}.cached_tokens ({cached}) is more than {prompt_name} "
            f"({prompt}), which includes them"
        )
    if reasoning > output:
        raise ProviderUsageError(
            f"{p} usage: {out_details}.reasoning_tokens ({reasoning}) is more than "
            f"{output_name} ({output}), which includes them"
        )
    total = _member(usage, "total_tokens")
    if total is not _MISSING:
        total_n = _count(usage, p, "total_tokens", "total_tokens")
        if total_n != prompt + output:
            raise ProviderUsageError(
                f"{p} usage: total_tokens ({total_n}) is not {prompt_name} + {output_name} "
                f"({prompt} + {output} = {prompt + output})"
            )
    return ProviderCounts(prompt - cached, cached, 0, output, reasoning_tokens=reasoning)


def anthropic_counts(usage: Any, *, one_hour_cache_writes: OneHourWrites = "error"
                     ) -> ProviderCounts:
    """Split an Anthropic Messages ``usage``; see the module docstring for 1-hour writes."""
    p = "anthropic"
    usage = _as_mapping(usage, p, "the usage object")
    fresh = _count(usage, p, "input_tokens", "input_tokens", required=True)
    output = _count(usage, p, "output_tokens", "output_tokens", required=True)
    reads = _count(usage, p, "cache_read_input_tokens", "cache_read_input_tokens")
    creation = _details(usage, p, "cache_creation")
    five = one = 0
    if creation is not None:
        five = _count(creation, p, "cache_creation.ephemeral_5m_input_tokens",
                      "ephemeral_5m_input_tokens")
        one = _count(creation, p, "cache_creation.ephemeral_1h_input_tokens",
                     "ephemeral_1h_input_tokens")
    if _member(usage, "cache_creation_input_tokens") is _MISSING:
        writes = five + one
    else:
        writes = _count(usage, p, "cache_creation_input_tokens", "cache_creation_input_tokens")
        if creation is not None and writes != five + one:
            raise ProviderUsageError(
                f"{p} usage: cache_creation_input_tokens ({writes}) is not the sum of "
                f"cache_creation.ephemeral_5m_input_tokens and ephemeral_1h_input_tokens "
                f"({five} + {one})"
            )
    if one and one_hour_cache_writes != "as_cache_write":
        if one_hour_cache_writes != "error":
            raise ProviderUsageError(
                f"one_hour_cache_writes must be 'error' or 'as_cache_write', got "
                f"{one_hour_cache_writes!r}"
            )
        raise ProviderUsageError(
            f"{p} usage: cache_creation.ephemeral_1h_input_tokens is {one}: 1-hour cache writes "
            "cost 2x input, but usage events have one cache-write class, priced at the 5-minute "
            "rate (1.25x input); pass one_hour_cache_writes='as_cache_write' to record them as "
            "cache writes at that price"
        )
    return ProviderCounts(fresh, reads, writes, output, cache_write_1h_tokens=one)


def gemini_counts(usage: Any) -> ProviderCounts:
    """Split a Gemini ``usageMetadata`` (camelCase or snake_case)."""
    p = "gemini"
    usage = _as_mapping(usage, p, "the usage object")
    prompt = _count(usage, p, "promptTokenCount", "promptTokenCount", "prompt_token_count",
                    required=True)
    cached = _count(usage, p, "cachedContentTokenCount", "cachedContentTokenCount",
                    "cached_content_token_count")
    tool = _count(usage, p, "toolUsePromptTokenCount", "toolUsePromptTokenCount",
                  "tool_use_prompt_token_count")
    candidates = _count(usage, p, "candidatesTokenCount", "candidatesTokenCount",
                        "candidates_token_count")
    thoughts = _count(usage, p, "thoughtsTokenCount", "thoughtsTokenCount",
                      "thoughts_token_count")
    if cached > prompt:
        raise ProviderUsageError(
            f"{p} usage: cachedContentTokenCount ({cached}) is more than promptTokenCount "
            f"({prompt}), which includes it"
        )
    if _member(usage, "totalTokenCount", "total_token_count") is not _MISSING:
        total = _count(usage, p, "totalTokenCount", "totalTokenCount", "total_token_count")
        parts = prompt + tool + candidates + thoughts
        if total != parts:
            raise ProviderUsageError(
                f"{p} usage: totalTokenCount ({total}) is not promptTokenCount + "
                f"toolUsePromptTokenCount + candidatesTokenCount + thoughtsTokenCount "
                f"({prompt} + {tool} + {candidates} + {thoughts} = {parts})"
            )
    return ProviderCounts(prompt - cached + tool, cached, 0, candidates + thoughts,
                          reasoning_tokens=thoughts)


# -- events -------------------------------------------------------------------------------------


def _event(provider: str, counts: ProviderCounts, *, id: str, customer_id: str,
           timestamp: datetime, model: str | None, requests: int, session_id: str | None,
           properties: Mapping[str, str] | None, extra: Mapping[str, str],
           service_tier: str = "standard") -> UsageEvent:
    if model is None:
        raise ProviderUsageError(
            f"{provider} usage: model is missing (pass model=, or the whole response, which "
            "names it)"
        )
    props = dict(properties or {})
    props.update(extra)
    try:
        return UsageEvent(
            id=id, customer_id=customer_id, timestamp=timestamp, model=model,
            input_tokens=counts.input_tokens,
            cached_input_tokens=counts.cached_input_tokens,
            cache_write_tokens=counts.cache_write_tokens,
            output_tokens=counts.output_tokens,
            requests=requests, session_id=session_id, properties=props,
            service_tier=service_tier, reasoning_tokens=counts.reasoning_tokens,
        )
    except ProviderUsageError:
        raise
    except UsageError as exc:
        raise ProviderUsageError(f"{provider} usage: {exc}") from None


def from_openai(obj: Any, *, id: str, customer_id: str, timestamp: datetime,
                model: str | None = None, requests: int = 1, session_id: str | None = None,
                properties: Mapping[str, str] | None = None,
                service_tier: str | None = None) -> UsageEvent:
    """A usage event from an OpenAI ``usage`` (Chat Completions or Responses API) or a whole
    response: fresh input = prompt - cached, cache reads = cached, output = completion
    (reasoning included). The service tier is ``service_tier=`` or the response's
    ``service_tier`` (``default`` is standard; pass ``service_tier="batch"`` for Batch API
    results)."""
    usage, found, response = _unwrap(obj, "openai", ("usage",), ("model",))
    reported = _MISSING if response is None else _member(response, "service_tier")
    tier = _service_tier("openai", reported, _OPENAI_TIERS, service_tier, "service_tier")
    return _event("openai", openai_counts(usage), id=id, customer_id=customer_id,
                  timestamp=timestamp, model=model or found, requests=requests,
                  session_id=session_id, properties=properties, extra={}, service_tier=tier)


def from_anthropic(obj: Any, *, id: str, customer_id: str, timestamp: datetime,
                   model: str | None = None, requests: int = 1, session_id: str | None = None,
                   properties: Mapping[str, str] | None = None,
                   one_hour_cache_writes: OneHourWrites = "error",
                   service_tier: str | None = None) -> UsageEvent:
    """A usage event from an Anthropic Messages ``usage`` or a whole message: fresh input,
    cache reads and cache writes as reported (Anthropic's ``input_tokens`` excludes both).

    1-hour cache writes are refused unless ``one_hour_cache_writes="as_cache_write"`` (module
    docstring); then ``properties["cache_write_1h_tokens"]`` records how many there were.
    The service tier is ``service_tier=`` or the usage's ``service_tier``."""
    usage, found, _ = _unwrap(obj, "anthropic", ("usage",), ("model",))
    tier = _service_tier("anthropic", _member(usage, "service_tier"), _ANTHROPIC_TIERS,
                         service_tier, "usage.service_tier")
    counts = anthropic_counts(usage, one_hour_cache_writes=one_hour_cache_writes)
    extra = ({"cache_write_1h_tokens": str(counts.cache_write_1h_tokens)}
             if counts.cache_write_1h_tokens else {})
    return _event("anthropic", counts, id=id, customer_id=customer_id, timestamp=timestamp,
                  model=model or found, requests=requests, session_id=session_id,
                  properties=properties, extra=extra, service_tier=tier)


def from_gemini(obj: Any, *, id: str, customer_id: str, timestamp: datetime,
                model: str | None = None, requests: int = 1, session_id: str | None = None,
                properties: Mapping[str, str] | None = None,
                service_tier: str | None = None) -> UsageEvent:
    """A usage event from a Gemini ``usageMetadata`` or a whole ``GenerateContentResponse``:
    fresh input = prompt - cached + tool-use prompt, cache reads = cached content,
    output = candidates + thoughts. The service tier is ``service_tier=`` (Gemini reports it in
    the ``x-gemini-service-tier`` response header, not in the body); standard without it."""
    usage, found, _ = _unwrap(obj, "gemini", ("usageMetadata", "usage_metadata"),
                              ("modelVersion", "model_version"))
    tier = _service_tier("gemini", _MISSING, {}, service_tier, "")
    return _event("gemini", gemini_counts(usage), id=id, customer_id=customer_id,
                  timestamp=timestamp, model=model or found, requests=requests,
                  session_id=session_id, properties=properties, extra={}, service_tier=tier)


# -- trace files whose lines are the providers' usage objects (``--usage-format``) -------------


@dataclass(frozen=True, slots=True)
class Term:
    """One provider count read from each line of a trace: the first of ``paths`` (dotted JSON
    paths) that the line has. ``column`` is the virtual column the readers add for it."""

    key: str
    label: str
    """The provider's name of the count, for reject reasons."""
    paths: tuple[str, ...]
    required: bool = False
    missing: str = "0"
    """The value of a term a line does not have (not ``required``)."""

    @property
    def column(self) -> str:
        return f"__usage_{self.key}"


@dataclass(frozen=True, slots=True)
class FileFormat:
    """How the counts of one provider's usage objects become token classes: ``input`` minus
    ``cached`` (when ``input_includes_cached``) plus ``input_extra``, ``cached``, ``write``, the
    sum of ``output``; a non-zero ``refuse`` term makes the row bad, with its reason."""

    name: str
    terms: tuple[Term, ...]
    input: str
    input_includes_cached: bool
    cached: str | None
    write: str | None
    output: tuple[str, ...]
    input_extra: tuple[str, ...] = ()
    refuse: tuple[tuple[str, str], ...] = ()
    tier: Term | None = None
    """Where a line's usage object says its service tier (read as the ``service_tier`` field
    when the file has no such column of its own; absent: standard)."""
    reasoning: str | None = None
    """The term whose count is the reasoning part of the output (read as the
    ``reasoning_tokens`` field unless mapped; None: the provider reports no split, 0)."""

    def term(self, key: str) -> Term:
        return next(t for t in self.terms if t.key == key)


def _paths(*names: str, wrappers: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{w}.{n}" if w else n for w in wrappers for n in names)


_OPENAI_WRAP = ("usage", "")
_GEMINI_WRAP = ("usageMetadata", "usage_metadata", "")
FILE_FORMATS: Final = {
    "openai": FileFormat(
        name="openai",
        terms=(
            Term("prompt", "prompt_tokens", _paths("prompt_tokens", "input_tokens",
                                                   wrappers=_OPENAI_WRAP), required=True),
            Term("cached", "cached_tokens", _paths(
                "prompt_tokens_details.cached_tokens", "input_tokens_details.cached_tokens",
                wrappers=_OPENAI_WRAP)),
            Term("completion", "completion_tokens", _paths(
                "completion_tokens", "output_tokens", wrappers=_OPENAI_WRAP), required=True),
            Term("audio_in", "prompt_tokens_details.audio_tokens", _paths(
                "prompt_tokens_details.audio_tokens", wrappers=_OPENAI_WRAP)),
            Term("audio_out", "completion_tokens_details.audio_tokens", _paths(
                "completion_tokens_details.audio_tokens", wrappers=_OPENAI_WRAP)),
            Term("write", "prompt_tokens_details.cache_write_tokens", _paths(
                "prompt_tokens_details.cache_write_tokens",
                "input_tokens_details.cache_write_tokens", wrappers=_OPENAI_WRAP)),
            Term("reasoning", "completion_tokens_details.reasoning_tokens", _paths(
                "completion_tokens_details.reasoning_tokens",
                "output_tokens_details.reasoning_tokens", wrappers=_OPENAI_WRAP)),
        ),
        input="prompt", input_includes_cached=True, cached="cached", write=None,
        output=("completion",), reasoning="reasoning",
        refuse=(("audio_in", "audio tokens have their own prices, which the cost book does not "
                 "hold"),
                ("audio_out", "audio tokens have their own prices, which the cost book does not "
                 "hold"),
                ("write", "whether the prompt count includes them is not documented")),
    ),
    "anthropic": FileFormat(
        name="anthropic",
        terms=(
            Term("input", "input_tokens", _paths("input_tokens", wrappers=_OPENAI_WRAP),
                 required=True),
            Term("cached", "cache_read_input_tokens", _paths(
                "cache_read_input_tokens", wrappers=_OPENAI_WRAP)),
            Term("write", "cache_creation_input_tokens", _paths(
                "cache_creation_input_tokens", "cache_creation.ephemeral_5m_input_tokens",
                wrappers=_OPENAI_WRAP)),
            Term("write_1h", "cache_creation.ephemeral_1h_input_tokens", _paths(
                "cache_creation.ephemeral_1h_input_tokens", wrappers=_OPENAI_WRAP)),
            Term("output", "output_tokens", _paths("output_tokens", wrappers=_OPENAI_WRAP),
                 required=True),
        ),
        input="input", input_includes_cached=False, cached="cached", write="write",
        output=("output",),
        refuse=(("write_1h", "1-hour cache writes cost 2x input, but usage events have one "
                 "cache-write class, priced at the 5-minute rate; see docs/providers.md"),),
        tier=Term("served", "usage.service_tier", ("usage.service_tier",), missing="standard"),
    ),
    "gemini": FileFormat(
        name="gemini",
        terms=(
            Term("prompt", "promptTokenCount", _paths(
                "promptTokenCount", "prompt_token_count", wrappers=_GEMINI_WRAP), required=True),
            Term("cached", "cachedContentTokenCount", _paths(
                "cachedContentTokenCount", "cached_content_token_count", wrappers=_GEMINI_WRAP)),
            Term("tool", "toolUsePromptTokenCount", _paths(
                "toolUsePromptTokenCount", "tool_use_prompt_token_count",
                wrappers=_GEMINI_WRAP)),
            Term("candidates", "candidatesTokenCount", _paths(
                "candidatesTokenCount", "candidates_token_count", wrappers=_GEMINI_WRAP)),
            Term("thoughts", "thoughtsTokenCount", _paths(
                "thoughtsTokenCount", "thoughts_token_count", wrappers=_GEMINI_WRAP)),
        ),
        input="prompt", input_includes_cached=True, cached="cached", write=None,
        output=("candidates", "thoughts"), input_extra=("tool",), reasoning="thoughts",
    ),
}
"""The ``--usage-format`` of each provider. Gemini's proto3 JSON leaves zero counts out, so
every Gemini count but the prompt may be absent (0); OpenAI's details and Anthropic's cache
counts may be absent too (0)."""


def term_value(obj: Mapping[str, Any], term: Term) -> Any:
    """The value of ``term`` in one parsed line: the first of its paths the line has (not
    null), else ``None`` (a required term) or ``0``."""
    for path in term.paths:
        value: Any = obj
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
            if value is None:
                break
        if value is not None and not isinstance(value, Mapping):
            return value
    if term.required:
        return None
    return 0 if term.missing == "0" else term.missing


def file_counts(fmt: FileFormat, values: Mapping[str, int]) -> tuple[int, int, int, int]:
    """(fresh input, cached input, cache writes, output) of one line from its term values;
    raises :class:`~billing.usage.mapping.BadValue` with the reject reason."""
    for key, reason in fmt.refuse:
        if values[key]:
            raise BadValue(f"{fmt.term(key).label} is {values[key]}: {reason}")
    whole = values[fmt.input]
    cached = values[fmt.cached] if fmt.cached else 0
    if fmt.input_includes_cached:
        if cached > whole:
            raise BadValue(
                f"{fmt.term(fmt.cached or '').label} ({cached}) is more than "
                f"{fmt.term(fmt.input).label} ({whole}), which includes them")
        whole -= cached
    fresh = whole + sum(values[k] for k in fmt.input_extra)
    write = values[fmt.write] if fmt.write else 0
    return fresh, cached, write, sum(values[k] for k in fmt.output)
