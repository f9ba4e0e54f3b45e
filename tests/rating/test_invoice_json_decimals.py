"""Every decimal an invoices file holds is a plain fixed-point string: never "0E-57", never "1E+3".

``billing rate --out`` is read by people, spreadsheets and other programs; an exact zero carried
through 60-digit arithmetic keeps a large negative exponent (666.66...7 - 666.66...7 is
``Decimal("0E-57")``), which ``str()`` writes in scientific notation.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing.cli import main
from billing.invoice import CreditBalance, Invoice

PLANS = Path(__file__).parents[2] / "plans"
FIXED_POINT = re.compile(r"-?\d+(\.\d+)?")

SUBSCRIPTIONS = """\
subscriptions:
  - customer_id: borealis
    plan: credits
    start: 2026-11-11
    anchor: 2026-11-01
"""

# 3,000,000 input tokens of gpt-5: the credits plan's "*" rate, 3.00 per 1M = 9.00 = 900 credits
EVENTS = """\
id,customer_id,timestamp,model,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens,requests
ev-1,borealis,2026-11-12T09:00:00Z,gpt-5,3000000,0,0,0,1
"""


def _decimal_strings(node: Any) -> list[str]:
    """Every string of the JSON tree that Decimal parses (ids and names do not)."""
    found: list[str] = []
    if isinstance(node, dict):
        for value in node.values():
            found.extend(_decimal_strings(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_decimal_strings(value))
    elif isinstance(node, str):
        try:
            Decimal(node)
        except ArithmeticError:
            return found
        if not node.isalpha():  # "Infinity"/"NaN" are no amounts of ours
            found.append(node)
    return found


def test_a_fully_used_prorated_grant_writes_remaining_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "subs.yaml").write_text(SUBSCRIPTIONS, encoding="utf-8")
    (tmp_path / "events.csv").write_text(EVENTS, encoding="utf-8")
    out = tmp_path / "invoices.json"
    code = main(["rate", "--events", str(tmp_path / "events.csv"), "--period", "2026-11",
                 "--subscriptions", str(tmp_path / "subs.yaml"), "--plans", str(PLANS),
                 "--out", str(out)])
    capsys.readouterr()
    assert code == 0
    text = out.read_text(encoding="utf-8")
    (invoice,) = json.loads(text)
    grants = {c["source"].split(" 2026")[0]: c for c in invoice["credits"]}
    free = grants["Monthly free credits"]
    # subscribed Nov 11 of a 30-day November: 20/30 of the 1,000-credit grant = 666.666...;
    # 900 credits needed, so the whole grant burns (the rest comes from a pack): nothing left
    assert Decimal(free["granted"]) == Decimal(free["burned"]) > Decimal("666.666")
    assert free["remaining"] == "0"
    for value in _decimal_strings(invoice):
        assert FIXED_POINT.fullmatch(value), value
    # and the file still reads back to the same invoice
    assert Invoice.model_validate(invoice).credits[0].remaining == 0


@pytest.mark.parametrize(("value", "written"), [
    (Decimal("0E-57"), "0"),       # an exact zero from 60-digit arithmetic
    (Decimal("-0.00"), "0.00"),    # a zero has no sign
    (Decimal("0.000"), "0.000"),   # a zero with its places (a 3-decimal amount) keeps them
    (Decimal("1E+3"), "1000"),     # normalized thousands
    (Decimal("1E-7"), "0.0000001"),
    (Decimal("2.50"), "2.50"),
])
def test_each_decimal_field_is_written_fixed_point(value: Decimal, written: str) -> None:
    balance = CreditBalance(source="g", paid=False, granted=value, burned=value, expired=value,
                            remaining=value, expires=None, value_per_credit=value)
    dumped = json.loads(balance.model_dump_json())
    assert {dumped[k] for k in ("granted", "burned", "expired", "remaining",
                                "value_per_credit")} == {written}
    # the Python dump keeps the exact Decimal (only the JSON text changes)
    assert balance.model_dump()["remaining"] == value


def test_the_text_rendering_writes_prices_fixed_point_too() -> None:
    from datetime import date

    from billing.invoice import RefusedUsage, make_line
    from billing.money import Rounding

    # a price of 0.0000003 per token: 1,000,000 tokens cost 0.30 (1,000,000 x 0.0000003)
    line = make_line(index=1, kind="usage", charge="Usage", description="Usage",
                     quantity=Decimal(1_000_000), unit="token", unit_price=Decimal("3E-7"),
                     amount=Decimal("0.3"), currency="USD", rounding=Rounding.HALF_UP,
                     period_start=date(2026, 11, 1), period_end=date(2026, 12, 1))
    invoice = Invoice(id="in_1", customer_id="c", plan_id="p", plan_version=date(2026, 11, 1),
                      currency="USD", period_start=date(2026, 11, 1),
                      period_end=date(2026, 12, 1), lines=(line,), subtotal=Decimal("0.30"),
                      total=Decimal("0.30"),
                      refused=(RefusedUsage(model="m", value=Decimal("1E-7"),
                                            credits=Decimal("1E-5")),))
    text = invoice.render()
    assert "@ 0.0000003)" in text and "3E-7" not in text
    assert "worth 0.0000001 (0.00001 credits)" in text
