"""Rating: a plan version, a subscription, a period and aggregate usage in; an exact invoice out.

A :class:`Rater` is a plan compiled for rating (rate matching, grades, spot prices, discount tiers
prepared once); :meth:`Rater.rate` is a deterministic function of its arguments. Charges become
lines in the plan's order, except that ``commitment`` and ``cap`` always come last, applied to the
metered spend (usage lines and their discounts, after credits): "usage, then the volume discount,
then the commitment true-up or the cap on the discounted total".

Credits carry over: packs bought in an earlier period stay usable until they expire, so rating a
period of a credits plan replays the burn-down of every earlier period of the subscription from
the same usage (a deterministic function, no stored balance).

Every charge kind's lines are made once, in :mod:`billing.charges` (``bill_plan``): the Rater
gives it this customer as a batch of one (its period totals, the usage-independent terms, the
credit burn-down and capacity usage) and builds the invoice from the lines.

Why over 600 lines (about 750): what is left here is what only an invoice needs, and it is one
piece: the credit replay of earlier periods (which calls back into other versions' raters and
values each day's usage for the burn), the hourly capacity sums of one customer, and the
invoice with its balances, refusals and breakage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple, cast

from billing.charges import (
    Billing,
    CapacityUsage,
    CardValue,
    CreditLines,
    LineText,
    PeriodTotals,
    Prices,
    Terms,
    grade_of,
    seat_quantity,
)
from billing.charges.plan import bill_plan
from billing.charges.sinks import METERED_KINDS
from billing.charges.totals import tier_costs
from billing.costs import CostBook
from billing.errors import RatingError
from billing.invoice import (
    CreditBalance,
    Invoice,
    InvoiceLine,
    LineKind,
    RefusedUsage,
    invoice_id,
    make_line,
)
from billing.money import EXACT, MTOK, ZERO, in_exact_context, round_money
from billing.periods import Period, nth_period
from billing.plans.compiled import (
    CapacityFee,
    CompiledPlan,
    RateCard,
)
from billing.plans.compiled import compile as compile_plan
from billing.plans.model import (
    CapacityCharge,
    CreditsCharge,
    Plan,
    RateCardCharge,
)
from billing.plans.types import parse_duration
from billing.pricing import (
    capacity,
    credits,
)
from billing.subscriptions import Subscription
from billing.usage.aggregates import Counts
from billing.usage.customer import CustomerUsage
from billing.usage.keys import day_of

__all__ = ["METERED_KINDS", "CapacityUsage", "CreditTerms", "LineTotal", "Rater", "RatingResult", "RatingTotals",
           "grade_of"]

_EXACT = EXACT  # money's one exact context
_CLASSES = ("input", "cached_input", "cache_write", "output")


@dataclass(frozen=True, slots=True)
class RatingResult:
    """An invoice plus the figures the comparison tool reports beside it."""

    invoice: Invoice
    usage_value: Mapping[str, Decimal] = field(default_factory=dict)
    """Value of each model's usage before discounts and credits (list price or cost plus)."""
    reserved: Decimal | None = None
    covered: Decimal | None = None
    breakage_value: Decimal = ZERO
    """Paid credits that expired unused in the period, in currency."""
    unused_paid_value: Decimal = ZERO
    """Paid credits still unused at the period's end, in currency."""
    refused_value: Decimal = ZERO
    hourly_covered: Mapping[int, Decimal] = field(default_factory=dict)


def rows_by_price(usage: CustomerUsage, costbook: CostBook
                  ) -> list[tuple[tuple[str, int, int], Counts]]:
    """Daily rows merged while the supplier's prices stay the same: one row per model, band and
    price version (keyed by its first day) instead of one per day. Cost is linear in the tokens,
    so pricing the merged row equals summing the daily prices, exactly."""
    merged: dict[tuple[str, int, object], tuple[int, Counts]] = {}
    for (model, band, day), counts in sorted(usage.daily.items()):
        level: object = costbook.lookup(model, day_of(day))  # equal prices, equal key
        key = (model, band, level)
        found = merged.get(key)
        if found is None:
            merged[key] = (day, Counts(*counts.as_tuple()))
        else:
            found[1].add(counts)
    return [((model, band, day), counts) for (model, band, _), (day, counts) in merged.items()]


