"""The plan language: pydantic models, the file loader with line-numbered errors, the catalog,
and ``compile`` (a plan as frozen runtime charges, for rating)."""

from billing.plans.catalog import PlanCatalog, load_catalog
from billing.plans.compiled import CompiledPlan, compile
from billing.plans.loader import load_plan, load_plan_text
from billing.plans.model import Plan

__all__ = ["CompiledPlan", "Plan", "PlanCatalog", "compile", "load_catalog", "load_plan",
           "load_plan_text"]
