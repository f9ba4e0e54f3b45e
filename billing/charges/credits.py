"""``credits``: packs bought (by hand or by the automatic top-up) and the credits that paid the
usage of a rate card, one negative line per model; and the burn-down of a first period for many
customers.

The burn-down runs before any line is made (a rate card paid with credits needs what it
refused), one customer at a time; its outcome reaches :func:`bill` as ``run.credit``. An invoice
burns through :func:`billing.pricing.credits.burn`, replaying earlier periods (the Rater).
``billing compare`` burns a subscription's first period, when every grant lasts all of it
(:meth:`FirstPeriodBurn.burns_alone`), from each customer's debits as exact integers, with the
one burn of :mod:`billing.pricing.credits`: its closed form where credits burn in grant order,
else debit by debit (both live there, with the property test that compares them). A property
test (tests/compare/test_kernel.py) checks the burn-down's invoice lines against the Rater's.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from billing.charges.columns import Col, column, is_column
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
    from billing.rating.rater import Rater

__all__ = ["Burned", "CreditLines", "Debits", "FirstPeriodBurn", "bill"]


@dataclass(frozen=True, slots=True)
class CreditLines:
    """What a burn-down bills: pack purchases as (description, count, unit price, amount), and
    the credits burned per model. For a batch (:meth:`of_burns`) amounts are columns, and
    ``pack_present`` says which customers bought each pack line (empty: every customer)."""

    packs: Sequence[tuple[str, int, Decimal, Col]]
    burned: Mapping[str, Col]
    pack_present: Sequence[Col] = ()

    @classmethod
    def of_burns(cls, burns: Sequence[Burned]) -> CreditLines:
        """The lines of a batch of customers' first-period burn-downs, in the customers'
        order: the j-th pack bought is the j-th pack line (zero where a customer bought fewer),
        and the credits burned per model (zero where a customer burned none)."""
        most = max((len(b.pack_amounts) for b in burns), default=0)
        packs: list[tuple[str, int, Decimal, Col]] = []
        present: list[Col] = []
        for j in range(most):
            packs.append(("", 0, ZERO, column(
                [b.pack_amounts[j] if j < len(b.pack_amounts) else ZERO for b in burns])))
            present.append(np.array([j < len(b.pack_amounts) for b in burns], dtype=bool))
        models = sorted({m for b in burns for m in b.burned})
        return cls(packs, {m: column([b.burned.get(m, ZERO) for b in burns]) for m in models},
                   present)


def bill(fee: CreditsFee, run: Billing) -> None:
    charge, found = fee.spec, run.credit
    assert found is not None, "credits are burned before the lines are made"
    for j, (description, count, unit_price, amount) in enumerate(found.packs):
        run.out.add("credit_pack", fee.name, amount,
                    _text(description, Decimal(count), "pack", unit_price),
                    present=found.pack_present[j] if found.pack_present else True)
    with decimal.localcontext(EXACT):
        for model, burned in sorted(found.burned.items()):
            present = burned != 0  # (a column: the customers who burned some)
            if is_column(present) or present:
                run.out.add("credits_applied", fee.name, -(burned * charge.unit_value),
                            _applied_text(fee.name, model, burned, charge.unit,
                                          charge.unit_value),
                            present=present, model=model, grade=run.grade(model))


def _text(description: str, quantity: Decimal, unit: str, unit_price: Decimal
          ) -> Callable[[], LineText]:
    return lambda: LineText(description, quantity, unit, unit_price)


def _applied_text(name: str, model: str, burned: Decimal, unit: str, unit_value: Decimal
                  ) -> Callable[[], LineText]:
    """The text of a ``credits_applied`` line, made only when an invoice asks for it."""
    return lambda: LineText(f"{name} applied: {model}", burned, unit, -unit_value)


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
        self._order: dict[tuple[Period, Decimal, date], credits.InOrder | None] = {}
        self._terms: dict[tuple[Period, Decimal, date], Any] = {}
        unit_value = self.credit_terms.charge.unit_value if self.credit_terms else Decimal(0)
        self._powers_of_ten = unit_value > 0 and unit_value.as_tuple().digits == (1,)
        """One credit is a power of ten of money (``10 ** _unit_exponent``)."""
        self._unit_exponent = int(unit_value.as_tuple().exponent)

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
        """:mod:`billing.pricing.credits`' burn for a period where every grant lasts all
        period (:meth:`burns_alone`), on the rater's debits, with the rater's money values: in
        closed form (:func:`~billing.pricing.credits.burn_in_order`) where it applies, else
        debit by debit (:func:`~billing.pricing.credits.burn`)."""
        terms = self.credit_terms
        assert terms is not None
        charge, topup, unit_value = terms.charge, terms.topup, terms.charge.unit_value
        shift = -(debits.places + 6)
        grants, order, entries = self._period_terms(sub, period, fraction)
        outcome = None
        if order is not None and self._powers_of_ten:
            # one credit is a power of ten of money: a debit's units are exact credits
            outcome = credits.burn_in_order(
                order, debits.rows, shift - self._unit_exponent, day=day_of,
                period_end=period.end, overage=charge.overage, running=debits.running,
                by_label=debits.by_model)
        by_model = debits.by_model
        if by_model is None:
            by_model = {}
            for _day, model, value in debits.rows:
                by_model[model] = by_model.get(model, 0) + value
        amounts = {m: (Decimal(v).scaleb(shift) if v else ZERO) for m, v in by_model.items()}
        if outcome is None:
            by_key: dict[tuple[int, str], int] = {}
            for day, model, value in debits.rows:
                by_key[(day, model)] = by_key.get((day, model), 0) + value
            outcome = credits.burn(
                grants,
                [credits.Debit(day_of(day), EXACT.divide(Decimal(value).scaleb(shift),
                                                         unit_value), model)
                 for (day, model), value in sorted(by_key.items()) if value],
                period_end=period.end, topup=topup, when_balance_below=terms.threshold,
                overage=charge.overage)
        # What is left of each grant and pack, in burn order, with its expiry and money value.
        found = entries
        if outcome.purchases:
            assert topup is not None
            found = dict(entries)
            next_order = max((g.order for g in grants), default=-1) + 1
            for purchase in outcome.purchases:
                expires = (None if topup.expires_after is None
                           else purchase.day + topup.expires_after)
                key = (topup.priority, 1 if expires is None else 0, expires or date.max,
                       purchase.day, next_order)
                next_order += 1
                found[purchase.grant_id] = (
                    key, expires, EXACT.divide(purchase.price_total, purchase.credits))
        left = sorted(((found[b.grant_id][0], EXACT.add(b.remaining, b.expired), b.paid,
                        found[b.grant_id][1], found[b.grant_id][2]) for b in outcome.balances),
                      key=lambda entry: entry[0])
        return _settled(period, charge, amounts, dict(outcome.burned_by_label),
                        {**outcome.overage_by_label, **outcome.refused_by_label},
                        [p.price_total for p in outcome.purchases],
                        [entry[1:] for entry in left])

    def _period_terms(self, sub: Subscription, period: Period, fraction: Decimal
                      ) -> tuple[list[credits.CreditGrant], credits.InOrder | None,
                                 dict[str, tuple[tuple[int, int, date, date, int], date | None,
                                                 Decimal]]]:
        """What every burn of a period shares: its grants, :meth:`_in_order`, and each grant's
        burn key, expiry and money value per credit."""
        key = (period, fraction, sub.start)
        found = self._terms.get(key)
        if found is None:
            assert self.credit_terms is not None
            unit_value = self.credit_terms.charge.unit_value
            grants = self._template_grants(sub, period, fraction)
            entries = {g.id: (credits.burn_key(g), g.expires_day,
                              self.rater.pack_value.get(g.id, unit_value)) for g in grants}
            found = self._terms[key] = (grants, self._in_order(sub, period, fraction), entries)
        return found

    def _in_order(self, sub: Subscription, period: Period, fraction: Decimal
                  ) -> credits.InOrder | None:
        """:func:`billing.pricing.credits.in_order` for the period's grants (None also when
        their sum in the ambient context would differ from the exact one the burn uses)."""
        key = (period, fraction, sub.start)
        if key in self._order:
            return self._order[key]
        terms = self.credit_terms
        assert terms is not None
        template = self._template_grants(sub, period, fraction)
        found = credits.in_order(template, period_start=period.start, period_end=period.end,
                                 topup=terms.topup, when_balance_below=terms.threshold)
        if found is not None and sum((g.amount for g in template), Decimal(0)) != exact_sum(
                g.amount for g in template):
            found = None  # a sum past 28 digits: the top-up's view and the burn's would differ
        self._order[key] = found
        return found


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
