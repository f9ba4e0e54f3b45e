'''The off-peak what-if: a share of a time-of-day model's usage moved into its cheapest window.

The trace is tests/test_time_of_day.py's TRACE (deepseek-chat from the bundled genai-prices
data: 00:30-16:30 UTC input 0.27, output 1.10; the rest of the UTC day input 0.135, output 0.55
per 1M tokens; supplier cost 4.97 = a 3.45 + b 1.52). Usage outside the cheapest window:

    a, Mar 3, 00:30-16:30 slot: a2 + a3 = 3M input + 1M output
    b, Mar 4, 00:30-16:30 slot: b2      = 1M input

``--offpeak-shift deepseek-chat=50%`` moves half of each class of those rows into the off-peak
window of the same day, where input costs 0.27 - 0.135 = 0.135 less and output 1.10 - 0.55 = 0.55
less per 1M tokens:

    a: 1.5M input x 0.135 + 0.5M output x 0.55 = 0.2025 + 0.275 = 0.4775 cheaper
    b: 0.5M input x 0.135                                        = 0.0675 cheaper
    tokens moved 1.5M + 0.5M + 0.5M = 2.5M; cost change -0.545; cost after 4.97 - 0.545 = 4.425

Revenue does not move (the usage stays on its UTC day): the list plan's 14.00 (a 10.00,
b 4.00) gives a margin of 9.03 before and 14.00 - 4.425 = 9.575 after (+0.545), margin %
9.575 / 14 = 0.683929. The capacity plan bills the hour of use: its figures are left out.
'''

from __future__ import annotations

import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from billing.cli import main
from billing.compare import CompareOptions, compare
from billing.compare.offpeak import OffpeakShift
from billing.costs import CostBook, ModelCost
from billing.errors import CostBookError
from billing.plans import load_catalog
from billing.usage.mapping import TraceSpec

from .test_time_of_day import CAPACITY, LIST, TRACE

CENT = Decimal("0.01")


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    paths = (tmp_path / "t.csv", tmp_path / "list.yaml", tmp_path / "reserved.yaml")
    for path, text in zip(paths, (TRACE, LIST, CAPACITY), strict=True):
        path.write_text(text, encoding="utf-8")
    return paths


def test_offpeak_shift_in_the_library(tmp_path: Path) -> None:
    trace, listed_plan, capacity_plan = _files(tmp_path)
    report = compare(load_catalog([listed_plan, capacity_plan]), TraceSpec(trace),
                     costbook=CostBook.default(),
                     options=CompareOptions(break_even=False, workers=1,
                                            offpeak_shifts=(OffpeakShift.parse(
                                                "deepseek-chat=50%"),)))
    assert report.what_if is not None and report.what_if.offpeak is not None
    shifted = report.what_if.offpeak
    assert shifted.tokens_moved == 2_500_000
    assert shifted.cost_change == Decimal("-0.545")
    assert shifted.by_customer == {"a": Decimal("-0.4775"), "b": Decimal("-0.0675")}
    assert report.what_if.offpeak_baseline_cost == Decimal("4.97")
    assert report.what_if.offpeak_not_modelled == ("reserved",)
    listed = next(p for p in report.plans if p.id == "list")
    assert listed.offpeak_shift is not None
    assert (listed.cost, listed.revenue, listed.margin) == (
        Decimal("4.97"), Decimal("14.00"), Decimal("9.03"))  # baseline unchanged
    after = listed.offpeak_shift
    assert (after.cost, after.revenue, after.margin, after.margin_change) == (
        Decimal("4.425"), Decimal("14.00"), Decimal("9.575"), Decimal("0.545"))
    assert after.margin_pct == Decimal("0.683929")
    assert after.negative_margin_customers == 0
    reserved = next(p for p in report.plans if p.id == "reserved")
    assert reserved.offpeak_shift is None
    assert any("00:00-00:30, 16:30-24:00 UTC" in n for n in report.notes)
    assert any("not modelled for reserved" in n for n in report.notes)


