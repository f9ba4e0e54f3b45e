'''Time-of-day supplier prices (DeepSeek's off-peak window) costed window by window.

The bundled genai-prices data (genai-prices 0.2.3, provider ``deepseek``, model
``deepseek-chat``) prices deepseek-chat per 1M tokens at

    00:30-16:30 UTC (standard):  input 0.27,  cached input 0.07,  output 1.10
    16:30-00:30 UTC (off-peak):  input 0.135, cached input 0.035, output 0.55

These are the prices of DeepSeek's pricing page while its night discount ran (it ended at
16:00 UTC on 2025-09-05; genai-prices 0.2.3 keeps the window on every date, see
docs/providers.md), so the trace is dated March 2025. The window edges are at :30, so an hour
holds both prices; genai-prices' rule is ``start <= time < end``. The trace below (TRACE)
costs, event by event:

    a1 Mar 3 00:29:59         off  1M in + 1M out     0.135 + 0.55           = 0.685
    a2 Mar 3 00:30:00         peak 1M in + 1M out     0.27  + 1.10           = 1.37
    a2 again (same id, same content): a duplicate, not costed
    a3 Mar 3 16:29:59.999999  peak 2M in              2 x 0.27               = 0.54
    a4 Mar 3 16:30:00         off  2M in + 1M cached  2 x 0.135 + 0.035      = 0.305
    a5 Mar 3 23:59:59         off  1M out             0.55                   = 0.55
                                                                    customer a 3.45
    b1 Mar 4 00:00:00         off  2M out             2 x 0.55               = 1.10
    b2 Mar 4 12:00:00         peak 1M in              0.27                   = 0.27
    b3 Mar 4 12:00:00 gpt-4o-mini 1M in (0.15 all day)                       = 0.15
                                                                    customer b 1.52
                                                           supplier cost 4.97

Priced by the day's majority price (the peak price, 16 h of 24), as before: customer a
6M in x 0.27 + 1M cached x 0.07 + 3M out x 1.10 = 1.62 + 0.07 + 3.30 = 4.99, customer b
1M x 0.27 + 2M x 1.10 + 0.15 = 2.62: 7.61, not 4.97.
'''

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from billing.cli import main
from billing.compare import CompareOptions, compare
from billing.compare.columns import period_rows
from billing.compare.supplier import PricedRows
from billing.compare.whatif import ScaledMix, apply_cache_hit_rate
from billing.costs import CostBook
from billing.errors import CostBookError
from billing.periods import nth_period
from billing.plans import load_catalog
from billing.usage.aggregate_engine import aggregate_trace
from billing.usage.aggregates import Counts
from billing.usage.mapping import TraceSpec

TRACE = '''id,customer_id,timestamp,model,input_tokens,cached_input_tokens,output_tokens
a1,a,2025-03-03T00:29:59Z,deepseek-chat,1000000,0,1000000
a2,a,2025-03-03T00:30:00Z,deepseek-chat,1000000,0,1000000
a2,a,2025-03-03T00:30:00Z,deepseek-chat,1000000,0,1000000
a3,a,2025-03-03T16:29:59.999999Z,deepseek-chat,2000000,0,0
a4,a,2025-03-03T16:30:00Z,deepseek-chat,2000000,1000000,0
a5,a,2025-03-03T23:59:59Z,deepseek-chat,0,0,1000000
b1,b,2025-03-04T00:00:00Z,deepseek-chat,0,0,2000000
b2,b,2025-03-04T12:00:00Z,deepseek-chat,1000000,0,0
b3,b,2025-03-04T12:00:00Z,gpt-4o-mini,1000000,0,0
'''

# No fee: revenue is 1.00 per 1M of every class, so the margin is revenue - the cost above.
# a: 6M in + 1M cached + 3M out = 10.00; b: 2M in + 2M out = 4.00.
LIST = '''id: list
version: 2025-01-01
currency: USD
interval: month
charges:
  - kind: rate_card
    name: Usage
    rates:
      - {models: ["*"], input: "1.00", cached_input: "1.00", output: "1.00"}
'''

