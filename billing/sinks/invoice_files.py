"""Read a JSON file of invoices, as written by ``billing rate --out``.

Accepted shapes: a JSON list of invoices, or an object ``{"invoices": [...]}``. Numbers are parsed
straight to ``Decimal`` (a JSON float never becomes a binary float).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from pydantic import ValidationError

from billing.errors import SinkError
from billing.invoice import Invoice
from billing.textfile import TextProblem, check_brackets, read_text

__all__ = ["load_invoices"]


def load_invoices(path: str | Path) -> list[Invoice]:
    """Every invoice in ``path``; all problems of the file in one :class:`SinkError`."""
    path = Path(path)
    try:
        text = read_text(path)
        check_brackets(text)  # json.loads recurses: 20,000 nested lists exhaust the stack
    except OSError as exc:
        raise SinkError(f"{path}: cannot read invoices: {exc.strerror or exc}") from None
    except TextProblem as exc:
        raise SinkError(f"{path}:{exc.line}: {exc.reason}" if exc.line is not None
                        else f"{path}: {exc.reason}") from None
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise SinkError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if isinstance(data, dict) and "invoices" in data:
        data = data["invoices"]
    if not isinstance(data, list):
        raise SinkError(
            f'{path}: expected a JSON list of invoices or {{"invoices": [...]}}, '
            f"got a {type(data).__name__}"
        )
    invoices: list[Invoice] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(data, start=1):  # positions count from 1, as in plan errors
        label = f"invoices[{index}]"
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            label += f" ({raw['id']})"
        try:
            invoice = Invoice.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                problems.append(f"{path}: {label} {where}: {err['msg']}")
            continue
        if invoice.id in seen:
            problems.append(
                f"{path}: {label}: duplicate invoice id {invoice.id} (also invoices[{seen[invoice.id]}])"
            )
            continue
        seen[invoice.id] = index
        invoices.append(invoice)
    if problems:
        raise SinkError("\n".join(problems))
    return invoices
