"""The default supplier prices: the data bundled with the installed ``genai-prices`` package.

Read from the package's own data module, never fetched at run time (genai-prices can auto-update
from the network; this module never calls that). How its data maps onto :class:`ModelCost`:

- ``input_mtok``, ``cache_read_mtok``, ``cache_write_mtok``, ``output_mtok`` become ``input``,
  ``cached_input``, ``cache_write``, ``output``. A missing cache price falls back to the input
  price, which is what genai-prices itself does (it then counts those tokens as input tokens).
  Other price keys (1-hour cache writes, audio, images, web searches, per-request fees, a separate
  reasoning-output price) are not token classes of this library and are left out. Reasoning
  tokens are therefore costed at the output price, as the providers bill them; the bundled data
  has a separate ``output_reasoning_mtok`` for Perplexity's ``sonar-deep-research`` only (3 per
  1M against 8 for output), whose reasoning tokens this overstates: :meth:`GenaiPrices.reasoning_price`
  reads it so that the cost book can say so (``CostBook.reasoning_note``, a note in ``billing
  compare``'s report; docs/providers.md).
- ``TieredPrices`` (``base`` + ``tiers[start, price]``): genai-prices applies a tier to the WHOLE
  request once the request's total input tokens (fresh + cache reads + cache writes) exceed
  ``start`` (strictly greater), separately for each price key; a key without tiers keeps its base
  price above the threshold. Each distinct ``start`` becomes one ``long_context_threshold`` level.
- Conditional prices: ``StartDateConstraint`` versions are resolved by genai-prices' own rule (the
  last version whose start date is <= the day). ``TimeOfDateConstraint`` (off-peak hours, e.g.
  DeepSeek): :meth:`GenaiPrices.time_of_day_edges` gives the times of day (microseconds after
  UTC midnight) where a model's price may change, and a lookup with ``time_us`` gives the price
  in force at that time of day, by genai-prices' own rule (the last price whose constraint is
  active). A lookup without a time (daily usage: the Rater, cost-plus charges) takes the price
  in force for the most minutes of that UTC day, and the ``source`` says so.
- Request-context variants (batch, flex, priority service tiers) give the standard prices of
  :meth:`GenaiPrices.lookup`; :meth:`GenaiPrices.tier_lookup` reads a model's own price for a
  tier (``processing: batch``, ``service_tier: flex|priority``) when one is in force that day.
- Lookup: genai-prices' own matching first (the provider whose name rule claims the model, then
  its models' match rules and fallback providers); for a model no provider claims by name (open
  models sold by many hosts, e.g. ``llama-3.3-70b-versatile``), the first provider in
  genai-prices' order that lists a matching model, else one whose model id is that name.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator, Sequence
from copy import copy
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from importlib.metadata import version
from typing import Any

from genai_prices.types import ModelPrice, TieredPrices, TimeOfDateConstraint

from billing.costs.model import ModelCost
from billing.errors import CostBookError
from billing.money import ZERO, D
from billing.usage.keys import DAY_US

__all__ = ["GenaiPrices", "clock_text", "window_spans"]

_KEYS = {
    "input": "input_mtok",
    "cached_input": "cache_read_mtok",
    "cache_write": "cache_write_mtok",
    "output": "output_mtok",
}


_DAY_US = DAY_US


def _micros_of_day(bound: time) -> int:
    """``bound``, a time of day, as microseconds after UTC midnight (naive: UTC; with a zone:
    converted as on 1970-01-01, as genai-prices compares them)."""
    if bound.tzinfo is not None:
        bound = datetime.combine(date(1970, 1, 1), bound).astimezone(UTC).timetz()
    return ((bound.hour * 60 + bound.minute) * 60 + bound.second) * 1_000_000 + bound.microsecond


def _minute_at_or_after(bound: time) -> int:
    """The first minute of the UTC day (0-1440) starting at or after ``bound``, a time of day
    (naive: UTC; with a zone: converted as on 1970-01-01, as genai-prices compares them)."""
    if bound.tzinfo is not None:
        bound = datetime.combine(date(1970, 1, 1), bound).astimezone(UTC).timetz()
    micros = ((bound.hour * 60 + bound.minute) * 60 + bound.second) * 1_000_000 + bound.microsecond
    return -(-micros // 60_000_000)


class GenaiPrices:
    """Supplier prices from genai-prices' bundled snapshot (see the module docstring)."""

    def __init__(self) -> None:
        from genai_prices.data import providers
        from genai_prices.data_snapshot import DataSnapshot

        self._providers: list[Any] = list(providers)
        self._snapshot = DataSnapshot(providers=self._providers, from_auto_update=False)
        self.label = f"genai-prices {version('genai-prices')}"
        self._resolved: dict[str, tuple[Any, Any] | None] = {}
        self._costs: dict[tuple[str, str, date, int | None], ModelCost] = {}

    @staticmethod
    @cache
    def bundled() -> GenaiPrices:
        """The one shared instance (the data is immutable; building it takes ~0.1 s)."""
        return GenaiPrices()

    # -- names ---------------------------------------------------------------------------------

    def _resolve(self, model: str) -> tuple[Any, Any] | None:
        key = model.lower()
        if key in self._resolved:
            return self._resolved[key]
        found: tuple[Any, Any] | None
        try:
            found = self._snapshot.find_provider_model(key, None, None, None)
        except LookupError:
            found = self._scan(key)
        self._resolved[key] = found
        return found

    def _scan(self, key: str) -> tuple[Any, Any] | None:
        """First provider listing a model whose match rule accepts ``key``, else whose id is it."""
        for provider in self._providers:
            for info in provider.models:
                if info.is_match(key):
                    return provider, info
        for provider in self._providers:
            for info in provider.models:
                if str(info.id).lower() == key:
                    return provider, info
        return None

    def knows(self, model: str) -> bool:
        return self._resolve(model) is not None

    def names(self) -> Iterator[str]:
        """Every model id in the data (for "did you mean" suggestions)."""
        for provider in self._providers:
            for info in provider.models:
                yield str(info.id)

    # -- prices --------------------------------------------------------------------------------

    def time_of_day_edges(self, model: str) -> tuple[int, ...]:
        """The times of day (microseconds after UTC midnight, ascending, never 0) at which the
        price of ``model`` may change on some day: the bounds of its ``TimeOfDateConstraint``
        prices (every dated version's); ``()`` for a model with one price all day."""
        found = self._resolve(model)
        if found is None:
            return ()
        _, info = found
        bounds = {
            _micros_of_day(bound)
            for constraint in itertools.chain(
                () if isinstance(info.prices, ModelPrice) else (c.constraint for c in info.prices),
                (v.constraint for v in info.price_variants or ()))
            if isinstance(constraint, TimeOfDateConstraint)
            for bound in (constraint.start_time, constraint.end_time)}
        return tuple(sorted(bounds - {0}))

    def lookup(self, model: str, at: date, time_us: int | None = None) -> ModelCost | None:
        """The prices in force on ``at`` for ``model``, or ``None`` if genai-prices lacks it.

        ``time_us``: the time of day (microseconds after UTC midnight) the tokens were used;
        ``None`` (daily usage) takes, for a time-of-day model, the price in force for the most
        minutes of the day (see the module docstring)."""
        found = self._resolve(model)
        if found is None:
            return None
        provider, info = found
        timed = time_us if time_us is not None and self.time_of_day_edges(model) else None
        cache_key = (str(provider.id), str(info.id), at, timed)
        if cache_key not in self._costs:
            prices, note = self._prices_on(info, at, timed)
            self._costs[cache_key] = self._to_model_cost(
                str(info.id), str(provider.id), prices, f"{self.label}{note}"
            )
        return self._costs[cache_key]

    def reasoning_price(self, model: str, at: date) -> Decimal | None:
        """The separate reasoning-output price (per 1M, base level) genai-prices lists for
        ``model`` on ``at``, or None (reasoning at the output price, as nearly every supplier
        bills it). This library costs reasoning as output (see the module docstring)."""
        found = self._resolve(model)
        if found is None:
            return None
        prices, _ = self._prices_on(found[1], at)
        return _price_above(getattr(prices, "output_reasoning_mtok", None), None)

    def tier_lookup(self, model: str, at: date, tier: str,
                    time_us: int | None = None) -> ModelCost | None:
        """The model's own published prices for service ``tier`` on ``at`` (genai-prices'
        price variants in force that day, at ``time_us`` after UTC midnight when given), or
        ``None`` when the data has none."""
        found = self._resolve(model)
        if found is None:
            return None
        provider, info = found
        context = {"processing": "batch"} if tier == "batch" else {"service_tier": tier}
        timed = time_us if time_us is not None and self.time_of_day_edges(model) else None
        moment = _moment(at, timed)
        overrides: dict[str, Any] = {}
        for variant in info.price_variants or ():
            if variant.constraint is not None and not variant.constraint.active(moment):
                continue
            if not variant.when or any(context.get(k) != v for k, v in variant.when.items()):
                continue
            for key, price in variant.prices.__dict__.items():
                if price is not None:
                    overrides.setdefault(key, price)
        if not any(overrides.get(key) is not None for key in _KEYS.values()):
            return None
        prices, note = self._prices_on(info, at, timed)
        resolved = copy(prices)
        resolved.__dict__.update(overrides)
        return self._to_model_cost(str(info.id), str(provider.id), resolved,
                                   f"{self.label} {tier} price{note}")

    def _prices_on(self, info: Any, at: date, time_us: int | None = None) -> tuple[Any, str]:
        if isinstance(info.prices, ModelPrice):
            return info.prices, ""
        timed = any(isinstance(c.constraint, TimeOfDateConstraint) for c in info.prices)
        midnight = datetime.combine(at, time(0, 0), tzinfo=UTC)
        if not timed:
            return info.get_prices(midnight), ""
        if time_us is not None:
            return (info.get_prices(_moment(at, time_us)),
                    f" (time-of-day price in force at {clock_text(time_us)} UTC)")
        # Off-peak prices: daily aggregates cannot tell the hour, so take the price in force for
        # the most minutes of the day (ties: the earliest in the day).
        # The price can change only at the constraints' start and end times: every minute from
        # one of those to the next has the price of the first (a minute counts from its start).
        votes: Counter[int] = Counter()
        by_id: dict[int, Any] = {}
        breaks = sorted({0, 24 * 60, *(
            _minute_at_or_after(bound) for c in info.prices
            if isinstance(c.constraint, TimeOfDateConstraint)
            for bound in (c.constraint.start_time, c.constraint.end_time))})
        for start, end in itertools.pairwise(breaks):
            chosen = info.get_prices(midnight + timedelta(minutes=start))
            by_id.setdefault(id(chosen), chosen)
            votes[id(chosen)] += end - start
        winner, minutes = votes.most_common(1)[0]
        return by_id[winner], f" (time-of-day prices: the one in force {minutes} min of the day)"

    def _to_model_cost(self, model: str, provider: str, prices: Any, source: str) -> ModelCost:
        raw = {ours: getattr(prices, theirs, None) for ours, theirs in _KEYS.items()}
        if raw["input"] is None and raw["output"] is None:
            raise CostBookError(
                f"genai-prices prices {provider}/{model} by other units than input/output tokens; "
                "add it to a cost file to price its tokens"
            )
        starts = sorted(
            {tier.start for v in raw.values() if isinstance(v, TieredPrices) for tier in v.tiers}
        )
        levels: list[int | None] = [None, *starts]
        built: ModelCost | None = None
        for index in reversed(range(len(levels))):
            above = levels[index]
            threshold = levels[index + 1] if index + 1 < len(levels) else None
            at_level = {name: _price_above(v, above) for name, v in raw.items()}
            base_input = at_level["input"] if at_level["input"] is not None else ZERO
            built = ModelCost(
                model=model,
                provider=provider,
                input=base_input,
                cached_input=_or(at_level["cached_input"], base_input),
                cache_write=_or(at_level["cache_write"], base_input),
                output=_or(at_level["output"], ZERO),
                long_context_threshold=threshold,
                long=built,
                source=source,
            )
        assert built is not None
        return built

    def thresholds(self) -> frozenset[int]:
        """Every tier start of the four token prices, over all models and all dated versions."""
        out: set[int] = set()
        for provider in self._providers:
            for info in provider.models:
                versions = (
                    [info.prices] if isinstance(info.prices, ModelPrice)
                    else [c.prices for c in info.prices]
                )
                for prices in versions:
                    for key in _KEYS.values():
                        value = getattr(prices, key, None)
                        if isinstance(value, TieredPrices):
                            out.update(tier.start for tier in value.tiers)
        return frozenset(out)


