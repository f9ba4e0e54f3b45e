"""``billing plan check FILES...`` and ``billing plan schema``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from billing.errors import PlanValidationError
from billing.plans.loader import load_plan, plan_files
from billing.plans.model import (
    CapacityCharge,
    CapCharge,
    CommitmentCharge,
    CreditsCharge,
    FlatCharge,
    Plan,
    RateCardCharge,
    SeatsCharge,
    UsageCharge,
    describe_overlap,
    token_overlaps,
)
from billing.plans.schema import plan_schema_json
from billing.plans.types import format_percent

__all__ = ["register", "summarize"]

plan_app = typer.Typer(help="Validate plan files and print the plan language's JSON Schema.")


def _charge_summary(plan: Plan) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    cur = plan.currency
    for charge in plan.charges:
        if isinstance(charge, FlatCharge):
            what = f"{charge.price} {cur} per {plan.interval}, {charge.timing.replace('_', ' ')}"
        elif isinstance(charge, SeatsCharge):
            what = f"{charge.price} {cur} per seat per {plan.interval}, proration {charge.proration}"
        elif isinstance(charge, UsageCharge):
            meter = "requests" if charge.meter.requests else "+".join(charge.meter.tokens or [])
            if charge.per_unit is not None:
                model = f"{charge.per_unit.unit_price} {cur} per {charge.per_unit.per:,}"
            elif charge.tiers is not None:
                model = f"{charge.tiers.mode} tiers ({len(charge.tiers.tiers)}) per {charge.tiers.per:,}"
            else:
                assert charge.package is not None
                model = f"packages of {charge.package.size:,} at {charge.package.price} {cur}"
            included = ""
            if charge.included is not None:
                if charge.included.per_seat is not None:
                    included = f", {charge.included.per_seat:,} included per seat"
                else:
                    included = f", {charge.included.amount:,} included"
            what = f"{meter}: {model}{included}"
        elif isinstance(charge, RateCardCharge):
            if charge.cost_plus is not None:
                what = f"cost plus {format_percent(charge.cost_plus.markup)} over the supplier cost book"
            else:
                count = len(charge.rates or [])
                what = f"{count} rate{'' if count == 1 else 's'} per 1M tokens"
                if charge.fallback is not None:
                    what += (f", cost plus {format_percent(charge.fallback.cost_plus.markup)} "
                             "for other models")
            if charge.service_tiers:
                what += ", service tiers " + ", ".join(
                    f"{tier} x{factor.normalize():f}"
                    for tier, factor in charge.service_tiers.items())
            if any(r.service_tiers for r in charge.rates or ()):
                what += " (some rates price tiers of their own)"
            if any(r.reasoning_apart for r in charge.rates or ()):
                what += " (some rates price reasoning tokens apart from output)"
            if charge.paid_with == "credits":
                what += ", paid with credits"
            if charge.included_amount is not None:
                what += f", {charge.included_amount} {cur} included"
        elif isinstance(charge, CreditsCharge):
            what = (
                f"1 {charge.unit} = {charge.unit_value} {cur}; {len(charge.grants)} grants, "
                f"{len(charge.packs)} packs, overage {charge.overage}"
            )
            if charge.auto_topup is not None:
                what += f", auto top-up {charge.auto_topup.pack!r}"
        elif isinstance(charge, CommitmentCharge):
            what = f"minimum {charge.minimum} {cur} per {plan.interval}"
        elif isinstance(charge, CapCharge):
            what = f"maximum {charge.maximum} {cur} per {plan.interval}"
        else:
            assert isinstance(charge, CapacityCharge)
            what = (
                f"baseload {charge.baseload.per_bucket:,} tokens/{charge.bucket} at "
                f"{charge.baseload.price_per_mtok}/M; spot in {charge.spot.timezone}"
            )
        rows.append((charge.kind, charge.name, what))
    return rows


def priced_token_classes(plan: Plan) -> list[str]:
    classes: set[str] = set()
    for charge in plan.charges:
        if isinstance(charge, RateCardCharge):
            classes.update(("input", "cached_input", "cache_write", "output"))
        elif isinstance(charge, UsageCharge):
            classes.update(charge.meter.tokens or [])
            if charge.meter.requests:
                classes.add("requests")
        elif isinstance(charge, CapacityCharge):
            classes.update(charge.meter.tokens)
    order = ["input", "cached_input", "cache_write", "output", "requests"]
    return [c for c in order if c in classes]


def summarize(plan: Plan, source: str, console: Console) -> None:
    title = escape(f"{plan.id} v{plan.version}: {plan.name or plan.id}  ({source})")
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("kind")
    table.add_column("charge")
    table.add_column("terms")
    for row in _charge_summary(plan):
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
    grades = ", ".join(f"{g} ({len(globs)} globs)" for g, globs in plan.grades.items()) or "none"
    console.print(
        f"  currency {plan.currency}, every {plan.interval}, rounding {plan.rounding.value}; "
        f"priced: {', '.join(priced_token_classes(plan)) or 'nothing metered'}; grades: {grades}"
    )
    for flag in plan_flags(plan):
        console.print(f"  [bold]check:[/bold] {escape(flag)}")


def plan_flags(plan: Plan) -> list[str]:
    """What is valid but worth a second look: a markup of 100% or more (often a percentage
    written where a fraction was meant), and charges that stack (`stacks: true`): what both
    bill, or that they stack on nothing."""
    flags: list[str] = []
    overlaps = token_overlaps(plan.charges)
    for index, charge in enumerate(plan.charges):
        if not getattr(charge, "stacks", False):
            continue
        mine = [o for o in overlaps if o.later == index]
        if not mine:
            flags.append(f"charge {index + 1} {charge.name!r} says `stacks: true` but no earlier "
                         "charge bills its tokens")
        for overlap in mine:
            other = plan.charges[overlap.earlier]
            flags.append(f"charge {index + 1} {charge.name!r} stacks on charge "
                         f"{overlap.earlier + 1} {other.name!r}: {describe_overlap(overlap)} "
                         "are billed by both")
    for charge in plan.charges:
        if isinstance(charge, RateCardCharge):
            markups = [charge.cost_plus] if charge.cost_plus is not None else []
            if charge.fallback is not None:
                markups.append(charge.fallback.cost_plus)
            for spec in markups:
                if spec.markup >= 1:
                    flags.append(
                        f"charge {charge.name!r} has a markup of {format_percent(spec.markup)} "
                        f"(100% or more: every price is {(spec.markup + 1).normalize():f} x the supplier cost)"
                    )
    return flags


@plan_app.command("check")
def check(
    files: list[Path] = typer.Argument(..., help="Plan files or folders of plan files."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print problems only."),
) -> None:
    """Validate plan files; print a summary per plan, or every problem with file:line."""
    out = Console(highlight=False)
    failed = 0
    for file in plan_files(files):
        try:
            plan = load_plan(file)
        except PlanValidationError as exc:
            failed += 1
            for problem in exc.problems:
                typer.echo(str(problem), err=True)
            continue
        if not quiet:
            summarize(plan, str(file), out)
    if failed:
        typer.echo(f"{failed} plan file(s) with problems", err=True)
        raise typer.Exit(1)


@plan_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the plan language."""
    typer.echo(plan_schema_json(), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(plan_app, name="plan")
