"""One billing run: a compiled plan, a batch of customers' period totals, the period's terms and
where the lines go. Every charge kind's ``bill(charge, run)`` reads it."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from billing.charges.lines import LineSink
from billing.charges.terms import Terms
from billing.charges.totals import PeriodTotals
from billing.plans.compiled import CompiledPlan
from billing.plans.model import Plan

__all__ = ["Billing", "grade_of"]


def grade_of(plan: Plan, model: str) -> str | None:
    """The first grade whose globs match ``model`` (None if no grade does)."""
    lowered = model.lower()
    for grade, globs in plan.grades.items():
        if any(fnmatch.fnmatchcase(lowered, g.lower()) for g in globs):
            return grade
    return None


@dataclass(slots=True)
class Billing:
    compiled: CompiledPlan
    totals: PeriodTotals
    terms: Terms
    out: LineSink
    grades: dict[str, str | None] = field(default_factory=dict)

    @property
    def plan(self) -> Plan:
        return self.compiled.plan

    def grade(self, model: str) -> str | None:
        found = self.grades.get(model, "")
        if found == "":
            found = self.grades[model] = grade_of(self.compiled.plan, model)
        return found
