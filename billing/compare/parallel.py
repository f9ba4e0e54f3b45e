"""Every customer of every plan rated on the shared usage, plans in parallel.

The usage in the shapes plans need (per-period columns for :func:`rate_customers`, per-customer
rows for the rater) is built once in the parent. Every plan bills every customer of a period at
once (a credits plan after burning each customer's period down, when nothing carries into it);
a credits plan whose credits carry over between periods goes customer by customer through the
rater's replay. Each plan is rated, slowest first, in a forked worker process (one per core) that reads the shared work through the fork (the
module-level ``_FORKED_JOB``) and sends each customer's figures back as exact decimal text.
Each worker also runs its plan's break-even search. See :mod:`billing.compare.comparison`.
"""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from itertools import chain
from typing import Any

from billing.charges import CapacityUsage, ModelTotals, PeriodTotals, Terms
from billing.charges.credits import Debits, FirstPeriodBurn
from billing.compare.columns import (
    CapacityColumns,
    capacity_usage,
    credit_debits,
    daily_usage,
    period_rows,
    usage_of_rows,
)
from billing.compare.model import (
    CompareOptions,
    CustomerResult,
    CustomerRows,
    PlanResult,
)
from billing.compare.periods import Slice, period_slices
from billing.compare.rating import BatchResult, Rated, rate_customer, rate_customers
from billing.compare.summary import UNATTRIBUTED, Figures, summarise, supplier_hhi
from billing.compare.supplier import Costs, PricedRows
from billing.compare.whatif import (
    ScaledMix,
    break_even,
)
from billing.costs import CostBook
from billing.errors import RatingError
from billing.money import MTOK, ZERO, in_exact_context
from billing.periods import Period, nth_period
from billing.plans import Plan
from billing.plans.model import CapacityCharge
from billing.pricing import capacity
from billing.rating.rater import Rater, RatingTotals
from billing.subscriptions import Subscription
from billing.usage.aggregates import UsageAggregates
from billing.usage.customer import SnapshotUsage
from billing.usage.results import TraceResult

__all__ = ["check_currencies", "rate_plans"]


def check_currencies(plans: Iterable[Plan], report_currency: str,
                     fx: Mapping[str, Decimal]) -> None:
    """Every plan priced in another currency needs an explicit rate (never a silent 1:1)."""
    for plan in plans:
        if plan.currency != report_currency and plan.currency not in fx:
            raise RatingError(
                f"plan {plan.id!r} is priced in {plan.currency} and the report is in "
                f"{report_currency}: give the rate, e.g. --fx {plan.currency}=1.08 "
                f"(1 {plan.currency} = 1.08 {report_currency})"
            )


def _stats_start_end(trace: TraceResult) -> tuple[datetime, datetime]:
    start, end = trace.stats.start, trace.stats.end
    if start is None or end is None:
        raise RatingError(f"{trace.rejects_path or 'the trace'}: no valid usage event to compare")
    return start, end


