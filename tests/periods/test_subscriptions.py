"""Subscriptions as users write them: real files through load_subscriptions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from billing.errors import PlanProblem, SubscriptionError
from billing.periods import Period
from billing.subscriptions import (
    PackPurchase,
    SeatChange,
    Subscription,
    SubscriptionFileError,
    load_subscriptions,
)

ROOT = Path(__file__).resolve().parents[2]
NOV = Period(date(2026, 11, 1), date(2026, 12, 1))


def write(tmp_path: Path, text: str, name: str = "subs.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(SubscriptionError) as info:
        load_subscriptions(path)
    assert isinstance(info.value, SubscriptionFileError)
    assert all(isinstance(p, PlanProblem) for p in info.value.problems)
    return [str(p) for p in info.value.problems]


def test_seat_added_mid_period_is_prorated(tmp_path: Path) -> None:
    path = write(tmp_path, """\
- customer_id: acme
  plan: team-seats
  start: 2026-11-01
  seats:
    - { effective: 2026-11-01, seats: 10 }
    - { effective: 2026-11-16, seats: 11 }
""")
    [sub] = load_subscriptions(path)
    nov = sub.period_for("2026-11", "month")
    assert nov == NOV
    # 10 seats Nov 1..15, 11 seats Nov 16..30
    assert sub.seat_segments(nov) == [
        (10, Period(date(2026, 11, 1), date(2026, 11, 16))),
        (11, Period(date(2026, 11, 16), date(2026, 12, 1))),
    ]
    # 10 seats all month + 1 seat for 15 of 30 days: (10 x 30 + 1 x 15) / 30 = 315/30 = 10.5
    assert sub.seat_quantity(nov) == Decimal("10.5")
    # at 30.00 per seat: 10.5 x 30.00 = 315.00
    assert sub.seat_quantity(nov) * Decimal("30.00") == Decimal("315.00")
    assert sub.seats_on(date(2026, 11, 15)) == 10
    assert sub.seats_on(date(2026, 11, 16)) == 11


def test_subscription_starting_mid_period(tmp_path: Path) -> None:
    path = write(tmp_path, """\
subscriptions:
  - customer_id: cobalt
    plan: team-seats
    start: 2026-11-10
    anchor: 2026-11-01
    seats: 4
""")
    [sub] = load_subscriptions(path)
    nov = sub.period_for("2026-11", "month")
    assert nov == NOV  # anchored on the 1st, not on the start
    # active Nov 10..30 = 21 of 30 days = 0.7
    assert sub.active_fraction(nov) == Decimal("0.7")
    # 4 seats x 21 days / 30 days = 84/30 = 2.8 seat-months
    assert sub.seat_quantity(nov) == Decimal("2.8")
    assert sub.seat_segments(nov) == [(4, Period(date(2026, 11, 10), date(2026, 12, 1)))]
    # before the start and in October: nothing
    assert sub.seats_on(date(2026, 11, 9)) == 0
    assert sub.seat_segments(Period(date(2026, 10, 1), date(2026, 11, 1))) == []


def test_anchor_defaults_to_start() -> None:
    sub = Subscription(customer_id="d", plan="growth-hybrid", start=date(2026, 10, 15))
    assert sub.anchor_date == date(2026, 10, 15)
    assert sub.period_for("2026-11", "month") == Period(date(2026, 11, 15), date(2026, 12, 15))


def test_seat_schedule_segments_clip_merge_and_drop_zero() -> None:
    sub = Subscription(
        customer_id="e",
        plan="team-seats",
        start=date(2026, 10, 20),
        end=date(2026, 11, 25),  # exclusive: last billed day Nov 24
        seats=[
            SeatChange(effective=date(2026, 10, 20), seats=5),
            SeatChange(effective=date(2026, 11, 5), seats=5),  # same count: merged
            SeatChange(effective=date(2026, 11, 10), seats=0),  # paused: no segment
            SeatChange(effective=date(2026, 11, 20), seats=2),
        ],
    )
    assert sub.seat_segments(NOV) == [
        (5, Period(date(2026, 11, 1), date(2026, 11, 10))),
        (2, Period(date(2026, 11, 20), date(2026, 11, 25))),
    ]
    # 5 seats x 9 days + 2 seats x 5 days = 55 seat-days; 55/30 = 1.8333...
    assert sub.seat_quantity(NOV) * 30 == Decimal(55)
    # active Nov 1..24 = 24 of 30 days = 0.8
    assert sub.active_fraction(NOV) == Decimal("0.8")


def test_pack_purchases_fall_in_their_period() -> None:
    sub = Subscription(
        customer_id="b",
        plan="credits",
        start=date(2026, 11, 1),
        packs=[
            PackPurchase(date=date(2026, 11, 30), pack="Pack 100k"),
            PackPurchase(date=date(2026, 12, 1), pack="Pack 100k", count=2),
        ],
    )
    assert [p.date for p in sub.packs_in(NOV)] == [date(2026, 11, 30)]


def test_floats_in_the_file_become_exact_decimals(tmp_path: Path) -> None:
    path = write(tmp_path, """\
- customer_id: acme
  plan: team-seats
  start: 2026-11-01
  overrides:
    Seats: { price: 27.10 }
    Token overage: { unit_price: 0.1 }
