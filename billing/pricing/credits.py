"""Prepaid credits: burn a period's debits down a set of grants, with auto top-up and overage.

Everything is in credit units (``Decimal``); turning credits into money is the caller's job
(``unit_value``). The rules:

- Debits are applied in the order given (the caller sorts them by day; going back in time is an
  error). A grant is usable on days ``effective_day <= day < expires_day``.
- Burn order: lowest ``priority`` number first, then soonest expiry (``None`` = never, last), then
  oldest (``effective_day``, then ``order``).
- Auto top-up: when a debit would take the usable balance below ``when_balance_below``, as many
  packs as needed are bought at once on that day, ``n = ceil(shortfall / pack.amount)``; the
  purchase becomes a new grant and is reported as a :class:`Purchase`.
- Without top-up, what the usable balance cannot cover is overage: billed (``overage="bill"``,
  reported in ``overage_by_label``) or refused (``"block"``, reported in ``refused_by_label``,
  never billed). A balance never goes negative.
- At ``period_end`` every grant whose ``expires_day <= period_end`` and has credits left expires;
  ``breakage_credits`` is what PAID grants lose that way (revenue with no supplier cost).

Grants that expired in an earlier period should not be passed in: they would count again.

Two ways to run the one burn, in this module: :func:`burn`, debit by debit (every case), and
:func:`burn_in_order`, its closed form for debits given as exact integers when credits burn in
grant order (:func:`in_order`): no expiry inside the period, and every pack the top-up buys
burning after every grant. Then packs are bought where the running total of debits crosses
``balance - threshold + k x pack`` (k = 0, 1, ...), and what is left of each grant follows from
the total burned, without a step per debit. It gives :func:`burn`'s result (purchases, balances,
credits burned, overage or refused per label) without the allocations; a property test
(tests/pricing/test_credits_closed_form.py) compares the two field by field, and
tests/compare/test_kernel.py the invoice lines they lead to.
"""

from __future__ import annotations

import bisect
import decimal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal, TypeVar

from dateutil.relativedelta import relativedelta

from billing.errors import RatingError
from billing.pricing.core import EXACT, non_negative

__all__ = [
    "Allocation",
    "BurnResult",
    "CreditGrant",
    "Debit",
    "GrantBalance",
    "InOrder",
    "Purchase",
    "TopUpPack",
    "burn",
    "burn_in_order",
    "burn_key",
    "in_order",
]

_Day = TypeVar("_Day")


@dataclass(frozen=True, slots=True)
class CreditGrant:
    """Credits granted to an account.

    ``expires_day`` is the first day the grant can no longer be used (``None``: never).
    ``priority``: lower burns first. ``paid``: bought (its expiry is breakage) or promotional.
    ``order``: tie-breaker among grants effective the same day (lower is older).
    """

    id: str
    amount: Decimal
    effective_day: date
    expires_day: date | None
    priority: int
    paid: bool
    order: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", non_negative(self.amount, f"grant {self.id!r} amount"))
        if self.expires_day is not None and self.expires_day <= self.effective_day:
            raise RatingError(
                f"grant {self.id!r}: expires_day {self.expires_day} must be after "
                f"effective_day {self.effective_day}"
            )

    def usable_on(self, day: date) -> bool:
        return self.effective_day <= day and (self.expires_day is None or day < self.expires_day)


@dataclass(frozen=True, slots=True)
class Debit:
    """Credits that usage labelled ``label`` costs on ``day``."""

    day: date
    credits: Decimal
    label: str

    def __post_init__(self) -> None:
        what = f"debit {self.label!r} on {self.day} credits"
        object.__setattr__(self, "credits", non_negative(self.credits, what))


@dataclass(frozen=True, slots=True)
class TopUpPack:
    """A pack of credits the auto top-up buys: ``amount`` credits for ``price`` (money)."""

    name: str
    amount: Decimal
    price: Decimal
    priority: int
    expires_after: relativedelta | None
    paid: bool = True

    def __post_init__(self) -> None:
        amount = non_negative(self.amount, f"pack {self.name!r} amount")
        if amount == 0:
            raise RatingError(f"pack {self.name!r}: amount must be positive")
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "price", non_negative(self.price, f"pack {self.name!r} price"))


@dataclass(frozen=True, slots=True)
class Purchase:
    """An auto top-up: ``count`` packs bought on ``day``, ``credits`` in all, for ``price_total``.

    ``grant_id`` names the grant the purchase became.
    """

    day: date
    pack: str
    count: int
    credits: Decimal
    price_total: Decimal
    grant_id: str


