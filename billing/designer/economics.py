"""The seeds' pricing economics: what a token is worth to a buyer, and what margin that allows.

The model, in one paragraph. A task consumes ``N`` tokens and saves its buyer ``S_i`` hours of
work, valued at an hourly ``rate``; the task is worth ``V_i = rate * S_i`` and the buyer's
willingness to pay per token is ``z_i = V_i / N``. Hours saved are exponentially distributed with
mean ``S`` across tasks, so at a price ``p`` per token the share of tasks still worth buying is

    D(p) = P(z_i >= p) = exp(-p * N / (rate * S))

whose price elasticity is ``|e| = p * N / (rate * S)`` (= ``p / z`` with ``z = rate * S / N``,
the mean willingness to pay per token). A seller that sets its price to maximise profit satisfies
the Lerner condition ``(p - MC) / p = 1 / |e|``; read backwards, an observed price implies the
seller's marginal cost ``MC = p - rate * S / N``. Under Cournot competition between ``n``
symmetric sellers each one's Lerner index is ``1 / (n * |e|)``: the monopoly margin divided by n.

Worked check (the seeds): p = 6 per 1M tokens, N = 20M tokens, S = 0.4 hours, rate = 200 per hour.
``rate * S / N`` = 80 / 20M = 4 per 1M tokens, so MC = 6 - 4 = 2 per 1M tokens and the margin is
4 / 6 = 2/3 (67%); with n = 2, 3, 4, 5 competitors: 1/3, 2/9, 1/6, 2/15 (33.3%, 22.2%, 16.7%,
13.3%; the seed prints 33%, 22%, 16%, 13%, i.e. truncated to whole percent).

Everything is :class:`~decimal.Decimal`. Inside, each formula runs on exact fractions of the
Decimal inputs and is rounded once, in the caller's current decimal context (28 significant
digits by default), so an exact ratio such as 2/3 comes out equal to ``Decimal(2) / Decimal(3)``
and 2/9 equal to ``Decimal(2) / Decimal(9)``, not 2/3 rounded and then divided. Prices are per 1M tokens (``*_per_mtok``) as on rate cards; only
:func:`demand_share` needs ``exp`` and so is inexact in the last digit, like any exponential.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from billing.errors import EconomicsError
from billing.invoice import decimal_text
from billing.money import MTOK, D

__all__ = [
    "EconomicsError",
    "EconomicsView",
    "competitive_margin",
    "demand_share",
    "economics_view",
    "implied_marginal_cost_per_mtok",
    "lerner_margin",
    "price_elasticity",
    "willingness_to_pay_per_mtok",
]


Number = Decimal | int | str


def _exact(name: str, value: Number, *, positive: bool = True) -> Fraction:
    number = D(value)
    if positive and number <= 0:
        raise EconomicsError(f"{name} must be greater than 0, got {number}")
    return Fraction(number)


def _decimal(value: Fraction) -> Decimal:
    """Round an exact fraction once, in the current decimal context."""
    return Decimal(value.numerator) / Decimal(value.denominator)


def _z(hours_saved: Number, hourly_rate: Number, tokens_per_task: Number) -> Fraction:
    s = _exact("hours_saved", hours_saved)
    rate = _exact("hourly_rate", hourly_rate)
    n = _exact("tokens_per_task", tokens_per_task)
    return rate * s * MTOK / n


def _e(price: Number, tokens: Number, hours: Number, rate: Number) -> Fraction:
    return _exact("price_per_mtok", price) / _z(hours, rate, tokens)


def _competitors(competitors: int) -> int:
    if isinstance(competitors, bool) or not isinstance(competitors, int) or competitors < 1:
        raise EconomicsError(f"competitors must be a whole number >= 1, got {competitors!r}")
    return competitors


def willingness_to_pay_per_mtok(
    hours_saved: Number, hourly_rate: Number, tokens_per_task: Number
) -> Decimal:
    """Willingness to pay per 1M tokens: ``z = V / N = rate * S / N`` (times 1M).

    ``hours_saved`` is S (the mean, for the population), ``hourly_rate`` the value of one hour,
    ``tokens_per_task`` N. Seeds: 200 * 0.4 / 20M per token = 4 per 1M tokens.
    """
    return _decimal(_z(hours_saved, hourly_rate, tokens_per_task))


def price_elasticity(
    price_per_mtok: Number, tokens_per_task: Number, hours_saved: Number, hourly_rate: Number
) -> Decimal:
    """Absolute price elasticity of the exponential demand: ``|e| = p * N / (rate * S)``.

    Equal to ``p / z`` with z from :func:`willingness_to_pay_per_mtok`. Seeds: 6 / 4 = 1.5.
    """
    return _decimal(_e(price_per_mtok, tokens_per_task, hours_saved, hourly_rate))


def demand_share(
    price_per_mtok: Number, tokens_per_task: Number, hours_saved: Number, hourly_rate: Number
) -> Decimal:
    """Share of tasks still bought at price p: ``D(p) = exp(-p * N / (rate * S)) = exp(-|e|)``.

    With hours saved exponential (mean S), P(rate * S_i / N >= p) = exp(-p * N / (rate * S)).
    Seeds: exp(-1.5) = 0.2231...
    """
    if D(price_per_mtok) < 0:
        raise EconomicsError(f"price_per_mtok must not be negative, got {price_per_mtok}")
    if D(price_per_mtok) == 0:
        return Decimal(1)
    return (-price_elasticity(price_per_mtok, tokens_per_task, hours_saved, hourly_rate)).exp()


def lerner_margin(elasticity: Number, competitors: int = 1) -> Decimal:
    """Profit-maximising margin from the Lerner condition: ``(p - MC) / p = 1 / (n * |e|)``.

    ``n = competitors`` symmetric Cournot sellers (1 = a monopoly). Seeds: |e| = 1.5 gives 2/3,
    and 1/3, 2/9, 1/6, 2/15 for n = 2, 3, 4, 5.
    """
    e = abs(_exact("elasticity", elasticity, positive=False))
    if e == 0:
        raise EconomicsError("elasticity must not be 0 (demand that ignores price has no margin)")
    return _decimal(1 / (_competitors(competitors) * e))


def implied_marginal_cost_per_mtok(
    price_per_mtok: Number, tokens_per_task: Number, hours_saved: Number, hourly_rate: Number
) -> Decimal:
    """Marginal cost per 1M tokens implied by a profit-maximising price: ``MC = p - rate * S / N``.

    Follows from the Lerner condition with ``|e| = p * N / (rate * S)``: p - MC = p / |e| = z.
    Seeds: 6 - 200 * 0.4 / 20M per token = 6 - 4 = 2 per 1M tokens. A negative result means the
    price is below the mean willingness to pay: no marginal cost would justify it.
    """
    p = _exact("price_per_mtok", price_per_mtok)
    return _decimal(p - _z(hours_saved, hourly_rate, tokens_per_task))


def competitive_margin(margin: Number, competitors: int) -> Decimal:
    """Margin of each of ``n`` symmetric (Cournot) competitors: ``1 / (n * |e|) = margin / n``.

    Seeds: 2/3 divided by 2, 3, 4, 5 = 1/3, 2/9, 1/6, 2/15. The division is exact on the given
    Decimal; pass the elasticity to :func:`lerner_margin` instead to round only once.
    """
    return _decimal(Fraction(D(margin)) / _competitors(competitors))


@dataclass(frozen=True, slots=True)
class EconomicsView:
    """Every number of the model for one set of inputs (what ``billing economics`` prints)."""

    price_per_mtok: Decimal
    tokens_per_task: Decimal
    hours_saved: Decimal
    hourly_rate: Decimal
    willingness_to_pay_per_mtok: Decimal
    elasticity: Decimal
    demand_share: Decimal
    marginal_cost_per_mtok: Decimal
    margin: Decimal
    margins_by_competitors: tuple[tuple[int, Decimal], ...]

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dict; every number is a decimal string (never a float)."""
        return {
            "inputs": {
                "price_per_mtok": decimal_text(self.price_per_mtok),
                "tokens_per_task": decimal_text(self.tokens_per_task),
                "hours_saved": decimal_text(self.hours_saved),
                "hourly_rate": decimal_text(self.hourly_rate),
            },
            "willingness_to_pay_per_mtok": decimal_text(self.willingness_to_pay_per_mtok),
            "elasticity": decimal_text(self.elasticity),
            "demand_share": decimal_text(self.demand_share),
            "marginal_cost_per_mtok": decimal_text(self.marginal_cost_per_mtok),
            "margin": decimal_text(self.margin),
            "margins_by_competitors": [
                {"competitors": n, "margin": decimal_text(m)} for n, m in self.margins_by_competitors
            ],
        }


