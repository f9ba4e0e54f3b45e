"""Options shared by every command that reads a usage trace (``rate``, ``compare``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from billing.errors import TraceError
from billing.usage.mapping import TraceSpec, parse_mapping

__all__ = ["build_trace_spec", "parse_pairs"]


def parse_pairs(items: list[str], what: str) -> dict[str, str]:
    """``["a=b", "c=d"]`` to a dict; a malformed item is a :class:`TraceError`."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value:
            raise TraceError(f"bad {what} {item!r}: write KEY=VALUE")
        out[key] = value
    return out


def build_trace_spec(
    path: Path,
    *,
    mapping: list[str],
    model: str | None,
    model_map: list[str],
    assume_tz: str | None,
    timestamp_unit: str,
    time_origin: str | None,
    round_tokens: bool,
    skip_when: list[str],
) -> TraceSpec:
    """A :class:`TraceSpec` from command-line options, with one-line errors for bad ones."""
    origin = None
    if time_origin is not None:
        try:
            origin = datetime.fromisoformat(time_origin.replace("Z", "+00:00"))
        except ValueError:
            raise TraceError(f"--time-origin {time_origin!r} is not an ISO 8601 instant") from None
        if origin.tzinfo is None:
            raise TraceError(f"--time-origin {time_origin!r} needs a time zone (e.g. ...Z)")
    if not path.exists():
        raise TraceError(f"{path}: no such trace file")
    return TraceSpec(
        path=path,
        columns=parse_mapping(mapping, path=path),
        model=model,
        model_map=parse_pairs(model_map, "--model-map") if model_map else None,
        timestamp_unit=timestamp_unit,  # type: ignore[arg-type]
        time_origin=origin,
        assume_tz=assume_tz,
        round_tokens=round_tokens,
        skip_when=parse_pairs(skip_when, "--skip-when"),
    )