@dataclass(frozen=True, slots=True)
class Allocation:
    """``credits`` of grant ``grant_id`` burned by the debit ``label`` on ``day``."""

    day: date
    label: str
    grant_id: str
    credits: Decimal


@dataclass(frozen=True, slots=True)
class GrantBalance:
    """One grant at period end: ``burned + expired + remaining == granted``."""

    grant_id: str
    paid: bool
    granted: Decimal
    burned: Decimal
    expired: Decimal
    remaining: Decimal


@dataclass(frozen=True, slots=True)
class BurnResult:
    """What a period's burn-down did; every mapping is keyed by debit label in first-seen order."""

    purchases: tuple[Purchase, ...]
    balances: tuple[GrantBalance, ...]
    allocations: tuple[Allocation, ...]
    burned_by_label: Mapping[str, Decimal] = field(default_factory=dict)
    overage_by_label: Mapping[str, Decimal] = field(default_factory=dict)
    refused_by_label: Mapping[str, Decimal] = field(default_factory=dict)
    breakage_credits: Decimal = Decimal(0)

    def balance(self, grant_id: str) -> GrantBalance:
        """The period-end balance of one grant."""
        for entry in self.balances:
            if entry.grant_id == grant_id:
                return entry
        raise KeyError(grant_id)


def burn_key(grant: CreditGrant) -> tuple[int, int, date, date, int]:
    """The order grants burn in: priority, expiring before never-expiring, earliest expiry,
    earliest effective day, then the order they were given."""
    never = 1 if grant.expires_day is None else 0
    expiry = grant.expires_day or date.max
    return (grant.priority, never, expiry, grant.effective_day, grant.order)


def _add(into: dict[str, Decimal], label: str, credits: Decimal) -> None:
    into[label] = EXACT.add(into.get(label, Decimal(0)), credits)


def burn(
    grants: Sequence[CreditGrant],
    debits: Sequence[Debit],
    *,
    period_end: date,
    topup: TopUpPack | None = None,
    when_balance_below: Decimal | int = 0,
    overage: Literal["bill", "block"] = "block",
) -> BurnResult:
    """Apply ``debits`` to ``grants`` for a period ending (exclusive) on ``period_end``."""
    threshold = non_negative(when_balance_below, "when_balance_below")
    if overage not in ("bill", "block"):
        raise RatingError(f"overage must be 'bill' or 'block', got {overage!r}")
    all_grants = list(grants)
    remaining: dict[str, Decimal] = {}
    for grant in all_grants:
        if grant.id in remaining:
            raise RatingError(f"two grants share the id {grant.id!r}")
        remaining[grant.id] = grant.amount
    next_order = max((g.order for g in all_grants), default=-1) + 1

    purchases: list[Purchase] = []
    allocations: list[Allocation] = []
    burned_by_label: dict[str, Decimal] = {}
    overage_by_label: dict[str, Decimal] = {}
    refused_by_label: dict[str, Decimal] = {}
    previous_day: date | None = None
    ordered = sorted(all_grants, key=burn_key)

    with decimal.localcontext(EXACT):
        for index, debit in enumerate(debits):
            if not isinstance(debit, Debit):
                raise RatingError(f"debits[{index}]: expected a Debit, got {type(debit).__name__}")
            day = debit.day
            if previous_day is not None and day < previous_day:
                raise RatingError(
                    f"debits[{index}] ({debit.label!r}) on {day} comes before the previous "
                    f"debit's day {previous_day}: sort debits by day"
                )
            if day >= period_end:
                raise RatingError(
                    f"debits[{index}] ({debit.label!r}) on {day} is not before "
                    f"period_end {period_end}"
                )
            previous_day = day
            burned_by_label.setdefault(debit.label, Decimal(0))
            need = debit.credits
            if need == 0:
                continue
            if topup is not None:
                balance = sum((remaining[g.id] for g in ordered
                               if remaining[g.id] > 0 and g.usable_on(day)), Decimal(0))
            if topup is not None and balance - need < threshold:
                shortfall = threshold - (balance - need)
                count = int((shortfall / topup.amount).to_integral_value(decimal.ROUND_CEILING))
                expires = None if topup.expires_after is None else day + topup.expires_after
                grant_id = f"{topup.name} {day.isoformat()} #{len(purchases) + 1}"
                if grant_id in remaining:
                    raise RatingError(f"a grant already has the id {grant_id!r}")
                if expires is not None and expires <= day:
                    raise RatingError(f"pack {topup.name!r}: expires_after must be positive")
                new = CreditGrant(
                    id=grant_id,
                    amount=count * topup.amount,
                    effective_day=day,
                    expires_day=expires,
                    priority=topup.priority,
                    paid=topup.paid,
                    order=next_order,
                )
                next_order += 1
                all_grants.append(new)
                remaining[new.id] = new.amount
                ordered = sorted(all_grants, key=burn_key)
                purchases.append(
                    Purchase(day, topup.name, count, new.amount, count * topup.price, new.id)
                )
            for grant in ordered:  # burn order; a stable sort, so ties keep the grants' order
                if need == 0:
                    break
                left = remaining[grant.id]
                if left <= 0 or not grant.usable_on(day):
                    continue
                take = min(need, left)
                remaining[grant.id] = left - take
                need -= take
                _add(burned_by_label, debit.label, take)
                allocations.append(Allocation(day, debit.label, grant.id, take))
            if need > 0:
                _add(overage_by_label if overage == "bill" else refused_by_label, debit.label, need)

        balances: list[GrantBalance] = []
        breakage = Decimal(0)
        for grant in all_grants:
            left = remaining[grant.id]
            expired = Decimal(0)
            if grant.expires_day is not None and grant.expires_day <= period_end and left > 0:
                expired, left = left, Decimal(0)
                if grant.paid:
                    breakage += expired
            balances.append(
                GrantBalance(
                    grant_id=grant.id,
                    paid=grant.paid,
                    granted=grant.amount,
                    burned=grant.amount - remaining[grant.id],
                    expired=expired,
                    remaining=left,
                )
            )
    return BurnResult(
        purchases=tuple(purchases),
        balances=tuple(balances),
        allocations=tuple(allocations),
        burned_by_label=burned_by_label,
        overage_by_label=overage_by_label,
        refused_by_label=refused_by_label,
        breakage_credits=breakage,
    )



