"""The plan-language reference (docs/plan-language.md), generated from the models themselves.

Every key's meaning is its pydantic ``description``; its type and unit, default and example come
from its annotation and default, so the reference cannot say something the loader does not do.
``python -m billing.plans.reference`` prints it; ``--write`` updates docs/plan-language.md, and
tests/plans/test_reference.py fails when the file and the models drift apart.
"""

from __future__ import annotations

import datetime as dt
import enum
import sys
import types
import typing
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from billing.plans import model as m
from billing.plans import types as plan_types

__all__ = ["CHARGE_EXAMPLES", "CHARGE_MODELS", "DOC", "FIELD_EXAMPLES", "main", "render"]

DOC = Path(__file__).parents[2] / "docs" / "plan-language.md"

CHARGE_MODELS: tuple[type[BaseModel], ...] = (
    m.FlatCharge, m.SeatsCharge, m.UsageCharge, m.RateCardCharge, m.CreditsCharge,
    m.CommitmentCharge, m.CapCharge, m.CapacityCharge,
)

CHARGE_EXAMPLES: dict[str, str] = {
    "flat": """\
- kind: flat
  name: Platform fee
  price: "500.00"
""",
    "seats": """\
- kind: seats
  name: Seats
  price: "30.00"
""",
    "usage": """\
- kind: usage
  name: Token overage
  meter: { tokens: [input, cached_input, cache_write, output] }
  included: { per_seat: 2_000_000 }
  per_unit: { unit_price: "4.00", per: 1_000_000 }
""",
    "rate_card": """\
- kind: rate_card
  name: Model usage
  rates:
    - { models: ["claude-sonnet-*"], input: "3.00", cached_input: "0.30", output: "15.00" }
  fallback:
    cost_plus: { markup: "20%" }
""",
    "credits": """\
- kind: rate_card
  name: Model usage
  cost_plus: { markup: "20%" }
  paid_with: credits
- kind: credits
  name: Credits
  unit_value: "0.01"
  grants: [{ name: Monthly free credits, amount: 1000 }]
  packs: [{ name: Pack 100k, amount: 100_000, price: "900.00", expires_after: P12M }]
  auto_topup: { pack: Pack 100k }
""",
    "commitment": """\
- kind: commitment
  name: Minimum commitment
  minimum: "2000.00"
""",
    "cap": """\
- kind: cap
  name: Spend cap
  maximum: "50000.00"
""",
    "capacity": """\
- kind: capacity
  name: Reserved throughput
  meter: { tokens: [input, output], weights: { output: "4" } }
  baseload: { per_bucket: 20_000_000, price_per_mtok: "1.50" }
  spot:
    timezone: America/New_York
    schedule:
      - { days: [mon, tue, wed, thu, fri], hours: "09:00-18:00", price_per_mtok: "6.00" }
      - { default: true, price_per_mtok: "3.00" }
""",
}
"""One small example of each charge kind (a list of charges: credits needs a rate card paid with
them). The test loads each through the real loader inside a plan."""

_TEXT_EXAMPLES: dict[str, str] = {
    "id": "team-seats", "name": "Platform fee", "description": "Our team plan.",
    "currency": "USD", "models": '["claude-sonnet-*"]', "hours": '"09:00-18:00"',
    "timezone": "Europe/Paris", "price_series": "spot-prices.csv", "pack": "Pack 100k",
    "unit": "credit", "grades": '{ premium: ["claude-opus-*"] }', "version": "2026-11-01",
    "expires": "P3M", "weights": '{ output: "4", cached_input: "0.1" }',
}

FIELD_EXAMPLES: dict[tuple[str, str], str] = {
    # (model, key) where the generic example by key or type would read as nonsense
    ("Plan", "name"): "Team",
    ("FlatCharge", "name"): "Platform fee",
    ("SeatsCharge", "name"): "Seats",
    ("UsageCharge", "name"): "Token overage",
    ("RateCardCharge", "name"): "Model usage",
    ("CreditsCharge", "name"): "Credits",
    ("CommitmentCharge", "name"): "Minimum commitment",
    ("CapCharge", "name"): "Spend cap",
    ("CapacityCharge", "name"): "Reserved throughput",
    ("CreditsCharge", "unit_value"): '"0.01"',
    ("CreditGrantSpec", "name"): "Monthly free credits",
    ("CreditGrantSpec", "amount"): '"1000"',
    ("CreditPack", "name"): "Pack 100k",
    ("CreditPack", "amount"): '"100000"',
    ("AutoTopup", "when_balance_below"): '"500"',
    ("Tier", "up_to"): '"1000000"',
}

_VALUE_TYPES: dict[Callable[..., Any], tuple[str, str]] = {
    plan_types._price: ("money, in the plan's currency (a quoted decimal)", '"4.50"'),
    plan_types._number: ("decimal", '"0.90"'),
    plan_types._count: ("whole number", "1_000_000"),
    plan_types._markup: ('percentage ("20%") or fraction below 1', '"20%"'),
    plan_types._duration: ("ISO 8601 duration", "P12M"),
}


def _value_type(metadata: list[Any]) -> tuple[str, str] | None:
    for item in metadata:
        func = getattr(item, "func", None)
        if func in _VALUE_TYPES:
            return _VALUE_TYPES[func]
    return None