# A capacity charge makes the comparison group the usage by hour as well: the time-of-day rows
# must not depend on it (same supplier cost).
CAPACITY = '''id: reserved
version: 2025-01-01
currency: USD
interval: month
charges:
  - kind: capacity
    name: Reserved
    meter:
      tokens: [input, cached_input, cache_write, output]
    bucket: hour
    baseload:
      per_bucket: 1_000
      price_per_mtok: "1.00"
    spot:
      timezone: UTC
      schedule:
        - { default: true, price_per_mtok: "2.00" }
'''

HALF_HOUR = 30 * 60 * 1_000_000


@pytest.fixture(scope="module")
def book() -> CostBook:
    return CostBook.default()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_cost_book_prices_deepseek_window_by_window(book: CostBook) -> None:
    # genai-prices: deepseek-chat's standard price is constrained to 00:30-16:30 UTC.
    assert book.time_of_day_edges("deepseek-chat") == (HALF_HOUR, 33 * HALF_HOUR)
    assert book.time_of_day_edges("gpt-4o-mini") == ()
    day = date(2025, 3, 3)
    windows = book.windows("deepseek-chat", day)
    assert [(start, level.prices()) for start, level in windows] == [
        (0, (Decimal("0.135"), Decimal("0.035"), Decimal("0.135"), Decimal("0.55"))),
        (HALF_HOUR, (Decimal("0.27"), Decimal("0.07"), Decimal("0.27"), Decimal("1.1"))),
        (33 * HALF_HOUR, (Decimal("0.135"), Decimal("0.035"), Decimal("0.135"),
                          Decimal("0.55"))),
    ]
    # one microsecond before the edge is still the earlier window
    before = book.lookup("deepseek-chat", day, time_of_day=33 * HALF_HOUR - 1)
    assert before.input == Decimal("0.27")
    assert before.source.endswith("(time-of-day price in force at 16:29:59.999999 UTC)")
    assert book.lookup("deepseek-chat", day, time_of_day=33 * HALF_HOUR).input == Decimal("0.135")
    # Without a time (daily usage), the price in force most of the day, and the source says so.
    majority = book.lookup("deepseek-chat", day)
    assert majority.input == Decimal("0.27")
    assert "960 min of the day" in majority.source
    # 1M output at 16:45 UTC: 0.55
    cost = book.cost("deepseek-chat", Counts(output=1_000_000), 0, day,
                     time_of_day=33 * HALF_HOUR + 15 * 60 * 1_000_000)
    assert cost.amount == Decimal("0.55")


@pytest.mark.parametrize("engine", ["duckdb", "python"])
@pytest.mark.parametrize("hourly", [False, True])
def test_time_of_day_rows_split_the_daily_rows_at_the_window_edges(
        tmp_path: Path, book: CostBook, engine: str, hourly: bool) -> None:
    trace = write(tmp_path / "t.csv", TRACE)
    result = aggregate_trace(TraceSpec(trace), thresholds=book.thresholds(), hourly=hourly,
                             engine=engine, time_of_day=book.time_of_day_edges)
    # summed over long-context bands (a row per band: a5 has no prompt, the others do)
    summed: dict[tuple[str, int, int], list[int]] = {}
    for r in result.aggregates.time_of_day.to_pylist():
        assert r["model"] == "deepseek-chat"
        found = summed.setdefault((r["customer_id"], r["day"], r["since_us"]), [0, 0, 0, 0])
        for i, name in enumerate(("input", "cached_input", "output", "events")):
            found[i] += r[name]
    got = [(*key, *sums) for key, sums in sorted(summed.items())]
    mar3 = 20150  # days since 1970-01-01
    assert got == [
        ("a", mar3, 0, 1_000_000, 0, 1_000_000, 1),                     # a1
        ("a", mar3, HALF_HOUR, 3_000_000, 0, 1_000_000, 2),             # a2 (once) + a3
        ("a", mar3, 33 * HALF_HOUR, 2_000_000, 1_000_000, 1_000_000, 2),  # a4 + a5
        ("b", mar3 + 1, 0, 0, 0, 2_000_000, 1),                         # b1
        ("b", mar3 + 1, HALF_HOUR, 1_000_000, 0, 0, 1),                 # b2
    ]  # gpt-4o-mini (one price all day) has none
    # without the edges nothing is grouped by time of day
    plain = aggregate_trace(TraceSpec(trace), thresholds=book.thresholds(), engine=engine)
    assert plain.aggregates.time_of_day is None


