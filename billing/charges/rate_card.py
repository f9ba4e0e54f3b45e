"""``rate_card``: list prices per model and token class (or supplier cost plus a markup), one
line per model; then the card's included amount, overage discount and volume discount.

Service tiers: a model's tokens served in a tier other than standard (the batch's
``PeriodTotals.service``) are billed on their own line, labelled with the tier: at the card's
list prices times the tier's multiplier (the rate's ``service_tiers``, else the card's, else 1),
or, for a model priced at cost plus, at the tier's own supplier cost plus the markup. The
standard line bills the rest. The included amount and the discounts apply to the card's value,
every tier counted. A card paid with credits takes its values from the burn, which values every
tier at list: it may not price tiers (the plan refuses ``service_tiers`` there), and a cost-plus
model with tiered usage under it is refused here.

Reasoning: a rate whose ``reasoning`` price differs from its ``output`` price splits the
model's output: the reasoning tokens (``PeriodTotals.reasoning``) at the reasoning price, the
rest at the output price. The model keeps its one line (rounded once); its breakdown shows
``output`` (the rest) and ``reasoning`` apart. The output part of the card's value (what the
included amount and the discounts see) is the sum of both. Without the usage's reasoning split
(a trace without a reasoning column, not declared absent), or with usage of a service tier
other than standard for that model (the tier rows carry no reasoning split yet), such a rate is
refused, never billed all at the output price.

A model's value is worked out from the batch's period totals (:func:`values`), except for a card
paid with credits, whose values come from the credit burn (day by day): the caller puts those in
``run.card_values`` first."""

from __future__ import annotations

import decimal
import fnmatch
from collections.abc import Callable, Sequence
from decimal import Decimal

from billing.charges.columns import Col, is_column, maximum, tiered, where
from billing.charges.lines import LineText, shown_money
from billing.charges.run import Billing, CardValue, TierValue
from billing.charges.totals import CLASSES, TierShare
from billing.errors import RatingError, UnpricedModelError
from billing.money import EXACT, MTOK, ZERO
from billing.plans.compiled import CompiledPlan, RateCard
from billing.plans.model import Rate
from billing.pricing import Tier, graduated, volume

__all__ = ["Prices", "bill", "values"]

_ONE = Decimal(1)


class Prices:
    """What a plan's rate cards charge per model, looked up once per (card, model)."""

    def __init__(self, compiled: CompiledPlan) -> None:
        self.plan = compiled.plan
        self._rates: dict[tuple[int, str], Rate | None] = {}
        self._prices: dict[tuple[int, str], tuple[Decimal, ...]] = {}

    def listed(self, card: RateCard, model: str) -> Rate | None:
        """The first rate of the card matching ``model``; None when it has none and the card
        falls back to cost plus. A model that neither a rate nor a fallback prices is an
        error."""
        key = (card.index, model)
        if key in self._rates:
            return self._rates[key]
        charge = card.spec
        lowered = model.lower()
        assert charge.rates is not None
        for rate in charge.rates:
            if any(fnmatch.fnmatchcase(lowered, g.lower()) for g in rate.models):
                self._rates[key] = rate
                return rate
        if charge.fallback is not None:
            self._rates[key] = None
            return None
        raise UnpricedModelError(
            f"plan {self.plan.id!r}, charge {charge.name!r}: no rate matches model "
            f"{model!r}; add a rate for it (or a catch-all `models: [\"*\"]`)"
        )

    def markup(self, card: RateCard, model: str) -> Decimal | None:
        """The markup over cost ``model`` is priced at under the card, None at list price."""
        charge = card.spec
        if charge.cost_plus is not None:
            return charge.cost_plus.markup
        if charge.fallback is not None and self.listed(card, model) is None:
            return charge.fallback.cost_plus.markup
        return None

    def tier_factor(self, card: RateCard, model: str, tier: str) -> Decimal:
        """The multiplier of ``model``'s list prices under the card for service ``tier``: the
        rate's own, else the card's, else 1 (the card's prices)."""
        rate = self.listed(card, model)
        for found in (rate.service_tiers if rate is not None else None,
                      card.spec.service_tiers):
            if found and tier in found:
                return found[tier]
        return _ONE

    def reasoning_price(self, card: RateCard, model: str) -> Decimal | None:
        """``model``'s price per 1M reasoning tokens under the card when it differs from its
        output price (None: reasoning is priced as output)."""
        if card.spec.rates is None:
            return None
        rate = self.listed(card, model)
        return rate.reasoning if rate is not None and rate.reasoning_apart else None

    def list_prices(self, card: RateCard, model: str) -> tuple[Decimal, ...]:
        """The list prices per 1M tokens (input, cached_input, cache_write, output) of
        ``model`` under the card."""
        key = (card.index, model)
        found = self._prices.get(key)
        if found is None:
            rate = self.listed(card, model)
            if rate is None:
                raise RatingError(
                    f"plan {self.plan.id!r}, charge {card.name!r}: model {model!r} is priced by "
                    "the card's cost-plus fallback, not by a list price"
                )
            found = self._prices[key] = tuple(rate.price_per_mtok(cls) for cls in CLASSES)
        return found


