"""``credits``: packs bought (by hand or by the automatic top-up) and the credits that paid the
usage of a rate card, one negative line per model; and the burn-down of a first period for many
customers.

The burn-down runs before any line is made (a rate card paid with credits needs what it
refused), one customer at a time; its outcome reaches :func:`bill` as ``run.credit``. An invoice
burns through :func:`billing.pricing.credits.burn`, replaying earlier periods (the Rater).
``billing compare`` burns a subscription's first period, when every grant lasts all of it
(:meth:`FirstPeriodBurn.burns_alone`), from each customer's debits as exact integers: where
credits burn in grant order, in closed form (:meth:`FirstPeriodBurn._burn_in_order`: packs are
bought where the running total of debits crosses ``balance - threshold + k x pack``, and what is
left of each grant follows from the total burned), else debit by debit
(:meth:`FirstPeriodBurn._burn_each`). A property test (tests/compare/test_kernel.py) checks the
closed form against the step-by-step burn, and both against the invoice.
"""

from __future__ import annotations

import bisect
import decimal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from billing.charges.lines import LineText
from billing.charges.run import Billing
from billing.money import EXACT, ZERO, in_exact_context
from billing.periods import Period, nth_period
from billing.plans.compiled import CreditsFee
from billing.plans.model import CreditsCharge, Plan, RateCardCharge, UsageCharge
from billing.pricing import credits
from billing.pricing.core import total as exact_sum
from billing.subscriptions import Subscription
from billing.usage.keys import day_of

if TYPE_CHECKING:
    from billing.rating.engine import Rater

__all__ = ["Burned", "CreditLines", "Debits", "FirstPeriodBurn", "bill"]


@dataclass(frozen=True, slots=True)
class CreditLines:
    """What a burn-down bills: pack purchases as (description, count, unit price, amount), and
    the credits burned per model."""

    packs: Sequence[tuple[str, int, Decimal, Decimal]]
    burned: Mapping[str, Decimal]


def bill(fee: CreditsFee, run: Billing) -> None:
    charge, found = fee.spec, run.credit
    assert found is not None, "credits are burned before the lines are made"
    for description, count, unit_price, amount in found.packs:
        run.out.add("credit_pack", fee.name, amount,
                    _text(description, Decimal(count), "pack", unit_price))
    for model, burned in sorted(found.burned.items()):
        if burned:
            run.out.add("credits_applied", fee.name, -EXACT.multiply(burned, charge.unit_value),
                        _text(f"{fee.name} applied: {model}", burned, charge.unit,
                              -charge.unit_value),
                        model=model, grade=run.grade(model))


def _text(description: str, quantity: Decimal, unit: str, unit_price: Decimal
          ) -> Callable[[], LineText]:
    return lambda: LineText(description, quantity, unit, unit_price)


@dataclass(frozen=True, slots=True)
class Debits:
    """A customer's credit-paid usage of one period at the paying rate card's list prices:
    ``rows`` of (day, model, value x 10^(places + 6)) sorted by day then model, values exact
    integers (zero values included: the model still gets its line)."""

    rows: Sequence[tuple[int, str, int]]
    places: int
    running: Sequence[int] | None = None
    """The running total of ``rows``' values after each row, when the caller has it (then the
    rows are one per (day, model), in order)."""
    by_model: Mapping[str, int] | None = None
    """The sum of the values of each model of ``rows`` (given with ``running``)."""


@dataclass(slots=True)
class Burned:
    """A first-period burn-down: each model's credit-paid value, what was refused, the credits
    burned per model, packs bought (money), paid credits expired and left unused (money)."""

    amounts: dict[str, Decimal]
    refused_value: dict[str, Decimal]
    burned: dict[str, Decimal]
    pack_amounts: list[Decimal]
    expired_value: Decimal
    unused_value: Decimal


