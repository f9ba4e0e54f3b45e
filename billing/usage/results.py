"""What reading and aggregating a trace reports: rejects, counts, and the aggregates."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from billing.usage.aggregates import UsageAggregates

__all__ = ["REJECTS_HEADER", "Reject", "TraceResult", "TraceStats", "first_rejects",
           "neutralise", "read_rejects", "write_rejects"]

#: The rejects file's header for CSV and JSONL traces; Parquet's says ``record`` for ``line``.
REJECTS_HEADER = ("file", "line", "reason", "raw")
#: How many rejects a run keeps to show when the user did not ask for the rejects file.
FIRST_REJECTS = 5
#: First characters a spreadsheet reads as a formula (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Reject:
    """A row that did not become an event. ``row`` is the file's line number in CSV and
    JSONL (``unit == "line"``; a CSV header is line 1) or the record number from 1 in Parquet
    (``unit == "record"``). ``skipped`` rows carry no usage by the user's own rule
    (``skip_when``) and are reported, not counted as errors; ``reason == "conflict"`` marks a
    later copy of an event id whose content differs from the first."""

    file: str
    row: int
    reason: str
    raw: str
    skipped: bool = False
    unit: str = "line"

    def __str__(self) -> str:
        if self.unit == "line":
            return f"{self.file}:{self.row}: {self.reason}"
        return f"{self.file}: {self.unit} {self.row}: {self.reason}"


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
    absent: tuple[str, ...] = ()
    """Cache classes the file has no column for (and none looks like them): counted as 0."""
    declared_absent: tuple[str, ...] = ()
    """Token fields declared absent on purpose (``--absent``, a mapping to 0): counted as 0."""
    row_unit: str = "line"
    """What a reject's number counts: ``line`` (CSV, JSONL) or ``record`` (Parquet)."""
    service_tier_column: bool = False
    """The file has a service tier column; without one every event is ``standard``."""
    service_tiers: tuple[tuple[str, int], ...] = ()
    """Events per service tier other than standard (in tier order), when the file has some."""

    def input_notes(self) -> list[str]:
        """What the summary must say about the fields the file does not have, and about the
        events of a service tier other than standard."""
        notes = [f"{name} declared absent: every event is standard" if name == "service_tier"
                 else f"{name} declared absent: no reasoning split, all output priced as output"
                 if name == "reasoning_tokens"
                 else f"{name} declared absent: counted as 0 in every row"
                 for name in self.declared_absent]
        if self.service_tiers:
            shown = ", ".join(f"{tier} {n:,}" for tier, n in self.service_tiers)
            notes.append(f"service tiers (events): {shown}; the rest standard")
        if self.absent:
            notes.append("token classes absent from the file (no column looks like them): "
                         f"{', '.join(self.absent)}, counted as 0")
        return notes


@dataclass(frozen=True, slots=True)
class TraceResult:
    aggregates: UsageAggregates
    stats: TraceStats
    rejects_path: Path | None
    first_rejects: tuple[Reject, ...] = ()
    """The first few rejected rows (not skipped ones), in file order: what a command shows
    when the user did not ask for the rejects file."""


def first_rejects(rejects: Iterable[Reject], n: int = FIRST_REJECTS) -> tuple[Reject, ...]:
    """The first ``n`` rejects that are not skipped rows, by row."""
    return tuple(sorted((r for r in rejects if not r.skipped),
                        key=lambda r: (r.row, r.reason))[:n])


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula, with a leading single quote (OWASP)."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def write_rejects(path: Path, rejects: Iterable[Reject], unit: str | None = None) -> int:
    """Write the rejects file (CSV: file,line,reason,raw; ``record`` for ``line`` when the
    rejects count Parquet records), sorted by row; return how many. Cells that a spreadsheet
    would run as a formula are neutralised (:func:`neutralise`)."""
    ordered = sorted(rejects, key=lambda r: (r.row, r.reason))
    unit = unit or (ordered[0].unit if ordered else "line")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("file", unit, "reason", "raw"))
        for reject in ordered:
            writer.writerow((neutralise(reject.file), reject.row or "", neutralise(reject.reason),
                             neutralise(reject.raw)))
    return len(ordered)


def read_rejects(path: Path) -> list[Reject]:
    """The rejects of a file :func:`write_rejects` wrote (cells as written), or none if it
    does not exist."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        unit = header[1] if header and len(header) > 1 else "line"
        return [Reject(file, int(row) if row else 0, reason, raw, unit=unit)
                for file, row, reason, raw in reader]
