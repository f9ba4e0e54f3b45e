"""Rating many customers of one plan fast: the period-total form of :class:`Rater`.

The comparison rates every customer of a trace under every plan. Except for credits (which burn
day by day), every charge of the plan language is a function of a customer's token totals per
model over a billing period, plus the plan's fixed terms: a rate card's line for a model is its
totals at list price (or their supplier cost plus markup), a usage charge meters the period's
total, allowances, discounts, commitment and cap apply to those. :class:`PlanKernel` computes the
same rounded lines as :meth:`Rater.rate` from those totals, with the fixed terms worked out once
per period instead of once per customer, and no invoice built. It uses the same pure pricers
and the same exact decimal operations in the same order, and a property test
(tests/compare/test_kernel.py) checks it against the rater on every catalog plan.

Plans a kernel cannot rate (some credits plans, rate cards with a cost-plus fallback) are rated by
:meth:`Rater.rate_totals`.

Why over 600 lines: this is the second of three copies of the bill (issue "One bill"), kept whole
until the compiled charges rate batches of customers themselves; then this module goes, not split.
"""

from __future__ import annotations

import bisect
import decimal
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from billing.charges import (
    Billing,
    CapacityUsage,
    CardValue,
    CreditLines,
    ModelTotals,
    PeriodTotals,
    Terms,
)
from billing.charges.plan import bill_plan
from billing.charges.sinks import RoundedLines
from billing.money import EXACT, ZERO, in_exact_context
from billing.periods import Period, nth_period
from billing.plans.model import (
    CreditsCharge,
    Plan,
    RateCardCharge,
    UsageCharge,
)
from billing.pricing import (
    Tier,
    credits,
)
from billing.pricing.core import total as exact_sum
from billing.rating.engine import Rater
from billing.rating.usage import day_of
from billing.subscriptions import Subscription
from billing.usage.aggregates import Counts

__all__ = ["Debits", "KernelResult", "ModelTotals", "PlanKernel", "period_totals"]

_CLASSES = ("input", "cached_input", "cache_write", "output")


@dataclass(frozen=True, slots=True)
class KernelResult:
    total: Decimal
    """The invoice total: the sum of the rounded lines."""
    grades: tuple[tuple[str | None, Decimal], ...]
    """Rounded amount per line with the line's grade (rate card lines of graded plans)."""
    reserved: Decimal | None
    covered: Decimal | None
    breakage_value: Decimal = ZERO
    """Paid credits that expired unused, in money (credits plans)."""
    unused_paid_value: Decimal = ZERO
    """Paid credits left at the period's end, in money (credits plans)."""


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
class _Burn:
    amounts: dict[str, Decimal]
    refused_value: dict[str, Decimal]
    burned: dict[str, Decimal]
    pack_amounts: list[Decimal]
    expired_value: Decimal
    unused_value: Decimal


@dataclass(slots=True)
class _Entry:
    """A grant in burn order, with what is left of it."""

    key: tuple[int, int, date, date, int]
    id: str
    paid: bool
    expires: date | None
    left: Decimal


def period_totals(rows: Mapping[tuple[str, int, int], Counts],
                  costs: Mapping[tuple[str, int, int], Sequence[Decimal]],
                  period: Period) -> dict[str, ModelTotals]:
    """Per-model totals of the ``rows`` (model, band, day) that fall in ``period``, with the
    exact supplier cost per class of each row given in ``costs`` (same keys)."""
    sums: dict[str, list[Any]] = {}
    for key, counts in rows.items():
        if not period.start_day <= key[2] < period.end_day:
            continue
        values = (counts.input, counts.cached_input, counts.cache_write, counts.output,
                  counts.requests, *costs[key])
        into = sums.get(key[0])
        if into is None:
            sums[key[0]] = list(values)
        else:
            for i, n in enumerate(values):
                into[i] += n
    return {model: ModelTotals((v[0], v[1], v[2], v[3]), v[4], (v[5], v[6], v[7], v[8]))
            for model, v in sums.items()}


