"""The ``billing`` command line. Its core is :func:`main`, which tests call directly.

Each sub-command lives in its own module of this package and registers itself on :data:`app`
through a ``register(app)`` function; :data:`COMMAND_MODULES` lists them.

:func:`main` is also the one place that turns errors into what a user reads: a usage error is
typer's message (exit 2); a :class:`~billing.errors.BillingError` a command lets through, or an
unreadable file (``OSError``), is one line ``error: file:line: reason`` (exit 2); anything else
is a bug, shown as one ``internal error`` line with a hint (exit 70), never a traceback (set
``BILLING_DEBUG=1`` to see it).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import typer
import typer.main

from billing.errors import BillingError

__all__ = ["app", "main", "run", "version"]

DISTRIBUTION = "token-billing"

app = typer.Typer(
    name="billing",
    help="Price and bill LLM token usage exactly; compare plans on real usage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def version() -> str:
    """The installed package's version (from its metadata), or ``unknown`` when not installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"billing {version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Price and bill LLM token usage exactly; compare plans on real usage."""


COMMAND_MODULES: tuple[str, ...] = (
    "billing.cli.plan",
    "billing.cli.rate",
    "billing.cli.designer",
    "billing.cli.push",
    "billing.cli.compare",
    "billing.cli.ledger",
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)

# What --help shows for an option's value, by flag: words a user can act on, not Python types
# (typer would print <path>, <list[str]>, <bool>). Options not listed get FILE for a path, their
# choices for a choice, or their name in capitals; flags show nothing.
_METAVARS: dict[str, str] = {
    "--plans": "PATH",
    "--period": "PERIOD",
    "--map": "FIELD=COLUMN",
    "--model": "MODEL",
    "--model-map": "VALUE=MODEL",
    "--assume-tz": "ZONE",
    "--time-origin": "INSTANT",
    "--skip-when": "COLUMN=VALUE",
    "--fx": "CUR=RATE",
    "--seats": "N|FILE",
    "--supplier-price-change": "GLOB=CHANGE",
    "--cache-hit-rate": "SHARE",
    "--spark-master": "URL",
    "--api-key": "KEY",
    "--days-until-due": "DAYS",
    "--stripe-account": "ACCOUNT",
    "--api-base": "URL",
    "--price-per-mtok": "PRICE",
    "--tokens-per-task": "TOKENS",
    "--hours-saved": "HOURS",
    "--hourly-rate": "AMOUNT",
    "--competitors": "N,N,...",
    "--timestamp-unit": "iso|s|ms|us",
    "--collection-method": "METHOD",
}


def _metavar(param: Any) -> str:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    for opt in param.opts:
        if opt in _METAVARS:
            return _METAVARS[opt]
    desc = getattr(param, "type_descriptor", None)
    if desc is not None and desc.is_choice and desc.choices:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices)
    if desc is not None and desc.is_path:
        return "FILE"
    return str(param.name).upper()


def _no_type(ctx: object) -> None:
    return None


def _polish(command: Any) -> Any:
    """Give every parameter of ``command`` and its sub-commands a readable metavar."""
    help_option = command.get_help_option(command.context_class(command))  # built once, cached
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if param.metavar is None:
            param.metavar = _metavar(param)
        if param.param_type_name == "argument":
            param.display_type_rich = _no_type  # the name says it; no <path> after it
    for sub in getattr(command, "commands", {}).values():
        _polish(sub)
    return command


def _internal_error(exc: BaseException) -> int:
    where = ""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        where = f" at {os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"
    message = " ".join(str(exc).split())[:200]
    typer.echo(
        f"internal error: {type(exc).__name__}{where}: {message} (a bug in billing, not in your "
        "input: please report it with the command line; BILLING_DEBUG=1 shows the traceback)",
        err=True,
    )
    return 70


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (without the program name); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        command = _polish(typer.main.get_command(app))
        result = command.main(args=args, prog_name="billing", standalone_mode=False)
    except SystemExit as exc:  # raised by typer.Exit inside standalone_mode=False
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return 130
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"error: {exc.format_message()}", err=True)
        return int(exc.exit_code)
    except BillingError as exc:  # a library error a command did not report itself
        if os.environ.get("BILLING_DEBUG"):
            raise
        typer.echo(f"error: {_one_line(exc)}", err=True)
        return 2
    except OSError as exc:  # a file that cannot be read or written: name it
        if os.environ.get("BILLING_DEBUG"):
            raise
        name = exc.filename if exc.filename is not None else ""
        reason = exc.strerror or _one_line(exc)
        typer.echo(f"error: {name}: {reason}" if name else f"error: {reason}", err=True)
        return 2
    except Exception as exc:  # a bug: one line and a hint, never a traceback
        if os.environ.get("BILLING_DEBUG"):
            raise
        return _internal_error(exc)
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point.

    Ends the process without tearing the interpreter down: every command has written and closed
    its outputs by then, and freeing the objects of a large comparison one by one took about
    half a second. Standard streams and log handlers are flushed first."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)
