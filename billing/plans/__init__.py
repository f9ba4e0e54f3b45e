"""The plan language: pydantic models, the file loader with line-numbered errors, the catalog."""

from billing.plans.catalog import PlanCatalog, load_catalog
from billing.plans.loader import load_plan, load_plan_text
from billing.plans.model import Plan

__all__ = ["Plan", "PlanCatalog", "load_catalog", "load_plan", "load_plan_text"]