def test_offpeak_shift_through_the_cli_table_and_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace, listed_plan, capacity_plan = _files(tmp_path)
    out = tmp_path / "report.json"
    assert main(["compare", "--plans", str(listed_plan), "--plans", str(capacity_plan),
                 "--trace", str(trace), "--json", str(out), "--no-break-even",
                 "--offpeak-shift", "deepseek-*=50%", "--offpeak-shift", "gpt-*=10%"]) == 0
    printed = capsys.readouterr().out
    assert "What if: off-peak shift (deepseek-* 50%; gpt-* 10%)" in printed
    below = printed.split("What if: off-peak shift", 1)[1].splitlines()
    row = next(line for line in below if line.startswith("│ list"))
    # cost now 4.97, after 4.425 -> 4.43 (half-up), margin 9.03 -> 9.575 -> 9.58, +0.545 -> 0.55
    assert [cell.strip() for cell in row.strip("│").split("│")] == [
        "list", "4.97", "4.43", "9.03", "9.58", "0.55", "68.4%", "0/2"]
    report = json.loads(out.read_text(encoding="utf-8"))
    shift = report["what_if"]["offpeak_shift"]
    assert [(s["models"], Decimal(s["share"]), s["applies_to"]) for s in shift["shifts"]] == [
        ("deepseek-*", Decimal("0.5"), ["deepseek-chat"]), ("gpt-*", Decimal("0.1"), [])]
    assert shift["tokens_moved"] == 2_500_000
    assert shift["not_modelled"] == ["reserved"]
    money = {k: Decimal(shift[k]).quantize(CENT, ROUND_HALF_UP)
             for k in ("baseline_cost", "cost", "cost_change")}
    assert money == {"baseline_cost": Decimal("4.97"), "cost": Decimal("4.43"),
                     "cost_change": Decimal("-0.55")}  # -0.545 rounded half-up
    plans = {p["id"]: p["what_if"]["offpeak_shift"] for p in report["plans"]}
    assert plans["reserved"] is None
    assert Decimal(plans["list"]["margin_pct"]) == Decimal("0.683929")
    assert Decimal(plans["list"]["margin"]).quantize(CENT, ROUND_HALF_UP) == Decimal("9.58")
    assert plans["list"]["negative_margin_customers"] == 0


@pytest.mark.parametrize(("text", "glob", "share"), [
    ("30%", "*", Decimal("0.3")),
    ("0.3", "*", Decimal("0.3")),
    ("deepseek-*=30%", "deepseek-*", Decimal("0.3")),
    ("deepseek-chat = 100%", "deepseek-chat", Decimal(1)),
])
def test_offpeak_shift_parses_a_share_and_an_optional_glob(
        text: str, glob: str, share: Decimal) -> None:
    assert OffpeakShift.parse(text) == OffpeakShift(glob, share)


@pytest.mark.parametrize(("value", "reason"), [
    ("130%", "between 0% and 100%"),
    ("-0.1", "between 0% and 100%"),
    ("lots", "not a percentage or a fraction"),
    ("=30%", "glob before '=' is empty"),
    ("deepseek-*=", "write SHARE or MODELGLOB=SHARE"),
])
def test_a_bad_offpeak_shift_is_a_one_line_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, reason: str) -> None:
    trace, listed_plan, _ = _files(tmp_path)
    assert main(["compare", "--plans", str(listed_plan), "--trace", str(trace), "--quiet",
                 "--offpeak-shift", value]) == 2
    err = capsys.readouterr().err
    assert f"--offpeak-shift {value!r}" in err and reason in err
    assert "Traceback" not in err


class _CrossedWindows(CostBook):
    """A supplier whose night is cheaper for input and dearer for output (per 1M tokens:
    00:00-12:00 input 1.00, output 2.00; 12:00-24:00 input 2.00, output 1.00)."""

    NOON = 12 * 3600 * 1_000_000

    def time_of_day_edges(self, model: str) -> tuple[int, ...]:
        return (self.NOON,)

    def lookup(self, model: str, at: date, *, time_of_day: int | None = None) -> ModelCost:
        late = time_of_day is not None and time_of_day >= self.NOON
        cheap, dear = Decimal("1.00"), Decimal("2.00")
        return ModelCost(model=model, provider="crossed", input=dear if late else cheap,
                         cached_input=cheap, cache_write=cheap, output=cheap if late else dear)


def test_no_cheapest_window_is_an_error_naming_the_model_and_day(tmp_path: Path) -> None:
    # Costed per window first: a 06:00 (1M in + 1M out: 1.00 + 2.00) and 18:00 (2.00 + 1.00):
    # 6.00. A shift has nowhere to go: neither window is cheaper for every class.
    trace = tmp_path / "t.csv"
    trace.write_text("id,customer_id,timestamp,model,input_tokens,output_tokens\n"
                     "e1,a,2025-03-03T06:00:00Z,m-x,1000000,1000000\n"
                     "e2,a,2025-03-03T18:00:00Z,m-x,1000000,1000000\n", encoding="utf-8")
    plan = tmp_path / "list.yaml"
    plan.write_text(LIST, encoding="utf-8")
    book = _CrossedWindows()
    report = compare(load_catalog([plan]), TraceSpec(trace), costbook=book,
                     options=CompareOptions(break_even=False, workers=1))
    assert report.plans[0].cost == Decimal("6.00")
    with pytest.raises(CostBookError, match=r"m-x on 2025-03-03: no price window is the "
                                            "cheapest for every token class"):
        compare(load_catalog([plan]), TraceSpec(trace), costbook=book,
                options=CompareOptions(break_even=False, workers=1,
                                       offpeak_shifts=(OffpeakShift("*", Decimal("0.5")),)))
