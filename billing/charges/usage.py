"""``usage``: a metered quantity (tokens of some classes, or requests, of some models) over the
period, less what the plan includes, priced per unit, through tiers or in packages."""

from __future__ import annotations

import decimal
import fnmatch
from decimal import Decimal
from functools import lru_cache

import numpy as np

from billing.charges.columns import Col, is_column, minimum, tiered, to_decimal
from billing.charges.lines import LineText
from billing.charges.run import Billing
from billing.charges.totals import CLASSES
from billing.money import EXACT, MTOK
from billing.plans.compiled import MeteredUsage
from billing.pricing import graduated, package, per_unit, volume

__all__ = ["bill"]


@lru_cache(maxsize=4096)
def _metered(globs: tuple[str, ...], model: str) -> bool:
    lowered = model.lower()
    return not globs or any(fnmatch.fnmatchcase(lowered, g.lower()) for g in globs)


def _fmt(n: int | Decimal) -> str:
    return f"{n:,}" if isinstance(n, int) else f"{n.normalize():,f}"


def _per_label(per: int, unit: str) -> str:
    if per == 1:
        return unit[:-1] if unit.endswith("s") else unit
    if per == MTOK:
        return f"1M {unit}"
    return f"{per:,} {unit}"


def bill(usage: MeteredUsage, run: Billing) -> None:
    charge, totals = usage.spec, run.totals
    meter = charge.meter
    globs = tuple(meter.models or ())
    positions = [CLASSES.index(c) for c in meter.tokens or []]
    quantity: Col = 0
    for m, model in enumerate(totals.models):
        if not _metered(globs, model):
            continue
        if meter.requests:
            quantity = quantity + totals.requests[m]
        else:
            for p in positions:
                quantity = quantity + totals.tokens[m][p]
    billable = to_decimal(quantity)
    included = None
    if charge.included is not None:
        included = run.terms.included[usage.index]
        with decimal.localcontext(EXACT):
            billable = billable - minimum(billable, included)
    unit = "requests" if meter.requests else "tokens"
    amount: Col
    if charge.per_unit is not None:
        spec = charge.per_unit
        with decimal.localcontext(EXACT):
            amount = (billable / Decimal(spec.per)) * spec.unit_price
    elif charge.tiers is not None:
        assert usage.tiers is not None
        amount = tiered(charge.tiers.mode, billable, usage.tiers, charge.tiers.per)
    else:
        assert charge.package is not None
        pack = charge.package
        mode = decimal.ROUND_CEILING if pack.round == "up" else decimal.ROUND_FLOOR

        def packages(units: Decimal) -> Decimal:
            return (units / pack.size).to_integral_value(rounding=mode)

        with decimal.localcontext(EXACT):
            counted = (np.frompyfunc(packages, 1, 1)(billable) if is_column(billable)
                       else packages(billable))
            amount = counted * pack.price

    def text() -> LineText:  # one customer: the numbers above are its own
        described = f"{_fmt(quantity)} {unit}"
        if included is not None:
            described += f", {_fmt(included.normalize())} included"
        if charge.per_unit is not None:
            spec = charge.per_unit
            priced = per_unit.price(billable, spec.unit_price, spec.per)
            return LineText(f"{charge.name} ({described})", billable / spec.per,
                            _per_label(spec.per, unit), spec.unit_price, priced.details)
        if charge.tiers is not None:
            table = charge.tiers
            assert usage.tiers is not None
            pricer = graduated.price if table.mode == "graduated" else volume.price
            priced = pricer(billable, usage.tiers, table.per)
            return LineText(f"{charge.name} ({described}, {table.mode} tiers)",
                            billable / table.per, _per_label(table.per, unit), None,
                            priced.details)
        assert charge.package is not None
        pack = charge.package
        priced = package.price(billable, pack.size, pack.price, pack.round)
        count = amount / pack.price if pack.price else Decimal(0)
        return LineText(f"{charge.name} ({described})", count, f"package of {pack.size:,}",
                        pack.price, priced.details)

    run.out.add("usage", usage.name, amount, text)
