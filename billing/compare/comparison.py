"""Rate the same usage under every plan and price it at supplier cost: the comparison itself.

The order follows DESIGN.md: the trace is aggregated ONCE for all plans (long-context bands from
the cost book, hourly rows when any plan has a capacity charge); supplier cost is priced once per
aggregate row (it does not depend on the plan); then each plan rates every customer from the same
aggregates. Only aggregate rows reach Python, so the per-plan work is small next to the scan.

Periods and proration: every customer is subscribed on the trace's first UTC day, which is also
the billing anchor. The trace spans S = last event time - first event time. For each billing
period the trace overlaps, fixed components (fees, seats, allowances, grants) are prorated by
``overlap / period length`` (exact, from microseconds) and capacity reserves the UTC hours the
trace touches in that period. ``full_periods`` turns this off: every period is billed whole.

Credit packs on the same basis: a pack is prepaid usage, so a prorated comparison counts as
revenue what the trace used of it (paid credits burned, and paid credits expired in the trace,
at the price paid per credit), as it counts the trace's share of a fee; the paid credits left
at the end of the trace are prepayment for later usage (reported apart, not revenue, not
breakage). With ``full_periods`` every plan is billed as its invoices say: packs whole, the
credits left counted as breakage.

Layout, by job: billing periods and proration in :mod:`~billing.compare.periods`, supplier
cost in :mod:`~billing.compare.supplier`, a plan's summary in :mod:`~billing.compare.summary`;
every plan rated on the shared usage, in forked workers, in :mod:`~billing.compare.parallel`;
usage in the shapes plans need in ``columns``, a plan's customers through the one bill of
:mod:`billing.charges` in ``rating``; what-ifs in ``whatif`` and ``offpeak``; the report's data
in ``model``, its renderings in ``report`` and ``html``. This
module is the comparison itself: read the trace once, rate, apply the what-ifs, report.
"""

from __future__ import annotations

import csv
import dataclasses
import re
import tempfile
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from billing.compare.model import (
    CompareOptions,
    OffpeakFigures,
    PlanResult,
    PriceChangeFigures,
    TraceSummary,
    WhatIf,
)
from billing.compare.offpeak import OffpeakResult, offpeak_notes, offpeak_shift
from billing.compare.parallel import check_currencies, rate_plans
from billing.compare.report import ComparisonReport
from billing.compare.supplier import time_of_day_notes
from billing.compare.whatif import (
    ScaledCostBook,
    apply_cache_hit_rate,
    matched_models,
    price_change_notes,
)
from billing.costs import CostBook
from billing.errors import RatingError, TraceError, UnknownModelError
from billing.money import ZERO, exact, in_exact_context
from billing.plans import Plan, PlanCatalog
from billing.plans.model import CapacityCharge
from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.aggregates import UsageAggregates
from billing.usage.mapping import TraceSpec
from billing.usage.results import TraceResult

__all__ = ["check_currencies", "compare", "is_synthetic", "rate_plans"]


def is_synthetic(path: Path) -> bool:
    """True when a Parquet trace's key-value metadata says ``synthetic=true``."""
    name = path.name.lower()
    if not name.endswith((".parquet", ".pq")):
        return False
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, ValueError):
        return False
    value = metadata.get(b"synthetic", b"").decode("utf-8", "replace").strip().lower()
    return value in {"true", "1", "yes"}


def _top_reason(rejects: Path) -> str:
    """The most frequent reject reason (timestamps and values stripped), for one-line errors."""
    counts: Counter[str] = Counter()
    try:
        with rejects.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                counts[re.sub(r"'[^']*'", "'...'", row.get("reason", ""))] += 1
    except OSError:
        return "unknown (no rejects file)"
    if not counts:
        return "none recorded"
    reason, n = counts.most_common(1)[0]
    return f"{reason} ({n} rows)"


def _total_tokens(aggregates: UsageAggregates) -> int:
    import pyarrow.compute as pc

    table = aggregates.daily_arrow()
    return sum(int(pc.sum(table.column(c)).as_py() or 0)
               for c in ("input", "cached_input", "cache_write", "output"))


