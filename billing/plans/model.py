"""The plan language: what product managers write, typed at the door.

Every charge kind is a pydantic model with ``extra="forbid"`` (a misspelt key is an error, not a
silent default) and a ``kind`` discriminator. Cross-field rules raise :func:`_problem` with the
sub-path they concern, so a file's error reads
``plans/x.yaml:31 charges[2].tiers.tiers[3].up_to: must be greater than ...``. Sub-paths given
to :func:`_problem` count list positions from 0 (as Python does); the loader shows them counting
from 1, as the user does, so a message's own text names positions from 1 as well.

The module is longer than most (one model per charge kind and block, each field with the
description docs/plan-language.md is generated from, and the plan-wide rules); kept in one piece
so the language reads in one place.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping, Sequence
from datetime import date, time
from decimal import Decimal
from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from billing.errors import MoneyError
from billing.money import Rounding, check_currency
from billing.plans.globs import globs_overlap
from billing.plans.types import Count, DurationText, Markup, Number, Price, TierFactor

__all__ = [
    "AutoTopup",
    "Baseload",
    "CapCharge",
    "CapacityCharge",
    "CapacityMeter",
    "Charge",
    "CommitmentCharge",
    "CostPlus",
    "CreditGrantSpec",
    "CreditPack",
    "CreditsCharge",
    "DiscountTable",
    "DiscountTier",
    "FlatCharge",
    "Included",
    "Meter",
    "PackageSpec",
    "PerUnitSpec",
    "Plan",
    "Rate",
    "RateCardCharge",
    "RateFallback",
    "SeatsCharge",
    "ServiceTierName",
    "Spot",
    "Tier",
    "TierTable",
    "TokenClassName",
    "TokenOverlap",
    "TouRule",
    "UsageCharge",
    "describe_overlap",
    "token_overlaps",
]

TokenClassName = Literal["input", "cached_input", "cache_write", "output"]
ServiceTierName = Literal["batch", "flex", "priority"]
"""The service tiers a rate card may price apart (``standard`` is the card's own prices)."""
_TIER_PRICES = ("Multipliers of the list prices for usage served in a service tier "
                "(batch, flex, priority), e.g. `{batch: 0.5, priority: \"125%\"}`: 0.5 or "
                "\"50%\" bills those tokens at half price, each tier on its own invoice line.")
Timing = Literal["in_advance", "in_arrears"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _problem(subpath: str, message: str) -> PydanticCustomError:
    """A rule violation located at ``subpath`` below the model that raises it."""
    return PydanticCustomError("plan_rule", "{message}", {"message": message, "subpath": subpath})


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- tiers -----------------------------------------------------------------------------------


class Tier(_Spec):
    """One price tier (Stripe's convention): ``up_to`` inclusive, the last one unbounded."""

    up_to: Number | None = Field(
        description="Upper bound of the tier in priced units (inclusive); null for the last tier."
    )
    unit_price: Price = Field(description="Price of one priced unit within this tier.")
    flat_price: Price = Field(
        default=Decimal(0), description="Flat amount added once when the tier is reached."
    )


def _check_tier_bounds(bounds: list[Decimal | None], field: str) -> None:
    if not bounds:
        raise _problem(field, "at least one tier is required")
    previous: Decimal | None = None
    for index, bound in enumerate(bounds):
        where = f"{field}[{index}].up_to"
        last = index == len(bounds) - 1
        if bound is None and not last:
            raise _problem(where, "only the last tier may be unbounded (up_to: null)")
        if bound is None:
            continue
        if bound <= 0:
            raise _problem(where, f"must be greater than 0 (got {bound})")
        if previous is not None and bound <= previous:
            raise _problem(
                where,
                f"must be greater than the previous tier's up_to ({previous}): tiers must be "
                "in increasing order without overlap",
            )
        if last:
            raise _problem(
                where, "the last tier must be unbounded: write `up_to: null` so every unit has a price"
            )
        previous = bound


class TierTable(_Spec):
    """Tiered prices; ``mode`` is required, never implied."""

    mode: Literal["graduated", "volume"] = Field(
        description="graduated: each tier prices the units within it; volume: the tier reached "
        "by the total prices all units."
    )
    per: Count = Field(default=1, gt=0, description="Units per priced unit, e.g. 1_000_000.")
    tiers: list[Tier] = Field(description="Tiers in increasing order of up_to.")

    @model_validator(mode="after")
    def _ordered(self) -> TierTable:
        _check_tier_bounds([t.up_to for t in self.tiers], "tiers")
        return self


class DiscountTier(_Spec):
    """A discount tier on an amount of money: ``rate`` multiplies list price (0.90 = 10% off)."""

    up_to: Price | None = Field(description="Upper bound of the tier, in currency (inclusive).")
    rate: Number = Field(ge=0, description="Multiplier applied to the amount within the tier.")


class DiscountTable(_Spec):
    """Tiers applied to an amount of money (list-price value), graduated or volume."""

    mode: Literal["graduated", "volume"] = Field(description="How the tiers apply (required).")
    tiers: list[DiscountTier] = Field(
        description="Tiers in increasing order of up_to; the last one unbounded (up_to: null)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> DiscountTable:
        _check_tier_bounds([t.up_to for t in self.tiers], "tiers")
        return self


# --- charges ---------------------------------------------------------------------------------


class FlatCharge(_Spec):
    """A recurring fee, prorated by the day on partial periods."""

    kind: Literal["flat"] = Field(description="A recurring fee per billing period.")
    name: str = Field(description="Shown on the invoice lines of this charge; unique within the plan.")
    price: Price = Field(description="Fee per billing period.")
    timing: Timing = Field(default="in_advance", description="Billed at period start or end.")
    proration: Literal["daily", "none"] = Field(
        default="daily",
        description="daily: a partial period pays its share of days; none: the whole fee.",
    )


class SeatsCharge(_Spec):
    """A price per seat per period; seats added or removed mid-period are prorated by the day."""

    kind: Literal["seats"] = Field(description="A price per seat per billing period.")
    name: str = Field(description="Shown on the invoice lines of this charge; unique within the plan.")
    price: Price = Field(description="Price of one seat for a whole period.")
    timing: Timing = Field(default="in_advance", description="Billed at period start or end.")
    proration: Literal["daily", "none"] = Field(
        default="daily",
        description="daily: seats added or removed mid-period pay their share of days; none: "
        "the count at the period start, for the whole period.",
    )


class Meter(_Spec):
    """What a usage charge counts: token classes (summed 1:1 or with weights) or requests."""

    tokens: list[TokenClassName] | None = Field(
        default=None, description="Token classes counted, e.g. [input, cached_input]."
    )
    requests: bool = Field(default=False, description="Count requests instead of tokens.")
    models: list[str] | None = Field(
        default=None, description="Only usage of models matching these globs counts."
    )

    @model_validator(mode="after")
    def _one_thing(self) -> Meter:
        if bool(self.tokens) == self.requests:
            raise _problem(
                "tokens", "a meter counts either `tokens: [...]` or `requests: true`, exactly one"
            )
        return self


class Included(_Spec):
    """Usage included before the charge bills anything."""

    amount: Count | None = Field(default=None, description="Units included per period.")
    per_seat: Count | None = Field(
        default=None,
        description="Units included per seat, pooled across the account, prorated like seats.",
    )

    @model_validator(mode="after")
    def _one(self) -> Included:
        if (self.amount is None) == (self.per_seat is None):
            raise _problem("amount", "give exactly one of `amount` or `per_seat`")
        return self


class PerUnitSpec(_Spec):
    """A single unit price."""

    unit_price: Price = Field(description="Price of `per` units.")
    per: Count = Field(default=1, gt=0, description="Units per priced unit, e.g. 1_000_000.")


class PackageSpec(_Spec):
    """Units sold in packages of ``size``; a partial package rounds up or down."""

    size: Count = Field(gt=0, description="Units in one package.")
    price: Price = Field(description="Price of one package.")
    round: Literal["up", "down"] = Field(
        default="up", description="up: a started package is billed whole; down: only full ones."
    )


class UsageCharge(_Spec):
    """A metered quantity priced per unit, by graduated or volume tiers, or by package."""

    kind: Literal["usage"] = Field(
        description="A metered quantity (tokens or requests) priced per unit, by tiers or by "
        "package."
    )
    name: str = Field(description="Shown on the invoice lines of this charge; unique within the plan.")
    meter: Meter = Field(description="What is counted: token classes (of some models) or requests.")
    included: Included | None = Field(
        default=None, description="Units included before anything is billed (per period or seat)."
    )
    per_unit: PerUnitSpec | None = Field(
        default=None, description="One unit price (give exactly one of per_unit, tiers, package)."
    )
    tiers: TierTable | None = Field(default=None, description="Graduated or volume tiers.")
    package: PackageSpec | None = Field(
        default=None, description="Units sold in packages of a fixed size."
    )
    stacks: bool = Field(
        default=False,
        description="true: this charge bills tokens an earlier charge also bills, on purpose "
        "(without it, such a plan is refused as billing the same tokens twice).",
    )

    @model_validator(mode="after")
    def _one_model(self) -> UsageCharge:
        given = [n for n in ("per_unit", "tiers", "package") if getattr(self, n) is not None]
        if len(given) != 1:
            raise _problem(
                "per_unit",
                "a usage charge needs exactly one pricing model: `per_unit`, `tiers` or "
                f"`package` (found {', '.join(given) or 'none'})",
            )
        return self


class Rate(_Spec):
    """List prices per 1M tokens for the models matching ``models`` (shell globs)."""

    models: list[str] = Field(min_length=1, description="Shell-style globs; first rate wins.")
    input: Price = Field(description="Per 1M fresh input tokens.")
    cached_input: Price | None = Field(
        default=None, description="Per 1M cache-read tokens; defaults to `input`."
    )
    cache_write: Price | None = Field(
        default=None, description="Per 1M cache-write tokens; defaults to `input`."
    )
    output: Price = Field(description="Per 1M output tokens (reasoning included, unless "
                          "`reasoning` prices it apart).")
    reasoning: Price | None = Field(
        default=None, description="Per 1M reasoning (thinking) tokens, the part of the output "
        "the provider reports as reasoning; defaults to `output` (priced as output, as providers "
        "do). A price other than `output` splits the model's output on its invoice line: the "
        "reasoning tokens at this price, the rest at `output`. Rating it needs the usage's "
        "reasoning split (a `reasoning_tokens` column, or `--absent reasoning_tokens`). Not "
        "with `paid_with: credits`; a model priced so with usage of a service tier other than "
        "standard is refused when rated (not supported yet).")
    service_tiers: dict[ServiceTierName, TierFactor] | None = Field(
        default=None, description=_TIER_PRICES + " Wins over the card's `service_tiers`, tier "
        "by tier.")

    @property
    def reasoning_apart(self) -> bool:
        """Reasoning tokens are priced other than output tokens."""
        return self.reasoning is not None and self.reasoning != self.output

    def price_per_mtok(self, token_class: str) -> Decimal:
        if token_class == "cached_input":
            return self.cached_input if self.cached_input is not None else self.input
        if token_class == "cache_write":
            return self.cache_write if self.cache_write is not None else self.input
        if token_class == "output":
            return self.output
        return self.input


class CostPlus(_Spec):
    """Price = supplier cost (from the cost book) x (1 + markup)."""

    markup: Markup = Field(
        description='Added to the supplier cost: "35%" (or the fraction 0.35) is cost x 1.35. '
        'A markup of 100% or more must carry the % sign ("150%"); -100% is free.'
    )


class RateFallback(_Spec):
    """How a rate card prices the models none of its rates matches."""

    cost_plus: CostPlus = Field(
        description="Price every model no rate matches at the supplier's cost plus this markup."
    )


def _matches_everything(glob: str) -> bool:
    return bool(glob) and set(glob) == {"*"}


class RateCardCharge(_Spec):
    """List prices per model x token class, or cost-plus over the supplier cost book, or list
    prices for some models and cost plus for the rest (``rates`` with a ``fallback``)."""

    kind: Literal["rate_card"] = Field(
        description="Prices per model and token class: list prices, cost plus, or both."
    )
    name: str = Field(description="Shown on the invoice lines of this charge; unique within the plan.")
    rates: list[Rate] | None = Field(default=None, description="First matching rate wins.")
    cost_plus: CostPlus | None = Field(
        default=None,
        description="Price every model at the supplier's cost plus a markup (instead of `rates`).",
    )
    fallback: RateFallback | None = Field(
        default=None,
        description="With `rates`: how models no rate matches are priced (without it, such a "
        "model is an error when rated).",
    )
    included_amount: Price | None = Field(
        default=None, description="Usage value (at list price) covered by the plan's fees; the "
        "value beyond it is billed as one `overage` line, each model's value in its breakdown."
    )
    overage_discount: DiscountTable | None = Field(
        default=None, description="Tiers on the usage value beyond `included_amount`."
    )
    volume_discount: DiscountTable | None = Field(
        default=None, description="Tiers on the whole usage value of the period."
    )
    service_tiers: dict[ServiceTierName, TierFactor] | None = Field(
        default=None, description=_TIER_PRICES + " For every rate of the card (a rate's own "
        "`service_tiers` win); a tier given nowhere is billed at the card's prices. Not with "
        "`cost_plus` (cost plus already bills each tier at its own supplier cost)."
    )
    paid_with: Literal["invoice", "credits"] = Field(
        default="invoice", description="credits: usage burns the plan's credits."
    )
    stacks: bool = Field(
        default=False,
        description="true: this charge bills tokens an earlier charge also bills, on purpose "
        "(without it, such a plan is refused as billing the same tokens twice).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> RateCardCharge:
        if (self.rates is None) == (self.cost_plus is None):
            raise _problem("rates", "a rate card needs exactly one of `rates` or `cost_plus`")
        if self.rates is not None and not self.rates:
            raise _problem("rates", "at least one rate is required")
        if self.fallback is not None and self.rates is None:
            raise _problem(
                "fallback", "a fallback needs `rates` (it prices the models they do not list); "
                "a card priced entirely at cost plus needs no fallback"
            )
        if self.fallback is not None and self.rates is not None:
            for position, rate in enumerate(self.rates, start=1):
                if any(_matches_everything(g) for g in rate.models):
                    raise _problem(
                        "fallback", f"the fallback never applies: rates[{position}] matches every "
                        "model (remove the catch-all rate or the fallback)"
                    )
        if self.paid_with == "credits":
            for key in ("included_amount", "overage_discount", "volume_discount"):
                if getattr(self, key) is not None:
                    raise _problem(
                        key, f"`{key}` cannot apply to usage paid with credits: price the "
                        "credits instead (unit_value, pack prices)"
                    )
        if self.cost_plus is not None and self.service_tiers is not None:
            raise _problem(
                "service_tiers", "`service_tiers` scales list prices; a cost-plus card already "
                "bills each service tier at that tier's supplier cost plus the markup (remove "
                "`service_tiers`, or price with `rates`)"
            )
        if self.paid_with == "credits" and (self.service_tiers is not None or any(
                r.service_tiers is not None for r in self.rates or ())):
            raise _problem(
                "service_tiers", "service tier prices cannot apply to usage paid with credits "
                "yet: the credit burn values every tier at the card's prices"
            )
        if self.paid_with == "credits" and any(r.reasoning_apart for r in self.rates or ()):
            raise _problem(
                "rates", "a reasoning price other than `output` cannot apply to usage paid with "
                "credits yet: the credit burn values reasoning as output (remove `reasoning`)"
            )
        if self.overage_discount is not None and self.included_amount is None:
            raise _problem(
                "overage_discount", "`overage_discount` needs `included_amount` to define overage"
            )
        return self


class CreditGrantSpec(_Spec):
    """Credits granted for free (promotional) or as part of the fee."""

    name: str = Field(description="Names the grant in the invoice's credit balances.")
    amount: Number = Field(gt=0, description="Credits granted each time.")
    every: Literal["period", "month", "once"] = Field(
        default="period", description="Granted at the start of every period, or once."
    )
    expires: Literal["end_of_period", "never"] | DurationText = Field(
        default="end_of_period", description="end_of_period, never, or an ISO 8601 duration."
    )
    priority: int = Field(default=1, description="Lower numbers burn first.")
    paid: bool = Field(default=False, description="Paid credits count as breakage when unused.")


class CreditPack(_Spec):
    """A pack of credits customers buy."""

    name: str = Field(description="What subscriptions and auto_topup call the pack.")
    amount: Number = Field(gt=0, description="Credits in the pack.")
    price: Price = Field(description="Price of one pack, billed when it is bought.")
    expires_after: DurationText | None = Field(default=None, description="e.g. P12M.")
    priority: int = Field(default=2, description="Lower numbers burn first.")


class AutoTopup(_Spec):
    """Buy packs automatically when the balance would go below a threshold."""

    pack: str = Field(description="Name of one of the charge's packs.")
    when_balance_below: Number = Field(
        default=Decimal(0), ge=0,
        description="A pack is bought when usage would take the balance below this many credits.",
    )


class CreditsCharge(_Spec):
    """Prepaid credits: grants, packs, auto top-up, expiry, burn order, overage."""

    kind: Literal["credits"] = Field(
        description="Prepaid credits that rate cards with `paid_with: credits` burn."
    )
    name: str = Field(description="Shown on the invoice lines of this charge; unique within the plan.")
    unit: str = Field(default="credit", description="Name of the credit unit.")
    unit_value: Number = Field(gt=0, description="Currency per credit, e.g. 0.01.")
    grants: list[CreditGrantSpec] = Field(
        default_factory=list, description="Credits given (free, or included in a fee)."
    )
    packs: list[CreditPack] = Field(default_factory=list, description="Packs customers buy.")
    auto_topup: AutoTopup | None = Field(
        default=None, description="Buy a pack automatically when the balance runs low."
    )
    overage: Literal["block", "bill"] = Field(
        default="bill", description="block: usage beyond credits is refused; bill: billed."
    )

    @model_validator(mode="after")
    def _obtainable(self) -> CreditsCharge:
        if not self.grants and not self.packs:
            raise _problem(
                "grants", "credits with no way to get any: add a grant or a pack customers can buy"
            )
        names = [p.name for p in self.packs]
        if self.auto_topup is not None and self.auto_topup.pack not in names:
            known = ", ".join(repr(n) for n in names) or "none"
            raise _problem(
                "auto_topup.pack",
                f"no pack named {self.auto_topup.pack!r} (packs of this charge: {known})",
            )
        return self


class CommitmentCharge(_Spec):
    """Minimum spend per period, billed as a true-up line."""

    kind: Literal["commitment"] = Field(
        description="A minimum spend per period: a true-up line bills what usage falls short."
    )
    name: str = Field(description="Shown on the invoice lines of this charge; unique within the plan.")
    minimum: Price = Field(
        description="Minimum metered spend per period (prorated on a partial period)."
    )


class CapCharge(_Spec):
    """Maximum spend per period: usage beyond it is shown, then discounted to the cap."""

    kind: Literal["cap"] = Field(
        description="A maximum spend per period: usage beyond it is discounted to the cap."
    )
    name: str = Field(description="Shown on the invoice lines of this charge; unique within the plan.")
    maximum: Price = Field(
        description="Maximum metered spend per period (prorated on a partial period)."
    )


class CapacityMeter(_Spec):
    """Weighted tokens counted against the reservation."""

    tokens: list[TokenClassName] = Field(
        min_length=1, description="Token classes counted against the reservation."
    )
    weights: dict[TokenClassName, Number] = Field(
        default_factory=dict, description="Weight per token class (default 1)."
    )


class Baseload(_Spec):
    """The reservation: weighted tokens per bucket, paid whether used or not."""

    per_bucket: Count = Field(gt=0, description="Weighted tokens reserved in every bucket.")
    price_per_mtok: Price = Field(description="Price per 1M reserved weighted tokens.")
    timing: Timing = Field(default="in_advance", description="Billed at period start or end.")


_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


def parse_hours(text: str) -> tuple[time, time]:
    """``"09:00-18:00"`` to (09:00, 18:00); ``24:00`` is allowed as an end."""
    match = _HOURS.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an hour range like \"09:00-18:00\"")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"{text!r} is not a valid hour range")
    start = time(h1, m1)
    end = time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)
    if end == start:
        raise ValueError(f"{text!r}: the range is empty (an overnight range reads 22:00-06:00)")
    return start, end  # an end before the start wraps past midnight


class TouRule(_Spec):
    """A time-of-use price: on these weekdays, in this local hour range; or the default."""

    days: list[Weekday] | None = Field(
        default=None, description="Weekdays the rule applies on (mon ... sun); all if omitted."
    )
    hours: str | None = Field(default=None, description='Local hour range, e.g. "09:00-18:00".')
    default: bool = Field(
        default=False, description="true: the price of every hour no other rule covers."
    )
    price_per_mtok: Price = Field(description="Spot price per 1M weighted tokens.")

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_hours(value)
        return value

    @model_validator(mode="after")
    def _shape(self) -> TouRule:
        if self.default and (self.days is not None or self.hours is not None):
            raise _problem("default", "a default rule takes no `days` or `hours`")
        if not self.default and self.days is None and self.hours is None:
            raise _problem("days", "a rule needs `days`, `hours`, or `default: true`")
        return self


class Spot(_Spec):
    """Spot prices for usage above the reservation: a schedule or a price series file."""

    timezone: str = Field(default="UTC", description="IANA time zone the schedule is read in.")
    schedule: list[TouRule] | None = Field(
        default=None, description="Time-of-use rules; the first that matches an hour prices it."
    )
    price_series: str | None = Field(
        default=None, description="CSV with hour_start, price_per_mtok (relative to the plan)."
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)"
            ) from None
        return value

    @model_validator(mode="after")
    def _source(self) -> Spot:
        if (self.schedule is None) == (self.price_series is None):
            raise _problem("schedule", "give exactly one of `schedule` or `price_series`")
        if self.schedule is not None:
            defaults = [i for i, r in enumerate(self.schedule) if r.default]
            if not defaults:
                raise _problem(
                    "schedule",
                    "the time-of-use schedule has no default: add "
                    "`{ default: true, price_per_mtok: \"...\" }` for the hours no rule covers",
                )
            if len(defaults) > 1:
                raise _problem(f"schedule[{defaults[1]}].default", "only one default rule")
        return self