def values(card: RateCard, run: Billing) -> list[CardValue]:
    """Each model's value under the card (in ``run.totals.models`` order) with its part per
    token class: tokens x list price, or supplier cost x (1 + markup); with the value of each
    service tier other than standard (module docstring)."""
    totals, prices = run.totals, run.prices
    out: list[CardValue] = []
    with decimal.localcontext(EXACT):
        for m, model in enumerate(totals.models):
            markup = prices.markup(card, model)
            shares = totals.service.get(m, ())
            tiers: list[TierValue] = []
            parts: list[Col]
            if markup is not None:
                assert totals.cost is not None, "a cost-plus card needs the supplier costs"
                factor = 1 + markup
                parts = [cost * factor for cost in totals.cost[m]]
                for share in shares:
                    tiers.append(_tier_value(share, [c * factor for c in share.cost], None))
            else:
                listed = prices.list_prices(card, model)
                apart = prices.reasoning_price(card, model)
                if apart is not None:
                    reasoning = _reasoning_tokens(card, run, m)
                    parts = [(n * p) / MTOK
                             for n, p in zip(totals.tokens[m], listed, strict=True)]
                    # output = (output - reasoning) x output price + reasoning x its price
                    extra = (reasoning * (apart - listed[3])) / MTOK
                    parts[3] = parts[3] + extra
                    out.append(CardValue(_sum(parts), tuple(zip(CLASSES, parts, strict=True)),
                                         (), (reasoning * apart) / MTOK))
                    continue
                if not shares:
                    parts = [(n * p) / MTOK
                             for n, p in zip(totals.tokens[m], listed, strict=True)]
                else:  # the standard share at list, each tier's at list x its multiplier
                    standard = _standard_tokens(totals.tokens[m], shares)
                    parts = [(n * p) / MTOK for n, p in zip(standard, listed, strict=True)]
                    for share in shares:
                        f = prices.tier_factor(card, model, share.tier)
                        tier_parts = [(n * p * f) / MTOK
                                      for n, p in zip(share.tokens, listed, strict=True)]
                        tiers.append(_tier_value(share, tier_parts, f))
                        parts = [a + b for a, b in zip(parts, tier_parts, strict=True)]
            out.append(CardValue(_sum(parts), tuple(zip(CLASSES, parts, strict=True)),
                                 tuple(tiers)))
    return out


def _reasoning_tokens(card: RateCard, run: Billing, m: int) -> Col:
    """Model ``m``'s reasoning tokens, for a rate that prices them apart; refused when the
    usage has no reasoning split or has usage of a service tier other than standard."""
    totals, model = run.totals, run.totals.models[m]
    where_ = f"plan {run.plan.id!r}, charge {card.name!r}"
    if totals.reasoning is None:
        raise RatingError(
            f"{where_}: the rate for {model} prices reasoning tokens apart from output, but the "
            "usage has no reasoning split (no reasoning_tokens column): --map "
            "reasoning_tokens=COLUMN, or --absent reasoning_tokens to bill all output at the "
            "output price (in Python: aggregate_events(..., reasoning=True))")
    if totals.service.get(m):
        raise RatingError(
            f"{where_}: {model} has usage of service tier {totals.service[m][0].tier!r}, and its "
            "rate prices reasoning apart: reasoning per service tier is not supported yet")
    found = totals.reasoning.get(m)
    return 0 if found is None else found


