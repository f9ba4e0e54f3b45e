"""The JSON Schema of the plan language, for editors (yaml-language-server) and tooling."""

from __future__ import annotations

import json
from typing import Any

from billing.plans.model import Plan

__all__ = ["SCHEMA_ID", "plan_schema", "plan_schema_json"]

SCHEMA_ID = "https://token-billing.dev/schema/plan.schema.json"


def plan_schema() -> dict[str, Any]:
    schema = Plan.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "token-billing plan"
    return schema


def plan_schema_json() -> str:
    return json.dumps(plan_schema(), indent=2, sort_keys=True) + "\n"
