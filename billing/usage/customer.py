"""One customer's usage, as the pricing step sees it: aggregate rows, never events."""

from __future__ import annotations

from dataclasses import dataclass, field

from billing.usage.aggregates import Counts, UsageAggregates

__all__ = ["CustomerUsage", "SnapshotUsage", "TierKey", "snapshot", "split_by_customer"]

TierKey = tuple[str, str, int, int]
"""(model, service tier, band, day) of a customer's usage of a tier other than standard."""


@dataclass(slots=True)
class CustomerUsage:
    """A customer's aggregate rows: daily (model, band, day) and hourly (hour); ``tiers``: the
    share of the daily rows served in a tier other than standard, by (model, tier, band, day)
    (empty: every token standard)."""

    customer_id: str
    daily: dict[tuple[str, int, int], Counts] = field(default_factory=dict)
    hourly: dict[int, Counts] = field(default_factory=dict)
    tiers: dict[TierKey, Counts] = field(default_factory=dict)
    reasoning: dict[tuple[str, int, int], int] | None = None
    """The reasoning tokens (a part of the output) by (model, band, day), days with some only;
    None: the reasoning split is unknown (``UsageAggregates.reasoning``)."""

    def window(self, start_day: int, end_day: int) -> CustomerUsage:
        """Rows of days ``start_day <= day < end_day`` (hours of the same UTC days)."""
        first_hour, end_hour = start_day * 24, end_day * 24
        return CustomerUsage(
            self.customer_id,
            {k: c for k, c in self.daily.items() if start_day <= k[2] < end_day},
            {h: c for h, c in self.hourly.items() if first_hour <= h < end_hour},
            {k: c for k, c in self.tiers.items() if start_day <= k[3] < end_day},
            None if self.reasoning is None else {
                k: r for k, r in self.reasoning.items() if start_day <= k[2] < end_day},
        )

    def reasoning_by_model(self) -> dict[str, int] | None:
        """Reasoning tokens per model over all days and bands (None: the split is unknown)."""
        if self.reasoning is None:
            return None
        out: dict[str, int] = {}
        for (model, _band, _day), tokens in self.reasoning.items():
            out[model] = out.get(model, 0) + tokens
        return out

    def by_model(self) -> dict[str, Counts]:
        """Token sums per model over all days and bands."""
        out: dict[str, Counts] = {}
        for (model, _band, _day), counts in sorted(self.daily.items()):
            out.setdefault(model, Counts()).add(counts)
        return out


class SnapshotUsage(CustomerUsage):
    """A customer's usage that no longer changes (batch rating, plan comparison): its period
    windows and per-model totals are computed once and shared by every plan that rates it.
    Never mutate one (the online meter keeps plain :class:`CustomerUsage`)."""

    __slots__ = ("_by_model", "_windows")

    def __init__(self, customer_id: str, daily: dict[tuple[str, int, int], Counts] | None = None,
                 hourly: dict[int, Counts] | None = None,
                 tiers: dict[TierKey, Counts] | None = None,
                 reasoning: dict[tuple[str, int, int], int] | None = None) -> None:
        super().__init__(customer_id, daily or {}, hourly or {}, tiers or {}, reasoning)
        self._windows: dict[tuple[int, int], SnapshotUsage] = {}
        self._by_model: dict[str, Counts] | None = None

    def window(self, start_day: int, end_day: int) -> SnapshotUsage:
        found = self._windows.get((start_day, end_day))
        if found is None:
            view = CustomerUsage.window(self, start_day, end_day)
            found = SnapshotUsage(self.customer_id, view.daily, view.hourly, view.tiers,
                                  view.reasoning)
            found._windows[(start_day, end_day)] = found
            self._windows[(start_day, end_day)] = found
        return found

    def by_model(self) -> dict[str, Counts]:
        if self._by_model is None:
            self._by_model = CustomerUsage.by_model(self)
        return self._by_model


def split_by_customer(aggregates: UsageAggregates) -> dict[str, CustomerUsage]:
    """Index aggregate rows by customer, in one pass."""
    out: dict[str, CustomerUsage] = {}
    for key, counts in aggregates.daily.items():
        usage = out.get(key.customer_id)
        if usage is None:
            usage = out[key.customer_id] = CustomerUsage(key.customer_id)
        usage.daily[(key.model, key.band, key.day)] = counts
    for hkey, counts in aggregates.hourly.items():
        usage = out.get(hkey.customer_id)
        if usage is None:
            usage = out[hkey.customer_id] = CustomerUsage(hkey.customer_id)
        usage.hourly[hkey.hour] = counts
    for (customer, model, band, day, tier), counts in aggregates.tier_rows().items():
        out[customer].tiers[(model, tier, band, day)] = counts  # (a share of a daily row)
    reasoning = aggregates.reasoning_rows()
    if reasoning is not None:  # (known: every customer has a split, maybe empty)
        for usage in out.values():
            usage.reasoning = {}
        for (customer, model, band, day), tokens in reasoning.items():
            out[customer].reasoning[(model, band, day)] = tokens  # type: ignore[index]
    return out


def snapshot(aggregates: UsageAggregates) -> dict[str, SnapshotUsage]:
    """:func:`split_by_customer`, as frozen snapshots with memoized windows and totals."""
    return {
        customer: SnapshotUsage(customer, usage.daily, usage.hourly, usage.tiers,
                                usage.reasoning)
        for customer, usage in split_by_customer(aggregates).items()
    }