@pytest.mark.parametrize("engine", ["duckdb", "python"])
def test_compare_costs_time_of_day_usage_window_by_window(
        tmp_path: Path, book: CostBook, engine: str) -> None:
    trace = write(tmp_path / "t.csv", TRACE)
    write(tmp_path / "list.yaml", LIST)
    write(tmp_path / "reserved.yaml", CAPACITY)
    report = compare(load_catalog([tmp_path / "list.yaml", tmp_path / "reserved.yaml"]),
                     TraceSpec(trace), costbook=book,
                     options=CompareOptions(break_even=False, workers=1, engine=engine))
    for plan in report.plans:  # the supplier cost does not depend on the plan
        assert plan.cost == Decimal("4.97")  # 3.45 + 1.52 (module docstring), not 7.61
        assert {c.customer_id: c.cost for c in plan.customers} == {
            "a": Decimal("3.45"), "b": Decimal("1.52")}
    listed = next(p for p in report.plans if p.id == "list")
    assert listed.revenue == Decimal("14.00")  # 10.00 + 4.00
    assert listed.margin == Decimal("9.03")    # 14.00 - 4.97
    assert any("deepseek-chat" in n and "price window" in n for n in report.notes)


def test_billing_compare_cli_costs_time_of_day_usage_window_by_window(tmp_path: Path) -> None:
    trace = write(tmp_path / "t.csv", TRACE)
    plan = write(tmp_path / "list.yaml", LIST)
    out = tmp_path / "report.json"
    assert main(["compare", "--plans", str(plan), "--trace", str(trace), "--json", str(out),
                 "--quiet", "--no-break-even"]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    (listed,) = report["plans"]
    assert Decimal(listed["cost"]) == Decimal("4.97")
    assert Decimal(listed["margin"]) == Decimal("9.03")


def test_cache_hit_rate_moves_time_of_day_rows_with_the_daily_rows(
        tmp_path: Path, book: CostBook) -> None:
    # --cache-hit-rate needs a trace without cache data: TRACE without a4's cached tokens.
    # Half of every time-of-day row's fresh input becomes cached input:
    #   a slot 00:00 (off)  1M in, 1M out -> 0.5M x 0.135 + 0.5M x 0.035 + 0.55 = 0.635
    #   a slot 00:30 (peak) 3M in, 1M out -> 1.5 x 0.27 + 1.5 x 0.07 + 1.10     = 1.61
    #   a slot 16:30 (off)  2M in, 1M out -> 1 x 0.135 + 1 x 0.035 + 0.55       = 0.72
    #   b slot 00:00 (off)  2M out        -> 1.10
    #   b slot 00:30 (peak) 1M in         -> 0.5 x 0.27 + 0.5 x 0.07            = 0.17
    #   b gpt-4o-mini 1M in (cached 0.075) -> 0.5 x 0.15 + 0.5 x 0.075         = 0.1125
    # a 2.965, b 1.3825: 4.3475
    trace = write(tmp_path / "t.csv", TRACE.replace(",2000000,1000000,0", ",2000000,0,0"))
    result = aggregate_trace(TraceSpec(trace), thresholds=book.thresholds(),
                             time_of_day=book.time_of_day_edges)
    moved, tokens = apply_cache_hit_rate(result.aggregates, Decimal("0.5"))
    assert tokens == 4_000_000  # half of 8M fresh input (a 1 + 3 + 2, b 1 + 1)
    rows = PricedRows(period_rows(moved, book, [20148]), book, moved.time_of_day)
    assert rows.costs.by_customer == {"a": Decimal("2.965"), "b": Decimal("1.3825")}


def test_usage_without_time_of_day_rows_is_an_error_not_the_days_price(
        tmp_path: Path, book: CostBook) -> None:
    trace = write(tmp_path / "t.csv", TRACE)
    result = aggregate_trace(TraceSpec(trace), thresholds=book.thresholds())
    with pytest.raises(CostBookError, match="deepseek-chat depends on the time of day"):
        PricedRows(period_rows(result.aggregates, book, [20148]), book,
                   result.aggregates.time_of_day)


def test_cost_file_entry_prices_the_model_the_same_all_day(tmp_path: Path) -> None:
    # A cost-file entry for deepseek-chat (one price all day) wins over the bundled windows:
    # 10M in + ... at 1.00 / 2.00 per 1M: a 6M in x 1 + 1M cached x 1 (no cached price: the
    # input price) + 3M out x 2 = 13.00; b 1M in x 1 + 2M out x 2 = 5.00, gpt-4o-mini 0.15.
    costs = write(tmp_path / "costs.yaml", '''currency: USD
models:
  - {model: "deepseek-chat", provider: deepseek, effective_from: 2025-01-01,
     input_per_mtok: 1.00, output_per_mtok: 2.00}
''')
    trace = write(tmp_path / "t.csv", TRACE)
    plan = write(tmp_path / "list.yaml", LIST)
    out = tmp_path / "report.json"
    assert main(["compare", "--plans", str(plan), "--trace", str(trace), "--costs", str(costs),
                 "--json", str(out), "--quiet", "--no-break-even"]) == 0
    (listed,) = json.loads(out.read_text(encoding="utf-8"))["plans"]
    assert Decimal(listed["cost"]) == Decimal("18.15")


def test_break_even_prices_the_representative_mix_window_by_window(
        tmp_path: Path, book: CostBook) -> None:
    # The break-even search scales the trace's mix to L tokens; at L = the trace's own tokens
    # (a: 6M in + 1M cached + 3M out, b: 2M in + 2M out: 14M) every row keeps its tokens, so
    # the mix costs what the trace costs: 4.97 (module docstring), not the 7.61 of the day's
    # price.
    trace = write(tmp_path / "t.csv", TRACE)
    result = aggregate_trace(TraceSpec(trace), thresholds=book.thresholds(),
                             time_of_day=book.time_of_day_edges)
    period = nth_period(date(2025, 3, 3), "month", 0)
    mix = ScaledMix(result.aggregates, period, book)
    assert mix.total == 14_000_000
    _, cost, tokens = mix.at(14_000_000, hourly=False)
    assert (cost, tokens) == (Decimal("4.97"), 14_000_000)
    # at half the level every slot is halved: 4.97 / 2 = 2.485 (every count is even)
    assert mix.at(7_000_000, hourly=False)[1] == Decimal("2.485")


def test_spark_gives_the_same_time_of_day_rows(tmp_path: Path, book: CostBook) -> None:
    trace = write(tmp_path / "t.csv", TRACE)
    rows = {}
    for engine in ("duckdb", "spark"):
        result = aggregate_trace(TraceSpec(trace), thresholds=book.thresholds(), engine=engine,
                                 time_of_day=book.time_of_day_edges)
        rows[engine] = sorted(tuple(r.values())
                              for r in result.aggregates.time_of_day.to_pylist())
    assert rows["spark"] == rows["duckdb"]
    assert len(rows["spark"]) == 6  # the 5 slots of the test above, a's 16:30 in two bands
