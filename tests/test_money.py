"""Money is exact: floats are refused, currencies come from CLDR, rounding happens once."""

from __future__ import annotations

import decimal
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.cli import main
from billing.compare import CompareOptions, compare
from billing.costs import CostBook
from billing.errors import CurrencyMismatchError, FloatMoneyError, MoneyError, UnknownCurrencyError
from billing.money import D, M, Money, Rounding, minor_units, round_money
from billing.plans import load_catalog
from billing.rating.meter import FixedClock, Meter
from billing.subscriptions import load_subscriptions
from billing.usage.events import UsageEvent
from billing.usage.mapping import TraceSpec
from billing.usage.readers import read_events


def test_float_is_refused_with_a_clear_error() -> None:
    with pytest.raises(FloatMoneyError, match=r"float 0\.1 refused"):
        D(0.1)  # type: ignore[arg-type]
    with pytest.raises(FloatMoneyError):
        Money(1.5, "USD")  # type: ignore[arg-type]


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_no_float_ever_becomes_money(value: float) -> None:
    with pytest.raises(FloatMoneyError):
        D(value)  # type: ignore[arg-type]


def test_strings_and_ints_are_exact() -> None:
    assert D("0.10") + D("0.20") == Decimal("0.30")
    assert D("2_000") == Decimal(2000)
    with pytest.raises(MoneyError):
        D("1,5")
    with pytest.raises(MoneyError):
        D("NaN")


@pytest.mark.parametrize(
    ("currency", "digits"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3), ("CLP", 0)]
)
def test_minor_units_come_from_cldr(currency: str, digits: int) -> None:
    assert minor_units(currency) == digits


@pytest.mark.parametrize(
    ("amount", "currency", "rounding", "expected"),
    [
        ("2.345", "USD", Rounding.HALF_UP, "2.35"),  # half up: .5 goes up
        ("2.345", "USD", Rounding.HALF_EVEN, "2.34"),  # banker's: 4 is even
        ("2.341", "USD", Rounding.UP, "2.35"),  # up: away from zero
        ("2.349", "USD", Rounding.DOWN, "2.34"),  # down: toward zero
        ("1234.5", "JPY", Rounding.HALF_UP, "1235"),  # JPY has no minor unit
        ("1.2345", "KWD", Rounding.HALF_UP, "1.230"),  # KWD has three, the last 0 (Stripe)
        ("1.235", "KWD", Rounding.HALF_UP, "1.240"),  # to the nearest 0.010: half up
        ("-5.125", "BHD", Rounding.HALF_EVEN, "-5.120"),  # banker's: 2 is even
        ("7.001", "JOD", Rounding.UP, "7.010"),
        ("7.009", "OMR", Rounding.DOWN, "7.000"),
        ("0.0049", "TND", Rounding.HALF_UP, "0.000"),
        ("-2.345", "USD", Rounding.HALF_UP, "-2.35"),  # credits round symmetrically
    ],
)
def test_round_once_to_the_minor_unit(
    amount: str, currency: str, rounding: Rounding, expected: str
) -> None:
    assert round_money(D(amount), currency, rounding) == Decimal(expected)
    assert str(round_money(D(amount), currency, rounding)) == expected


def test_money_refuses_mixed_currencies() -> None:
    assert M("12.50 USD") + M("0.50 USD") == M("13.00 USD")
    with pytest.raises(CurrencyMismatchError):
        M("1.00 USD") + M("1.00 EUR")
    with pytest.raises(UnknownCurrencyError):
        M("1.00 USX")


# --- one exact context, whatever the caller's ----------------------------------------------------

_PLAN = """\
id: exact
name: Exact
version: 2026-11-01
currency: USD
interval: month
charges:
  - kind: flat
    name: Fee
    price: "12345678900.01"
  - kind: rate_card
    name: Model usage
    rates:
      - models: ["*"]
        input: "5.00"
        output: "4999.99999999999999999999999999999"
"""
# A 13-digit fee (13 digits do not fit in 12) and an output price of 33 significant digits.

_SUBS = """\
subscriptions:
  - customer_id: mid
    plan: exact
    start: 2026-11-01
  - customer_id: tiny
    plan: exact
    start: 2026-11-01
"""

_EVENTS = """\
id,customer_id,timestamp,model,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens
e1,mid,2026-11-03T09:00:00Z,claude-sonnet-4-5,1000,0,0,2000000
e2,tiny,2026-11-03T09:00:00Z,claude-sonnet-4-5,0,0,0,1
"""
# Hand arithmetic (one line per charge and model, rounded half up once; November billed whole):
#   fee:  12345678900.01 for both customers
#   mid:  1,000 x 5.00 / 1e6 + 2,000,000 x 4999.99999999999999999999999999999 / 1e6
#       = 0.005 + 9999.99999999999999999999999999998
#       = 10000.00499999999999999999999999998 (below half a cent)          -> 10000.00
#         (28 or 12 digits round the output part to 10000, then 10000.005 bills 10000.01)
#       total 12345678900.01 + 10000.00 = 12345688900.01
#         (12 digits round this sum to 12345688900.0)
#   tiny: 1 x 4999.99999999999999999999999999999 / 1e6
#       = 0.00499999999999999999999999999999999 (below half a cent)        -> 0.00
#         (28 or 12 digits round it to 0.005, billed 0.01)
#       total 12345678900.01 + 0.00 = 12345678900.01
_EXPECTED = {"mid": ("12345688900.01", ["12345678900.01", "10000.00"]),
             "tiny": ("12345678900.01", ["12345678900.01", "0.00"])}