""")
    [sub] = load_subscriptions(path)
    # a float would show as 27.1 and 0.1000000000000000055511151231257827...
    assert sub.overrides["Seats"]["price"] == Decimal("27.10")
    assert str(sub.overrides["Seats"]["price"]) == "27.10"
    assert sub.overrides["Token overage"]["unit_price"] == Decimal("0.1")


def test_json_file(tmp_path: Path) -> None:
    path = write(tmp_path, """{"subscriptions": [
  {"customer_id": "acme", "plan": "payg", "start": "2026-11-01",
   "overrides": {"Model usage": {"markup": 0.35}}},
  {"customer_id": "bob", "plan": "payg", "start": "2026-11-31"}
]}""", name="subs.json")
    assert problems_of(path) == [
        f"{path}:4 subscriptions[2].start: Input should be a valid date or datetime, day value "
        "is outside expected range (got '2026-11-31')",
    ]
    path.write_text(
        '[{"customer_id": "acme", "plan": "payg", "start": "2026-11-01",'
        ' "overrides": {"Model usage": {"markup": 0.35}}}]'
    )
    [sub] = load_subscriptions(path)
    assert sub.overrides["Model usage"]["markup"] == Decimal("0.35")


def test_every_problem_of_the_file_at_once_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, """\
subscriptions:
  - customer_id: acme
    plan: team-seats
    start: 2026-11-01
    seats:
      - { effective: 2026-11-01, seats: 10 }
      - { effective: 2026-11-20, seats: 3 }
      - { effective: 2026-11-19, seats: 1 }
  - customer_id: bob
    plan: credits
    start: 2026-11-31
    seats: ten
    colour: red
    packs:
      - { date: 2026-11-05, pack: Pack 100k, count: 0 }
  - customer_id: carol
    plan: payg
    start: 2026-11-20
    end: 2026-11-10
  - customer_id: dan
    start: 2026-11-01
    seats:
      - { effective: 2026-11-02, seats: 10 }
""")
    assert problems_of(path) == [
        f"{path}:8 subscriptions[1].seats[3].effective: seats[3].effective (2026-11-19) must be "
        "after seats[2].effective (2026-11-20)",
        f"{path}:11 subscriptions[2].start: Input should be a valid date or datetime, day value "
        "is outside expected range (got '2026-11-31')",
        f"{path}:12 subscriptions[2].seats: Input should be a valid integer (got 'ten')",
        f"{path}:13 subscriptions[2].colour: unknown field 'colour' (allowed: customer_id, plan, "
        "start, end, anchor, seats, packs, overrides, attributes)",
        f"{path}:15 subscriptions[2].packs[1].count: Input should be greater than or equal to 1 "
        "(got 0)",
        f"{path}:19 subscriptions[3].end: must be after start (2026-11-20); end is exclusive "
        "(got 2026-11-10)",
        f"{path}:20 subscriptions[4].plan: required field is missing",
        f"{path}:23 subscriptions[4].seats[1].effective: seats[1].effective (2026-11-02) is after "
        "start (2026-11-01): the schedule must say how many seats there are from the start",
    ]


def test_overlapping_subscriptions_of_one_customer(tmp_path: Path) -> None:
    path = write(tmp_path, """\
- customer_id: acme
  plan: team-seats
  start: 2026-01-01
  end: 2026-11-01
- customer_id: acme          # fine: starts the day the first ends (end is exclusive)
  plan: growth-hybrid
  start: 2026-11-01
- customer_id: acme
  plan: payg
  start: 2027-03-01
""")
    assert problems_of(path) == [
        f"{path}:8 subscriptions[3].customer_id: customer 'acme' already has a subscription "
        "overlapping this one (subscriptions[2], line 5: 2026-11-01 to open); end one before "
        "the other starts",
    ]


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    [problem] = problems_of(missing)
    assert problem.startswith(f"{missing}: cannot read:")

    bad = write(tmp_path, "- customer_id: acme\n  plan: [payg\n", name="bad.yaml")
    [problem] = problems_of(bad)
    assert problem.startswith(f"{bad}:3: not valid YAML:")

    shape = write(tmp_path, "customers:\n  - acme\n", name="shape.yaml")
    assert problems_of(shape) == [
        f"{shape}:1: expected a list of subscriptions, or a mapping with the single key "
        "'subscriptions'"
    ]

    dup = write(
        tmp_path,
        "- customer_id: acme\n  plan: payg\n  start: 2026-11-01\n  plan: credits\n",
        name="dup.yaml",
    )
    assert problems_of(dup) == [
        f"{dup}:4 subscriptions[1].plan: duplicate key (the later one would win)"
    ]


def test_example_file_loads_and_uses_catalog_plans() -> None:
    subs = load_subscriptions(ROOT / "examples" / "subscriptions.yaml")
    catalog_ids = set()
    for plan_file in (ROOT / "plans").glob("*.yaml"):
        for line in plan_file.read_text(encoding="utf-8").splitlines():
            if line.startswith("id: "):
                catalog_ids.add(line.removeprefix("id: ").strip())
    assert {s.plan for s in subs} == catalog_ids  # every catalog plan, no unknown plan
    by_id = {s.customer_id: s for s in subs}
    # acme-labs: 10 seats + 1 seat for 15 of 30 days = 10.5
    acme = by_id["acme-labs"]
    assert acme.seat_quantity(acme.period_for("2026-11", "month")) == Decimal("10.5")
    borealis = by_id["borealis"]
    assert [p.pack for p in borealis.packs_in(NOV)] == ["Pack 100k"]