def _trace_notes(spec: TraceSpec, trace: TraceResult) -> list[str]:
    notes: list[str] = []
    if spec.model is not None:
        notes.append(f"the trace has no model: every event is priced as {spec.model!r}")
    if spec.model_map:
        pairs = ", ".join(f"{k}={v}" for k, v in spec.model_map.items())
        notes.append(f"models mapped from the trace's column: {pairs}")
    if spec.assume_tz:
        notes.append(f"naive timestamps read as {spec.assume_tz}")
    if spec.timestamp_unit != "iso":
        origin = spec.time_origin.isoformat() if spec.time_origin else "1970-01-01T00:00:00+00:00"
        notes.append(f"timestamps are {spec.timestamp_unit} counted from {origin}")
    if spec.round_tokens:
        notes.append("fractional token counts rounded half-up to whole tokens")
    if spec.skip_when:
        cond = ", ".join(f"{k}={v}" for k, v in spec.skip_when.items())
        notes.append(f"rows with {cond} carry no token figures: {trace.stats.skipped} skipped "
                     "(reported, not zeroed)")
    if trace.stats.derived_ids:
        notes.append("the trace has no event id column: ids derived from file name and row")
    notes += trace.stats.input_notes()  # token fields absent from the file, counted as 0
    return notes


@in_exact_context
def compare(plans: PlanCatalog | Iterable[Plan], spec: TraceSpec, *, costbook: CostBook,
            options: CompareOptions | None = None) -> ComparisonReport:
    """Rate the trace of ``spec`` under every plan (the latest version of each catalog plan),
    as if every customer of the trace were on it, and price the same tokens at supplier cost.

    Raises :class:`~billing.errors.TraceError` (bad trace or mapping),
    :class:`~billing.errors.UnknownModelError` (a model the cost book does not price, with the
    closest names) and :class:`~billing.errors.RatingError` (a plan in another currency without
    an ``fx`` rate, a plan that cannot rate a model).
    """
    options = options or CompareOptions()
    plan_list = list(plans)
    if isinstance(plans, PlanCatalog) and not options.plan_paths:
        paths = {p.id: plans.sources[(p.id, p.version)] for p in plan_list
                 if (p.id, p.version) in plans.sources}
        options = dataclasses.replace(options, plan_paths=paths)
    if not plan_list:
        raise RatingError("no plan to compare")
    check_currencies(plan_list, costbook.currency, options.fx)
    models = [spec.model] if spec.model else list((spec.model_map or {}).values())
    for model in models:
        if not costbook.knows(model):
            costbook.lookup(model, datetime.now().date())  # raises with the closest names
            raise UnknownModelError(f"no supplier price for model {model!r}")  # pragma: no cover
    # Rater.needs_hourly, without compiling the plans twice: capacity charges need hours.
    hourly = any(isinstance(c, CapacityCharge) for p in plan_list for c in p.charges)
    with tempfile.TemporaryDirectory() as scratch:
        rejects_path = options.rejects_path or Path(scratch) / "rejects.csv"
        trace = aggregate_trace(spec, thresholds=costbook.thresholds(), hourly=hourly,
                                rejects_path=rejects_path, engine=options.engine,
                                time_of_day=costbook.time_of_day_edges)
        if trace.stats.events == 0:
            where = f"; all of them in {rejects_path}" if options.rejects_path else ""
            raise TraceError(f"{spec.path}: no valid usage event to compare: "
                             f"{trace.stats.rejected} rows rejected, {trace.stats.skipped} "
                             f"skipped; most common reason: {_top_reason(rejects_path)}{where}")
    if options.rejects_path is None:
        trace = dataclasses.replace(trace, rejects_path=None)
    what_if_notes: list[str] = []
    what_if: WhatIf | None = None
    moved = 0
    if trace.aggregates.tiers is not None:  # usage of service tiers other than standard
        options, tier_notes = _tiers_check(options, spec, trace)
        what_if_notes += tier_notes
    apart = [p.id for p in plan_list if p.reasoning_rates()]
    if apart and options.break_even:  # (the search's representative usage has no reasoning)
        options = dataclasses.replace(options, break_even=False)
        what_if_notes.append("break-even prices not computed: the search does not model "
                             f"reasoning priced apart yet ({', '.join(apart)})")
    if options.cache_hit_rate is not None:
        aggregates, moved = apply_cache_hit_rate(trace.aggregates, options.cache_hit_rate,
                                                 trace=str(spec.path))
        trace = dataclasses.replace(trace, aggregates=aggregates)
        what_if_notes.append(
            f"assumption: cache hit rate {options.cache_hit_rate} (--cache-hit-rate): the trace "
            f"has no cache data; round({options.cache_hit_rate} x fresh input) of every "
            f"aggregate row moved to cached input ({moved:,} tokens), for every plan and the cost")
    results = rate_plans(plan_list, trace, costbook=costbook, options=options)
    what_if_notes[:0] = time_of_day_notes(costbook, trace)
    if options.price_changes:
        changed_book = ScaledCostBook(costbook, options.price_changes)
        changed = rate_plans(plan_list, trace, costbook=changed_book, options=options)
        results = [_with_price_change(base, after) for base, after in
                   zip(results, changed, strict=True)]
        what_if_notes += price_change_notes(options.price_changes, trace.stats.models)
        matched = matched_models(options.price_changes, trace.stats.models)
        what_if = WhatIf(
            cache_hit_rate=options.cache_hit_rate, cached_tokens_moved=moved,
            price_changes=tuple((c, tuple(m)) for c, m in matched.items()),
            baseline_cost=results[0].cost if results else None,
            changed_cost=changed[0].cost if changed else None,
        )
    elif options.cache_hit_rate is not None:
        what_if = WhatIf(cache_hit_rate=options.cache_hit_rate, cached_tokens_moved=moved)
    if options.offpeak_shifts:
        shifted = offpeak_shift(trace.aggregates, costbook, options.offpeak_shifts,
                                trace.stats.models)
        hourly_plans = {p.id for p in plan_list
                        if any(isinstance(c, CapacityCharge) for c in p.charges)}
        results = [r if r.id in hourly_plans else _with_offpeak(r, shifted) for r in results]
        skipped = tuple(r.id for r in results if r.id in hourly_plans)
        what_if_notes += offpeak_notes(shifted, skipped)
        what_if = dataclasses.replace(
            what_if or WhatIf(cache_hit_rate=options.cache_hit_rate, cached_tokens_moved=moved),
            offpeak=shifted, offpeak_baseline_cost=results[0].cost if results else None,
            offpeak_not_modelled=skipped)
    usage_tokens = _total_tokens(trace.aggregates)
    stats = trace.stats
    summary = TraceSummary(
        path=str(spec.path), events=stats.events, customers=stats.customers,
        rejected=stats.rejected, skipped=stats.skipped, start=stats.start, end=stats.end,
        tokens=usage_tokens, models=stats.models, synthetic=is_synthetic(Path(spec.path)),
        derived_ids=stats.derived_ids,
    )
    day = trace.stats.start.date() if trace.stats.start else datetime.now().date()
    priced = [costbook.reasoning_note(m, day) for m in trace.stats.models]
    notes = [*_trace_notes(spec, trace), *(n for n in priced if n), *options.notes,
             *what_if_notes]
    if summary.synthetic:
        notes.insert(0, "SYNTHETIC trace (its metadata says synthetic=true): not measured usage")
    return ComparisonReport(trace=summary, currency=costbook.currency, plans=tuple(results),
                            notes=tuple(notes), rejects_path=trace.rejects_path, what_if=what_if)