class CapacityCharge(_Spec):
    """Spot/baseload: a reserved rate per bucket, usage above it at the bucket's spot price."""

    kind: Literal["capacity"] = Field(
        description="Reserved throughput per hour (baseload), usage above it at spot prices."
    )
    name: str = Field(description="Shown on the invoice lines of this charge; unique within the plan.")
    meter: CapacityMeter = Field(description="Weighted tokens counted against the reservation.")
    bucket: Literal["hour"] = Field(default="hour", description="Time bucket (UTC hours).")
    baseload: Baseload = Field(description="The reservation, paid whether used or not.")
    spot: Spot = Field(description="Prices of usage above the reservation.")
    stacks: bool = Field(
        default=False,
        description="true: this charge bills tokens an earlier charge also bills, on purpose "
        "(without it, such a plan is refused as billing the same tokens twice).",
    )


_ALL_CLASSES: frozenset[str] = frozenset(("input", "cached_input", "cache_write", "output"))


def _token_scope(charge: object) -> tuple[frozenset[str], list[str]] | None:
    """The token classes and model globs a charge bills (None: it bills no tokens)."""
    if isinstance(charge, UsageCharge):
        if charge.meter.requests or not charge.meter.tokens:
            return None
        return frozenset(charge.meter.tokens), list(charge.meter.models or ["*"])
    if isinstance(charge, RateCardCharge):
        if charge.rates is None or charge.fallback is not None:
            return _ALL_CLASSES, ["*"]
        return _ALL_CLASSES, [g for rate in charge.rates for g in rate.models]
    if isinstance(charge, CapacityCharge):
        return frozenset(charge.meter.tokens), ["*"]
    return None