class _Usage:
    """Customers' usage in the shapes plans need: per-model totals of each billing period, as
    columns (kernels; rows merged per period and supplier price by
    :func:`~billing.compare.columns.period_rows`); the same rows per customer (the rater) and
    the daily rows (credits burned day by day by the rater), these two built only when a plan
    asks."""

    def __init__(self, aggregates: UsageAggregates, rows: PricedRows) -> None:
        self.aggregates = aggregates
        self.rows = rows
        self.customers = rows.costs.customers
        self._position = {c: i for i, c in enumerate(self.customers)}
        self._periods: dict[str, SnapshotUsage] | None = None
        self._daily: dict[str, SnapshotUsage] | None = None
        self._columns: dict[tuple[int, int], PeriodTotals] = {}
        self._reasoning_rows: tuple[dict[tuple[str, str, int, int], int] | None] | None = None

    @property
    def periods(self) -> dict[str, SnapshotUsage]:
        """The period rows per customer."""
        if self._periods is None:
            self._periods = usage_of_rows(self.rows.table, self.aggregates)
        return self._periods

    def daily(self) -> dict[str, SnapshotUsage]:
        """Daily rows per customer (no hourly rows: no plan that needs these has capacity)."""
        if self._daily is None:
            self._daily = daily_usage(self.aggregates)
        return self._daily

    def totals(self, customer: str, period: Period, models: Sequence[str]
               ) -> dict[str, ModelTotals]:
        """The customer's per-model totals over ``period`` (a batch of one)."""
        return self.columns(period, models).totals(self._position[customer])

    def columns(self, period: Period, models: Sequence[str]) -> PeriodTotals:
        """Every customer's per-model totals over ``period`` as columns (a batch of all),
        computed once and shared: the rows of each (customer, model) in the period summed in
        row order."""
        key = (period.start_day, period.end_day)
        found = self._columns.get(key)
        if found is None:
            found = self._columns[key] = self._build(period, models)
        return found

    def _build(self, period: Period, models: Sequence[str]) -> PeriodTotals:
        rows = self.rows
        ordered = sorted(models)
        where = {m: i for i, m in enumerate(ordered)}
        n = len(self.customers)
        tokens = [[[0] * n for _ in range(4)] for _ in ordered]
        requests = [[0] * n for _ in ordered]
        cost = [[[ZERO] * n for _ in range(4)] for _ in ordered]
        present = [[False] * n for _ in ordered]
        position = self._position
        start, end = period.start_day, period.end_day
        for row, segment in enumerate(rows.segment):
            if not start <= segment < end:
                continue
            m = where[rows.model[row]]
            i = position[rows.customer[row]]
            row_cost = rows.cost[row]
            if present[m][i]:
                for k in range(4):
                    tokens[m][k][i] += rows.tokens[k][row]
                    cost[m][k][i] += row_cost[k]
                requests[m][i] += rows.requests[row]
            else:
                present[m][i] = True
                for k in range(4):
                    tokens[m][k][i] = rows.tokens[k][row]
                    cost[m][k][i] = row_cost[k]
                requests[m][i] = rows.requests[row]
        return PeriodTotals.of_lists(self.customers, ordered, tokens, requests, cost, present,
                                     rows.tier_columns(start, end, where, position),
                                     self._reasoning(start, end, where))

    def _reasoning(self, start: int, end: int, where: Mapping[str, int]
                   ) -> dict[int, list[int]] | None:
        """Reasoning tokens per model position and customer over days ``start <= day < end``
        (None: the usage's reasoning split is unknown)."""
        if self._reasoning_rows is None:
            self._reasoning_rows = (self.aggregates.reasoning_rows(),)
        (found,) = self._reasoning_rows
        if found is None:
            return None
        out: dict[int, list[int]] = {}
        for (customer, model, _band, day), tokens in found.items():
            if start <= day < end:
                column = out.setdefault(where[model], [0] * len(self.customers))
                column[self._position[customer]] += tokens
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class _Job:
    """What every plan's rating shares: computed once, read by every worker."""

    usage: _Usage
    customers: Sequence[str]
    models: Sequence[str]
    costs: Costs
    hhi: Decimal | None
    start: datetime
    end: datetime
    costbook: CostBook
    report_currency: str
    options: CompareOptions
    mixes: dict[tuple[Period, int], ScaledMix] | None = None
    """The break-even search's scaled usage mixes (None: no break-even wanted)."""
    seat_groups: Mapping[int, Sequence[int]] = dataclasses.field(default_factory=dict)
    """The customers' positions by seat count (every plan's fixed terms depend on it)."""


_FORKED_JOB: tuple[_Job, Sequence[Plan]] | None = None
"""Set just before worker processes are forked; they read it, nothing is pickled in."""


