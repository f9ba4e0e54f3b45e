"""The ``billing`` command line. Its core is :func:`main`, which tests call directly.

Each sub-command lives in its own module of this package and registers itself on :data:`app`
through a ``register(app)`` function; :data:`COMMAND_MODULES` lists them.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Sequence

import typer

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="billing",
    help="Price and bill LLM token usage exactly; compare plans on real usage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES: tuple[str, ...] = (
    "billing.cli.plan",
    "billing.cli.rate",
    "billing.cli.designer",
    "billing.cli.push",
    "billing.cli.compare",
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (without the program name); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(args=args, prog_name="billing", standalone_mode=False)
    except SystemExit as exc:  # raised by typer.Exit inside standalone_mode=False
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return 130
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"error: {exc.format_message()}", err=True)
        return int(exc.exit_code)
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