class FirstPeriodBurn:
    """A credits plan's burn-down in a subscription's first period, for many customers: from
    each customer's debits as exact integers (see the module), with the rater's grants and money
    values. One per plan, reused for every customer."""

    @staticmethod
    def handles(plan: Plan) -> bool:
        """True for credits plans it can burn down: one credits charge paying one rate card at
        list prices (no cost plus, no fallback), and for plans without credits."""
        paying = [c for c in plan.charges
                  if isinstance(c, RateCardCharge) and c.paid_with == "credits"]
        wallets = [c for c in plan.charges if isinstance(c, CreditsCharge)]
        if not paying and not wallets:
            return True
        return (len(wallets) == 1 and len(paying) == 1 and paying[0].cost_plus is None
                and paying[0].rates is not None and paying[0].fallback is None)

    def __init__(self, plan: Plan, rater: Rater) -> None:
        if not self.handles(plan):
            raise ValueError(f"plan {plan.id!r}: its credits burn one customer at a time")
        self.plan = plan
        self.rater = rater
        self.credit_terms = rater.credit_terms()
        self.paying = next((i for i, c in enumerate(plan.charges)
                            if isinstance(c, RateCardCharge) and c.paid_with == "credits"), None)
        """The index of the rate card paid with credits."""
        self._grants: dict[tuple[Period, Decimal, date], list[credits.CreditGrant]] = {}
        self._alone: dict[tuple[Period, date, date], bool] = {}
        self._order: dict[tuple[Period, Decimal, date, int], _InOrder | None] = {}

    @property
    def needs_totals(self) -> bool:
        """False when no charge reads the period totals (a credits plan whose only usage charge
        is the rate card paid with credits: that one reads the debits)."""
        return any(isinstance(c, UsageCharge)
                   or (isinstance(c, RateCardCharge) and i != self.paying)
                   for i, c in enumerate(self.plan.charges))

    def paying_prices(self, models: Sequence[str]) -> dict[str, tuple[Decimal, ...]]:
        """List prices (input, cached_input, cache_write, output per 1M tokens) of the rate card
        paid with credits, for each of ``models``."""
        assert self.paying is not None
        charge = self.plan.charges[self.paying]
        assert isinstance(charge, RateCardCharge)
        return {m: self.rater.list_prices(self.paying, charge, m) for m in models}

    def burns_alone(self, sub: Subscription, period: Period) -> bool:
        """True when ``period`` is the subscription's first (nothing carried over), nothing is
        bought by hand, and every credit it grants or tops up lasts the whole period: then every
        grant is usable on every day of it and the burn-down needs no expiry bookkeeping."""
        terms = self.credit_terms
        if terms is None or sub.start != period.start or sub.packs_in(period):
            return False
        key = (period, sub.anchor_date, sub.start)
        found = self._alone.get(key)
        if found is None:
            found = self._alone[key] = self._grants_last(sub, period)
        return found

    def _grants_last(self, sub: Subscription, period: Period) -> bool:
        terms = self.credit_terms
        assert terms is not None
        if period != nth_period(sub.anchor_date, self.plan.interval, 0):
            return False
        if terms.topup is not None and terms.topup.expires_after is not None \
                and period.start + terms.topup.expires_after < period.end:
            return False
        return all(g.effective_day <= period.start
                   and (g.expires_day is None or g.expires_day >= period.end)
                   for g in self._template_grants(sub, period, Decimal(1)))

    def _template_grants(self, sub: Subscription, period: Period, fraction: Decimal
                         ) -> list[credits.CreditGrant]:
        key = (period, fraction, sub.start)
        found = self._grants.get(key)
        if found is None:
            assert self.credit_terms is not None
            found, packs = self.rater.grants_for(self.credit_terms.charge, sub, period,
                                                  fraction, 0)
            assert not packs, "burns_alone excludes packs bought by hand"
            self._grants[key] = found
        return found

    @in_exact_context
    def burn(self, sub: Subscription, period: Period, fraction: Decimal, debits: Debits
             ) -> Burned:
        """:func:`billing.pricing.credits.burn` for a period where every grant lasts all
        period (:meth:`burns_alone`), on the rater's debits, with the rater's money values."""
        fast = self._burn_in_order(sub, period, fraction, debits)
        return fast if fast is not None else self._burn_each(sub, period, fraction, debits)

    def _in_order(self, sub: Subscription, period: Period, fraction: Decimal, places: int
                  ) -> _InOrder | None:
        """The terms of :meth:`_burn_in_order` for one period, or None when it does not apply:
        credits burn in grant order if the automatic top-up (if any) keeps the balance at or
        above zero and every pack it buys burns after every grant and after the packs bought
        before it; one credit must be a power of ten of money (debits turn into credits
        exactly)."""
        key = (period, fraction, sub.start, places)
        if key in self._order:
            return self._order[key]
        terms = self.credit_terms
        assert terms is not None
        unit_value = terms.charge.unit_value
        template = self._template_grants(sub, period, fraction)
        grants = sorted(template, key=credits.burn_key)
        found: _InOrder | None = None
        if unit_value > 0 and unit_value.as_tuple().digits == (1,):
            topup = terms.topup
            later = True
            if topup is not None:
                expires = (None if topup.expires_after is None
                           else period.start + topup.expires_after)
                first = (topup.priority, 1 if expires is None else 0, expires or date.max,
                         period.start, max((g.order for g in grants), default=-1) + 1)
                later = terms.threshold >= 0 and all(credits.burn_key(g) < first
                                                     for g in grants)
            balance = sum((g.amount for g in template), Decimal(0))  # as _burn_each sums
            # The burn takes exact amounts from the grants; the top-up looks at that sum. The
            # closed form needs them equal (a sum past 28 digits is rounded, then they differ).
            if later and balance == exact_sum(g.amount for g in template):
                exponent = -(places + 6) - int(unit_value.as_tuple().exponent)
                found = _InOrder(grants, balance, exponent)
        self._order[key] = found
        return found

    def _burn_in_order(self, sub: Subscription, period: Period, fraction: Decimal,
                       debits: Debits) -> Burned | None:
        """:meth:`_burn_each` without a step per debit, where credits burn in grant order
        (:meth:`_in_order`): the top-up buys packs when the running total of debits crosses
        ``balance + k x pack - threshold`` (k = 0, 1, ...), and what is left of each grant
        follows from the total burned. Same values as :meth:`_burn_each` (every step is exact).
        None when it does not apply (the caller burns debit by debit)."""
        order = self._in_order(sub, period, fraction, debits.places)
        if order is None:
            return None
        terms = self.credit_terms
        assert terms is not None
        charge, topup, unit_value = terms.charge, terms.topup, terms.charge.unit_value
        shift = -(debits.places + 6)
        exponent = order.exponent
        rows = debits.rows
        models: Mapping[str, int]  # model -> sum of its debits, in debit units
        running: Sequence[int]  # running total of debits after each row
        if debits.running is not None and debits.by_model is not None:
            running, models = debits.running, debits.by_model
            total = running[-1] if running else 0
        else:
            sums: dict[str, int] = {}
            totals: list[int] = []
            total = 0
            previous: tuple[int, str] | None = None
            for day, model, value in rows:
                if previous is not None and (day, model) <= previous:
                    return None  # not one row per (day, model) in order: burn debit by debit
                previous = (day, model)
                sums[model] = sums.get(model, 0) + value
                total += value
                totals.append(total)
            running, models = totals, sums
        if total >= 10**27:
            return None  # sums that could pass the ambient 28 digits: debit by debit
        amounts = {m: (Decimal(v).scaleb(shift) if v else ZERO) for m, v in models.items()}
        balance = order.balance
        packs: list[Decimal] = []
        bought_packs: list[tuple[Decimal, date | None, Decimal]] = []  # bought, expiry, value
        burned: dict[str, Decimal] = {}
        short: dict[str, Decimal] = {}
        with decimal.localcontext(EXACT):
            used = Decimal(total).scaleb(exponent)
            if topup is not None:
                threshold = terms.threshold
                count = 0
                if total and used > balance - threshold:
                    count = int(((threshold - balance + used) / topup.amount).to_integral_value(
                        decimal.ROUND_CEILING))
                if count > 10_000:
                    return None
                level = 0
                while level < count:
                    # the first row whose running total passes balance - threshold + level packs
                    limit = ((balance - threshold + level * topup.amount).scaleb(-exponent)
                             .to_integral_value(decimal.ROUND_FLOOR))
                    # (a limit below zero: the first row that uses anything)
                    at = bisect.bisect_right(running, max(int(limit), 0))
                    reach = int(((threshold - balance + Decimal(running[at]).scaleb(exponent))
                                 / topup.amount).to_integral_value(decimal.ROUND_CEILING))
                    when = day_of(rows[at][0])
                    expires = None if topup.expires_after is None else when + topup.expires_after
                    bought = (reach - level) * topup.amount
                    price_total = (reach - level) * topup.price
                    packs.append(price_total)
                    bought_packs.append((bought, expires, EXACT.divide(price_total, bought)))
                    level = reach
                for model, value in models.items():
                    if value:
                        burned[model] = Decimal(value).scaleb(exponent)
                consumed = used
            else:
                limit = balance.scaleb(-exponent).to_integral_value(decimal.ROUND_FLOOR)
                at = bisect.bisect_right(running, int(limit))
                full: dict[str, int] = {}
                late: dict[str, int] = {}
                for position, (_day, model, value) in enumerate(rows):
                    if value:
                        into = full if position < at else late
                        into[model] = into.get(model, 0) + value
                for model, value in full.items():
                    burned[model] = Decimal(value).scaleb(exponent)
                if at < len(rows):
                    _day, model, value = rows[at]
                    before = Decimal(running[at] - value).scaleb(exponent)
                    part = balance - before  # of the crossing row, what the grants still cover
                    late[model] -= value
                    burned[model] = burned.get(model, Decimal(0)) + part
                    short[model] = Decimal(value).scaleb(exponent) - part
                for model, value in late.items():
                    burned.setdefault(model, Decimal(0))
                    if value:
                        short[model] = short.get(model, Decimal(0)) + Decimal(value).scaleb(
                            exponent)
                consumed = min(used, balance)
        # What is left of each grant and pack, in burn order: the total burned taken in turn.
        entries = [(g.amount, g.paid, g.expires_day,
                    self.rater.pack_value.get(g.id, unit_value)) for g in order.grants]
        if topup is not None:
            entries += [(bought, topup.paid, expires, each)
                        for bought, expires, each in bought_packs]
        left: list[tuple[Decimal, bool, date | None, Decimal]] = []
        for amount, paid, expires, each in entries:
            take = min(consumed, amount) if amount > 0 else Decimal(0)
            consumed = EXACT.subtract(consumed, take)
            left.append((EXACT.subtract(amount, take), paid, expires, each))
        return _settled(period, charge, amounts, burned, short, packs, left)

    def _burn_each(self, sub: Subscription, period: Period, fraction: Decimal, debits: Debits
                   ) -> Burned:
        """The burn-down debit by debit (every case :meth:`_burn_in_order` declines): the one
        step-by-step burn, :func:`billing.pricing.credits.burn`, on these debits."""
        terms = self.credit_terms
        assert terms is not None
        charge, topup, unit_value = terms.charge, terms.topup, terms.charge.unit_value
        shift = -(debits.places + 6)
        amounts: dict[str, Decimal] = {}
        by_key: dict[tuple[int, str], int] = {}
        for day, model, value in debits.rows:
            by_key[(day, model)] = by_key.get((day, model), 0) + value
            amounts[model] = amounts.get(model, ZERO)
        for (_day, model), value in by_key.items():
            if value:
                amounts[model] = amounts[model] + Decimal(value).scaleb(shift)
        grants = self._template_grants(sub, period, fraction)
        outcome = credits.burn(
            grants,
            [credits.Debit(day_of(day), EXACT.divide(Decimal(value).scaleb(shift), unit_value),
                           model)
             for (day, model), value in sorted(by_key.items()) if value],
            period_end=period.end, topup=topup, when_balance_below=terms.threshold,
            overage=charge.overage)
        # What is left of each grant and pack, in burn order, with its expiry and money value.
        found = {g.id: (credits.burn_key(g), g.expires_day,
                        self.rater.pack_value.get(g.id, unit_value)) for g in grants}
        order = max((g.order for g in grants), default=-1) + 1
        for purchase in outcome.purchases:
            assert topup is not None
            expires = (None if topup.expires_after is None
                       else purchase.day + topup.expires_after)
            key = (topup.priority, 1 if expires is None else 0, expires or date.max,
                   purchase.day, order)
            order += 1
            found[purchase.grant_id] = (
                key, expires, EXACT.divide(purchase.price_total, purchase.credits))
        left = sorted(((found[b.grant_id][0], EXACT.add(b.remaining, b.expired), b.paid,
                        found[b.grant_id][1], found[b.grant_id][2]) for b in outcome.balances),
                      key=lambda entry: entry[0])
        return _settled(period, charge, amounts, dict(outcome.burned_by_label),
                        {**outcome.overage_by_label, **outcome.refused_by_label},
                        [p.price_total for p in outcome.purchases],
                        [entry[1:] for entry in left])


