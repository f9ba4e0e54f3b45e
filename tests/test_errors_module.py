"""Every library error lives in, and is exported from, billing/errors.py.

A user catches what the library raises by importing it from one place (``billing.errors``); an
exception class defined in another module is either one of the few private helpers listed in
``PRIVATE`` below, each with the reason it never reaches a caller, or a test failure.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import billing
import billing.errors

PRIVATE: dict[str, str] = {
    "billing.cli.compare._InputError":
        "a bad option of `billing compare`; caught in the same command and printed as one "
        "line with exit code 2, never raised out of main()",
    "billing.sinks.stripe._InvoiceFailed":
        "one invoice's push failed; caught by StripeSink.push, which records it in the run's "
        "result and goes on with the next invoice",
    "billing.sinks.stripe._RunStopped":
        "a StripeSyncError (so a caller catching the public class still catches it) that stops "
        "the whole run; StripeSink.push catches it to stop before the next invoice",
    "billing.sinks.stripe_testing._ApiError":
        "an error response of the in-process fake Stripe (a test double), turned into the "
        "stripe SDK's own error by the fake's HTTP client",
    "billing.sinks.stripe_testing.SimulatedCrash":
        "a BaseException the fake Stripe raises to play a killed process in crash tests; "
        "not an error of the library",
    "billing.usage.mapping.BadValue":
        "a value rule of the usage readers; the readers catch it and write the row out as a "
        "reject with the message as reason",
}


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(billing.__path__, "billing."):
        if info.name == "billing.__main__":
            continue  # importing it runs the command line; it defines nothing (checked below)
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == info.name):
                found[f"{info.name}.{name}"] = value
    return found


def test_the_main_module_defines_no_class() -> None:
    tree = ast.parse((Path(billing.__file__).parent / "__main__.py").read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]


def test_exceptions_are_defined_only_in_billing_errors() -> None:
    elsewhere = sorted(n for n in _exception_classes() if not n.startswith("billing.errors."))
    assert elsewhere == sorted(PRIVATE)


def test_billing_errors_exports_every_error_it_defines() -> None:
    defined = {n.rsplit(".", 1)[1] for n in _exception_classes() if n.startswith("billing.errors.")}
    assert defined and defined <= set(billing.errors.__all__)


def test_every_public_error_is_a_billing_error_except_the_text_problem() -> None:
    # TextProblem is billing.textfile's signal to the readers of users' files; each reader
    # reports it as its own (BillingError) file error with the file's name.
    errors = {n: getattr(billing.errors, n) for n in billing.errors.__all__}
    not_billing = {n for n, cls in errors.items() if inspect.isclass(cls)
                   and issubclass(cls, BaseException) and not issubclass(cls, billing.BillingError)}
    assert not_billing == {"TextProblem"}


def test_the_old_import_paths_still_give_the_same_classes() -> None:
    from billing.costs import CostFileError
    from billing.designer import WorkloadError
    from billing.designer.economics import EconomicsError
    from billing.periods import PeriodError
    from billing.sinks.stripe import StripeStateBusyError
    from billing.subscriptions import SubscriptionFileError
    from billing.textfile import TextProblem

    assert (CostFileError, WorkloadError, EconomicsError, PeriodError, StripeStateBusyError,
            SubscriptionFileError, TextProblem) == (
        billing.errors.CostFileError, billing.errors.WorkloadError, billing.errors.EconomicsError,
        billing.errors.PeriodError, billing.errors.StripeStateBusyError,
        billing.errors.SubscriptionFileError, billing.errors.TextProblem)