class TokenOverlap(NamedTuple):
    """Two charges that bill the same tokens: positions in the plan (from 0), the token classes
    both bill, and a model both select ("" when both select every model)."""

    earlier: int
    later: int
    classes: tuple[str, ...]
    model: str


def token_overlaps(charges: Sequence[object]) -> list[TokenOverlap]:
    """Every pair of charges that could bill the same token (a token class both bill, of a
    model both select), whether or not the later one ``stacks``."""
    order = ("input", "cached_input", "cache_write", "output")
    found: list[TokenOverlap] = []
    scopes = [_token_scope(charge) for charge in charges]
    for later, scope in enumerate(scopes):
        if scope is None:
            continue
        for earlier, other in enumerate(scopes[:later]):
            if other is None:
                continue
            classes = tuple(c for c in order if c in scope[0] & other[0])
            if not classes:
                continue
            witness = next((w for a in other[1] for b in scope[1]
                            if (w := globs_overlap(a, b)) is not None), None)
            if witness is not None:
                found.append(TokenOverlap(earlier, later, classes, witness))
    return found


def describe_overlap(overlap: TokenOverlap) -> str:
    """``input, output tokens of models such as 'x'`` (or ``of every model``)."""
    models = f"models such as {overlap.model!r}" if overlap.model else "every model"
    return f"{', '.join(overlap.classes)} tokens of {models}"


