"""What-if: a share of a time-of-day model's usage moved into the day's cheapest price window.

For a model whose supplier price depends on the time of day (DeepSeek's off-peak window), a share
of the usage outside the day's cheapest window is moved into it, the same customer, long-context
band and UTC day (:class:`OffpeakShift`, :func:`offpeak_shift`): supplier cost changes, plans
that bill daily usage bill the same (capacity plans bill the hour of use: not modelled, their
figures are left out by the comparison). Exact: ``Decimal`` money, integer tokens.
"""

from __future__ import annotations

import decimal
import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from billing.costs import CostBook
from billing.costs.model import ModelCost, price_tokens
from billing.errors import CostBookError
from billing.money import ZERO, in_exact_context
from billing.usage.aggregates import UsageAggregates
from billing.usage.keys import day_of

__all__ = ["OffpeakResult", "OffpeakShift", "offpeak_notes", "offpeak_shift"]


@dataclass(frozen=True, slots=True)
class OffpeakShift:
    """``share`` (0 to 1) of the usage of time-of-day models matching ``models`` (a glob,
    case-insensitive) that falls outside the day's cheapest price window moves into it."""

    models: str
    share: Decimal

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("the model glob is empty")
        if not self.share.is_finite() or not 0 <= self.share <= 1:
            raise ValueError(f"share {self.share} must be between 0 and 1 (0% to 100%)")

    def matches(self, model: str) -> bool:
        return fnmatch.fnmatchcase(model.lower(), self.models.lower())

    @classmethod
    def parse(cls, text: str) -> OffpeakShift:
        """``'30%'`` (every time-of-day model), ``'0.3'``, ``'deepseek-*=30%'``; ValueError
        if bad."""
        glob, sep, value = (part.strip() for part in text.rpartition("="))
        if sep and not glob:
            raise ValueError("the model glob before '=' is empty")
        if not value:
            raise ValueError("write SHARE or MODELGLOB=SHARE, e.g. '30%' or 'deepseek-*=0.3'")
        number = value[:-1].strip() if value.endswith("%") else value
        try:
            share = Decimal(number)
        except decimal.InvalidOperation:
            raise ValueError(f"SHARE {value!r} is not a percentage or a fraction "
                             "(e.g. 30% or 0.3)") from None
        if value.endswith("%"):
            share = share / 100
        if not share.is_finite() or not 0 <= share <= 1:
            raise ValueError(f"SHARE {value} must be between 0% and 100% (0 to 1)")
        return cls(glob if sep else "*", share)

    def label(self) -> str:
        return f"{self.models} {format((self.share * 100).normalize(), 'f')}%"


@dataclass(frozen=True, slots=True)
class OffpeakResult:
    """What an off-peak shift does to supplier cost (exact, USD); revenue of plans that bill
    daily usage does not change (the usage stays on its UTC day)."""

    shifts: tuple[tuple[OffpeakShift, tuple[str, ...]], ...]
    """Each shift with the trace's time-of-day models it applies to."""
    tokens_moved: int
    cost_change: Decimal
    """Supplier cost after - before (negative: cheaper)."""
    by_customer: Mapping[str, Decimal]
    """Each customer's cost change (customers without one: 0)."""
    windows: Mapping[str, str]
    """Each model applied to: its cheapest window(s), in words (the trace's first day)."""


def _window_text(windows: Sequence[tuple[int, ModelCost]], cheapest: ModelCost) -> str:
    from billing.costs.book import same_prices
    from billing.costs.genai import window_spans

    return ", ".join(span for span, level in window_spans(windows)
                     if same_prices(level, cheapest))