@dataclass(frozen=True, slots=True)
class InOrder:
    """Grants that burn in grant order (:func:`in_order`), ready for :func:`burn_in_order`."""

    grants: tuple[CreditGrant, ...]
    """As given (the order of :attr:`BurnResult.balances`)."""
    ordered: tuple[CreditGrant, ...]
    """In burn order."""
    balance: Decimal
    """Their credits."""
    topup: TopUpPack | None
    threshold: Decimal


def in_order(grants: Sequence[CreditGrant], *, period_start: date, period_end: date,
             topup: TopUpPack | None = None, when_balance_below: Decimal | int = 0
             ) -> InOrder | None:
    """The terms of :func:`burn_in_order` for a period, or None when credits may not burn in
    grant order there: every grant must be usable on every day of the period, and every pack the
    top-up buys must burn after every grant (and so after the packs bought before it)."""
    threshold = non_negative(when_balance_below, "when_balance_below")
    if any(g.effective_day > period_start
           or (g.expires_day is not None and g.expires_day < period_end) for g in grants):
        return None
    if topup is not None:
        expires = None if topup.expires_after is None else period_start + topup.expires_after
        if expires is not None and expires < period_end:
            return None  # a pack would expire inside the period
        first = (topup.priority, 1 if expires is None else 0, expires or date.max, period_start,
                 max((g.order for g in grants), default=-1) + 1)
        if not all(burn_key(g) < first for g in grants):
            return None
    with decimal.localcontext(EXACT):
        balance = sum((g.amount for g in grants), Decimal(0))
    return InOrder(tuple(grants), tuple(sorted(grants, key=burn_key)), balance, topup, threshold)