def _markup(charge: RateCardCharge) -> Decimal | None:
    """The card's cost-plus markup, or its fallback's (None for list prices only)."""
    if charge.cost_plus is not None:
        return charge.cost_plus.markup
    return None if charge.fallback is None else charge.fallback.cost_plus.markup


class LineTotal(NamedTuple):
    """What a summary needs of an invoice line: its kind, rounded amount and grade, and its
    exact amount (the invoice line's ``amount``)."""

    kind: LineKind
    rounded_amount: Decimal
    grade: str | None
    amount: Decimal


class _Lines:
    """Accumulates invoice lines, rounding each once. ``lean`` keeps only :class:`LineTotal`
    records (no descriptions or details): the same amounts, without building invoice lines."""

    def __init__(self, plan: Plan, period: Period, *, lean: bool = False) -> None:
        self.plan = plan
        self.period = period
        self.lean = lean
        self.lines: list[InvoiceLine | LineTotal] = []

    def add(self, kind: str, charge: str, amount: Decimal, text: Callable[[], LineText], *,
            present: bool = True, model: str | None = None, grade: str | None = None) -> None:
        """A line from a charge kind (:class:`billing.charges.lines.LineSink`)."""
        if not present:
            return
        if self.lean:  # (no text: a lean line is its amounts)
            self.line(cast(LineKind, kind), charge, "", ZERO, "", amount, grade=grade)
            return
        said = text()
        self.line(cast(LineKind, kind), charge, said.description, said.quantity, said.unit,
                  amount, unit_price=said.unit_price, details=said.details, model=model,
                  grade=grade)

    def line(self, kind: LineKind, charge: str, description: str, quantity: Decimal, unit: str,
            amount: Decimal, *, unit_price: Decimal | None = None,
            details: Iterable[tuple[str, Decimal]] = (), model: str | None = None,
            grade: str | None = None) -> None:
        if self.lean:
            exact = _EXACT.plus(amount)
            self.lines.append(LineTotal(kind, round_money(
                exact, self.plan.currency, self.plan.rounding), grade, exact))
            return
        self.lines.append(make_line(
            index=len(self.lines) + 1, kind=kind, charge=charge, description=description,
            quantity=quantity, unit=unit, amount=_EXACT.plus(amount), currency=self.plan.currency,
            rounding=self.plan.rounding, period_start=self.period.start,
            period_end=self.period.end, unit_price=unit_price, details=tuple(details),
            model=model, grade=grade, source=self.plan.charge_sources.get(charge),
        ))

    def metered_spend(self) -> Decimal:
        """The metered lines as billed (rounded): a cap or minimum on it then makes the invoice
        total, which adds rounded lines, land exactly on the cap or the minimum."""
        return sum((ln.rounded_amount for ln in self.lines if ln.kind in METERED_KINDS), ZERO)


@dataclass(frozen=True, slots=True)
class RatingTotals:
    """:meth:`Rater.rate_totals`: the invoice's total and rounded lines, without the invoice."""

    total: Decimal
    lines: tuple[LineTotal, ...]
    reserved: Decimal | None
    covered: Decimal | None
    breakage_value: Decimal
    unused_paid_value: Decimal