def _double_billing(charges: list[object]) -> PydanticCustomError | None:
    """The first charge that bills tokens an earlier charge bills, unless it ``stacks``."""
    for overlap in token_overlaps(charges):
        charge, other = charges[overlap.later], charges[overlap.earlier]
        if getattr(charge, "stacks", False):
            continue
        label = f"charge {overlap.earlier + 1} {getattr(other, 'name', '')!r}"
        return PydanticCustomError("plan_rule", "{message}", {
            "message": (
                f"charge {overlap.later + 1} {getattr(charge, 'name', '')!r} bills the same "
                f"tokens as {label}: {describe_overlap(overlap)} would be billed twice. Narrow "
                "one charge's models or token classes (a rate card can list some models and "
                "price the rest with `fallback: {cost_plus: ...}`), or add `stacks: true` to "
                "this charge if both are meant to bill them"
            ),
            "subpath": f"charges[{overlap.later}]",
            "see": f"charges[{overlap.earlier}]",
            "see_label": label,
        })
    return None


Charge = Annotated[
    FlatCharge
    | SeatsCharge
    | UsageCharge
    | RateCardCharge
    | CreditsCharge
    | CommitmentCharge
    | CapCharge
    | CapacityCharge,
    Field(discriminator="kind"),
]
CHARGE_KINDS: tuple[str, ...] = (
    "flat", "seats", "usage", "rate_card", "credits", "commitment", "cap", "capacity",
)