_CUSTOMERS = ("mid", "tiny")


def _narrow() -> decimal.Context:
    """What a caller's application might have set: 12 digits, rounding half up."""
    return decimal.Context(prec=12, rounding=decimal.ROUND_HALF_UP)


@pytest.fixture
def exact_files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "exact.yaml").write_text(_PLAN, encoding="utf-8")
    (tmp_path / "subs.yaml").write_text(_SUBS, encoding="utf-8")
    (tmp_path / "events.csv").write_text(_EVENTS, encoding="utf-8")
    return {"plans": tmp_path / "plans", "subs": tmp_path / "subs.yaml",
            "events": tmp_path / "events.csv", "dir": tmp_path}


def _rate_cli(files: dict[str, Path], name: str) -> list[dict[str, Any]]:
    out = files["dir"] / name
    code = main(["rate", "--plans", str(files["plans"]), "--subscriptions", str(files["subs"]),
                 "--events", str(files["events"]), "--period", "2026-11", "--out", str(out)])
    assert code == 0
    invoices: list[dict[str, Any]] = json.loads(out.read_text(encoding="utf-8"))
    return invoices


def _figures(invoices: list[dict[str, Any]]) -> dict[str, tuple[str, list[str]]]:
    return {inv["customer_id"]: (inv["total"], [ln["rounded_amount"] for ln in inv["lines"]])
            for inv in invoices}


def test_billing_rate_is_exact_whatever_the_callers_context(
        exact_files: dict[str, Path]) -> None:
    default = _rate_cli(exact_files, "default.json")
    with decimal.localcontext(_narrow()):
        narrow = _rate_cli(exact_files, "narrow.json")
    assert _figures(default) == _EXPECTED
    assert narrow == default  # every field, exact amounts included


def test_the_meter_is_exact_whatever_the_callers_context(exact_files: dict[str, Path]) -> None:
    catalog = load_catalog([exact_files["plans"]])
    subs = load_subscriptions(exact_files["subs"])
    meter = Meter(catalog, subs, costbook=CostBook.default(),
                  clock=FixedClock(datetime(2026, 11, 20, tzinfo=UTC)))
    for event in read_events(TraceSpec(exact_files["events"])):
        assert isinstance(event, UsageEvent)
        meter.record(event)
    default = [meter.close(c, "2026-11") for c in _CUSTOMERS]
    with decimal.localcontext(_narrow()):
        narrow = [meter.close(c, "2026-11") for c in _CUSTOMERS]
        to_date = [meter.bill_to_date(c) for c in _CUSTOMERS]
    assert {inv.customer_id: (str(inv.total), [str(ln.rounded_amount) for ln in inv.lines])
            for inv in default} == _EXPECTED
    assert narrow == default
    assert to_date == default


def test_compare_is_exact_whatever_the_callers_context(exact_files: dict[str, Path]) -> None:
    catalog = load_catalog([exact_files["plans"]])
    spec = TraceSpec(exact_files["events"])
    options = CompareOptions(full_periods=True)  # November billed whole, as by `billing rate`
    default = compare(catalog, spec, costbook=CostBook.default(), options=options)
    with decimal.localcontext(_narrow()):
        narrow = compare(catalog, spec, costbook=CostBook.default(), options=options)
        # the report, read in the caller's context too
        narrow_json, narrow_html = narrow.to_json(), narrow.to_html()
        narrow_csv = narrow.to_csv(exact_files["dir"] / "narrow.csv").read_text(encoding="utf-8")
        narrow_margin = narrow.plans[0].margin
    (plan,) = default.plans
    # revenue: the two invoices above, 12345688900.01 + 12345678900.01
    assert plan.revenue == Decimal("24691367800.02")
    assert narrow_margin == plan.revenue - plan.cost == plan.margin
    assert narrow_json == default.to_json()
    assert narrow_html == default.to_html()
    assert narrow_csv == default.to_csv(exact_files["dir"] / "default.csv").read_text(
        encoding="utf-8")


def test_plan_loading_is_exact_whatever_the_callers_context() -> None:
    from billing.plans import load_plan_text

    text = """\
id: markup
name: Markup
version: 2026-11-01
currency: USD
interval: month
charges:
  - kind: rate_card
    name: Model usage
    cost_plus:
      markup: "12.345678901234567%"
"""
    with decimal.localcontext(_narrow()):
        plan = load_plan_text(text, filename="markup.yaml")
    # "12.345678901234567%" is 12.345678901234567 / 100, all 17 digits kept (12 would round it)
    assert plan.charges[0].cost_plus.markup == Decimal("0.12345678901234567")  # type: ignore[union-attr]