def burn_in_order(order: InOrder, rows: Sequence[tuple[_Day, str, int]], scale: int, *,
                  day: Callable[[_Day], date], period_end: date,
                  overage: Literal["bill", "block"] = "block",
                  running: Sequence[int] | None = None,
                  by_label: Mapping[str, int] | None = None) -> BurnResult | None:
    """:func:`burn` in closed form (see the module) on debits given as ``rows`` of
    ``(day, label, units)``, one row per (day, label) in that order, ``units`` exact integers
    of ``10**scale`` credits; ``day`` turns a row's day into a date. ``running`` (the running
    total of units after each row) and ``by_label`` (each label's units), when the caller has
    them, save a pass. The same result as :func:`burn` on those debits, without the
    allocations; None when the closed form does not apply (rows out of order, sums past 27
    digits): then burn debit by debit."""
    models: Mapping[str, int]
    if running is None or by_label is None:
        sums: dict[str, int] = {}
        totals: list[int] = []
        total = 0
        previous: tuple[_Day, str] | None = None
        for when, label, value in rows:
            if previous is not None and (when, label) <= previous:
                return None
            previous = (when, label)
            sums[label] = sums.get(label, 0) + value
            total += value
            totals.append(total)
        running, models = totals, sums
    else:
        models = by_label
        total = running[-1] if running else 0
    if total >= 10**27:
        return None
    topup, threshold, balance = order.topup, order.threshold, order.balance
    purchases: list[Purchase] = []
    burned: dict[str, Decimal] = {label: Decimal(0) for label in models}
    short: dict[str, Decimal] = {}
    with decimal.localcontext(EXACT):
        used = Decimal(total).scaleb(scale)
        if topup is not None:
            count = 0
            if total and used > balance - threshold:
                count = int(((threshold - balance + used) / topup.amount).to_integral_value(
                    decimal.ROUND_CEILING))
            level = 0  # each step below moves to a later row: at most one purchase per row
            while level < count:
                # the first row whose running total passes balance - threshold + level packs
                limit = ((balance - threshold + level * topup.amount).scaleb(-scale)
                         .to_integral_value(decimal.ROUND_FLOOR))
                at = bisect.bisect_right(running, max(int(limit), 0))
                reach = int(((threshold - balance + Decimal(running[at]).scaleb(scale))
                             / topup.amount).to_integral_value(decimal.ROUND_CEILING))
                bought_on = day(rows[at][0])
                n = reach - level
                purchases.append(Purchase(bought_on, topup.name, n, n * topup.amount,
                                          n * topup.price, f"{topup.name} {bought_on.isoformat()} "
                                          f"#{len(purchases) + 1}"))
                level = reach
            for label, value in models.items():
                if value:
                    burned[label] = Decimal(value).scaleb(scale)
            consumed = used
        else:
            limit = balance.scaleb(-scale).to_integral_value(decimal.ROUND_FLOOR)
            at = bisect.bisect_right(running, int(limit))
            full: dict[str, int] = {}
            late: dict[str, int] = {}
            for position, (_when, label, value) in enumerate(rows):
                if value:
                    into = full if position < at else late
                    into[label] = into.get(label, 0) + value
            for label, value in full.items():
                burned[label] = Decimal(value).scaleb(scale)
            if at < len(rows):
                _when, label, value = rows[at]
                before = Decimal(running[at] - value).scaleb(scale)
                part = balance - before  # of the crossing row, what the grants still cover
                late[label] -= value
                burned[label] += part
                short[label] = Decimal(value).scaleb(scale) - part
            for label, value in late.items():
                if value:
                    short[label] = short.get(label, Decimal(0)) + Decimal(value).scaleb(scale)
            consumed = min(used, balance)
        # What is left of each grant and pack: the total burned taken in burn order.
        left: dict[str, Decimal] = {}
        bought = [CreditGrant(p.grant_id, p.credits, p.day, None if topup is None
                              or topup.expires_after is None else p.day + topup.expires_after,
                              topup.priority if topup is not None else 0,
                              topup.paid if topup is not None else True, 0)
                  for p in purchases]
        for grant in (*order.ordered, *bought):
            take = min(consumed, grant.amount) if grant.amount > 0 else Decimal(0)
            consumed -= take
            left[grant.id] = grant.amount - take
        balances: list[GrantBalance] = []
        breakage = Decimal(0)
        for grant in (*order.grants, *bought):
            remaining = left[grant.id]
            expired = Decimal(0)
            if grant.expires_day is not None and grant.expires_day <= period_end \
                    and remaining > 0:
                expired, remaining = remaining, Decimal(0)
                if grant.paid:
                    breakage += expired
            balances.append(GrantBalance(grant.id, grant.paid, grant.amount,
                                         grant.amount - left[grant.id], expired, remaining))
    return BurnResult(
        purchases=tuple(purchases), balances=tuple(balances), allocations=(),
        burned_by_label=burned,
        overage_by_label=short if overage == "bill" else {},
        refused_by_label=short if overage == "block" else {},
        breakage_credits=breakage)
