"""A plan compiled for rating: frozen runtime charge objects, made once per plan version.

The pydantic models of :mod:`billing.plans.model` are the *authoring* language: what a file may
say, with line-numbered errors. :func:`compile` turns a validated :class:`Plan` into a
:class:`CompiledPlan` whose charges are frozen objects holding what rating needs, worked out
once: the pricers' tier tables, the spot price series read from its file (relative to the plan
file) or the time-of-use rules, and the plan file and line of each charge (``source``, carried
by every invoice line). A referenced file is read here, never while rating, so a missing or bad
price series fails when the plan is compiled, naming the file and row.

Runtime code dispatches on the compiled charge's class (``type(charge)``), not on the authoring
types; the authoring model of each charge stays reachable as ``spec`` for its values.
"""

from __future__ import annotations

import csv
import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

from billing.errors import RatingError
from billing.money import ZERO
from billing.plans.model import (
    WEEKDAYS,
    CapacityCharge,
    CapCharge,
    Charge,
    CommitmentCharge,
    CreditsCharge,
    DiscountTable,
    FlatCharge,
    Plan,
    RateCardCharge,
    SeatsCharge,
    UsageCharge,
    parse_hours,
)
from billing.pricing.capacity import TouRule
from billing.pricing.core import Tier
from billing.usage.keys import HOUR_US, epoch_micros

__all__ = [
    "CapacityFee",
    "CompiledCharge",
    "CompiledPlan",
    "CreditsFee",
    "FlatFee",
    "MeteredUsage",
    "RateCard",
    "SeatFee",
    "SpendCap",
    "SpendCommitment",
    "compile",
]


@dataclass(frozen=True, slots=True)
class CompiledCharge:
    """One charge of a compiled plan: its position, name and where it is written."""

    index: int
    """Position in the plan's ``charges`` (0-based), the order of invoice lines."""
    name: str
    source: str | None
    """``file:line`` of the charge in its plan file (None for a plan built in code)."""

    applies_last: ClassVar[bool] = False
    """Applied after every other charge, to the metered spend (commitment, cap)."""


@dataclass(frozen=True, slots=True)
class FlatFee(CompiledCharge):
    spec: FlatCharge


@dataclass(frozen=True, slots=True)
class SeatFee(CompiledCharge):
    spec: SeatsCharge


@dataclass(frozen=True, slots=True)
class MeteredUsage(CompiledCharge):
    spec: UsageCharge
    tiers: tuple[Tier, ...] | None
    """The tier table as the graduated or volume pricer takes it (None without ``tiers``)."""


@dataclass(frozen=True, slots=True)
class RateCard(CompiledCharge):
    spec: RateCardCharge
    overage_tiers: tuple[Tier, ...] | None
    """``overage_discount`` as pricer tiers (rate as unit price), None without one."""
    volume_tiers: tuple[Tier, ...] | None
    """``volume_discount`` as pricer tiers, None without one."""


@dataclass(frozen=True, slots=True)
class CreditsFee(CompiledCharge):
    spec: CreditsCharge


@dataclass(frozen=True, slots=True)
class CapacityFee(CompiledCharge):
    spec: CapacityCharge
    spot_series: Mapping[int, Decimal] | None
    """Spot price per UTC hour (hours since the epoch) from ``spot.price_series``."""
    tou_rules: tuple[TouRule, ...]
    """The time-of-use schedule (empty with a price series)."""
    tou_default: Decimal
    """Spot price of an hour no rule matches."""


@dataclass(frozen=True, slots=True)
class SpendCommitment(CompiledCharge):
    spec: CommitmentCharge
    applies_last: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class SpendCap(CompiledCharge):
    spec: CapCharge
    applies_last: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class CompiledPlan:
    """A plan version ready to rate: the authoring plan and its compiled charges, in order."""

    plan: Plan
    charges: tuple[CompiledCharge, ...]

    @property
    def needs_hourly(self) -> bool:
        """Whether rating needs usage per UTC hour (a capacity charge)."""
        return any(isinstance(c, CapacityFee) for c in self.charges)

    @property
    def uses_credits(self) -> bool:
        return any(isinstance(c, CreditsFee) for c in self.charges)


