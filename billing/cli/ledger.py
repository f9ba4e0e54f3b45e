"""``billing ledger``: create a ledger, import usage into it, show a balance, close a period.

    billing ledger init URL --plans plans/ --subscriptions subs.yaml
    billing ledger import URL events.csv [the mapping options of billing rate]
    billing ledger balance URL CUSTOMER
    billing ledger close URL --period 2026-11 --out invoices.json      (then billing push)

URL is ``sqlite:///path/ledger.db`` or ``postgresql://user:password@host:port/db``; a password
in it never appears in the output. Exit codes: 0 done, 1 some subscriptions could not be
rated, 2 unusable input.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table

from billing.cli._trace import build_trace_spec, input_problems, rejects_lines, trace_error
from billing.costs import CostBook
from billing.errors import BillingError, LedgerError
from billing.ledger import Ledger
from billing.ledger.db import redact
from billing.plans import load_catalog
from billing.rating.batch import invoices_to_json
from billing.subscriptions import load_subscriptions
from billing.usage.events import UsageEvent
from billing.usage.mapping import TraceSpec
from billing.usage.readers import read_numbered
from billing.usage.results import Reject, first_rejects, write_rejects

__all__ = ["register"]

ledger_app = typer.Typer(help="A durable usage ledger (SQLite or PostgreSQL): init, import, "
                              "balance, close.", no_args_is_help=True)

_BATCH = 10_000


def _fail(exc: BillingError) -> typer.Exit:
    typer.echo(f"error: {redact(str(exc))}", err=True)
    return typer.Exit(2)


def _book(costs: Path | None) -> CostBook:
    return CostBook.load(costs) if costs is not None else CostBook.default()


def _open_existing(url: str, costs: Path | None, *, needs_subscriptions: bool = False) -> Ledger:
    """The ledger ``billing ledger init`` made at ``url``; a mistyped URL or a ledger never
    initialised is an error, never a new empty ledger that closes 0 invoices with exit 0."""
    init = f"create it first: billing ledger init {redact(url)} --plans ... --subscriptions ..."
    parts = urlsplit(url)
    if parts.scheme == "sqlite" and not parts.netloc and parts.path.strip("/"):
        path = Path(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path.exists():
            raise LedgerError(f"no ledger at {redact(url)} ({path} does not exist): {init}")
    ledger = Ledger.open(url, costbook=_book(costs))
    try:
        if not len(ledger.catalog()):
            raise LedgerError(f"ledger {redact(url)} has no plans: {init}")
        if needs_subscriptions and not ledger.subscriptions():
            raise LedgerError(f"ledger {redact(url)} has no subscriptions: "
                              f"billing ledger init {redact(url)} --subscriptions FILE")
    except BaseException:
        ledger.close_connection()
        raise
    return ledger


def _conflicts(spec: TraceSpec, rows: dict[str, list[tuple[int, UsageEvent, str]]],
               conflict_ids: Sequence[str]) -> list[Reject]:
    """The rejects of a batch's conflicts, each on the row of the copy that was refused, with
    its raw text (as ``billing rate`` writes them): a later copy in the file that differs from
    the id's first one, or the first one itself when the ledger already held the id with other
    content (``record`` lists an id once per refused copy, so the copies beyond those that
    differ within the file are the first)."""
    unit = "record" if spec.file_format == "parquet" else "line"
    out: list[Reject] = []
    for event_id, count in Counter(conflict_ids).items():
        (first_row, first, first_raw), *later = rows[event_id]
        refused = [(row, raw) for row, event, raw in later if event != first]
        if count > len(refused):
            refused.insert(0, (first_row, first_raw))
        out.extend(Reject(str(spec.path), row, "conflict", raw, unit=unit) for row, raw in refused)
    return sorted(out, key=lambda reject: reject.row)


@ledger_app.command("init")
def init(
    url: str = typer.Argument(..., help="sqlite:///path/ledger.db or postgresql://..."),
    plans: list[Path] = typer.Option([Path("plans")], "--plans", help="Plan files or folders."),
    subscriptions: Path | None = typer.Option(None, "--subscriptions",
                                              help="Subscriptions YAML/JSON."),
    costs: Path | None = typer.Option(None, "--costs", help="Supplier cost overrides."),
) -> None:
    """Create the ledger (or upgrade it) and store the plan catalog and subscriptions."""
    try:
        catalog = load_catalog(plans)
        subs = load_subscriptions(subscriptions) if subscriptions is not None else None
        with Ledger.open(url, costbook=_book(costs)) as ledger:
            ledger.set_catalog(catalog)
            if subs is not None:
                ledger.set_subscriptions(subs)
    except BillingError as exc:
        raise _fail(exc) from None
    typer.echo(f"ledger {redact(url)}: {len(catalog)} plans"
               + (f", {len(subs)} subscriptions" if subs is not None else ""))


@ledger_app.command("import")
def import_(
    url: str = typer.Argument(..., help="sqlite:///path/ledger.db or postgresql://..."),
    events: Path = typer.Argument(..., help="Usage events: CSV, JSONL or Parquet."),
    costs: Path | None = typer.Option(None, "--costs", help="Supplier cost overrides."),
    rejects: Path | None = typer.Option(None, "--rejects", help="Where bad rows are written."),
    mapping: list[str] = typer.Option([], "--map", help="FIELD=COLUMN (or COL1+COL2)."),
    model: str | None = typer.Option(None, "--model", help="Model of every event."),
    model_map: list[str] = typer.Option([], "--model-map", help="VALUE=MODEL for the model column."),
    assume_tz: str | None = typer.Option(None, "--assume-tz", help="Zone of naive timestamps."),
    timestamp_unit: Literal["iso", "s", "ms", "us"] = typer.Option(
        "iso", "--timestamp-unit", help="iso, or numeric timestamps in s/ms/us."),
    time_origin: str | None = typer.Option(None, "--time-origin", help="Origin of numeric times."),
    round_tokens: bool = typer.Option(False, "--round-tokens", help="Round fractional tokens."),
    skip_when: list[str] = typer.Option([], "--skip-when", help="COLUMN=VALUE rows to skip."),
    absent: list[str] = typer.Option(
        [], "--absent", help="Token field the file has no column for, on purpose: counted as 0 "
                             "(e.g. --absent output_tokens); repeatable."),
    input_includes_cached: bool = typer.Option(
        False, "--input-includes-cached", help="The input column counts the cached prefix too "
                                               "(fresh input = input - cached)."),
    usage_format: Literal["openai", "anthropic", "gemini"] | None = typer.Option(
        None, "--usage-format", help="Each line is a provider's usage object (JSONL)."),
) -> None:
    """Record a trace's events (idempotent: importing a file twice records nothing twice).
    Bad rows are rejected as 'billing rate' rejects them: written to the rejects file (by
    default EVENTS.rejects.csv beside the events, where 'billing rate' writes it when it has
    no --out), the first few shown on stderr."""
    console = Console(highlight=False)
    new = duplicates = conflicts = rejected = skipped = 0
    bad: list[Reject] = []
    try:
        spec = build_trace_spec(
            events, mapping=mapping, model=model, model_map=model_map, assume_tz=assume_tz,
            timestamp_unit=timestamp_unit, time_origin=time_origin, round_tokens=round_tokens,
            skip_when=skip_when, absent=absent, input_includes_cached=input_includes_cached,
            usage_format=usage_format,
        )
        problems = input_problems(spec)  # every missing option at once, as billing rate says
        if problems:
            raise trace_error(spec, problems)
        with _open_existing(url, costs) as ledger:
            batch = []
            rows: dict[str, list[tuple[int, UsageEvent, str]]] = {}
            for row, entry, raw in read_numbered(spec):
                if isinstance(entry, Reject):
                    bad.append(entry)
                    skipped += entry.skipped
                    rejected += not entry.skipped
                    continue
                rows.setdefault(entry.id, []).append((row, entry, raw))
                batch.append(entry)
                if len(batch) >= _BATCH:
                    done = ledger.record(batch)
                    new, duplicates = new + done.new, duplicates + done.duplicates
                    conflicts += done.conflicts
                    bad.extend(_conflicts(spec, rows, done.conflict_ids))
                    batch, rows = [], {}
            if batch:
                done = ledger.record(batch)
                new, duplicates = new + done.new, duplicates + done.duplicates
                conflicts += done.conflicts
                bad.extend(_conflicts(spec, rows, done.conflict_ids))
    except BillingError as exc:
        raise _fail(exc) from None
    # billing rate's default: <file>.rejects.csv beside --out, else beside the events (import
    # has no --out); written on every run, so an old file never passes for this run's.
    rejects_path = rejects or events.with_name(events.stem + ".rejects.csv")
    write_rejects(rejects_path, bad, "record" if spec.file_format == "parquet" else "line")
    table = Table(title=f"Import into {redact(url)}", title_justify="left")
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("new events", f"{new:,}")
    table.add_row("duplicates", f"{duplicates:,}")
    table.add_row("conflicts", f"{conflicts:,}")
    table.add_row("rejected rows", f"{rejected:,}")
    table.add_row("skipped rows", f"{skipped:,}")
    console.print(table)
    if bad:
        console.print(f"rejected, skipped and conflicting rows written to {rejects_path}")
    for line in rejects_lines(first_rejects(bad), rejected + conflicts, written_to=rejects_path,
                              asked=rejects is not None):
        typer.echo(line, err=True)


@ledger_app.command("balance")
def balance(
    url: str = typer.Argument(..., help="sqlite:///path/ledger.db or postgresql://..."),
    customer: str = typer.Argument(..., help="Customer id."),
    at: str | None = typer.Option(None, "--at", help="ISO instant (default: now)."),
    costs: Path | None = typer.Option(None, "--costs", help="Supplier cost overrides."),
) -> None:
    """A customer's bill to date, usable credits, open holds and what may still be spent."""
    try:
        moment = None
        if at is not None:
            try:
                moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError:
                raise typer.BadParameter(f"--at {at!r} is not an ISO 8601 instant") from None
            if moment.tzinfo is None:
                raise typer.BadParameter(f"--at {at!r} needs a time zone (e.g. ...Z)")
        with _open_existing(url, costs) as ledger:
            found = ledger.balance(customer, moment)
    except BillingError as exc:
        raise _fail(exc) from None
    table = Table(title=f"{customer}: {found.period_start} to {found.period_end} "
                        f"({found.currency})", title_justify="left")
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("bill to date", f"{found.bill_to_date:,}")
    table.add_row("remaining credits", f"{found.remaining_credits:,}")
    table.add_row("open holds", f"{found.open_holds:,}")
    table.add_row("held", f"{found.held:,}")
    table.add_row("available", "no limit" if found.available is None
                  else f"{found.available:,} (under the {found.limit_reason})")
    Console(highlight=False).print(table)