@in_exact_context
def rate_plans(plans: Sequence[Plan], trace: TraceResult, *, costbook: CostBook,
               options: CompareOptions) -> list[PlanResult]:
    """Rate every customer of ``trace`` under each plan and summarise (the aggregates are
    shared; supplier cost is priced once). Plans are rated in parallel worker processes when
    the machine has several cores (``CompareOptions.workers``); results do not depend on it."""
    global _FORKED_JOB
    check_currencies(plans, costbook.currency, options.fx)
    start, end = _stats_start_end(trace)
    boundaries = sorted({piece.period.start_day for plan in plans
                         for piece in period_slices(plan, start, end, options.full_periods)})
    rows = PricedRows(period_rows(trace.aggregates, costbook, boundaries), costbook,
                      trace.aggregates.time_of_day, trace.aggregates.tiers)
    costs = rows.costs
    usage = _Usage(trace.aggregates, rows)
    customers = usage.customers
    mixes: dict[tuple[Period, int], ScaledMix] | None = None
    if options.break_even:
        # One representative mix per first period, shared by every plan (and every worker).
        mixes = {}
        for plan in plans:
            period = nth_period(start.date(), plan.interval, 0)
            if (period, id(costbook)) not in mixes:
                mixes[(period, id(costbook))] = ScaledMix(trace.aggregates, period, costbook)
    seat_groups: dict[int, list[int]] = {}
    for position, customer in enumerate(customers):
        seat_groups.setdefault(options.seats_by_customer.get(customer, options.seats),
                               []).append(position)
    job = _Job(usage, customers, trace.stats.models, costs, supplier_hhi(costs.by_provider), start, end,
               costbook, costbook.currency, options, mixes, seat_groups)
    workers = min(len(plans), options.workers or os.cpu_count() or 1)
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        # Shared before the fork, so no worker computes them again: every customer's period
        # totals, as columns (what kernels rate).
        for piece in {p.period for plan in plans
                      for p in period_slices(plan, start, end, options.full_periods)}:
            usage.columns(piece, trace.stats.models)
        # Slowest plans first (credits burn day by day, capacity reads every hour), so the
        # last plan to finish is a quick one.
        order = sorted(range(len(plans)), key=lambda i: -_weight(plans[i]))
        _FORKED_JOB = (job, plans)
        gc.freeze()  # the shared objects stay out of the workers' collections (and pages)
        try:
            context = multiprocessing.get_context("fork")
            with context.Pool(workers) as pool:
                found: dict[int, PlanResult] = {}
                for done, (index, packed) in enumerate(
                        pool.imap_unordered(_rate_forked, order), 1):
                    found[index] = _unpack(packed, job)
                    if options.progress is not None:
                        options.progress(done * len(customers), len(plans) * len(customers))
                return [found[i] for i in range(len(plans))]
        finally:
            gc.unfreeze()
            _FORKED_JOB = None
    results = []
    for index, plan in enumerate(plans):
        summary, figures = _rate_plan(plan, job, offset=index * len(customers),
                                      total=len(plans) * len(customers))
        results.append(_with_customers(summary, figures, job))
    return results


def _weight(plan: Plan) -> int:
    """A rough cost rank for scheduling: credits, then capacity, then the rest."""
    kinds = {c.kind for c in plan.charges}
    return 2 * ("credits" in kinds) + ("capacity" in kinds)


_Packed = tuple[PlanResult, tuple[list[str], list[str] | None, list[str | None], list[str | None]]]