@in_exact_context
def offpeak_shift(aggregates: UsageAggregates, costbook: CostBook,
                  shifts: Sequence[OffpeakShift], models: Sequence[str]) -> OffpeakResult:
    """Move ``share`` of every time-of-day row of a matching model that is not in its day's
    cheapest window into that window (same customer, model, long-context band and UTC day):
    ``round_half_up(share x tokens)`` of each token class of the row, priced at the cheapest
    window's prices instead of its own. The first matching shift applies to a model.

    The cheapest window is the one whose prices are at most every other window's, class by
    class; a :class:`~billing.errors.CostBookError` names the model and day when no window is
    (one class cheaper at night, another by day). ``models``: the trace's models.
    """
    from billing.compare.supplier import TimeOfDayRows
    from billing.costs.book import same_prices

    applied: dict[OffpeakShift, list[str]] = {s: [] for s in shifts}
    shift_of: dict[str, OffpeakShift] = {}
    for model in models:
        first = next((s for s in shifts if s.matches(model)), None)
        if first is not None and costbook.time_of_day_edges(model):
            applied[first].append(model)
            shift_of[model] = first
    table = aggregates.time_of_day
    if shift_of and table is None:
        raise CostBookError(f"the off-peak shift needs time-of-day rows of "
                            f"{', '.join(sorted(shift_of))} (aggregate with time_of_day=)")
    rows = TimeOfDayRows(table) if table is not None and shift_of else None
    by_customer: dict[str, Decimal] = {}
    moved_tokens = 0
    windows_text: dict[str, str] = {}
    cheapest_of: dict[tuple[str, int, int], ModelCost] = {}
    for i in range(len(rows) if rows is not None else 0):
        assert rows is not None
        model = rows.model[i]
        shift = shift_of.get(model)
        if shift is None:
            continue
        band, day = rows.band[i], rows.day[i]
        key = (model, band, day)
        cheapest = cheapest_of.get(key)
        if cheapest is None:
            cheapest = cheapest_of[key] = _cheapest(costbook, model, band, day)
            if model not in windows_text:
                windows_text[model] = (f"{_window_text(costbook.windows(model, day_of(day)), cheapest)}"
                                       f" UTC on {day_of(day)}")
        own = costbook.level(model, band, day_of(day), time_of_day=rows.since[i])
        if same_prices(own, cheapest):
            continue
        moved = tuple(int((shift.share * rows.tokens[k][i]).to_integral_value(
            rounding=ROUND_HALF_UP)) for k in range(4))
        change = (price_tokens(cheapest.prices(), moved)[1]  # type: ignore[arg-type]
                  - price_tokens(own.prices(), moved)[1])  # type: ignore[arg-type]
        customer = rows.customer[i]
        by_customer[customer] = by_customer.get(customer, ZERO) + change
        moved_tokens += sum(moved)
    return OffpeakResult(
        shifts=tuple((s, tuple(m)) for s, m in applied.items()), tokens_moved=moved_tokens,
        cost_change=sum(by_customer.values(), ZERO), by_customer=by_customer,
        windows=windows_text)


def offpeak_notes(result: OffpeakResult, not_modelled: Sequence[str]) -> list[str]:
    """One note per shift (what it moves, where to, which models), and one on what it does not
    model."""
    notes = []
    for shift, models in result.shifts:
        if not models:
            notes.append(f"what-if: off-peak shift {shift.label()}: applies to no model of the "
                         "trace (none matching has prices that depend on the time of day)")
            continue
        where = "; ".join(f"{m}: cheapest window {result.windows[m]}" if m in result.windows
                          else f"{m}: no usage outside its cheapest window" for m in models)
        notes.append(
            f"what-if: off-peak shift {shift.label()}: that share of each time-of-day row "
            "outside the day's cheapest price window (each token class, rounded half-up) is "
            f"moved into it, the same customer and UTC day ({where}); "
            f"{result.tokens_moved:,} tokens moved in all")
    notes.append("what-if: off-peak shift: revenue is unchanged (plans bill the usage of the "
                 "day, and cost-plus the day's price); only supplier cost changes"
                 + (f"; not modelled for {', '.join(not_modelled)} (capacity charges bill the "
                    "hour of use, which the shift changes)" if not_modelled else ""))
    return notes


def _cheapest(costbook: CostBook, model: str, band: int, day: int) -> ModelCost:
    """The prices of ``model``'s cheapest window on ``day`` in ``band`` (at most every other
    window's, class by class)."""
    levels = [costbook.level(model, band, day_of(day), time_of_day=start)
              for start, _ in costbook.windows(model, day_of(day))]
    for level in levels:
        if all(all(a <= b for a, b in zip(level.prices(), other.prices(), strict=True))
               for other in levels):
            return level
    raise CostBookError(
        f"{model} on {day_of(day)}: no price window is the cheapest for every token class, "
        "so there is no one off-peak window to move usage into")