def _sum(parts: Sequence[Col]) -> Col:
    value: Col = ZERO
    for part in parts:
        value = value + part
    return value


def _tier_value(share: TierShare, parts: Sequence[Col], factor: Decimal | None) -> TierValue:
    return TierValue(share.tier, _sum(parts), tuple(zip(CLASSES, parts, strict=True)), factor)


def _standard_tokens(tokens: Sequence[Col], shares: Sequence[TierShare]) -> list[Col]:
    """A model's tokens per class less those of its tiers other than standard."""
    out = list(tokens)
    for share in shares:
        out = [a - b for a, b in zip(out, share.tokens, strict=True)]
    return out


def bill(card: RateCard, run: Billing) -> None:
    """One line per model, net of usage refused by ``overage: block``. A card with an
    ``included_amount`` (usage the plan's fees include) bills instead one ``overage`` line:
    the models' values less what the fees include, never below zero, each model's value in its
    breakdown. Then the overage discount (on that line) and the volume discount (on the card's
    value)."""
    charge, totals, terms, out = card.spec, run.totals, run.terms, run.out
    found = run.card_values.get(card.index)
    if found is None:
        found = run.card_values[card.index] = values(card, run)
    refused = run.refused if charge.paid_with == "credits" else {}
    if charge.paid_with == "credits":
        for m, model in enumerate(totals.models):
            if totals.service.get(m) and run.prices.markup(card, model) is not None:
                raise RatingError(
                    f"plan {run.plan.id!r}, charge {card.name!r}: {model} has usage of service "
                    f"tier {totals.service[m][0].tier!r}, which a cost-plus card paid with "
                    "credits cannot price yet (the credit burn values usage at standard cost)")
    card_total: Col = ZERO
    nets: list[Col] = []
    with decimal.localcontext(EXACT):
        for m, model in enumerate(totals.models):
            value = found[m]
            refused_here = refused.get(model)
            net = value.amount - (ZERO if refused_here is None else refused_here)
            nets.append(net)
            card_total = card_total + net
            if charge.included_amount is None and value.tiers:
                _tier_lines(card, run, m, value, net)
            elif charge.included_amount is None:
                out.add("rate_card", card.name, net,
                        _model_text(card, model, totals.tokens[m], value, net),
                        present=totals.present[m], model=model, grade=run.grade(model))
        if charge.included_amount is not None:
            included = terms.card_included[card.index]
            overage = maximum(ZERO, card_total - included)
            out.add("overage", card.name, overage,
                    _overage_text(card, totals.models, totals.tokens, found, nets, card_total,
                                  included, run.plan.currency))
        if charge.included_amount is not None and charge.overage_discount is not None:
            assert card.overage_tiers is not None
            mode = charge.overage_discount.mode
            discounted = tiered(mode, overage, card.overage_tiers)
            present = (overage > 0) & (discounted != overage)
            out.add("overage_discount", card.name, where(present, discounted - overage, ZERO),
                    _discount_text(card, mode, card.overage_tiers, overage,
                                   "overage discount on", "list price of the overage"),
                    present=present)
        if charge.volume_discount is not None:
            assert card.volume_tiers is not None
            mode = charge.volume_discount.mode
            positive = card_total > 0
            discounted = tiered(mode, where(positive, card_total, ZERO), card.volume_tiers)
            present = positive & (discounted != card_total)
            out.add("volume_discount", card.name, where(present, discounted - card_total, ZERO),
                    _discount_text(card, mode, card.volume_tiers, card_total,
                                   "volume discount on", "list value"),
                    present=present)