def _tiers_check(options: CompareOptions, spec: TraceSpec, trace: TraceResult
                 ) -> tuple[CompareOptions, list[str]]:
    """A trace with service tiers other than standard: the what-ifs that do not model tiers
    yet are refused, and the break-even search is left out with a note."""
    refused = [flag for flag, asked in (
        ("--cache-hit-rate", options.cache_hit_rate is not None),
        ("--supplier-price-change", bool(options.price_changes)),
        ("--offpeak-shift", bool(options.offpeak_shifts))) if asked]
    tiers = ", ".join(f"{tier} {n:,} events" for tier, n in trace.stats.service_tiers)
    if refused:
        raise TraceError(f"{spec.path}: {', '.join(refused)} cannot model usage of service "
                         f"tiers other than standard yet (the trace has {tiers})")
    notes = []
    if options.break_even:
        options = dataclasses.replace(options, break_even=False)
        notes.append(f"break-even prices not computed: the search does not model service tiers "
                     f"yet (the trace has {tiers})")
    return options, notes


def _with_offpeak(base: PlanResult, shifted: OffpeakResult) -> PlanResult:
    """The baseline figures, with the off-peak shift's beside: cost changes, revenue stays."""
    change = shifted.by_customer
    negative = sum(1 for c in base.customers
                   if c.revenue - (c.cost + change.get(c.customer_id, ZERO)) < 0)
    return dataclasses.replace(base, offpeak_shift=OffpeakFigures(
        cost=base.cost + shifted.cost_change, revenue=base.revenue,
        negative_margin_customers=negative, margin_change=-shifted.cost_change))


def _with_price_change(base: PlanResult, after: PlanResult) -> PlanResult:
    """The baseline figures, with the same plan rated at the changed supplier prices beside."""
    keep_margin = None if not base.cost else exact(after.cost * base.revenue / base.cost)
    return dataclasses.replace(base, break_even_after_change=after.break_even,
                               price_change=PriceChangeFigures(
        cost=after.cost, keep_price_revenue=after.revenue,
        keep_price_negative_customers=after.negative_margin_customers,
        keep_margin_revenue=keep_margin,
    ))