class PlanKernel:
    """A plan compiled to rate period totals; one per plan, reused for every customer."""

    @staticmethod
    def handles(plan: Plan) -> bool:
        """True for every plan but credits plans the kernel cannot burn down (more than one
        credits charge or more than one rate card paid with credits, or one at cost plus) and
        plans with a rate card that falls back to cost plus (rated by the rater)."""
        if any(isinstance(c, RateCardCharge) and c.fallback is not None for c in plan.charges):
            return False
        paying = [c for c in plan.charges
                  if isinstance(c, RateCardCharge) and c.paid_with == "credits"]
        wallets = [c for c in plan.charges if isinstance(c, CreditsCharge)]
        if not paying and not wallets:
            return True
        return (len(wallets) == 1 and len(paying) == 1 and paying[0].cost_plus is None
                and paying[0].rates is not None)

    def __init__(self, plan: Plan, rater: Rater) -> None:
        if not self.handles(plan):
            raise ValueError(f"plan {plan.id!r}: the kernel cannot rate its credits")
        self.plan = plan
        self.rater = rater
        self.credit_terms = rater.credit_terms()
        self.paying = next((i for i, c in enumerate(plan.charges)
                            if isinstance(c, RateCardCharge) and c.paid_with == "credits"), None)
        self._grants: dict[tuple[Period, Decimal, date], list[credits.CreditGrant]] = {}
        self._alone: dict[tuple[Period, date, date], bool] = {}
        self._order: dict[tuple[Period, Decimal, date, int], _InOrder | None] = {}
        self._meters: dict[tuple[int, str], bool] = {}
        self._tiers: dict[tuple[int, str], list[Tier]] = {}
        self._grade_cache: dict[str, str | None] = {}
        self._fixed: dict[tuple[Period, Decimal | None, int, date, date | None], Terms] = {}
        for index, charge in enumerate(plan.charges):
            if isinstance(charge, UsageCharge) and charge.tiers is not None:
                self._tiers[(index, "usage")] = [Tier(t.up_to, t.unit_price, t.flat_price)
                                                 for t in charge.tiers.tiers]
            if isinstance(charge, RateCardCharge):
                for name, table in (("overage_discount", charge.overage_discount),
                                    ("volume_discount", charge.volume_discount)):
                    if table is not None:
                        self._tiers[(index, name)] = [Tier(up_to=t.up_to, unit_price=t.rate)
                                                      for t in table.tiers]

    @property
    def needs_totals(self) -> bool:
        """False when no charge reads the period totals (a credits plan whose only usage charge
        is the rate card paid with credits: that one reads the debits)."""
        return any(isinstance(c, UsageCharge)
                   or (isinstance(c, RateCardCharge) and i != self.paying)
                   for i, c in enumerate(self.plan.charges))

    # --- compiled lookups ------------------------------------------------------------------

    def _metered(self, index: int, charge: UsageCharge, model: str) -> bool:
        found = self._meters.get((index, model))
        if found is None:
            globs = [g.lower() for g in charge.meter.models or []]
            found = self._meters[(index, model)] = not globs or any(
                fnmatch.fnmatchcase(model.lower(), g) for g in globs)
        return found

    def fixed(self, sub: Subscription, period: Period, fraction: Decimal | None) -> Terms:
        """The terms that do not depend on usage, for one period and seat count."""
        seats = sub.seats_on(period.start) or sub.seats_on(sub.start)
        key = (period, fraction, seats, sub.start, sub.end)
        found = self._fixed.get(key)
        if found is None:
            found = self._fixed[key] = Terms.of(self.rater.compiled, sub, period, fraction)
        return found

    # --- rating --------------------------------------------------------------------------------

    @in_exact_context
    def rate(self, sub: Subscription, period: Period, totals: Mapping[str, ModelTotals], *,
             fixed_fraction: Decimal | None = None, hours: Sequence[int] | None = None,
             capacity_usage: Mapping[str, CapacityUsage] | None = None,
             debits: Debits | None = None) -> KernelResult:
        """What ``Rater.rate(sub, period, usage, fixed_fraction=..., hours=...)`` bills, from
        the customer's per-model ``totals`` of the period (``sub`` active all period).

        A credits plan also needs ``debits`` (the credit-paid usage by day and model) and a
        period where :meth:`burns_alone` holds.
        """
        plan = self.plan
        terms = self.fixed(sub, period, fixed_fraction)
        burn: _Burn | None = None
        if self.credit_terms is not None:
            if debits is None or not self.burns_alone(sub, period):
                raise ValueError(f"plan {plan.id!r}: rate its credits with Rater")
            burn = self._burn(sub, period, terms.fraction, debits)
        out = RoundedLines(None, plan.currency, plan.rounding)
        if burn is not None and not totals:  # (no charge reads the totals but the card)
            totals = {m: _NO_USAGE for m in burn.amounts}
        run = Billing(self.rater.compiled, PeriodTotals.of_models(sub.customer_id, totals),
                      terms, out, self.rater.prices, self._grade_cache)
        if burn is not None:
            run.credit = CreditLines([("", 0, ZERO, amount) for amount in burn.pack_amounts],
                                     burn.burned)
            if self.paying is not None:
                run.card_values[self.paying] = [CardValue(burn.amounts.get(m, ZERO), ())
                                                for m in run.totals.models]
                run.refused = burn.refused_value
        run.capacity.update(capacity_usage or {})
        run.buckets = None if hours is None else len(hours)
        bill_plan(run)
        lines = [(line.kind, line.amount, line.grade) for line in out.lines]
        return KernelResult(
            total=sum((amount for _, amount, _ in lines), ZERO),
            grades=tuple((grade, amount) for _, amount, grade in lines) if plan.grades else (),
            reserved=run.reserved, covered=run.covered,
            breakage_value=burn.expired_value if burn else ZERO,
            unused_paid_value=burn.unused_value if burn else ZERO,
        )

    # --- credits --------------------------------------------------------------------------------

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

    def _burn(self, sub: Subscription, period: Period, fraction: Decimal, debits: Debits
              ) -> _Burn:
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
                       debits: Debits) -> _Burn | None:
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
                   ) -> _Burn:
        """The burn-down debit by debit (every case :meth:`_burn_in_order` declines)."""
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
        value_of = {g.id: self.rater.pack_value.get(g.id, unit_value) for g in grants}
        entries = [_Entry(credits.burn_key(g), g.id, g.paid, g.expires_day, g.amount)
                   for g in sorted(grants, key=credits.burn_key)]
        next_order = max((g.order for g in grants), default=-1) + 1
        balance = sum((g.amount for g in grants), Decimal(0))
        burned: dict[str, Decimal] = {}
        short: dict[str, Decimal] = {}
        packs: list[Decimal] = []
        threshold = terms.threshold
        with decimal.localcontext(EXACT):
            for (day, model), value in sorted(by_key.items()):
                if not value:
                    continue
                need = EXACT.divide(Decimal(value).scaleb(shift), unit_value)
                burned.setdefault(model, Decimal(0))
                if topup is not None and balance - need < threshold:
                    shortfall = threshold - (balance - need)
                    count = int((shortfall / topup.amount).to_integral_value(
                        decimal.ROUND_CEILING))
                    when = day_of(day)
                    expires = None if topup.expires_after is None else when + topup.expires_after
                    grant_id = f"{topup.name} {when.isoformat()} #{len(packs) + 1}"
                    bought = count * topup.amount
                    key = (topup.priority, 1 if expires is None else 0, expires or date.max,
                           when, next_order)
                    next_order += 1
                    entries.insert(bisect.bisect_right([e.key for e in entries], key),
                                   _Entry(key, grant_id, topup.paid, expires, bought))
                    price_total = count * topup.price
                    value_of[grant_id] = EXACT.divide(price_total, bought)  # as the rater
                    packs.append(price_total)
                    balance += bought
                for entry in entries:
                    if need == 0:
                        break
                    left = entry.left
                    if left <= 0:
                        continue
                    take = min(need, left)
                    entry.left = left - take
                    balance -= take
                    need -= take
                    burned[model] = EXACT.add(burned[model], take)
                if need > 0:
                    short[model] = EXACT.add(short.get(model, Decimal(0)), need)
        return _settled(period, charge, amounts, burned, short, packs,
                        [(e.left, e.paid, e.expires, value_of[e.id]) for e in entries])


def _settled(period: Period, charge: CreditsCharge, amounts: dict[str, Decimal],
             burned: dict[str, Decimal], short: Mapping[str, Decimal], packs: list[Decimal],
             left: Sequence[tuple[Decimal, bool, date | None, Decimal]]) -> _Burn:
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
    return _Burn(amounts, refused, burned, packs, expired_value, unused_value)


_Add = Callable[..., None]
_NO_USAGE = ModelTotals((0, 0, 0, 0), 0, (ZERO, ZERO, ZERO, ZERO))


@dataclass(frozen=True, slots=True)
class _InOrder:
    grants: list[credits.CreditGrant]
    """The period's grants in burn order."""
    balance: Decimal
    """Their credits, summed as the rater sums them."""
    exponent: int
    """One debit unit is 10^exponent credits."""
