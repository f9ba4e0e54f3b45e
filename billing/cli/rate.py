"""``billing rate``: rate a period's usage for every subscription, write the invoices."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer
from rich.console import Console
from rich.table import Table

from billing.cli._trace import build_trace_spec, input_problems, rejects_lines, trace_error
from billing.cli._unbilled import unbilled_usage
from billing.costs import CostBook
from billing.errors import BillingError
from billing.periods import label_span
from billing.plans import load_catalog
from billing.plans.model import CapacityCharge
from billing.rating.batch import invoices_to_json, rate_period
from billing.subscriptions import load_subscriptions
from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.results import read_rejects, write_rejects

__all__ = ["register"]


def rate(
    events: Path = typer.Option(..., "--events", help="Usage events: CSV, JSONL or Parquet."),
    period: str = typer.Option(..., "--period", help='Billing period label, e.g. "2026-11".'),
    subscriptions: Path = typer.Option(..., "--subscriptions", help="Subscriptions YAML/JSON."),
    plans: list[Path] = typer.Option([Path("plans")], "--plans", help="Plan files or folders."),
    out: Path | None = typer.Option(None, "--out", help="Write the invoices here (JSON)."),
    costs: Path | None = typer.Option(None, "--costs", help="Supplier cost overrides (YAML/CSV)."),
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
    strict: bool = typer.Option(
        False, "--strict", help="Exit 1 if any row is rejected or conflicts, or if usage is "
                                "billed by no subscription."),
    show: bool = typer.Option(False, "--show", help="Print each invoice as text."),
) -> None:
    """Rate every subscription for one billing period and write the invoices."""
    try:
        label_span(period)  # a label no subscription could read: say so once, with the flag
    except BillingError as exc:
        typer.echo(f"error: --period: {exc}", err=True)
        raise typer.Exit(2) from None
    console = Console(highlight=False)
    try:
        catalog = load_catalog(plans)
        subs = load_subscriptions(subscriptions, known_plans=catalog.ids)
        book = CostBook.load(costs) if costs is not None else CostBook.default()
        spec = build_trace_spec(
            events, mapping=mapping, model=model, model_map=model_map, assume_tz=assume_tz,
            timestamp_unit=timestamp_unit, time_origin=time_origin, round_tokens=round_tokens,
            skip_when=skip_when, absent=absent, input_includes_cached=input_includes_cached,
            usage_format=usage_format,
        )
        problems = input_problems(spec)
        if problems:
            raise trace_error(spec, problems)
        hourly = any(
            isinstance(c, CapacityCharge)
            for plan_id in catalog.ids for p in catalog.versions(plan_id) for c in p.charges
        )
        rejects_path = rejects or (out or events).with_name((out or events).stem + ".rejects.csv")
        trace = aggregate_trace(spec, thresholds=book.thresholds(), hourly=hourly,
                                rejects_path=rejects_path)
        run = rate_period(catalog, subs, trace.aggregates, period, costbook=book)
        unbilled = unbilled_usage(catalog, subs, trace.aggregates, period)
        if unbilled:  # counted by reason in the rejects file too
            write_rejects(rejects_path, [*read_rejects(rejects_path),
                                         *(u.as_reject(str(events)) for u in unbilled)],
                          trace.stats.row_unit)
    except BillingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if out is not None:
        out.write_text(invoices_to_json(run.invoices), encoding="utf-8")
    stats = trace.stats
    table = Table(title=f"Rating {period}", title_justify="left")
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("invoices", str(len(run.invoices)))
    table.add_row("customers with usage", str(stats.customers))
    table.add_row("events", f"{stats.events:,}")
    table.add_row("rejected rows", f"{stats.rejected:,}")
    table.add_row("duplicates", f"{stats.duplicates:,}")
    table.add_row("conflicts", f"{stats.conflicts:,}")
    table.add_row("skipped rows", f"{stats.skipped:,}")
    for currency, total in run.totals_by_currency().items():
        table.add_row(f"total {currency}", f"{total:,}")
    console.print(table)
    by_reason: dict[str, int] = {}
    for item in unbilled:
        by_reason[item.reason] = by_reason.get(item.reason, 0) + item.events
    for reason, count in by_reason.items():
        console.print(f"not billed: {reason}: {count:,} event{'s' if count != 1 else ''}")
    for note in stats.input_notes():
        console.print(f"note: {note}")
    if stats.rejected or stats.conflicts or stats.skipped or unbilled:
        console.print(f"rejected, skipped, conflicting and unbilled rows written to "
                      f"{rejects_path}")
    for line in rejects_lines(trace.first_rejects, stats.rejected + stats.conflicts,
                              written_to=rejects_path, asked=rejects is not None):
        typer.echo(line, err=True)
    if stats.derived_ids:
        console.print("note: the file has no id column; event ids were derived from file and row")
    if out is not None:
        console.print(f"invoices written to {out}")
    if show:
        for invoice in run.invoices:
            typer.echo(invoice.render() + "\n")
    for customer in run.unbilled_customers:
        typer.echo(f"warning: customer {customer!r} has usage but no subscription", err=True)
    for customer, reason in run.failures:
        typer.echo(f"error: {customer}: {reason}", err=True)
    if run.failures:
        raise typer.Exit(1)
    failing = stats.rejected + stats.conflicts
    unbilled_events = sum(u.events for u in unbilled if u.failure)
    if strict and (failing or unbilled_events):
        what = [f"{failing:,} rejected row{'s' if failing != 1 else ''}"] if failing else []
        if unbilled_events:
            what.append(f"{unbilled_events:,} event(s) billed by no subscription")
        typer.echo(f"error: {' and '.join(what)} (--strict)", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("rate")(rate)