def _type(annotation: Any, metadata: list[Any]) -> tuple[str, str | None]:
    """(type and unit as read by the user, an example value or None)."""
    found = _value_type(metadata)
    if found is not None:
        return found
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type(args[0], list(annotation.__metadata__))
    if origin in (typing.Union, types.UnionType):
        parts = [_type(a, []) for a in args if a is not type(None)]
        text = (" or " if len(parts) < 3 else ", ").join(p[0] for p in parts)
        return text, next((p[1] for p in parts if p[1] is not None), None)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args), str(args[0])
    if origin is list:
        inner, example = _type(args[0], [])
        return f"list of {inner}", None if example is None else f"[{example}]"
    if origin is dict:
        key, _ = _type(args[0], [])
        value, _ = _type(args[1], [])
        return f"mapping of {key} to {value}", None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in CHARGE_MODELS:
            kind = _kind(annotation)
            return f"[`{kind}`](#{kind})", None
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})", None
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = [str(v.value) for v in annotation]
        return "one of " + ", ".join(f"`{v}`" for v in values), values[0]
    if annotation is bool:
        return "true or false", "true"
    if annotation is int:
        return "integer", "1"
    if annotation is dt.date:
        return "date (YYYY-MM-DD)", "2026-11-01"
    if annotation is str:
        return "text", None
    return str(annotation), None


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        return "none"
    value = info.default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    if isinstance(value, Decimal):
        return f'`"{value}"`'
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _table(model: type[BaseModel]) -> list[str]:
    rows = ["| key | meaning | type and unit | default | example |",
            "|---|---|---|---|---|"]
    for name, info in model.model_fields.items():
        kind, example = _type(info.annotation, list(info.metadata))
        if info.examples:
            example = str(info.examples[0])
        if name in _TEXT_EXAMPLES and (example is None or kind.startswith(("text", "list of text",
                                                                           "mapping"))):
            example = _TEXT_EXAMPLES[name]
        example = FIELD_EXAMPLES.get((model.__name__, name), example)
        if name == "kind" and typing.get_origin(info.annotation) is Literal:
            example = str(typing.get_args(info.annotation)[0])
        shown = "(see below)" if example is None else f"`{example}`"
        rows.append(f"| `{name}` | {_cell(info.description or '')} | {_cell(kind)} | "
                    f"{_default(info)} | {shown} |")
    return rows


def _nested(model: type[BaseModel], seen: list[type[BaseModel]]) -> Iterator[type[BaseModel]]:
    """Models used by ``model``'s fields, depth first, each once."""
    for info in model.model_fields.values():
        stack = [info.annotation]
        while stack:
            item = stack.pop()
            if isinstance(item, type) and issubclass(item, BaseModel):
                if item not in seen and item not in CHARGE_MODELS:
                    seen.append(item)
                    yield item
                    yield from _nested(item, seen)
            else:
                stack.extend(reversed(typing.get_args(item)))


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def _kind(charge: type[BaseModel]) -> str:
    return str(typing.get_args(charge.model_fields["kind"].annotation)[0])


def render() -> str:
    """The reference, as Markdown."""
    out = [
        "# The plan language",
        "",
        "<!-- Generated by `python -m billing.plans.reference --write` from the models in",
        "billing/plans/model.py (their field descriptions); do not edit by hand.",
        "tests/plans/test_reference.py fails when this file and the models differ. -->",
        "",
        "A plan file is YAML (`.yaml`, `.yml`) or TOML (`.toml`) describing one version of a",
        "plan: `billing plan check FILES` validates it and prints what it bills; `billing plan",
        "schema` prints the JSON Schema editors use (`schema/plan.schema.json`).",
        "",
        "## Conventions",
        "",
        '- **Money** is a quoted decimal string in the plan\'s currency (`"4.50"`) or a whole',
        "  number; a bare `4.50` is refused, since most YAML and TOML tools read it as a binary",
        "  float. Numbers have at most 40 digits.",
        '- **Decimals** (weights, discount rates) may be quoted or bare: `"0.90"` or `0.90`.',
        '- **Markups** are a percentage (`"20%"`, `"150%"`) or a fraction below 1 (`0.2`). A',
        '  bare number of 1 or more (`"20"`) is refused as ambiguous; `plan check` flags a',
        "  markup of 100% or more.",
        "- **Whole numbers** may use `_` between digits: `2_000_000`.",
        "- **Token classes** are `input` (fresh input), `cached_input` (cache reads),",
        "  `cache_write` and `output` (reasoning included). Prices per 1M tokens.",
        "- **Model globs** are shell patterns matched without regard to case: `*` any text, `?`",
        "  one character, `[0-9]` one of a set, `[!a]` anything but.",
        "- **One token, one charge**: a plan in which two charges could bill the same token (same",
        "  token class of a model both select) is refused, naming both charges, unless the later",
        "  one says `stacks: true`.",
        "- **Errors** read `file:LINE path: message`; positions in paths count from 1",
        "  (`charges[1]` is the first charge). Every problem of a file is reported at once, and",
        "  a file with any problem yields no plan. Duplicate keys are errors.",
        "",
        "## Plan",
        "",
        _doc(m.Plan),
        "",
        *_table(m.Plan),
        "",
        "## Charges",
        "",
        "Each item of `charges` has a `kind`, one of: "
        + ", ".join(f"[`{kind}`](#{kind})" for kind in map(_kind, CHARGE_MODELS)) + ".",
        "",
    ]
    seen: list[type[BaseModel]] = []
    for charge in CHARGE_MODELS:
        kind = _kind(charge)
        out += [f"### {kind}", "", _doc(charge), "", *_table(charge), "", "```yaml",
                "charges:", *("  " + line for line in CHARGE_EXAMPLES[kind].splitlines()),
                "```", ""]
        list(_nested(charge, seen))
    out += ["## Blocks used by charges", ""]
    for model in seen:
        out += [f"### {model.__name__}", "", _doc(model), "", *_table(model), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the reference; ``--write`` writes docs/plan-language.md instead."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--write" in args:
        DOC.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
