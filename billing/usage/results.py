"""What reading and aggregating a trace reports: rejects, counts, and the aggregates."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from billing.usage.aggregates import UsageAggregates

__all__ = ["REJECTS_HEADER", "Reject", "TraceResult", "TraceStats", "write_rejects"]

REJECTS_HEADER = ("file", "row", "reason", "raw")


@dataclass(frozen=True, slots=True)
class Reject:
    """A row that did not become an event. ``row`` is the 1-based data row (the header is not
    counted; in a CSV file it is the file line number minus one, in JSONL the n-th non-blank
    line). ``skipped`` rows carry no usage by the user's own rule (``skip_when``) and are
    reported, not counted as errors; ``reason == "conflict"`` marks a later copy of an event id
    whose content differs from the first."""

    file: str
    row: int
    reason: str
    raw: str
    skipped: bool = False

    def __str__(self) -> str:
        return f"{self.file}: data row {self.row}: {self.reason}"


@dataclass(frozen=True, slots=True)
class TraceStats:
    """Counts of a read: ``rows`` read = events + rejected + duplicates + conflicts + skipped."""

    rows: int
    events: int
    rejected: int
    duplicates: int
    conflicts: int
    skipped: int
    start: datetime | None
    end: datetime | None
    customers: int
    models: tuple[str, ...]
    derived_ids: bool


@dataclass(frozen=True, slots=True)
class TraceResult:
    aggregates: UsageAggregates
    stats: TraceStats
    rejects_path: Path | None


def write_rejects(path: Path, rejects: Iterable[Reject]) -> int:
    """Write the rejects file (CSV: file,row,reason,raw), sorted by row; return how many."""
    ordered = sorted(rejects, key=lambda r: (r.row, r.reason))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REJECTS_HEADER)
        for reject in ordered:
            writer.writerow((reject.file, reject.row, reject.reason, reject.raw))
    return len(ordered)