def discount_tiers(table: DiscountTable) -> tuple[Tier, ...]:
    """A discount table as pricer tiers: each tier's ``rate`` multiplies the amount in it."""
    return tuple(Tier(up_to=t.up_to, unit_price=t.rate) for t in table.tiers)


def compile(plan: Plan, *, plan_path: Path | None = None) -> CompiledPlan:
    """Compile ``plan``; ``plan_path`` is the file it was loaded from (a price series is read
    relative to its folder; without it, relative to the working directory)."""
    return CompiledPlan(plan, tuple(_compile_charge(i, c, plan, plan_path)
                                    for i, c in enumerate(plan.charges)))


def _compile_charge(index: int, charge: Charge, plan: Plan,
                    plan_path: Path | None) -> CompiledCharge:
    name, source = charge.name, plan.charge_sources.get(charge.name)
    if isinstance(charge, FlatCharge):
        return FlatFee(index, name, source, charge)
    if isinstance(charge, SeatsCharge):
        return SeatFee(index, name, source, charge)
    if isinstance(charge, UsageCharge):
        tiers = None if charge.tiers is None else tuple(
            Tier(t.up_to, t.unit_price, t.flat_price) for t in charge.tiers.tiers)
        return MeteredUsage(index, name, source, charge, tiers)
    if isinstance(charge, RateCardCharge):
        return RateCard(
            index, name, source, charge,
            None if charge.overage_discount is None else discount_tiers(charge.overage_discount),
            None if charge.volume_discount is None else discount_tiers(charge.volume_discount))
    if isinstance(charge, CreditsCharge):
        return CreditsFee(index, name, source, charge)
    if isinstance(charge, CapacityCharge):
        if charge.spot.price_series is not None:
            base = plan_path.parent if plan_path is not None else Path.cwd()
            series = read_price_series(base / charge.spot.price_series)
            return CapacityFee(index, name, source, charge, series, (), ZERO)
        rules, default = _tou_rules(charge)
        return CapacityFee(index, name, source, charge, None, rules, default)
    if isinstance(charge, CommitmentCharge):
        return SpendCommitment(index, name, source, charge)
    if isinstance(charge, CapCharge):
        return SpendCap(index, name, source, charge)
    raise AssertionError(f"charge kind {charge.kind!r} has no compiled form")  # pragma: no cover


def read_price_series(file: Path) -> dict[int, Decimal]:
    """A spot price series (CSV: ``hour_start`` with a zone, ``price_per_mtok``) by UTC hour."""
    path = file.resolve()
    series: dict[int, Decimal] = {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for row_number, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    moment = datetime.fromisoformat(row["hour_start"])
                    if moment.tzinfo is None:
                        raise ValueError("hour_start has no time zone")
                    price = Decimal(row["price_per_mtok"])
                except (KeyError, ValueError, decimal.InvalidOperation) as exc:
                    raise RatingError(f"{path}:{row_number}: bad spot price row: {exc}") from None
                hour = epoch_micros(moment) // HOUR_US
                series[hour] = price
    except OSError as exc:
        raise RatingError(f"cannot read spot price series {path}: {exc.strerror}") from None
    return series


def _tou_rules(charge: CapacityCharge) -> tuple[tuple[TouRule, ...], Decimal]:
    assert charge.spot.schedule is not None
    rules: list[TouRule] = []
    default = ZERO
    for rule in charge.spot.schedule:
        if rule.default:
            default = rule.price_per_mtok
            continue
        days = frozenset(WEEKDAYS.index(d) for d in rule.days) if rule.days else frozenset(range(7))
        start, end = parse_hours(rule.hours) if rule.hours else (time(0), time(0))
        rules.append(TouRule(days=days, start=start, end=end, price_per_mtok=rule.price_per_mtok))
    return tuple(rules), default
