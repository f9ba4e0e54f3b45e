"""``billing.plans.compile``: a plan as frozen runtime charges, with referenced files read once."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from billing.errors import RatingError
from billing.plans import compile, load_plan
from billing.plans.compiled import (
    CapacityFee,
    CreditsFee,
    FlatFee,
    MeteredUsage,
    RateCard,
    SeatFee,
    SpendCap,
    SpendCommitment,
)
from billing.rating.rater import Rater

from .conftest import PLANS, event, rate_events

KINDS = {"flat": FlatFee, "seats": SeatFee, "usage": MeteredUsage, "rate_card": RateCard,
         "credits": CreditsFee, "capacity": CapacityFee, "commitment": SpendCommitment,
         "cap": SpendCap}


@pytest.mark.parametrize("plan_file", sorted(p.name for p in PLANS.glob("*.yaml")))
def test_each_charge_compiles_to_a_frozen_object_of_its_kind(plan_file: str) -> None:
    plan = load_plan(PLANS / plan_file)
    compiled = compile(plan, plan_path=PLANS / plan_file)
    assert [type(c) for c in compiled.charges] == [KINDS[c.kind] for c in plan.charges]
    assert [c.name for c in compiled.charges] == [c.name for c in plan.charges]
    assert [c.index for c in compiled.charges] == list(range(len(plan.charges)))
    assert all(c.source == plan.charge_sources[c.name] for c in compiled.charges)
    # commitment and cap apply last (to the metered spend), everything else in plan order
    assert [c.applies_last for c in compiled.charges] == \
        [c.kind in ("commitment", "cap") for c in plan.charges]
    with pytest.raises(dataclasses.FrozenInstanceError):
        compiled.charges[0].name = "other"  # type: ignore[misc]


def test_discount_tables_become_pricer_tiers_once() -> None:
    compiled = compile(load_plan(PLANS / "03-base-plus-overage.yaml"))
    card = compiled.charges[1]
    assert isinstance(card, RateCard)
    assert card.overage_tiers is not None
    # plans/03: 5,000.00 at 1.00, the next 20,000.00 at 0.90, the rest at 0.80
    assert [(t.up_to, t.unit_price) for t in card.overage_tiers] == [
        (Decimal("5000.00"), Decimal("1.00")), (Decimal("25000.00"), Decimal("0.90")),
        (None, Decimal("0.80"))]
    assert card.volume_tiers is None


SERIES_PLAN = """\
id: spot-series
version: 2026-11-01
currency: USD
charges:
  - kind: capacity
    name: Reserved
    meter:
      tokens: [input, output]
    bucket: hour
    baseload:
      per_bucket: 1_000_000
      price_per_mtok: "1.50"
    spot:
      timezone: UTC
      price_series: spot.csv
"""


def _series_plan(folder: Path, series: str | None) -> Path:
    plan = folder / "plan.yaml"
    plan.write_text(SERIES_PLAN, encoding="utf-8")
    if series is not None:
        (folder / "spot.csv").write_text(series, encoding="utf-8")
    return plan


def test_a_price_series_is_read_at_compile_time_relative_to_the_plan(tmp_path: Path) -> None:
    path = _series_plan(tmp_path, "hour_start,price_per_mtok\n2026-11-02T15:00:00Z,5.00\n")
    compiled = compile(load_plan(path), plan_path=path)
    fee = compiled.charges[0]
    assert isinstance(fee, CapacityFee) and fee.spot_series is not None
    assert list(fee.spot_series.values()) == [Decimal("5.00")]
    result = rate_events(path, [event(1, 2, "gpt-5", hour=15, input=2_000_000, output=1_000_000)])
    lines = {line.kind: line.rounded_amount for line in result.invoice.lines}
    # baseload: 720 November hours x 1M tokens x 1.50 per 1M = 1,080.00
    # spot: 3M used at 15:00 on Nov 2, 1M covered, 2M x 5.00 per 1M (the series) = 10.00
    assert lines == {"capacity_baseload": Decimal("1080.00"), "capacity_spot": Decimal("10.00")}
    (tmp_path / "spot.csv").unlink()  # a rater of the compiled plan reads nothing from disk
    hour = 498_231  # 2026-11-02T15:00Z: 1,793,631,600 s since the epoch / 3,600
    assert Rater(compiled).spot_prices(fee.spec, [hour]) == {hour: Decimal("5.00")}


def test_a_missing_price_series_fails_when_the_plan_is_compiled(tmp_path: Path) -> None:
    path = _series_plan(tmp_path, None)
    with pytest.raises(RatingError, match=r"cannot read spot price series .*spot\.csv"):
        Rater(load_plan(path), plan_path=path)


def test_a_bad_price_series_row_names_its_line(tmp_path: Path) -> None:
    path = _series_plan(tmp_path, "hour_start,price_per_mtok\n2026-11-02T15:00:00,5.00\n")
    with pytest.raises(RatingError, match=r"spot\.csv:2: bad spot price row: .*no time zone"):
        compile(load_plan(path), plan_path=path)
