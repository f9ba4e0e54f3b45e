"""``billing simulate WORKLOAD.yaml --out TRACE.parquet`` and ``billing economics ...``."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from billing.designer.economics import EconomicsError, EconomicsView, economics_view
from billing.designer.simulate import simulate_to_parquet
from billing.designer.workload import WorkloadError, load_workload
from billing.errors import BillingError
from billing.money import D

__all__ = ["economics", "register", "simulate_command"]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _summary(workload: Path, out: Path) -> dict[str, object]:
    """What the written trace holds, read back from the file (so the summary is the file's)."""
    table = pq.read_table(out)
    tokens = {
        name: int(pc.sum(table.column(f"{name}_tokens")).as_py() or 0)
        for name in ("input", "cached_input", "cache_write", "output")
    }
    by_model = {
        str(row["values"]): int(row["counts"])
        for row in pc.value_counts(table.column("model")).to_pylist()
    }
    first = pc.min(table.column("timestamp")).as_py()
    last = pc.max(table.column("timestamp")).as_py()
    return {
        "workload": str(workload),
        "trace": str(out),
        "synthetic": True,
        "events": table.num_rows,
        "conversations": len(pc.unique(table.column("session_id"))),
        "customers": len(pc.unique(table.column("customer_id"))),
        "events_by_model": dict(sorted(by_model.items())),
        "tokens": tokens,
        "first": first.isoformat() if first else None,
        "last": last.isoformat() if last else None,
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
    try:
        simulate_to_parquet(spec, out, metadata={"workload_file": workload.name})
    except BillingError as exc:
        raise _fail(str(exc)) from None
    summary = _summary(workload, out)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    console = Console(highlight=False)
    console.print(
        escape(
            f"wrote {summary['events']:,} SYNTHETIC events ({summary['conversations']:,} "
            f"conversations, {summary['customers']:,} customers) to {out}"
        )
    )
    table = Table(title="tokens by class", title_justify="left")
    table.add_column("class")
    table.add_column("tokens", justify="right")
    tokens = summary["tokens"]
    assert isinstance(tokens, dict)
    for name, count in tokens.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    by_model = summary["events_by_model"]
    assert isinstance(by_model, dict)
    models = ", ".join(f"{escape(m)} {n:,}" for m, n in by_model.items())
    console.print(f"events by model: {models or 'none'}")
    if summary["first"] and summary["last"]:
        console.print(f"from {summary['first']} to {summary['last']}")


def _number(option: str, text: str) -> Decimal:
    """A positive decimal from option ``option``; errors name the flag, not a Python name."""
    try:
        value = D(text)
    except BillingError:
        raise _fail(f"{option}: not a decimal number: {text!r}", 2) from None
    if value <= 0:
        raise _fail(f"{option}: must be greater than 0, got {text}", 2)
    return value


_FLAGS = {
    "price_per_mtok": "--price-per-mtok",
    "tokens_per_task": "--tokens-per-task",
    "hours_saved": "--hours-saved",
    "hourly_rate": "--hourly-rate",
    "competitors": "--competitors",
}


def _with_flags(message: str) -> str:
    """A library message that names Python parameters, with the CLI's flags instead."""
    for name, flag in _FLAGS.items():
        message = re.sub(rf"\b{name}\b", flag, message)
    return message


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
        raise _fail(_with_flags(str(exc)), 2) from None
    if as_json:
        typer.echo(json.dumps(view.as_json(), indent=2))
    else:
        _render(view)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_command)
    app.command("economics")(economics)
