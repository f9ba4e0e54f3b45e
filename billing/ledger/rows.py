"""Event rows as the ledger stores them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from billing.usage.events import UsageEvent
from billing.usage.keys import epoch_micros

_CHUNK = 1_000
_PROMPT_CLASSES = ("input", "cached_input", "cache_write")
_EVENT_COLUMNS = ("id, customer_id, ts_us, model, input, cached_input, cache_write, output, "
                  "requests, session_id, properties")
_SUM_COLUMNS = ("input", "cached_input", "cache_write", "output", "requests", "events")




def _event_row(event: UsageEvent) -> tuple[Any, ...]:
    props = json.dumps(dict(event.properties), sort_keys=True) if event.properties else None
    return (event.id, event.customer_id, epoch_micros(event.timestamp), event.model,
            event.input_tokens, event.cached_input_tokens, event.cache_write_tokens,
            event.output_tokens, event.requests, event.session_id, props)


@dataclass(slots=True)
class _Prepared:
    """A batch made ready outside the write lock: its unique rows (first copy of each id, in id
    order) and the duplicates and conflicts within it (``billing/ledger/writes.py`` stages
    and inserts the rows)."""

    rows: list[tuple[Any, ...]]
    duplicates: int
    conflicts: int
    conflict_ids: list[str]


def _prepare(batch: Sequence[UsageEvent]) -> _Prepared:
    first: dict[str, tuple[Any, ...]] = {}
    duplicates = conflicts = 0
    conflict_ids: list[str] = []
    for event in batch:
        row = _event_row(event)
        seen = first.get(event.id)
        if seen is None:
            first[event.id] = row
        elif seen == row:
            duplicates += 1
        else:
            conflicts += 1
            conflict_ids.append(event.id)
    return _Prepared([first[key] for key in sorted(first)], duplicates, conflicts, conflict_ids)