@ledger_app.command("close")
def close(
    url: str = typer.Argument(..., help="sqlite:///path/ledger.db or postgresql://..."),
    period: str = typer.Option(..., "--period", help='Billing period label, e.g. "2026-11".'),
    out: Path | None = typer.Option(None, "--out", help="Write the invoices here (JSON)."),
    costs: Path | None = typer.Option(None, "--costs", help="Supplier cost overrides."),
) -> None:
    """Close a period: every subscription's invoice, exactly as 'billing rate' gives it on
    the same events; stored in the ledger and written for 'billing push'."""
    try:
        with _open_existing(url, costs, needs_subscriptions=True) as ledger:
            run = ledger.close(period)
    except BillingError as exc:
        raise _fail(exc) from None
    if out is not None:
        out.write_text(invoices_to_json(run.invoices), encoding="utf-8")
    table = Table(title=f"Closing {period}", title_justify="left")
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("invoices", str(len(run.invoices)))
    for currency, total in run.totals_by_currency().items():
        table.add_row(f"total {currency}", f"{total:,}")
    Console(highlight=False).print(table)
    if out is not None:
        typer.echo(f"invoices written to {out}")
    for customer in run.unbilled_customers:
        typer.echo(f"warning: customer {customer!r} has usage but no subscription", err=True)
    for customer, reason in run.failures:
        typer.echo(f"error: {customer}: {reason}", err=True)
    if run.failures:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(ledger_app, name="ledger")