@dataclass(frozen=True, slots=True)
class _Reservation:
    """Capacity charges' reserved and covered weighted tokens (utilization = covered/reserved)."""

    reserved: Decimal = ZERO
    covered: Decimal = ZERO
    hourly_covered: Mapping[int, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CreditTerms:
    """A plan's credits charge, the rate cards it pays (their indexes), its auto top-up pack and
    the balance below which the top-up buys."""

    charge: CreditsCharge
    paying: list[int]
    topup: credits.TopUpPack | None
    threshold: Decimal


@dataclass(slots=True)
class _CreditOutcome:
    result: credits.BurnResult
    charge: CreditsCharge
    pack_lines: list[tuple[str, int, Decimal, Decimal]]  # description, count, unit price, amount
    grant_expiry: dict[str, date | None]
    grant_value: dict[str, Decimal]
    """Money one credit of each grant is worth: its purchase price per credit for packs, the
    credit's unit value for grants."""

    def lines(self) -> CreditLines:
        """What the burn bills: the pack purchases and the credits burned per model."""
        return CreditLines(self.pack_lines, self.result.burned_by_label)

    def paid_value(self, credits_of: str) -> Decimal:
        """Money value of the paid credits that are ``expired`` or ``remaining``."""
        return sum(
            (_EXACT.multiply(getattr(b, credits_of), self.grant_value[b.grant_id])
             for b in self.result.balances if b.paid),
            ZERO,
        )


@dataclass(frozen=True, slots=True)
class _RateState:
    lines: _Lines
    usage_value: dict[str, Decimal]
    reservation: _Reservation | None
    credit: _CreditOutcome | None
    refused: Mapping[str, Decimal]
    active: Period


@dataclass(slots=True)
class _Pass:
    """What the charges of one rating pass share: the inputs, the lines made so far, the
    rate-card values and credit burn worked out before them, the reserved capacity."""

    subscription: Subscription
    period: Period
    fixed_fraction: Decimal | None
    fraction: Decimal
    window: CustomerUsage
    hours: Sequence[int] | None
    capacity_usage: Mapping[str, CapacityUsage] | None
    lines: _Lines
    card_values: dict[int, dict[tuple[int, str], tuple[Decimal, list[tuple[str, Decimal]]]]]
    credit: _CreditOutcome | None
    usage_value: dict[str, Decimal]
    token_totals: Mapping[str, int]
    run: Billing
    hourly_covered: dict[int, Decimal] = field(default_factory=dict)


class Rater:
    """Rates subscriptions of one plan version (compiled once, :func:`billing.plans.compile`)."""

    def __init__(self, plan: Plan | CompiledPlan, *, costbook: CostBook | None = None,
                 plan_path: Path | None = None,
                 history: Callable[[date], Rater] | None = None) -> None:
        """``plan``: a plan, compiled here (a price series is read relative to ``plan_path``'s
        folder), or a plan already compiled."""
        self.compiled = (plan if isinstance(plan, CompiledPlan)
                         else compile_plan(plan, plan_path=plan_path))
        plan = self.plan = self.compiled.plan
        self.history = history
        """The rater of the version in force on a day, for replaying credits of earlier periods
        (without it, earlier periods replay under this version)."""
        self.costbook = costbook
        self.plan_path = plan_path
        self.prices = Prices(self.compiled)
        """List prices and markups of the plan's rate cards, per model."""
        self._grades: dict[str, str | None] = {}
        self.pack_value: dict[str, Decimal] = {}
        """Money one credit of each pack grant is worth (its price per credit), by grant id;
        filled by :meth:`grants_for`."""
        self._spot_cache: dict[tuple[str, tuple[int, ...]], dict[int, Decimal]] = {}
        self._rate_cards = tuple(c for c in self.compiled.charges if isinstance(c, RateCard))
        self._marked_up = any(_markup(card.spec) is not None for card in self.compiled.charges
                              if isinstance(card, RateCard))
        self._capacity_fees = {c.name: c for c in self.compiled.charges
                               if isinstance(c, CapacityFee)}
        for card in self._rate_cards:
            if _markup(card.spec) is not None and costbook is None:
                raise RatingError(
                    f"plan {plan.id!r}: charge {card.name!r} is cost-plus and needs a supplier "
                    "cost book"
                )

    # --- what the plan needs from the aggregation --------------------------------------------

    @property
    def needs_hourly(self) -> bool:
        return self.compiled.needs_hourly

    @property
    def uses_credits(self) -> bool:
        return self.compiled.uses_credits

    # --- helpers -------------------------------------------------------------------------------

    def grade(self, model: str) -> str | None:
        found = self._grades.get(model, "")
        if found == "":
            found = self._grades[model] = grade_of(self.plan, model)
        return found

    def _card(self, index: int) -> RateCard:
        card = self.compiled.charges[index]
        assert isinstance(card, RateCard)
        return card

    def list_prices(self, index: int, charge: RateCardCharge, model: str) -> tuple[Decimal, ...]:
        """The list prices per 1M tokens (input, cached_input, cache_write, output) of
        ``model`` under the rate card ``charge`` (the plan's ``index``-th charge)."""
        return self.prices.list_prices(self._card(index), model)

    def _row_value(self, index: int, charge: RateCardCharge, model: str, band: int,
                   day: int, counts: Counts) -> tuple[Decimal, list[tuple[str, Decimal]]]:
        """Value of one aggregate row under a rate card: list price, or cost x (1 + markup)
        (the card's markup, or its fallback's for a model no rate lists)."""
        markup = self.prices.markup(self._card(index), model)
        if markup is not None:
            assert self.costbook is not None
            cost = self.costbook.cost(model, counts, band, day_of(day))
            factor = 1 + markup
            parts = [(cls, _EXACT.multiply(amount, factor)) for cls, amount in cost.by_class]
        else:
            prices = self.list_prices(index, charge, model)
            tokens = (counts.input, counts.cached_input, counts.cache_write, counts.output)
            parts = [(cls, _EXACT.multiply(Decimal(n), price) / MTOK)
                     for cls, n, price in zip(_CLASSES, tokens, prices, strict=True)]
        return sum((v for _, v in parts), ZERO), parts

    # --- rating --------------------------------------------------------------------------------

    @in_exact_context
    def rate(self, subscription: Subscription, period: Period, usage: CustomerUsage, *,
             fixed_fraction: Decimal | None = None, hours: Sequence[int] | None = None,
             notes: Sequence[str] = ()) -> RatingResult:
        """Rate ``subscription`` for ``period`` from the customer's aggregate ``usage`` (rows
        outside the period are ignored, except that credits replay earlier periods).

        ``fixed_fraction`` replaces the day-based proration of fixed components (fees, seats,
        allowances, grants) and ``hours`` the reserved capacity buckets: the comparison tool
        passes the share of the period a short trace covers.
        """
        state = self._rate_lines(subscription, period, usage, fixed_fraction, hours, None,
                                 lean=False)
        plan, lines, credit_outcome = self.plan, state.lines, state.credit
        refused_by_model, reservation, active = state.refused, state.reservation, state.active
        subtotal = sum((ln.rounded_amount for ln in lines.lines), ZERO)
        balances: tuple[CreditBalance, ...] = ()
        refused: tuple[RefusedUsage, ...] = ()
        breakage = ZERO
        if credit_outcome is not None:
            balances = tuple(
                CreditBalance(
                    source=b.grant_id, paid=b.paid, granted=b.granted, burned=b.burned,
                    expired=b.expired, remaining=b.remaining,
                    expires=credit_outcome.grant_expiry.get(b.grant_id),
                    value_per_credit=credit_outcome.grant_value[b.grant_id],
                )
                for b in credit_outcome.result.balances
            )
            refused = tuple(
                RefusedUsage(model=label, value=refused_by_model[label], credits=c)
                for label, c in sorted(credit_outcome.result.refused_by_label.items()) if c
            )
            breakage = credit_outcome.paid_value("expired")
        invoice = Invoice(
            id=invoice_id(subscription.customer_id, plan.id, plan.version, active.start, active.end),
            customer_id=subscription.customer_id, plan_id=plan.id, plan_version=plan.version,
            currency=plan.currency, period_start=period.start, period_end=period.end,
            lines=tuple(ln for ln in lines.lines if isinstance(ln, InvoiceLine)), subtotal=subtotal, total=subtotal, credits=balances,
            refused=refused, breakage=breakage, notes=tuple(notes),
        )
        return RatingResult(
            invoice=invoice, usage_value=state.usage_value,
            reserved=reservation.reserved if reservation else None,
            covered=reservation.covered if reservation else None,
            breakage_value=breakage,
            unused_paid_value=credit_outcome.paid_value("remaining") if credit_outcome else ZERO,
            refused_value=sum(refused_by_model.values(), ZERO),
            hourly_covered=reservation.hourly_covered if reservation else {},
        )


    @in_exact_context
    def rate_totals(self, subscription: Subscription, period: Period, usage: CustomerUsage, *,
                    fixed_fraction: Decimal | None = None, hours: Sequence[int] | None = None,
                    capacity_usage: Mapping[str, CapacityUsage] | None = None) -> RatingTotals:
        """What :meth:`rate` would bill, without building the invoice: the rounded line amounts
        (with kinds and grades) and the figures a comparison reports. The same computation as
        :meth:`rate` (only descriptions and details are skipped), for rating many customers.

        ``capacity_usage`` (by charge name) replaces the hourly rows of ``usage`` for capacity
        charges: weighted usage already summed per customer, as the comparison sums it
        (:func:`billing.compare.columns.capacity_usage`).
        """
        state = self._rate_lines(subscription, period, usage, fixed_fraction, hours,
                                 capacity_usage, lean=True)
        lines = tuple(ln for ln in state.lines.lines if isinstance(ln, LineTotal))
        outcome = state.credit
        reservation = state.reservation
        return RatingTotals(
            total=sum((ln.rounded_amount for ln in lines), ZERO), lines=lines,
            reserved=reservation.reserved if reservation else None,
            covered=reservation.covered if reservation else None,
            breakage_value=outcome.paid_value("expired") if outcome else ZERO,
            unused_paid_value=outcome.paid_value("remaining") if outcome else ZERO,
        )

    def _rate_lines(self, subscription: Subscription, period: Period, usage: CustomerUsage,
                    fixed_fraction: Decimal | None, hours: Sequence[int] | None,
                    capacity_usage: Mapping[str, CapacityUsage] | None, *, lean: bool
                    ) -> _RateState:
        plan = self.plan
        if subscription.customer_id != usage.customer_id:
            raise RatingError(
                f"usage of {usage.customer_id!r} given to rate {subscription.customer_id!r}"
            )
        active = period.clip(subscription.start, subscription.end)
        if active is None:
            raise RatingError(
                f"subscription of {subscription.customer_id!r} ({subscription.start} to "
                f"{subscription.end or 'open'}) is not active in period {period}"
            )
        # Only usage while the subscription is active is billed under it.
        window = usage.window(active.start_day, active.end_day)
        if self.needs_hourly and window.daily and not window.hourly and capacity_usage is None:
            raise RatingError(
                f"plan {plan.id!r} has a capacity charge but the usage has no hourly rows: "
                "aggregate with hourly=True"
            )
        fraction = subscription.active_fraction(period) if fixed_fraction is None else fixed_fraction
        lines = _Lines(plan, period, lean=lean)
        usage_value: dict[str, Decimal] = {}
        reservation: _Reservation | None = None

        # Values per (day, model) of the cards paid with credits first: credits burn them in
        # time order.
        card_values: dict[int, dict[tuple[int, str], tuple[Decimal, list[tuple[str, Decimal]]]]] = {}
        for card in self._rate_cards:
            if card.spec.paid_with != "credits":
                continue
            values: dict[tuple[int, str], tuple[Decimal, list[tuple[str, Decimal]]]] = {}
            for (model, band, day), counts in sorted(window.daily.items()):
                amount, parts = self._row_value(card.index, card.spec, model, band, day, counts)
                previous = values.get((day, model))
                if previous is not None:
                    merged = [(c, a + b) for (c, a), (_, b) in zip(previous[1], parts, strict=True)]
                    values[(day, model)] = (previous[0] + amount, merged)
                else:
                    values[(day, model)] = (amount, parts)
            card_values[card.index] = values

        token_totals = {m: c.total_tokens for m, c in window.by_model().items()}
        credit_outcome = self._credits(subscription, period, usage, fraction, card_values)
        refused_by_model: Mapping[str, Decimal] = {}
        if credit_outcome is not None:
            unit_value = credit_outcome.charge.unit_value
            refused_by_model = {
                label: _EXACT.multiply(c, unit_value)
                for label, c in credit_outcome.result.refused_by_label.items()
            }

        terms = Terms.of(self.compiled, subscription, period, fixed_fraction)
        # (shares of service tiers other than standard, costed at their tiers' prices)
        costs, tiers = tier_costs(window, self.costbook, self._costs(window))
        totals = PeriodTotals.one(usage.customer_id, window.by_model(), costs, tiers,
                                  window.reasoning_by_model())
        run = Billing(self.compiled, totals, terms, lines, self.prices, self._grades,
                      {index: _per_model(values, totals.models)
                       for index, values in card_values.items()}, refused_by_model)
        state = _Pass(subscription, period, fixed_fraction, fraction, window, hours,
                      capacity_usage, lines, card_values, credit_outcome, usage_value,
                      token_totals, run)
        if credit_outcome is not None:
            run.credit = credit_outcome.lines()
        if hours is not None:
            run.buckets = len(hours)
        for fee in self._capacity_fees.values():
            run.capacity[fee.name] = (
                self._hourly_capacity(fee, state) if capacity_usage is None
                else capacity_usage.get(fee.name, CapacityUsage(ZERO, {})))
        bill_plan(run)  # commitment and cap last, on the metered spend
        if run.reserved is not None:
            reservation = _Reservation(run.reserved, run.covered or ZERO, state.hourly_covered)
        for card in self._rate_cards:
            for model, value in zip(totals.models, run.card_values[card.index], strict=True):
                usage_value[model] = usage_value.get(model, ZERO) + value.amount

        return _RateState(lines, usage_value, reservation, credit_outcome, refused_by_model,
                          active)

    # --- what an invoice needs beyond the charge kinds (billing.charges) -------------------------

    seat_quantity = staticmethod(seat_quantity)

    def credit_terms(self) -> CreditTerms | None:
        """The plan's credits charge, the rate cards paid with it, and its auto top-up."""
        charge = next((c for c in self.plan.charges if isinstance(c, CreditsCharge)), None)
        if charge is None:
            return None
        paying = [i for i, c in enumerate(self.plan.charges)
                  if isinstance(c, RateCardCharge) and c.paid_with == "credits"]
        topup = None
        if charge.auto_topup is not None:
            pack = next(p for p in charge.packs if p.name == charge.auto_topup.pack)
            topup = credits.TopUpPack(
                name=pack.name, amount=pack.amount, price=pack.price, priority=pack.priority,
                expires_after=parse_duration(pack.expires_after) if pack.expires_after else None,
            )
        threshold = charge.auto_topup.when_balance_below if charge.auto_topup else ZERO
        return CreditTerms(charge, paying, topup, threshold)

    def _credits(self, sub: Subscription, period: Period, usage: CustomerUsage, fraction: Decimal,
                 card_values: Mapping[int, Mapping[tuple[int, str], tuple[Decimal, Any]]]
                 ) -> _CreditOutcome | None:
        terms = self.credit_terms()
        if terms is None:
            return None
        charge = terms.charge

        # Replay earlier periods of the subscription: carried grants are what they left.
        carried: list[credits.CreditGrant] = []
        expiry: dict[str, date | None] = {}
        value: dict[str, Decimal] = {}
        n = 0  # the period containing the subscription's start (the anchor may come later)
        while nth_period(sub.anchor_date, self.plan.interval, n).start > sub.start:
            n -= 1
        while nth_period(sub.anchor_date, self.plan.interval, n).end <= sub.start:
            n += 1
        while True:
            current = nth_period(sub.anchor_date, self.plan.interval, n)
            if current.start >= period.end:
                raise RatingError(f"period {period} does not line up with the subscription's anchor")
            is_target = current == period
            # An earlier period is replayed under the plan version in force then.
            rater = self if is_target or self.history is None else self.history(current.start)
            period_terms = terms if rater is self else rater.credit_terms()
            if period_terms is None:  # that version had no credits: balances wait
                n += 1
                continue
            if is_target:
                values = card_values
            else:
                clipped = current.clip(sub.start, sub.end) or current
                window = usage.window(clipped.start_day, clipped.end_day)
                values = {i: rater._values_for(i, window) for i in period_terms.paying}
            grants, packs = rater.grants_for(
                period_terms.charge, sub, current,
                fraction if is_target else sub.active_fraction(current), len(carried))
            for g in grants:
                expiry[g.id] = g.expires_day
                value.setdefault(g.id, rater.pack_value.get(g.id, period_terms.charge.unit_value))
            debits = self._debits(values, period_terms.paying, period_terms.charge.unit_value)
            topup = period_terms.topup
            result = credits.burn(
                [*carried, *grants], debits, period_end=current.end, topup=topup,
                when_balance_below=period_terms.threshold, overage=period_terms.charge.overage,
            )
            for purchase in result.purchases:
                value[purchase.grant_id] = purchase.price_total / purchase.credits
                expiry[purchase.grant_id] = (
                    None if topup is None or topup.expires_after is None
                    else purchase.day + topup.expires_after
                )
            if is_target:
                pack_lines = [(f"{charge.name}: {name}", count, price, _EXACT.multiply(price, count))
                              for name, count, price in packs]
                pack_lines += [
                    (f"{charge.name}: {p.pack} (auto top-up {p.day})", p.count,
                     p.price_total / p.count, p.price_total)
                    for p in result.purchases
                ]
                return _CreditOutcome(result, charge, pack_lines, expiry, value)
            by_id = {g.id: g for g in [*carried, *grants]}
            carried = []
            for balance in result.balances:
                if balance.remaining <= 0:
                    continue
                original = by_id.get(balance.grant_id)
                if original is None:  # an auto top-up purchase
                    purchase = next(p for p in result.purchases if p.grant_id == balance.grant_id)
                    assert topup is not None
                    original = credits.CreditGrant(
                        id=purchase.grant_id, amount=purchase.credits, effective_day=purchase.day,
                        expires_day=expiry[purchase.grant_id], priority=topup.priority,
                        paid=True, order=len(by_id) + len(carried),
                    )
                if original.expires_day is not None and original.expires_day <= current.end:
                    continue
                carried.append(credits.CreditGrant(
                    id=original.id, amount=balance.remaining, effective_day=original.effective_day,
                    expires_day=original.expires_day, priority=original.priority,
                    paid=original.paid, order=original.order,
                ))
            n += 1

    def _costs(self, window: CustomerUsage) -> dict[str, list[Decimal]] | None:
        """Supplier cost per model and token class of the models a card prices at cost plus
        (rows merged while the supplier's prices stay the same), None when no card does."""
        if not self._marked_up:
            return None
        costs: dict[str, list[Decimal]] = {}
        marked = {m for m in window.by_model()
                  if any(self.prices.markup(card, m) is not None for card in self._rate_cards
                         if card.spec.paid_with != "credits")}
        if not marked:
            return costs
        assert self.costbook is not None
        for (model, band, day), counts in rows_by_price(window, self.costbook):
            if model not in marked:
                continue
            cost = self.costbook.cost(model, counts, band, day_of(day))
            found = costs.get(model)
            if found is None:
                costs[model] = [amount for _, amount in cost.by_class]
            else:
                costs[model] = [a + b for a, (_, b) in zip(found, cost.by_class, strict=True)]
        return costs

    def _values_for(self, index: int, window: CustomerUsage
                    ) -> dict[tuple[int, str], tuple[Decimal, Any]]:
        charge = self.plan.charges[index]
        assert isinstance(charge, RateCardCharge)
        out: dict[tuple[int, str], tuple[Decimal, Any]] = {}
        for (model, band, day), counts in window.daily.items():
            amount, _ = self._row_value(index, charge, model, band, day, counts)
            previous = out.get((day, model))
            out[(day, model)] = ((previous[0] if previous else ZERO) + amount, None)
        return out

    @staticmethod
    def _debits(values: Mapping[int, Mapping[tuple[int, str], tuple[Decimal, Any]]],
                paying: Sequence[int], unit_value: Decimal) -> list[credits.Debit]:
        merged: dict[tuple[int, str], Decimal] = {}
        for index in paying:
            for key, (amount, _) in values.get(index, {}).items():
                merged[key] = merged.get(key, ZERO) + amount
        return [
            credits.Debit(day=day_of(day), credits=_EXACT.divide(amount, unit_value), label=model)
            for (day, model), amount in sorted(merged.items()) if amount
        ]

    def grants_for(self, charge: CreditsCharge, sub: Subscription, period: Period,
                   fraction: Decimal, order_base: int
                   ) -> tuple[list[credits.CreditGrant], list[tuple[str, int, Decimal]]]:
        """The credit grants of ``period`` (plan grants and the subscription's recorded packs),
        and the pack purchases to bill as (name, count, price); records :attr:`pack_value`."""
        grants: list[credits.CreditGrant] = []
        start = max(period.start, sub.start)
        for spec in charge.grants:
            if spec.every == "once" and not period.contains(sub.start):
                continue
            amount = spec.amount if spec.every == "once" else _EXACT.multiply(spec.amount, fraction)
            if amount <= 0:
                continue
            if spec.expires == "end_of_period":
                expires: date | None = period.end
            elif spec.expires == "never":
                expires = None
            else:
                expires = start + parse_duration(spec.expires)
            grants.append(credits.CreditGrant(
                id=f"{spec.name} {start.isoformat()}", amount=amount, effective_day=start,
                expires_day=expires, priority=spec.priority, paid=spec.paid,
                order=order_base + len(grants),
            ))
        bought: list[tuple[str, int, Decimal]] = []
        for purchase in sub.packs_in(period):
            pack = next((p for p in charge.packs if p.name == purchase.pack), None)
            if pack is None:
                known = ", ".join(repr(p.name) for p in charge.packs) or "none"
                raise RatingError(
                    f"subscription of {sub.customer_id!r} buys pack {purchase.pack!r} on "
                    f"{purchase.date}, which plan {self.plan.id!r} does not sell (packs: {known})"
                )
            pack_grant_id = f"{pack.name} {purchase.date.isoformat()} (purchase {len(bought) + 1})"
            self.pack_value[pack_grant_id] = pack.price / pack.amount
            grants.append(credits.CreditGrant(
                id=pack_grant_id,
                amount=_EXACT.multiply(pack.amount, purchase.count), effective_day=purchase.date,
                expires_day=(purchase.date + parse_duration(pack.expires_after)
                             if pack.expires_after else None),
                priority=pack.priority, paid=True, order=order_base + len(grants),
            ))
            bought.append((pack.name, purchase.count, pack.price))
        return grants, bought

    # --- capacity --------------------------------------------------------------------------------

    def _hourly_capacity(self, fee: CapacityFee, state: _Pass) -> CapacityUsage:
        """One customer's weighted usage of ``fee`` from its hourly rows, summed; records the
        usage within the baseload per hour in ``state.hourly_covered``."""
        charge, hours = fee.spec, state.hours
        if hours is None:
            active = state.period.clip(state.subscription.start, state.subscription.end)
            hours = [] if active is None else capacity.hours_between(active.start_dt,
                                                                     active.end_dt)
        hour_set = set(hours)
        weights = {cls: charge.meter.weights.get(cls, Decimal(1)) for cls in charge.meter.tokens}
        usage: dict[int, Decimal] = {}
        for hour, counts in state.window.hourly.items():
            if hour in hour_set:
                usage[hour] = sum(
                    (_EXACT.multiply(Decimal(getattr(counts, cls)), w) for cls, w in weights.items()),
                    ZERO,
                )
        covered, excess_at = capacity.summed(usage, hours, charge.baseload.per_bucket,
                                             self.spot_prices(charge, hours))
        reserve = Decimal(charge.baseload.per_bucket)
        by_hour = state.hourly_covered
        for hour, used in usage.items():
            by_hour[hour] = by_hour.get(hour, ZERO) + min(used, reserve)
        return CapacityUsage(covered, excess_at)

    def spot_prices(self, charge: CapacityCharge, hours: Sequence[int]) -> dict[int, Decimal]:
        """Spot price per hour of ``hours`` for a capacity charge of this plan (a price series
        gives only the hours it lists)."""
        fee = self._capacity_fees[charge.name]
        series = fee.spot_series
        if series is not None:
            # Only hours above the baseload need a price; the pricer names a missing one.
            return {h: series[h] for h in hours if h in series}
        key = (charge.name, tuple(hours))
        prices = self._spot_cache.get(key)
        if prices is None:  # the same buckets for every customer of a period: compute once
            prices = capacity.spot_prices(hours, fee.tou_rules, fee.tou_default,
                                          charge.spot.timezone)
            self._spot_cache[key] = prices
        return prices


def _per_model(values: Mapping[tuple[int, str], tuple[Decimal, list[tuple[str, Decimal]]]],
               models: Sequence[str]) -> list[CardValue]:
    """A credit-paid card's values per (day, model) summed per model, in ``models`` order."""
    per_model: dict[str, tuple[Decimal, dict[str, Decimal]]] = {}
    for (_day, model), (amount, parts) in sorted(values.items()):
        total, classes = per_model.get(model, (ZERO, {}))
        for cls, value in parts:
            classes[cls] = classes.get(cls, ZERO) + value
        per_model[model] = (total + amount, classes)
    return [CardValue(per_model[m][0], tuple(per_model[m][1].items())) if m in per_model
            else CardValue(ZERO, ()) for m in models]

