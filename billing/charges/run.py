"""One billing run: a compiled plan, a batch of customers' period totals, the period's terms and
where the lines go. Every charge kind's ``bill(charge, run)`` reads it."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from billing.charges.columns import Col
from billing.charges.lines import LineSink
from billing.charges.terms import Terms
from billing.charges.totals import PeriodTotals
from billing.plans.compiled import CompiledPlan
from billing.plans.model import Plan

if TYPE_CHECKING:
    from billing.charges.capacity import CapacityUsage
    from billing.charges.credits import CreditLines
    from billing.charges.rate_card import Prices

__all__ = ["Billing", "CardValue", "TierValue", "grade_of"]


class TierValue(NamedTuple):
    """The value of a model's usage served in one service tier other than standard."""

    tier: str
    amount: Col
    parts: tuple[tuple[str, Col], ...]
    factor: Decimal | None
    """The card's multiplier of its list prices for the tier (None: cost plus)."""


class CardValue(NamedTuple):
    """A model's usage value under a rate card (every service tier), its part per token class,
    and the value of each tier other than standard (included in both)."""

    amount: Col
    parts: tuple[tuple[str, Col], ...]
    tiers: tuple[TierValue, ...] = ()
    reasoning: Col | None = None
    """The value of the reasoning tokens when the rate prices them apart (a part of the
    ``output`` part); None: reasoning priced as output."""


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
    prices: Prices
    grades: dict[str, str | None] = field(default_factory=dict)
    card_values: dict[int, list[CardValue]] = field(default_factory=dict)
    """Each rate card's value per model (by charge index, in the batch's model order): made
    by the card from the totals, or given by the caller for a card paid with credits."""
    refused: Mapping[str, Col] = field(default_factory=dict)
    """Value of the usage ``overage: block`` refused, per model (cards paid with credits)."""
    capacity: dict[str, CapacityUsage] = field(default_factory=dict)
    """Each capacity charge's weighted usage, summed (by charge name)."""
    credit: CreditLines | None = None
    """What the credit burn-down bills (plans with credits)."""
    buckets: int | None = None
    """Capacity buckets billed, when not the active hours of the period (compare)."""
    reserved: Col | None = None
    """Reserved weighted tokens of the capacity charges (None: the plan has none)."""
    covered: Col | None = None
    """Weighted tokens used within the reservation."""

    @property
    def plan(self) -> Plan:
        return self.compiled.plan

    def grade(self, model: str) -> str | None:
        found = self.grades.get(model, "")
        if found == "":
            found = self.grades[model] = grade_of(self.compiled.plan, model)
        return found