def _rate_forked(index: int) -> tuple[int, _Packed]:
    assert _FORKED_JOB is not None, "worker started without a job"
    job, plans = _FORKED_JOB
    return index, _pack(*_rate_plan(plans[index], dataclasses.replace(
        job, options=dataclasses.replace(job.options, progress=None)), offset=0, total=0))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _number(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _pack(result: PlanResult, figures: Figures) -> _Packed:
    """A worker's result, light to send back: each customer's figures as exact decimal text
    (a ``Decimal`` pickles slowly)."""
    return result, ([str(v) for v in figures.revenue],
                    None if figures.breakage is None else [str(v) for v in figures.breakage],
                    [_text(v) for v in figures.reserved], [_text(v) for v in figures.covered])


def _unpack(packed: _Packed, job: _Job) -> PlanResult:
    result, (revenue, breakage, reserved, covered) = packed

    def figures() -> Figures:  # read when a report first asks for the customers' rows
        return Figures([Decimal(v) for v in revenue],
                        None if breakage is None else [Decimal(v) for v in breakage],
                        [_number(v) for v in reserved], [_number(v) for v in covered])

    return _with_customers(result, figures, job)


def _with_customers(result: PlanResult, figures: Figures | Callable[[], Figures],
                    job: _Job) -> PlanResult:
    """The plan's result with a row per customer, built when first read (``figures`` may be a
    function that gives them)."""
    costs, customers = job.costs, job.customers

    def build() -> tuple[CustomerResult, ...]:
        found = figures if isinstance(figures, Figures) else figures()
        breakage: Sequence[Decimal | None] = (
            [None] * len(customers) if found.breakage is None else found.breakage)
        return tuple(
            CustomerResult(customer_id=customer, revenue=revenue,
                           cost=costs.by_customer[customer], tokens=costs.tokens[customer],
                           credit_breakage=lost, reserved=reserved, covered=covered)
            for customer, revenue, lost, reserved, covered
            in zip(customers, found.revenue, breakage, found.reserved, found.covered,
                   strict=True))

    return dataclasses.replace(result, customers=CustomerRows(len(customers), build))


def _rate_plan(plan: Plan, job: _Job, *, offset: int, total: int
               ) -> tuple[PlanResult, Figures]:
    """Rate every customer under one plan and summarise: the summary (without its rows per
    customer) and each customer's figures."""
    options, costs, start, end = job.options, job.costs, job.start, job.end
    costbook, report_currency, hhi = job.costbook, job.report_currency, job.hhi
    rater = Rater(plan, costbook=costbook, plan_path=options.plan_paths.get(plan.id))
    rate = Decimal(1) if plan.currency == report_currency else options.fx[plan.currency]
    slices = period_slices(plan, start, end, options.full_periods)
    per_bucket = sum((c.baseload.per_bucket for c in plan.charges
                      if isinstance(c, CapacityCharge)), 0)
    grade_revenue: dict[str, Decimal] = {}
    hourly_covered: dict[int, Decimal] = {}
    capacity_charges = [c for c in plan.charges if isinstance(c, CapacityCharge)]
    by_slice: list[dict[str, CapacityColumns]] = []
    unused_reserved: Decimal | None = ZERO if capacity_charges else None
    for piece in slices:
        columns: dict[str, CapacityColumns] = {}
        hours = piece.hours if piece.hours is not None else capacity.hours_between(
            piece.period.start_dt, piece.period.end_dt)
        for charge in capacity_charges:
            columns[charge.name] = found = capacity_usage(
                job.usage.aggregates, charge, hours, rater.spot_prices(charge, hours))
            covered = ZERO
            for hour, value in found.covered_by_hour.items():
                hourly_covered[hour] = hourly_covered.get(hour, ZERO) + value
                covered += value
            # every customer reserves the baseload of every hour: what no one used of it, at
            # the baseload price (exact; the invoice lines round the whole reservation)
            reserved = charge.baseload.per_bucket * len(hours) * len(job.customers)
            unused_reserved = (unused_reserved or ZERO) + (
                (reserved - covered) * charge.baseload.price_per_mtok / MTOK)
        by_slice.append(columns)
    terms = _TermsCache(rater)
    burner = (FirstPeriodBurn(plan, rater)
              if rater.uses_credits and FirstPeriodBurn.handles(plan) else None)
    # Credits: a period burns down customer by customer from integer debits when nothing
    # carries into it (FirstPeriodBurn.burns_alone); other periods, and plans it cannot take,
    # go to the rater.
    debits_by_slice: list[tuple[dict[str, Debits], int] | None] = []
    for piece in slices:
        found_debits = None
        if burner is not None:
            template = Subscription(customer_id="-", plan=plan.id, start=start.date(),
                                    seats=options.seats)
            if burner.burns_alone(template, piece.period):
                found_debits = credit_debits(
                    job.usage.aggregates, burner.paying_prices(job.models),
                    piece.period.start_day, piece.period.end_day)
        debits_by_slice.append(found_debits)
    if _batched(rater, burner, debits_by_slice):
        batches = [_rate_columns(rater, terms, job, start, piece, columns, burner, debits)
                   for piece, columns, debits in zip(slices, by_slice, debits_by_slice,
                                                     strict=True)]
        figures = _batch_figures(len(job.customers), batches, rate, bool(plan.grades),
                                 grade_revenue, credits=rater.uses_credits,
                                 full_periods=options.full_periods)
        if options.progress is not None:
            options.progress(offset + len(job.customers), total)
    else:
        figures = _figures_one_by_one(plan, job, rater, burner, terms, rate, slices, by_slice,
                                      debits_by_slice, grade_revenue, offset=offset,
                                      total=total)
    if unused_reserved is not None:
        figures = dataclasses.replace(figures, unused_reserved_revenue=unused_reserved * rate)
    summary = summarise(plan, rate, figures, slices, options.full_periods, costs,
                         grade_revenue, hhi, per_bucket, hourly_covered)
    if job.mixes is not None:
        # In the same worker as the plan's rating: the searches of all plans run in parallel.
        summary = dataclasses.replace(summary, break_even=break_even(
            plan, job.usage.aggregates, start=start.date(), customers=len(job.customers),
            costbook=costbook, fx_rate=rate, seats=options.seats, rater=rater,
            mixes=job.mixes))
    return summary, figures


def _batched(rater: Rater, burner: FirstPeriodBurn | None,
             debits_by_slice: Sequence[tuple[dict[str, Debits], int] | None]) -> bool:
    """Whether every customer of a period is rated at once: plans without credits, and credits
    plans whose every period burns down alone (each customer burned, then all billed at
    once); the others go customer by customer through the rater's replay."""
    if not rater.uses_credits:
        return True
    return burner is not None and all(d is not None for d in debits_by_slice)


class _TermsCache:
    """A plan's usage-independent terms per period, fraction, seats and dates, made once."""

    def __init__(self, rater: Rater) -> None:
        self.rater = rater
        self._found: dict[tuple[Period, Decimal | None, int, object, object], Terms] = {}

    def __call__(self, sub: Subscription, period: Period, fraction: Decimal | None) -> Terms:
        seats = sub.seats_on(period.start) or sub.seats_on(sub.start)
        key = (period, fraction, seats, sub.start, sub.end)
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = Terms.of(self.rater.compiled, sub, period, fraction)
        return found


def _batch_figures(n: int, batches: Sequence[BatchResult], rate: Decimal, graded: bool,
                   grade_revenue: dict[str, Decimal], *, credits: bool = False,
                   full_periods: bool = False) -> Figures:
    """Each customer's figures from the periods' batch results, column by column: the same
    operations, in the same order, as :func:`_figures_one_by_one` applies customer by customer
    (so the same figures to the last digit); adds the plan's revenue per grade into
    ``grade_revenue``. A credits plan's paid credits left at the end are breakage
    (``full_periods``) or prepayment taken out of revenue (see
    :mod:`billing.compare.comparison`)."""
    import numpy as np

    revenue: Any = np.full(n, ZERO, dtype=object)
    breakage: Any = np.full(n, ZERO, dtype=object)
    unused: Any = np.full(n, ZERO, dtype=object)
    reserved: list[Decimal | None] = [None] * n
    covered: list[Decimal | None] = [None] * n
    by_key: dict[str, list[Any]] = {}
    for batch in batches:
        if credits:
            assert batch.breakage_value is not None and batch.unused_paid_value is not None
            breakage = breakage + batch.breakage_value * rate
            unused = batch.unused_paid_value * rate  # paid credits left after the last period
        revenue = revenue + batch.total * rate
        if batch.reserved is not None:
            assert batch.covered is not None
            reserved = [(r or ZERO) + x for r, x in zip(reserved, batch.reserved, strict=True)]
            covered = [(c or ZERO) + (x or ZERO)
                       for c, x in zip(covered, batch.covered, strict=True)]
        if graded:
            for grade, amounts in batch.lines:
                by_key.setdefault(grade or UNATTRIBUTED, []).append(amounts * rate)
    if n:
        # customer by customer, each customer's periods and lines in order
        for key, columns in by_key.items():
            grade_revenue[key] = sum(chain.from_iterable(zip(*columns, strict=True)),
                                     grade_revenue.get(key, ZERO))
    if not credits:
        return Figures(revenue.tolist(), None, reserved, covered)
    if full_periods:
        breakage = breakage + unused  # billed whole: what is left is breakage
    else:
        # prepaid for usage after the trace: not revenue of the trace (a zero is not
        # subtracted, as customer by customer: the figures keep their digits)
        left = unused != 0
        revenue = np.where(left, revenue - unused, revenue)
        if graded and left.any():
            grade_revenue[UNATTRIBUTED] = sum((-u for u in unused[left].tolist()),
                                              grade_revenue.get(UNATTRIBUTED, ZERO))
    return Figures(revenue.tolist(), breakage.tolist(), reserved, covered,
                   sum(unused.tolist(), ZERO))


def _figures_one_by_one(plan: Plan, job: _Job, rater: Rater, burner: FirstPeriodBurn | None,
                        terms: _TermsCache, rate: Decimal, slices: Sequence[Slice],
                        by_slice: Sequence[Mapping[str, CapacityColumns]],
                        debits_by_slice: Sequence[tuple[dict[str, Debits], int] | None],
                        grade_revenue: dict[str, Decimal], *, offset: int, total: int
                        ) -> Figures:
    """Each customer's figures, one customer at a time: credits burned down in the period
    (``burner``), or by the rater (plans and periods the burn cannot take)."""
    options, start = job.options, job.start
    by_rater = burner is None or any(d is None for d in debits_by_slice)
    usage: Mapping[str, SnapshotUsage] | None = None  # built when the rater first needs it
    needs_totals = burner is not None and burner.needs_totals
    grade_cache: dict[str, str | None] = {}
    templates: dict[int, Subscription] = {}  # the burn needs only the seats and the dates
    uses_credits = rater.uses_credits
    revenues: list[Decimal] = []
    breakages: list[Decimal] = []
    reserves: list[Decimal | None] = []
    coverage: list[Decimal | None] = []
    unused_prepaid: list[Decimal] = []
    for done, customer in enumerate(job.customers, offset + 1):
        revenue = ZERO
        breakage = ZERO
        unused = ZERO
        reserved: Decimal | None = None
        covered: Decimal | None = None
        seats = options.seats_by_customer.get(customer, options.seats)
        if by_rater:
            sub = Subscription(customer_id=customer, plan=plan.id, start=start.date(),
                               seats=seats)
        else:
            sub = templates.get(seats) or templates.setdefault(seats, Subscription(
                customer_id=customer, plan=plan.id, start=start.date(), seats=seats))
        for piece, columns, debits in zip(slices, by_slice, debits_by_slice, strict=True):
            result: RatingTotals | Rated
            if burner is not None and debits is not None:
                period_terms = terms(sub, piece.period, piece.fraction)
                result = rate_customer(
                    rater, period_terms, customer,
                    job.usage.totals(customer, piece.period, job.models) if needs_totals else {},
                    hours=piece.hours, capacity_usage=_capacity_of(columns, customer),
                    burned=burner.burn(sub, piece.period, period_terms.fraction,
                                       debits[0].get(customer) or Debits((), debits[1])),
                    paying=burner.paying, grades=grade_cache)
                grades = result.grades
            else:
                if usage is None:
                    usage = job.usage.daily() if by_rater else job.usage.periods
                result = rater.rate_totals(
                    sub, piece.period, usage[customer], fixed_fraction=piece.fraction,
                    hours=piece.hours, capacity_usage=_capacity_of(columns, customer))
                grades = tuple((line.grade, line.rounded_amount) for line in result.lines)
            breakage += result.breakage_value * rate
            unused = result.unused_paid_value * rate  # paid credits left after the last period
            revenue += result.total * rate
            if result.reserved is not None:
                reserved = (reserved or ZERO) + result.reserved
                covered = (covered or ZERO) + (result.covered or ZERO)
            if plan.grades:
                for grade, amount in grades:
                    key = grade or UNATTRIBUTED
                    grade_revenue[key] = grade_revenue.get(key, ZERO) + amount * rate
        if options.full_periods:
            breakage += unused  # billed whole: what is left is breakage, as the invoices say
        elif unused:
            # prepaid for usage after the trace: not revenue of the trace (see the module doc)
            revenue -= unused
            if plan.grades:
                grade_revenue[UNATTRIBUTED] = grade_revenue.get(UNATTRIBUTED, ZERO) - unused
        unused_prepaid.append(unused)
        revenues.append(revenue)
        breakages.append(breakage)
        reserves.append(reserved)
        coverage.append(covered)
        if options.progress is not None:
            options.progress(done, total)
    return Figures(revenues, breakages if uses_credits else None, reserves, coverage,
                    sum(unused_prepaid, ZERO) if uses_credits else None)


def _capacity_of(columns: Mapping[str, CapacityColumns], customer: str
                 ) -> dict[str, CapacityUsage] | None:
    """One customer's usage of each capacity charge (None: the plan has none)."""
    return {name: c.of(customer) for name, c in columns.items()} if columns else None


def _rate_columns(rater: Rater, terms: _TermsCache, job: _Job, start: datetime, piece: Slice,
                  capacity_columns: Mapping[str, CapacityColumns],
                  burner: FirstPeriodBurn | None = None,
                  debits: tuple[dict[str, Debits], int] | None = None) -> BatchResult:
    """Every customer's rating of one period, at once: one batch per seat count (the fixed
    terms depend on it), put back in the customers' order. A credits plan's period is first
    burned down customer by customer (``burner``, from ``debits``)."""
    columns = job.usage.columns(piece.period, job.models)
    groups = job.seat_groups
    found: list[tuple[Sequence[int], BatchResult]] = []
    for seats, positions in groups.items():
        sub = Subscription(customer_id=job.customers[positions[0]], plan=rater.plan.id,
                           start=start.date(), seats=seats)
        these = columns if len(groups) == 1 else columns.take(positions)
        given = {name: c.columns(these.customers)
                 for name, c in capacity_columns.items()} or None
        period_terms = terms(sub, piece.period, piece.fraction)
        burned = None
        if burner is not None:
            assert debits is not None
            by_customer, places = debits
            none = Debits((), places)
            burned = [burner.burn(sub, piece.period, period_terms.fraction,
                                  by_customer.get(customer) or none)
                      for customer in these.customers]
        found.append((positions, rate_customers(
            rater, period_terms, these, hours=piece.hours, capacity_usage=given,
            burned=burned, paying=None if burner is None else burner.paying)))
    if len(found) == 1:
        return found[0][1]
    return BatchResult.gather(len(job.customers), found)