def _moment(at: date, time_us: int | None) -> datetime:
    """``at`` at ``time_us`` after UTC midnight (midnight for ``None``)."""
    if time_us is not None and not 0 <= time_us < _DAY_US:
        raise CostBookError(f"a time of day is 0 to 86,399,999,999 microseconds after UTC "
                            f"midnight, got {time_us}")
    return datetime.combine(at, time(0, 0), tzinfo=UTC) + timedelta(microseconds=time_us or 0)


def clock_text(time_us: int) -> str:
    """``HH:MM`` (``HH:MM:SS.ffffff`` when not on a whole minute) of a time of day."""
    seconds, micros = divmod(time_us, 1_000_000)
    minutes, second = divmod(seconds, 60)
    text = f"{minutes // 60:02d}:{minutes % 60:02d}"
    return text if not (second or micros) else f"{text}:{second:02d}.{micros:06d}"


def window_spans(windows: Sequence[tuple[int, ModelCost]]) -> list[tuple[str, ModelCost]]:
    """A day's price windows (each window's start, microseconds after UTC midnight, and its
    prices) as ``("HH:MM-HH:MM", prices)``, the last one ending at 24:00."""
    ends = [*(start for start, _ in windows[1:]), DAY_US]
    return [(f"{clock_text(start)}-{clock_text(end) if end < DAY_US else '24:00'}", level)
            for (start, level), end in zip(windows, ends, strict=True)]


def _or(value: Decimal | None, default: Decimal) -> Decimal:
    return default if value is None else value


def _price_above(value: Any, above: int | None) -> Decimal | None:
    """The price of one key for a prompt known to exceed ``above`` tokens (``None``: no tier)."""
    if value is None:
        return None
    if not isinstance(value, TieredPrices):
        return D(value)
    price = D(value.base)
    if above is not None:
        for tier in value.tiers:  # sorted by start (genai-prices sorts them)
            if tier.start <= above:
                price = D(tier.price)
    return price
