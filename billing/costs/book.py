"""The supplier cost book: what the product pays per model and token class, on a given day."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Final

from billing.costs.file import CostEntry, read_cost_file, read_service_tiers
from billing.costs.genai import GenaiPrices
from billing.costs.model import CostResult, ModelCost, price_counts
from billing.costs.tiers import DEFAULT_MULTIPLIERS, SERVICE_TIERS, ServiceTier, check_tiers, scaled
from billing.errors import CostBookError, UnknownModelError
from billing.usage.aggregates import Counts

__all__ = ["CostBook", "same_prices"]

UNKNOWN_PROVIDER: Final = "unknown"


class CostBook:
    """Supplier prices by model and date, in USD per 1M tokens; immutable once built.

    Lookup order: this book's own entries (the first glob, in file order, that matches the model
    and has a version in force: the one with the latest ``effective_from`` <= the day), then the
    ``base`` book, then, for :meth:`default`, the data bundled with genai-prices (never fetched).

    Prices: where a model has no cache-read (or cache-write) price, the input price applies to
    those tokens. Long context: when a request's prompt (input + cached input + cache writes) is
    above a model's ``long_context_threshold``, the WHOLE request is priced at the long prices, as
    suppliers bill it and as genai-prices models it (a "cliff", not a marginal tier).

    Bands: usage is aggregated by ``band``, the number of :meth:`thresholds` the prompt per request
    exceeded (0 for ordinary requests). A model whose threshold sits at index ``i`` of
    :meth:`thresholds` uses its long prices for ``band >= i + 1``, i.e. exactly when the prompt
    exceeded that threshold.

    Time of day: a model whose price depends on the time of day (genai-prices'
    ``TimeOfDateConstraint``, e.g. DeepSeek's off-peak window) has :meth:`time_of_day_edges`;
    every price method takes ``time_of_day`` (microseconds after UTC midnight) to price tokens
    used at that time, and :meth:`windows` lists a day's prices window by window. Without a time
    (daily usage) such a model is priced at the price in force for most of the UTC day, which
    its ``source`` says; supplier cost in ``billing compare`` never does that (it prices usage
    per price window, :mod:`billing.compare.supplier`).
    """

    currency: Final = "USD"

    def __init__(self, entries: Sequence[CostEntry] = (), *, base: CostBook | None = None,
                 service_tiers: Mapping[str, Mapping[str, Decimal]] | None = None) -> None:
        """A book of ``entries`` (which win) over ``base`` (``None``: no fallback at all).

        ``service_tiers``: ``{provider: {tier: multiplier}}`` of the standard prices, which win
        over ``base``'s and the built-in ones (:mod:`billing.costs.tiers`)."""
        self._entries = tuple(entries)
        self._base = base
        self._tiers = check_tiers(service_tiers or {})
        self._genai: GenaiPrices | None = None
        self._cache: dict[tuple[str, date, int | None], ModelCost] = {}
        self._thresholds: tuple[int, ...] | None = None

    @classmethod
    def default(cls) -> CostBook:
        """The prices bundled with the installed genai-prices package (no network access)."""
        book = cls()
        book._genai = GenaiPrices.bundled()
        return book

    @classmethod
    def load(cls, path: str | Path, *, base: CostBook | None = None) -> CostBook:
        """A user cost file (YAML or CSV, see :mod:`billing.costs.file`) over ``base``.

        ``base`` defaults to :meth:`default`. Raises
        :class:`~billing.costs.file.CostFileError` (a ``CostBookError``) listing every problem.
        """
        entries = read_cost_file(path)
        return cls(entries, base=cls.default() if base is None else base,
                   service_tiers=read_service_tiers(path))

    @property
    def entries(self) -> tuple[CostEntry, ...]:
        return self._entries

    @property
    def base(self) -> CostBook | None:
        """The book this one falls back to (``None``: no fallback)."""
        return self._base

    # -- lookup --------------------------------------------------------------------------------

    def lookup(self, model: str, at: date, *, time_of_day: int | None = None) -> ModelCost:
        """The prices in force for ``model`` on ``at`` (at ``time_of_day`` microseconds after
        UTC midnight, for a model whose price depends on it; ``None``: the price in force for
        most of the day).

        Raises :class:`~billing.errors.UnknownModelError` (listing the closest known names) when
        no entry, base book or bundled price knows the model.
        """
        key = (model, at, time_of_day)
        found = self._cache.get(key)
        if found is None:
            found = self._find(model, at, time_of_day)
            if found is None:
                raise UnknownModelError(self._unknown_message(model))
            self._cache[key] = found
        return found

    def _find(self, model: str, at: date, time_of_day: int | None = None) -> ModelCost | None:
        entry = self._entry_for(model, at)
        if entry is not None:
            return self._from_entry(entry, model, at)
        if self._base is not None:
            found = self._base._find(model, at, time_of_day)
            if found is not None:
                return found
        if self._genai is not None:
            return self._genai.lookup(model, at, time_of_day)
        return None

    def _genai_for(self, model: str, at: date) -> GenaiPrices | None:
        """The bundled prices that price ``model`` on ``at`` (None: a cost file does)."""
        if self._entry_for(model, at) is not None:
            return None
        if self._base is not None and self._base._find(model, at) is not None:
            return self._base._genai_for(model, at)
        return self._genai if self._genai is not None and self._genai.knows(model) else None

    def reasoning_note(self, model: str, at: date) -> str | None:
        """A note when the supplier lists reasoning tokens of ``model`` at a price of their own
        (genai-prices' ``output_reasoning_mtok``) other than the output price this book costs
        them at; None otherwise (or when a cost file prices the model)."""
        genai = self._genai_for(model, at)
        reasoning = None if genai is None else genai.reasoning_price(model, at)
        if reasoning is None:
            return None
        output = self.lookup(model, at).output
        if reasoning == output:
            return None
        return (f"{model}: genai-prices lists its reasoning tokens at {reasoning} per 1M against "
                f"{output} for output; supplier cost prices all output at {output}, so it is "
                f"off by up to {output - reasoning} per 1M reasoning tokens (price the model in "
                "a cost file to set its output price)")

    def time_of_day_edges(self, model: str) -> tuple[int, ...]:
        """The times of day (microseconds after UTC midnight, ascending, never 0) at which the
        supplier price of ``model`` may change on some day; ``()`` for a model priced the same
        all day. A superset is safe (usage is split at every edge, each piece priced on its
        own): the edges of the base book and of the bundled prices, whether or not a cost-file
        entry (one price all day) overrides them on some days."""
        found: set[int] = set()
        if self._base is not None:
            found.update(self._base.time_of_day_edges(model))
        if self._genai is not None:
            found.update(self._genai.time_of_day_edges(model))
        return tuple(sorted(found))

    def windows(self, model: str, at: date, tier: ServiceTier = "standard"
                ) -> tuple[tuple[int, ModelCost], ...]:
        """``model``'s prices on ``at`` window by window: ``(start, prices)`` with ``start`` in
        microseconds after UTC midnight, ascending from 0, each in force until the next start
        (the last until midnight); adjacent windows with equal prices are merged. One window
        for a model priced the same all day."""
        out: list[tuple[int, ModelCost]] = []
        for start in (0, *self.time_of_day_edges(model)):
            prices = self.tier_prices(model, at, tier, time_of_day=start)
            if not out or not same_prices(out[-1][1], prices):
                out.append((start, prices))
        return tuple(out)

    def _entry_for(self, model: str, at: date) -> CostEntry | None:
        name = model.lower()
        patterns: list[str] = []
        for entry in self._entries:
            pattern = entry.model.lower()
            if pattern not in patterns and fnmatch.fnmatchcase(name, pattern):
                patterns.append(pattern)
        for pattern in patterns:
            in_force = [
                e for e in self._entries if e.model.lower() == pattern and e.effective_from <= at
            ]
            if in_force:
                return max(in_force, key=lambda e: e.effective_from)
        return None

    def _from_entry(self, entry: CostEntry, model: str, at: date) -> ModelCost:
        provider = entry.provider
        if provider is None:
            inherited = self._base._find(model, at) if self._base is not None else None
            if inherited is None and self._genai is not None:
                inherited = self._genai.lookup(model, at)
            provider = inherited.provider if inherited is not None else UNKNOWN_PROVIDER
        cached = entry.input if entry.cached_input is None else entry.cached_input
        write = entry.input if entry.cache_write is None else entry.cache_write
        long: ModelCost | None = None
        if entry.long_context_threshold is not None and entry.long_input is not None:
            long_input = entry.long_input
            long = ModelCost(
                model=entry.model,
                provider=provider,
                input=long_input,
                cached_input=_first(entry.long_cached_input, entry.cached_input, long_input),
                cache_write=_first(entry.long_cache_write, entry.cache_write, long_input),
                output=_first(entry.long_output, entry.output),
                source=entry.source,
            )
        return ModelCost(
            model=entry.model,
            provider=provider,
            input=entry.input,
            cached_input=cached,
            cache_write=write,
            output=entry.output,
            long_context_threshold=entry.long_context_threshold if long is not None else None,
            long=long,
            source=entry.source,
        )

    def knows(self, model: str) -> bool:
        """Whether :meth:`lookup` can price ``model`` on some day (a cost-file entry may still
        start later than the day asked)."""
        name = model.lower()
        if any(fnmatch.fnmatchcase(name, e.model.lower()) for e in self._entries):
            return True
        if self._base is not None and self._base.knows(model):
            return True
        return self._genai is not None and self._genai.knows(model)

    def _names(self) -> Iterator[str]:
        for entry in self._entries:
            yield entry.model
        if self._base is not None:
            yield from self._base._names()
        if self._genai is not None:
            yield from self._genai.names()

    def _unknown_message(self, model: str) -> str:
        by_lower: dict[str, str] = {}
        for name in self._names():
            by_lower.setdefault(name.lower(), name)
        close = difflib.get_close_matches(model.lower(), list(by_lower), n=5, cutoff=0.6)
        hint = (
            "closest known: " + ", ".join(by_lower[c] for c in close)
            if close else "no similar name is known"
        )
        return (
            f"no supplier price for model {model!r} ({hint}); add it to a cost file "
            "(--costs, see examples/costbook.yaml) or map it to a known model"
        )

    # -- long context and cost -----------------------------------------------------------------

    def thresholds(self) -> tuple[int, ...]:
        """Sorted distinct long-context thresholds of every model this book knows (the band
        edges for aggregation)."""
        if self._thresholds is None:
            found: set[int] = set()
            for entry in self._entries:
                if entry.long_context_threshold is not None:
                    found.add(entry.long_context_threshold)
            if self._base is not None:
                found.update(self._base.thresholds())
            if self._genai is not None:
                found.update(self._genai.thresholds())
            self._thresholds = tuple(sorted(found))
        return self._thresholds

    def cost(self, model: str, counts: Counts, band: int, at: date,
             tier: ServiceTier = "standard", *, time_of_day: int | None = None) -> CostResult:
        """The exact cost (USD, unrounded) of ``counts`` tokens of ``model`` used on ``at``.

        ``band``: how many of :meth:`thresholds` the requests' prompt per request exceeded; the
        model's long prices apply when that includes the model's own threshold. ``tier``: the
        service tier the tokens were served in (:meth:`tier_prices`). ``time_of_day``: when in
        the UTC day they were used (microseconds after midnight; see :meth:`lookup`).
        ``amount`` equals the sum of ``by_class``.
        """
        return price_counts(self.level(model, band, at, tier, time_of_day=time_of_day), counts)

    def tier_prices(self, model: str, at: date, tier: ServiceTier, *,
                    time_of_day: int | None = None) -> ModelCost:
        """The prices of ``model`` on ``at`` (at ``time_of_day``, see :meth:`lookup`) in
        service ``tier`` (``standard``: :meth:`lookup`); the rules and their order are in
        :mod:`billing.costs.tiers`."""
        if tier == "standard":
            return self.lookup(model, at, time_of_day=time_of_day)
        if tier not in SERVICE_TIERS:
            raise CostBookError(f"unknown service tier {tier!r} (tiers: "
                                f"{', '.join(SERVICE_TIERS)})")
        standard = self.lookup(model, at, time_of_day=time_of_day)
        provider = standard.provider.lower()
        factor = self._user_tier(provider, tier)
        if factor is not None:
            return scaled(standard, factor, f"{standard.source} x {factor} ({provider} {tier}, "
                                            "cost file)")
        book: CostBook | None = self
        from_file = False
        while book is not None:
            from_file = from_file or book._entry_for(model, at) is not None
            if book._genai is not None and not from_file:
                own = book._genai.tier_lookup(model, at, tier, time_of_day)
                if own is not None:
                    missing = set(own.thresholds()) - set(self.thresholds())
                    if missing:  # pragma: no cover - genai-prices' tiers share the base starts
                        raise CostBookError(f"{model}: the {tier} prices have long-context "
                                            f"thresholds {sorted(missing)} the bands do not know")
                    return own
            book = book._base
        builtin = DEFAULT_MULTIPLIERS.get(provider, {}).get(tier)
        if builtin is not None:
            return scaled(standard, builtin, f"{standard.source} x {builtin} ({provider} {tier})")
        raise CostBookError(
            f"no {tier} price for model {model!r} (provider {provider}): give one with "
            f"service_tiers: {{{provider}: {{{tier}: MULTIPLIER}}}} in a cost file (--costs)"
        )

    def _user_tier(self, provider: str, tier: str) -> Decimal | None:
        found = self._tiers.get(provider, {}).get(tier)
        if found is None and self._base is not None:
            return self._base._user_tier(provider, tier)
        return found

    def level(self, model: str, band: int, at: date, tier: ServiceTier = "standard", *,
              time_of_day: int | None = None) -> ModelCost:
        """The prices :meth:`cost` applies to ``model``'s tokens in long-context ``band`` on
        ``at`` (at ``time_of_day``, see :meth:`lookup`), in service ``tier``."""
        edges = self.thresholds()
        if isinstance(band, bool) or not isinstance(band, int) or not 0 <= band <= len(edges):
            raise CostBookError(
                f"band must be a whole number from 0 to {len(edges)} (the number of long-context "
                f"thresholds {edges} the prompt exceeded), got {band!r}"
            )
        exceeded = edges[band - 1] if band else None
        return self.tier_prices(model, at, tier, time_of_day=time_of_day
                                ).for_prompt_above(exceeded)

    def __repr__(self) -> str:
        parts = [f"{len(self._entries)} entries"]
        if self._base is not None:
            parts.append(f"base={self._base!r}")
        if self._genai is not None:
            parts.append(self._genai.label)
        return f"CostBook({', '.join(parts)})"


def same_prices(a: ModelCost, b: ModelCost) -> bool:
    """Whether two price levels charge the same for every token (sources may differ)."""
    if (a.prices() != b.prices() or a.provider != b.provider
            or a.long_context_threshold != b.long_context_threshold):
        return False
    if a.long is None or b.long is None:
        return a.long is None and b.long is None
    return same_prices(a.long, b.long)


def _first(*values: Decimal | None) -> Decimal:
    """The first price given (the last argument is always one)."""
    for value in values:
        if value is not None:
            return value
    raise AssertionError("no price given")  # pragma: no cover