def _settled(period: Period, charge: CreditsCharge, amounts: dict[str, Decimal],
             burned: dict[str, Decimal], short: Mapping[str, Decimal], packs: list[Decimal],
             left: Sequence[tuple[Decimal, bool, date | None, Decimal]]) -> Burned:
    """A burn's outcome from what is left of each grant and pack, in burn order (credits left,
    paid, expiry day, money per credit): paid credits left are worth their price, expired
    (breakage) or unused, summed in the ambient context as the rater sums them; with
    ``overage: block`` what the credits did not cover is refused."""
    expired_value = ZERO
    unused_value = ZERO
    for credits_left, paid, expires, each in left:
        if not paid or credits_left <= 0:
            continue
        worth = EXACT.multiply(credits_left, each)
        if expires is not None and expires <= period.end:
            expired_value += worth
        else:
            unused_value += worth
    refused = {} if charge.overage != "block" else {
        m: EXACT.multiply(c, charge.unit_value) for m, c in short.items()}
    return Burned(amounts, refused, burned, packs, expired_value, unused_value)


@dataclass(frozen=True, slots=True)
class _InOrder:
    grants: list[credits.CreditGrant]
    """The period's grants in burn order."""
    balance: Decimal
    """Their credits, summed as the rater sums them."""
    exponent: int
    """One debit unit is 10^exponent credits."""
