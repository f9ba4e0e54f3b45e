"""``credits``: packs bought (by hand or by the automatic top-up) and the credits that paid the
usage of a rate card, one negative line per model.

The burn-down itself runs before any line is made (a rate card paid with credits needs what it
refused), one customer at a time; its outcome reaches this module as ``run.credit``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from billing.charges.lines import LineText
from billing.charges.run import Billing
from billing.money import EXACT
from billing.plans.compiled import CreditsFee

__all__ = ["CreditLines", "bill"]


@dataclass(frozen=True, slots=True)
class CreditLines:
    """What a burn-down bills: pack purchases as (description, count, unit price, amount), and
    the credits burned per model."""

    packs: Sequence[tuple[str, int, Decimal, Decimal]]
    burned: Mapping[str, Decimal]


def bill(fee: CreditsFee, run: Billing) -> None:
    charge, found = fee.spec, run.credit
    assert found is not None, "credits are burned before the lines are made"
    for description, count, unit_price, amount in found.packs:
        run.out.add("credit_pack", fee.name, amount,
                    _text(description, Decimal(count), "pack", unit_price))
    for model, burned in sorted(found.burned.items()):
        if burned:
            run.out.add("credits_applied", fee.name, -EXACT.multiply(burned, charge.unit_value),
                        _text(f"{fee.name} applied: {model}", burned, charge.unit,
                              -charge.unit_value),
                        model=model, grade=run.grade(model))


def _text(description: str, quantity: Decimal, unit: str, unit_price: Decimal
          ) -> Callable[[], LineText]:
    return lambda: LineText(description, quantity, unit, unit_price)