def economics_view(
    price_per_mtok: Number,
    tokens_per_task: Number,
    hours_saved: Number,
    hourly_rate: Number,
    competitors: Iterable[int] = (1,),
) -> EconomicsView:
    """Compute the whole model at once: z, |e|, D(p), MC, the Lerner margin and margin / n.

    Each number is computed exactly and rounded once (see the module docstring).
    """
    e = _e(price_per_mtok, tokens_per_task, hours_saved, hourly_rate)
    return EconomicsView(
        price_per_mtok=D(price_per_mtok),
        tokens_per_task=D(tokens_per_task),
        hours_saved=D(hours_saved),
        hourly_rate=D(hourly_rate),
        willingness_to_pay_per_mtok=willingness_to_pay_per_mtok(
            hours_saved, hourly_rate, tokens_per_task
        ),
        elasticity=_decimal(e),
        demand_share=demand_share(price_per_mtok, tokens_per_task, hours_saved, hourly_rate),
        marginal_cost_per_mtok=implied_marginal_cost_per_mtok(
            price_per_mtok, tokens_per_task, hours_saved, hourly_rate
        ),
        margin=_decimal(1 / e),
        margins_by_competitors=tuple(
            (n, _decimal(1 / (_competitors(n) * e))) for n in competitors
        ),
    )
