"""docs/plan-language.md is generated from the models: it fails here when the two drift apart."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from billing.plans import load_plan_text
from billing.plans.model import Plan
from billing.plans.reference import CHARGE_EXAMPLES, CHARGE_MODELS, DOC, FIELD_EXAMPLES, render

ROOT = Path(__file__).parents[2]


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    seen.add(model)
    for info in model.model_fields.values():
        stack = [info.annotation]
        while stack:
            item = stack.pop()
            if isinstance(item, type) and issubclass(item, BaseModel):
                if item not in seen:
                    _models(item, seen)
            else:
                stack.extend(typing.get_args(item))
    return seen


def test_the_reference_is_what_the_models_say() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/plan-language.md is stale: run `python -m billing.plans.reference --write`")


def test_every_key_of_the_language_has_a_description_and_is_in_the_reference() -> None:
    text = render()
    models = _models(Plan, set())
    assert len(models) >= 20
    for model in models:
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"
            assert f"| `{name}` | {' '.join(info.description.split())}" in text.replace(
                "\\|", "|"), f"{model.__name__}.{name}"


@pytest.mark.parametrize("charge", CHARGE_MODELS, ids=lambda c: c.__name__)
def test_each_charge_kind_has_an_example_that_loads(charge: type[BaseModel]) -> None:
    kind = typing.get_args(charge.model_fields["kind"].annotation)[0]
    example = CHARGE_EXAMPLES[kind]
    text = "id: example\nversion: 2026-11-01\ncurrency: USD\ncharges:\n" + "".join(
        f"  {line}\n" for line in example.splitlines())
    plan = load_plan_text(text, filename=f"{kind}.yaml")
    assert kind in [c.kind for c in plan.charges]
    assert f"### {kind}" in render()


def test_the_readme_links_the_reference() -> None:
    assert "docs/plan-language.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_example_chosen_per_model_names_a_real_key() -> None:
    # a renamed model or key must not leave its example behind, showing the generic one again
    # (a pack named "Platform fee", a tier bound of "0.90")
    models = {m.__name__: m for m in _models(Plan, set())}
    for model_name, key in FIELD_EXAMPLES:
        assert model_name in models, model_name
        assert key in models[model_name].model_fields, (model_name, key)
    text = DOC.read_text(encoding="utf-8")
    assert '| `amount` | Credits in the pack. | decimal | required | `"100000"` |' in text