_PLAN_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class Plan(_Spec):
    """One version of a plan. A published version is never edited: publish a new version."""

    id: str = Field(description="Stable identifier, lowercase: e.g. team-seats.")
    name: str | None = Field(default=None, description="Display name.")
    description: str | None = Field(default=None, description="Free text for people.")
    version: date = Field(description="Effective-from date of this version.")
    currency: str = Field(description="ISO 4217 currency code.")
    interval: Literal["day", "week", "month", "quarter", "year"] = Field(
        default="month", description="Length of a billing period."
    )
    rounding: Rounding = Field(
        default=Rounding.HALF_UP, description="How each invoice line is rounded to minor units."
    )
    grades: dict[str, list[str]] = Field(
        default_factory=dict, description="Model grades (e.g. premium, commodity) by glob."
    )
    charges: list[Charge] = Field(
        min_length=1, description="What the plan bills, in invoice order (commitment and cap "
        "apply last, to the metered spend)."
    )
    _charge_sources: Mapping[str, str] = PrivateAttr(default_factory=dict)

    @property
    def charge_sources(self) -> Mapping[str, str]:
        """Where each charge is written, by charge name: ``"plans/03-base-plus-overage.yaml:24"``
        (the file as the loader was given it, and the line where the charge starts). Empty for
        a plan built in code. Every invoice line carries its charge's entry (``source``)."""
        return self._charge_sources

    def with_charge_sources(self, sources: Mapping[str, str]) -> Plan:
        """This plan, knowing where its charges are written (:attr:`charge_sources`); the
        loader calls it, and per-customer overrides keep the sources of the plan they change."""
        located = self.model_copy()
        located._charge_sources = {c.name: sources[c.name] for c in self.charges
                                   if c.name in sources}
        return located

    def reasoning_rates(self) -> list[str]:
        """The rate cards' rates that price reasoning apart from output, as
        ``"charge: model globs"`` (empty: reasoning is priced as output everywhere)."""
        return [f"{c.name}: {', '.join(r.models)}" for c in self.charges
                if isinstance(c, RateCardCharge) for r in c.rates or () if r.reasoning_apart]

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _PLAN_ID.match(value):
            raise ValueError("use lowercase letters, digits, '-', '_' or '.' (e.g. team-seats)")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        try:
            return check_currency(value)
        except MoneyError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        seen: dict[str, int] = {}
        for index, charge in enumerate(self.charges):
            if charge.name in seen:
                raise _problem(
                    f"charges[{index}].name",
                    f"duplicate charge name {charge.name!r} (also charges[{seen[charge.name] + 1}])",
                )
            seen[charge.name] = index
        for index, charge in enumerate(self.charges):
            if isinstance(charge, CreditsCharge) and self.interval != "month":
                for g, grant in enumerate(charge.grants):
                    if grant.every == "month":
                        raise _problem(
                            f"charges[{index}].grants[{g}].every",
                            f"`every: month` on a plan billed every {self.interval}: use "
                            "`every: period` (and state the amount per period)",
                        )
        minimum = next((c for c in self.charges if isinstance(c, CommitmentCharge)), None)
        maximum = next((c for c in self.charges if isinstance(c, CapCharge)), None)
        if minimum is not None and maximum is not None and minimum.minimum > maximum.maximum:
            raise _problem(
                f"charges[{self.charges.index(minimum)}].minimum",
                f"the minimum commitment ({minimum.minimum}) is above the cap "
                f"({maximum.maximum}): no spend could satisfy both",
            )
        overlap = _double_billing(list(self.charges))
        if overlap is not None:
            raise overlap
        kinds = [c.kind for c in self.charges]
        for single in ("commitment", "cap", "credits"):
            if kinds.count(single) > 1:
                raise _problem("charges", f"at most one `{single}` charge per plan")
        for index, charge in enumerate(self.charges):
            if (
                isinstance(charge, RateCardCharge)
                and charge.paid_with == "credits"
                and "credits" not in kinds
            ):
                raise _problem(
                    f"charges[{index}].paid_with", "paid_with: credits needs a `credits` charge"
                )
        return self

