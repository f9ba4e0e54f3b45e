"""Shared records and helpers of the pricers: :class:`PriceResult`, :class:`Tier`, exact arithmetic.

Every pricer computes inside :data:`EXACT` (60 significant digits), wide enough that any
per-token price times any plausible token count is exact. Nothing here rounds to a currency:
rounding happens once, where an invoice line is produced.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from billing.errors import RatingError
from billing.money import EXACT, D

__all__ = [
    "EXACT",
    "PriceResult",
    "Tier",
    "check_per",
    "check_tiers",
    "fmt",
    "non_negative",
    "tier_label",
    "total",
]

# EXACT (money's one exact context) is the arithmetic context of every pricer (use with
# ``decimal.localcontext(EXACT)``).

ZERO: Final = Decimal(0)


def total(values: Iterable[Decimal]) -> Decimal:
    """Exact sum of ``values`` (``Decimal(0)`` when empty)."""
    result = ZERO
    for value in values:
        result = EXACT.add(result, value)
    return result


def fmt(value: Decimal | int) -> str:
    """A decimal as plain text for breakdown labels, without exponent or trailing zeros.

    >>> fmt(Decimal("10.500")), fmt(Decimal("1E+6")), fmt(Decimal("15.00"))
    ('10.5', '1000000', '15')
    """
    if isinstance(value, int):
        return str(value)
    text = format(value.normalize(EXACT), "f")
    return "0" if text in ("-0", "0") else text


def non_negative(value: Decimal | int, name: str) -> Decimal:
    """``value`` through :func:`billing.money.D` (floats refused), refusing negatives."""
    result = D(value)
    if result < 0:
        raise RatingError(f"{name} must not be negative, got {fmt(result)}")
    return result


@dataclass(frozen=True, slots=True)
class PriceResult:
    """An exact amount and the breakdown that explains it.

    ``details`` are ``(label, exact amount)`` pairs whose sum is exactly ``amount``; this is
    checked on construction, so every number on an invoice explains itself.
    """

    amount: Decimal
    details: tuple[tuple[str, Decimal], ...] = ()

    def __post_init__(self) -> None:
        amount = D(self.amount)
        details = tuple((str(label), D(value)) for label, value in self.details)
        summed = total(value for _, value in details)
        if summed != amount:
            raise RatingError(
                f"breakdown sums to {fmt(summed)} but the amount is {fmt(amount)}: {details!r}"
            )
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "details", details)


@dataclass(frozen=True, slots=True)
class Tier:
    """One price tier, Stripe's convention.

    ``up_to`` is inclusive and counts priced units (quantity / per); ``None`` means unbounded and
    is allowed on the last tier only. ``flat_price`` is charged once when the tier is reached.
    """

    up_to: Decimal | None
    unit_price: Decimal
    flat_price: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.up_to is not None:
            object.__setattr__(self, "up_to", D(self.up_to))
        object.__setattr__(self, "unit_price", D(self.unit_price))
        object.__setattr__(self, "flat_price", D(self.flat_price))


def check_tiers(tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    """Return ``tiers`` as a tuple after checking Stripe's rules, or raise :class:`RatingError`.

    At least one tier; ``up_to`` positive and strictly increasing; the last tier unbounded
    (``up_to=None``) and only the last; prices not negative.
    """
    result = tuple(tiers)
    if not result:
        raise RatingError("tiers: at least one tier is required")
    previous = ZERO
    for number, tier in enumerate(result, start=1):
        if not isinstance(tier, Tier):
            raise RatingError(f"tiers[{number}]: expected a Tier, got {type(tier).__name__}")
        last = number == len(result)
        if tier.up_to is None:
            if not last:
                raise RatingError(f"tiers[{number}]: only the last tier may have up_to=None")
        else:
            if last:
                raise RatingError(
                    f"tiers[{number}]: the last tier must be unbounded (up_to=None), "
                    f"got up_to={fmt(tier.up_to)}"
                )
            if number == 1 and tier.up_to <= 0:
                raise RatingError(f"tiers[1].up_to: must be positive, got {fmt(tier.up_to)}")
            if tier.up_to <= previous:
                raise RatingError(
                    f"tiers[{number}].up_to: must be greater than the previous tier's up_to "
                    f"({fmt(previous)}), got {fmt(tier.up_to)}"
                )
            previous = tier.up_to
        if tier.unit_price < 0 or tier.flat_price < 0:
            raise RatingError(f"tiers[{number}]: prices must not be negative")
    return result


def check_per(per: int) -> Decimal:
    """The ``per`` divisor (units per priced unit) as a Decimal: a positive int."""
    if isinstance(per, bool) or not isinstance(per, int):
        if isinstance(per, float):
            D(per)  # raises FloatMoneyError with the usual message
        raise RatingError(f"per must be a positive integer, got {per!r}")
    if per <= 0:
        raise RatingError(f"per must be a positive integer, got {per}")
    return Decimal(per)


def tier_label(number: int, lower: Decimal, tier: Tier) -> str:
    """``"tier 2 (5-10)"`` or ``"tier 5 (above 20)"``: the span of priced units a tier covers."""
    if tier.up_to is None:
        return f"tier {number} (above {fmt(lower)})"
    return f"tier {number} ({fmt(lower)}-{fmt(tier.up_to)})"
