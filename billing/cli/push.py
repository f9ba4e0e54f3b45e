"""``billing push INVOICES.json``: push closed invoices to Stripe, safely re-runnable.

The API key comes from ``STRIPE_API_KEY`` (or ``--api-key``), never from a file; a live key needs
``--live``. ``--dry-run`` prints what would be created and talks to nobody, after checking every
amount against Stripe's currency rules and limits (each problem on its own line) and warning of
totals below Stripe's minimum charge (Stripe marks such an invoice paid and collects the amount
with the customer's next invoice; a push warns too). A run locks the
state file: a second run on the same file while one is pushing is refused. Exit code: 0 when
every invoice is in Stripe, 1 when some failed (the summary says why), 2 for unusable input or a
state file in use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from billing.errors import SinkError
from billing.invoice import Invoice
from billing.sinks.invoice_files import load_invoices

if TYPE_CHECKING:  # the Stripe SDK loads when `billing push` runs, not with every command
    from stripe import HTTPClient

    from billing.sinks.stripe import PushResult

__all__ = ["HTTP_CLIENT_FACTORY", "push", "register"]

HTTP_CLIENT_FACTORY: Callable[[], HTTPClient | None] = lambda: None  # noqa: E731
"""Test seam: returns the SDK HTTP client to use (None: the SDK's default, i.e. the network)."""

DEFAULT_STATE = Path(".billing-stripe-state.sqlite")


def _warnings(invoices: list[Invoice]) -> list[str]:
    """Stripe's minimum charge warnings of the invoices Stripe would take."""
    from billing.sinks.stripe_plan import charge_warnings, check_invoice

    return [w for inv in invoices if not check_invoice(inv) for w in charge_warnings(inv)]


def _dry_run(invoices: list[Invoice], out: Console) -> int:
    from billing.sinks.stripe_plan import charge_warnings, check_invoice, plan_invoice

    failures = warned = 0
    for invoice in invoices:
        problems = check_invoice(invoice)
        if problems:
            for problem in problems:
                out.print(f"[red]cannot push[/red] {escape(problem)}")
            failures += 1
            continue
        plan = plan_invoice(invoice)
        table = Table(
            title=(
                f"{invoice.id}: customer {invoice.customer_id}, draft invoice in "
                f"{plan.currency.upper()}, {len(plan.items)} items"
            ),
            title_justify="left",
        )
        table.add_column("line")
        table.add_column("description")
        table.add_column("amount (minor units)", justify="right")
        table.add_column("idempotency key")
        for item in plan.items:
            table.add_row(
                item.line_id, escape(item.description), str(item.amount), item.idempotency_key
            )
        table.add_row("", "total", str(plan.total), "")
        out.print(table)
        warnings = charge_warnings(invoice)
        for warning in warnings:
            out.print(f"[yellow]warning[/yellow] {escape(warning)}")
        warned += bool(warnings)
    below = f", {warned} below Stripe's minimum charge (see warnings)" if warned else ""
    out.print(f"dry run: {len(invoices) - failures} invoices would be pushed, {failures} cannot be"
              f"{below}")
    return 1 if failures else 0


def push(
    invoices_file: Annotated[
        Path, typer.Argument(help="JSON invoices, as `billing rate --out` writes.")
    ],
    finalize: Annotated[
        bool, typer.Option(help="Finalize each invoice once its items are in.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be created; contact nobody.")
    ] = False,
    state: Annotated[
        Path, typer.Option(help="SQLite file recording what was pushed (for resuming).")
    ] = DEFAULT_STATE,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="STRIPE_API_KEY",
            show_envvar=True,
            show_default=False,
            help="Stripe secret key (default: the STRIPE_API_KEY environment variable).",
        ),
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Allow a live key (sk_live_): bills real customers.")
    ] = False,
    collection_method: Annotated[
        str, typer.Option(help="charge_automatically or send_invoice.")
    ] = "charge_automatically",
    days_until_due: Annotated[
        int | None, typer.Option(help="Days to pay, for send_invoice (default 30).")
    ] = None,
    stripe_account: Annotated[
        str | None, typer.Option(help="Connected account (acct_...) to push into.")
    ] = None,
    api_base: Annotated[
        str | None, typer.Option(hidden=True, help="Stripe API address (tests: localstripe).")
    ] = None,
) -> None:
    """Push closed invoices to Stripe, exactly once (re-run after a failure to resume)."""
    from billing.sinks.stripe import PushOptions, StripeSink, StripeStateBusyError

    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        invoices = load_invoices(invoices_file)
    except SinkError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    if dry_run:
        raise typer.Exit(_dry_run(invoices, out))
    if collection_method not in ("charge_automatically", "send_invoice"):
        err.print(
            f"[red]error:[/red] --collection-method must be charge_automatically or send_invoice, "
            f"not {escape(collection_method)}"
        )
        raise typer.Exit(2)
    method: Literal["charge_automatically", "send_invoice"] = (
        "send_invoice" if collection_method == "send_invoice" else "charge_automatically"
    )
    for warning in _warnings(invoices):
        err.print(f"[yellow]warning[/yellow] {escape(warning)}")
    try:
        sink = StripeSink(
            api_key,
            state=state,
            live=live,
            options=PushOptions(
                collection_method=method, days_until_due=days_until_due, finalize=finalize
            ),
            stripe_account=stripe_account,
            http_client=HTTP_CLIENT_FACTORY(),
            api_base=api_base,
        )
    except SinkError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    try:
        with Progress(
            TextColumn("pushing to Stripe"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err,
            transient=True,
            disable=len(invoices) < 2,
        ) as progress:
            task = progress.add_task("push", total=len(invoices))

            def advance(result: PushResult) -> None:
                progress.advance(task)
                if result.status == "failed":
                    progress.console.print(
                        f"[red]failed[/red] {result.invoice_id}: {escape(result.message)}"
                    )

            summary = sink.push_many(invoices, on_result=advance)
    except StripeStateBusyError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except SinkError as exc:  # a problem every invoice shares (e.g. the key is rejected)
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    finally:
        sink.state.close()
    for result in summary.results:
        if result.status != "failed":
            out.print(
                f"{result.status:<8} {result.invoice_id} -> {result.stripe_invoice_id} "
                f"({result.customer_id} = {result.stripe_customer_id})"
            )
    out.print(escape(summary.render()))
    raise typer.Exit(0 if summary.ok else 1)


def register(app: typer.Typer) -> None:
    app.command("push")(push)
