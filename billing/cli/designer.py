"""``billing simulate WORKLOAD.yaml --out TRACE.parquet`` and ``billing economics ...``."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from billing.designer.economics import EconomicsError, EconomicsView, economics_view
from billing.designer.simulate import simulate, write_trace
from billing.designer.workload import WorkloadError, load_workload
from billing.errors import BillingError
from billing.money import D
from billing.usage.events import UsageEvent

__all__ = ["economics", "register", "simulate_command"]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


class _Tally:
    """Counts what passes through on its way to the Parquet writer."""

    def __init__(self) -> None:
        self.events = 0
        self.tokens: Counter[str] = Counter()
        self.by_model: Counter[str] = Counter()
        self.customers: set[str] = set()
        self.sessions: set[str] = set()
        self.first: datetime | None = None
        self.last: datetime | None = None

    def watch(self, events: Iterator[UsageEvent]) -> Iterator[UsageEvent]:
        for event in events:
            self.events += 1
            self.tokens["input"] += event.input_tokens
            self.tokens["cached_input"] += event.cached_input_tokens
            self.tokens["cache_write"] += event.cache_write_tokens
            self.tokens["output"] += event.output_tokens
            self.by_model[event.model] += 1
            self.customers.add(event.customer_id)
            if event.session_id is not None:
                self.sessions.add(event.session_id)
            if self.first is None or event.timestamp < self.first:
                self.first = event.timestamp
            if self.last is None or event.timestamp > self.last:
                self.last = event.timestamp
            yield event

    def as_json(self, workload: Path, out: Path) -> dict[str, object]:
        return {
            "workload": str(workload),
            "trace": str(out),
            "synthetic": True,
            "events": self.events,
            "conversations": len(self.sessions),
            "customers": len(self.customers),
            "events_by_model": dict(sorted(self.by_model.items())),
            "tokens": dict(self.tokens),
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
        }


def simulate_command(
    workload: Path = typer.Argument(..., help="Workload YAML file (see examples/workload.yaml)."),
    out: Path = typer.Option(..., "--out", "-o", help="Parquet trace to write."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Generate a labelled synthetic usage trace from a workload file."""
    try:
        spec = load_workload(workload)
    except WorkloadError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None
    tally = _Tally()
    metadata = {"generator": "billing simulate", "seed": str(spec.seed), "workload": str(workload)}
    try:
        write_trace(tally.watch(simulate(spec)), out, metadata=metadata)
    except BillingError as exc:
        raise _fail(str(exc)) from None
    summary = tally.as_json(workload, out)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    console = Console(highlight=False)
    console.print(
        escape(
            f"wrote {tally.events:,} SYNTHETIC events ({len(tally.sessions):,} conversations, "
            f"{len(tally.customers):,} customers) to {out}"
        )
    )
    table = Table(title="tokens by class", title_justify="left")
    table.add_column("class")
    table.add_column("tokens", justify="right")
    for name in ("input", "cached_input", "cache_write", "output"):
        table.add_row(name, f"{tally.tokens[name]:,}")
    console.print(table)
    models = ", ".join(f"{escape(m)} {n:,}" for m, n in sorted(tally.by_model.items()))
    console.print(f"events by model: {models or 'none'}")
    if tally.first and tally.last:
        console.print(f"from {tally.first.isoformat()} to {tally.last.isoformat()}")


def _number(option: str, text: str) -> Decimal:
    try:
        return D(text)
    except BillingError:
        raise _fail(f"{option}: not a decimal number: {text!r}", 2) from None


def _competitors(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise _fail(f"--competitors: expected whole numbers like 1,2,3, got {text!r}", 2) from None
    if not values or any(v < 1 for v in values):
        raise _fail(f"--competitors: every count must be at least 1, got {text!r}", 2)
    return values


def _percent(ratio: Decimal) -> str:
    return f"{(ratio * 100).quantize(Decimal('0.1'))}%"


def _render(view: EconomicsView) -> None:
    console = Console(highlight=False)
    console.print(
        f"price {view.price_per_mtok} per 1M tokens, {view.tokens_per_task:,} tokens per task, "
        f"{view.hours_saved} hours saved (mean, exponential) at {view.hourly_rate} per hour"
    )
    table = Table(title="economics", title_justify="left")
    table.add_column("quantity")
    table.add_column("formula")
    table.add_column("value", justify="right")
    table.add_row("willingness to pay per 1M", "z = rate*S/N", f"{view.willingness_to_pay_per_mtok:f}")
    table.add_row("elasticity |e|", "p*N/(rate*S)", f"{view.elasticity:f}")
    table.add_row("demand share", "exp(-|e|)", _percent(view.demand_share))
    table.add_row("marginal cost per 1M", "MC = p - rate*S/N", f"{view.marginal_cost_per_mtok:f}")
    table.add_row("margin (Lerner)", "(p-MC)/p = 1/|e|", _percent(view.margin))
    console.print(table)
    competition = Table(title="margin under n symmetric competitors", title_justify="left")
    competition.add_column("n", justify="right")
    competition.add_column("margin = 1/(n|e|)", justify="right")
    for n, margin in view.margins_by_competitors:
        competition.add_row(str(n), _percent(margin))
    console.print(competition)


def economics(
    price_per_mtok: str = typer.Option(..., "--price-per-mtok", help="Price p per 1M tokens."),
    tokens_per_task: str = typer.Option(..., "--tokens-per-task", help="Tokens N per task."),
    hours_saved: str = typer.Option(..., "--hours-saved", help="Mean hours saved S per task."),
    hourly_rate: str = typer.Option(..., "--hourly-rate", help="Value of one hour saved."),
    competitors: str = typer.Option("1", "--competitors", help="Counts n, e.g. 1,2,3,4,5."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (numbers as strings)."),
) -> None:
    """The seeds' pricing economics: implied marginal cost and Lerner margins."""
    try:
        view = economics_view(
            _number("--price-per-mtok", price_per_mtok),
            _number("--tokens-per-task", tokens_per_task),
            _number("--hours-saved", hours_saved),
            _number("--hourly-rate", hourly_rate),
            _competitors(competitors),
        )
    except EconomicsError as exc:
        raise _fail(str(exc), 2) from None
    if as_json:
        typer.echo(json.dumps(view.as_json(), indent=2))
    else:
        _render(view)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_command)
    app.command("economics")(economics)