def _tier_lines(card: RateCard, run: Billing, m: int, value: CardValue, net: Col) -> None:
    """A model with usage of tiers other than standard: its standard line (the rest of its
    tokens, where there are some), then one line per tier, labelled with it."""
    totals, model = run.totals, run.totals.models[m]
    shares = totals.service[m]
    standard_tokens = _standard_tokens(totals.tokens[m], shares)
    standard_requests = totals.requests[m]
    standard_amount, standard_parts = net, list(value.parts)
    for share, tier in zip(shares, value.tiers, strict=True):
        standard_requests = standard_requests - share.requests
        standard_amount = standard_amount - tier.amount
        standard_parts = [(cls, a - b) for (cls, a), (_, b) in
                          zip(standard_parts, tier.parts, strict=True)]
    used = _sum(standard_tokens) + standard_requests
    present = (totals.present[m] & (used > 0)) if is_column(used) else (
        bool(totals.present[m]) and used > 0)
    standard = CardValue(standard_amount, tuple(standard_parts))
    grade = run.grade(model)
    run.out.add("rate_card", card.name, standard_amount,
                _model_text(card, model, standard_tokens, standard, standard_amount),
                present=present, model=model, grade=grade)
    for share, tier in zip(shares, value.tiers, strict=True):
        run.out.add("rate_card", card.name, tier.amount, _tier_text(card, model, share, tier),
                    present=share.present, model=model, grade=grade)


def _tier_text(card: RateCard, model: str, share: TierShare, tier: TierValue
               ) -> Callable[[], LineText]:
    def text() -> LineText:  # one customer: the numbers are its own
        details = [(cls, ZERO + v) for cls, v in tier.parts if v]
        how = ("at its supplier cost plus the markup" if tier.factor is None
               else f"{tier.factor.normalize():f} x list price")
        quantity = Decimal(sum(share.tokens)) / MTOK
        return LineText(f"{card.name}: {model} ({tier.tier} tier, {how})", quantity,
                        "1M tokens", None, details or [("no usage", ZERO)])
    return text


def _model_text(card: RateCard, model: str, tokens: Sequence[Col], value: CardValue, net: Col
                ) -> Callable[[], LineText]:
    def text() -> LineText:  # one customer: the numbers are its own
        details = [(cls, ZERO + v) for cls, v in value.parts if v]
        if value.reasoning is not None:  # the output part split: the rest, then reasoning
            details = [d for cls, v in value.parts if v for d in (
                [("output", ZERO + v - value.reasoning), ("reasoning", ZERO + value.reasoning)]
                if cls == "output" else [(cls, ZERO + v)])]
        if net != value.amount:
            details.append(("refused: credits exhausted", net - value.amount))
        quantity = Decimal(sum(tokens)) / MTOK
        return LineText(f"{card.name}: {model}", quantity, "1M tokens", None,
                        details or [("no usage", ZERO)])
    return text


def _overage_text(card: RateCard, models: Sequence[str], tokens: Sequence[Sequence[Col]],
                  found: Sequence[CardValue], nets: Sequence[Col], card_total: Col,
                  included: Decimal, currency: str) -> Callable[[], LineText]:
    def text() -> LineText:  # one customer: the numbers are its own
        shown = shown_money(included, currency)
        details: list[tuple[str, Decimal]] = []
        for model, value, net in zip(models, found, nets, strict=True):
            standard = value.amount
            for t in value.tiers:
                standard = standard - t.amount
            details.append((f"{model} at list price", standard))
            details += [(f"{model} ({t.tier} tier)", t.amount) for t in value.tiers]
            if net != value.amount:
                details.append((f"{model}: refused, credits exhausted", net - value.amount))
        covered = min(card_total, included)
        if covered > 0:
            details.append((f"included in the plan's fees (up to {shown})", -covered))
        quantity = Decimal(sum(sum(t) for t in tokens)) / MTOK
        return LineText(f"{card.name}: overage above the {shown} included", quantity,
                        "1M tokens", None, details or [("no usage", ZERO)])
    return text


def _discount_text(card: RateCard, mode: str, tiers: Sequence[Tier], amount: Col,
                   what: str, base: str) -> Callable[[], LineText]:
    def text() -> LineText:
        pricer = graduated.price if mode == "graduated" else volume.price
        discounted = pricer(amount, tiers)
        return LineText(f"{card.name}: {what} {amount}", Decimal(1), "discount", None,
                        (*discounted.details, (base, -amount)))
    return text
