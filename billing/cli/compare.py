"""``billing compare``: rate the same usage trace under every plan and compare margins.

A thin layer over :func:`billing.compare.compare`: it turns options into a
:class:`~billing.usage.mapping.TraceSpec` and :class:`~billing.compare.CompareOptions`, shows a
progress bar, prints the table and writes the JSON / CSV / HTML files. Exit code 0 on success,
2 for unusable input (bad trace, mapping, plan, cost book, missing exchange rate), each reported
as a one-line error naming the file and the reason.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import re
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from billing.cli._trace import (
    build_trace_spec,
    input_problems,
    parse_pairs,
    rejects_lines,
    trace_error,
)
from billing.compare import CompareOptions, ComparisonReport, compare
from billing.compare.offpeak import OffpeakShift
from billing.compare.report import BREAK_EVEN_HEADER, OFFPEAK_HEADER, PRICE_CHANGE_HEADER
from billing.compare.whatif import PriceChange
from billing.costs import CostBook
from billing.errors import BillingError
from billing.plans import load_catalog
from billing.textfile import TextProblem, read_text
from billing.usage.results import Reject, read_rejects
from billing.usage.spark import spark_session

__all__ = ["compare_command", "register"]


class _InputError(Exception):
    pass


def _fx(items: list[str]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for currency, text in parse_pairs(items, "--fx").items():
        try:
            rate = Decimal(text)
        except InvalidOperation:
            raise _InputError(f"--fx {currency}={text}: the rate is not a number") from None
        if not rate.is_finite() or rate <= 0:
            raise _InputError(f"--fx {currency}={text}: the rate must be positive")
        out[currency.upper()] = rate
    return out


def _seats(text: str) -> tuple[int, dict[str, int], str]:
    if re.fullmatch(r"[+-]?\d+", text.strip()):
        if int(text) < 1:  # a seat plan with no seat bills its platform fee only: say so, don't guess
            raise _InputError(f"--seats {text}: the number of seats per customer must be 1 or more "
                              "(or a CSV file customer_id,seats)")
        return int(text), {}, f"{int(text)} seat(s) per customer on seat plans (--seats)"
    path = Path(text)
    seats: dict[str, int] = {}
    try:
        reader = csv.DictReader(read_text(path).splitlines(keepends=True))
        if not reader.fieldnames or {"customer_id", "seats"} - set(reader.fieldnames):
            raise _InputError(f"{path}:1: a seats file needs the columns customer_id,seats")
        for row in reader:
            value = (row.get("seats") or "").strip()
            customer = (row.get("customer_id") or "").strip()
            if not customer or not value.isdigit():
                shown = repr(row) if len(repr(row)) <= 80 else repr(row)[:77] + "..."
                raise _InputError(f"{path}:{reader.line_num}: seats must be a whole number >= 0 "
                                  f"and customer_id non-empty, got {shown}")
            seats[customer] = int(value)
    except OSError as exc:
        raise _InputError(f"--seats {text}: not a number and not a readable CSV file "
                          f"({exc.strerror})") from None
    except TextProblem as exc:
        where = f"{path}:{exc.line}" if exc.line is not None else str(path)
        raise _InputError(f"{where}: {exc.reason}") from None
    except csv.Error as exc:
        raise _InputError(f"{path}:{reader.reader.line_num}: not valid CSV: {exc}") from None
    return 1, seats, f"seats per customer from {path} ({len(seats)} customers; others 1)"


def _price_changes(items: list[str]) -> tuple[PriceChange, ...]:
    out = []
    for item in items:
        try:
            out.append(PriceChange.parse(item))
        except ValueError as exc:
            raise _InputError(f"--supplier-price-change {item!r}: {exc}") from None
    return tuple(out)


def _offpeak_shifts(items: list[str]) -> tuple[OffpeakShift, ...]:
    out = []
    for item in items:
        try:
            out.append(OffpeakShift.parse(item))
        except ValueError as exc:
            raise _InputError(f"--offpeak-shift {item!r}: {exc}") from None
    return tuple(out)


def _cache_hit_rate(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise _InputError(f"--cache-hit-rate {text!r}: not a number (a share such as 0.4)") from None
    if not rate.is_finite() or not 0 <= rate <= 1:
        raise _InputError(f"--cache-hit-rate {text}: must be between 0 and 1 (a share of the "
                          "fresh input, e.g. 0.4)")
    return rate


def _print_what_if(report: ComparisonReport, console: Console) -> None:
    rows = report.price_change_rows()
    if rows:
        table = Table(title="What if: supplier price change ("
                      + "; ".join(c.label() for c, _ in (report.what_if.price_changes
                                                         if report.what_if else ()))
                      + ")", title_justify="left")
        for index, name in enumerate(PRICE_CHANGE_HEADER):
            table.add_column(name, justify="left" if index == 0 else "right")
        for row in rows:
            table.add_row(*(escape(v) for v in row))
        console.print(table)
        console.print("keep price: plans unchanged (cost-plus revenue follows cost: "
                      "pass-through = revenue change / cost change); keep margin %: revenue "
                      "= new cost x baseline revenue / baseline cost")
    rows = report.offpeak_rows()
    if rows:
        shifts = report.what_if.offpeak.shifts if report.what_if and report.what_if.offpeak else ()
        table = Table(title="What if: off-peak shift (" + "; ".join(s.label() for s, _ in shifts)
                      + ")", title_justify="left")
        for index, name in enumerate(OFFPEAK_HEADER):
            table.add_column(name, justify="left" if index == 0 else "right")
        for row in rows:
            table.add_row(*(escape(v) for v in row))
        console.print(table)
        console.print("off-peak shift: usage moved into the cheapest price window of its UTC "
                      "day; supplier cost changes, revenue does not (see the notes)")
    rows = report.break_even_rows()
    if rows:
        table = Table(title="Break-even: one customer with the trace's usage mix, tokens in "
                      "one whole billing period (the trace's first)", title_justify="left")
        for index, name in enumerate(BREAK_EVEN_HEADER):
            table.add_column(name, justify="left" if index == 0 else "right")
        for row in rows:
            table.add_row(*(escape(v) for v in row))
        console.print(table)


_TERMINAL_COLUMNS = ("plan", "revenue", "cost", "margin", "margin %", "neg. margin",
                     "cust. margin p50", "top 1% cost", "breakage", "baseload util.")


def _print_table(report: ComparisonReport, console: Console) -> None:
    table = Table(title=f"Plans on {report.trace.path} ({report.currency})",
                  title_justify="left")
    for index, name in enumerate(_TERMINAL_COLUMNS):
        table.add_column(name, justify="left" if index == 0 else "right")
    best_margin, best_revenue = report.best_by_margin.id, report.best_by_revenue.id
    for row, plan in zip(report.table_rows(), report.plans, strict=True):
        marks = "".join(m for m, best in (("*", best_margin), ("$", best_revenue))
                        if plan.id == best)
        cells = (plan.id + (f" {marks}" if marks else ""), *row[1:6],
                 row[6].split(" / ")[1], row[7], row[9], row[10])
        table.add_row(*(escape(v) for v in cells),
                      style="bold green" if marks else None)
    console.print(table)
    console.print("* best by margin, $ best by revenue (cust. margin p50: across customers "
                  "with revenue)")
    for line in report.best_lines():  # each "best" with its caveats
        console.print(escape(line))
    t = report.trace
    console.print(f"trace: {t.events:,} events, {t.customers:,} customers, {t.rejected:,} "
                  f"rejected, {t.skipped:,} skipped rows; {t.start} to {t.end}")
    if t.synthetic:
        console.print("[bold yellow]SYNTHETIC trace (metadata synthetic=true): not measured "
                      "usage[/bold yellow]")
    by_text: dict[str, list[str]] = {}
    for plan in report.plans:
        by_text.setdefault(plan.proration, []).append(plan.id)
    for text, ids in by_text.items():
        console.print(f"periods ({escape(', '.join(ids))}): {escape(text)}")
    for note in report.notes:
        console.print(f"note: {escape(note)}")
    _print_what_if(report, console)
    console.print("more figures (p5/p95, per-1M, by grade, HHI): --json, --csv, --html")


def compare_command(
    plans: Annotated[list[Path], typer.Option("--plans", help="Plan files or folders.")],
    trace: Annotated[Path, typer.Option("--trace", help="Usage trace (CSV, JSONL, Parquet).")],
    mapping: Annotated[list[str] | None, typer.Option(
        "--map", help="FIELD=COLUMN (or FIELD=COL1+COL2 for customer_id); repeatable.")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Model of every event, for traces without one.")] = None,
    model_map: Annotated[list[str] | None, typer.Option(
        "--model-map", help="VALUE=MODEL for the mapped model column; repeatable.")] = None,
    costs: Annotated[Path | None, typer.Option(
        "--costs", help="Supplier cost file (YAML/CSV) over the bundled prices.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON report.")] = None,
    csv_out: Annotated[Path | None, typer.Option(
        "--csv", help="Write one CSV row per plan and customer.")] = None,
    html_out: Annotated[Path | None, typer.Option(
        "--html", help="Write the self-contained HTML report.")] = None,
    seats: Annotated[str, typer.Option(
        "--seats", help="Seats per customer (N), or a CSV file customer_id,seats.")] = "1",
    fx: Annotated[list[str] | None, typer.Option(
        "--fx", help="CUR=RATE: 1 CUR = RATE report currency (USD); repeatable.")] = None,
    full_periods: Annotated[bool, typer.Option(
        "--full-periods", help="Bill whole periods even for a shorter trace.")] = False,
    assume_tz: Annotated[str | None, typer.Option(
        "--assume-tz", help="Zone of naive timestamps (e.g. UTC).")] = None,
    timestamp_unit: Annotated[Literal["iso", "s", "ms", "us"], typer.Option(
        "--timestamp-unit", help="iso, or numeric timestamps in s/ms/us.")] = "iso",
    time_origin: Annotated[str | None, typer.Option(
        "--time-origin", help="What numeric timestamps count from (ISO, with offset).")] = None,
    round_tokens: Annotated[bool, typer.Option(
        "--round-tokens", help="Round fractional token counts half-up.")] = False,
    skip_when: Annotated[list[str] | None, typer.Option(
        "--skip-when", help="COLUMN=VALUE: rows carrying no usage (reported as skipped).")] = None,
    rejects: Annotated[Path | None, typer.Option(
        "--rejects", help="Write bad and skipped rows here (CSV).")] = None,
    absent: Annotated[list[str] | None, typer.Option(
        "--absent", help="Token field the trace has no column for, on purpose: counted as 0 "
                         "(e.g. --absent output_tokens); repeatable.")] = None,
    input_includes_cached: Annotated[bool, typer.Option(
        "--input-includes-cached", help="The input column counts the cached prefix too "
                                        "(fresh input = input - cached).")] = False,
    usage_format: Annotated[Literal["openai", "anthropic", "gemini"] | None, typer.Option(
        "--usage-format", help="Each line is a provider's usage object (JSONL).")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 1 if any row is rejected or conflicts.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No table, no progress bar.")] = False,
    price_change: Annotated[list[str] | None, typer.Option(
        "--supplier-price-change",
        help="What-if: MODELGLOB=CHANGE, supplier prices of matching models x (1 + CHANGE); "
             "-0.8 = 80% cheaper; repeatable (the first matching glob applies).")] = None,
    cache_hit_rate: Annotated[str | None, typer.Option(
        "--cache-hit-rate",
        help="What-if for a trace without cache data: this share (0..1) of fresh input is "
             "billed as cached input (an assumption, repeated in the report).")] = None,
    offpeak_shift: Annotated[list[str] | None, typer.Option(
        "--offpeak-shift",
        help="What-if: SHARE (e.g. 30%) or MODELGLOB=SHARE: that share of the usage of models "
             "priced by time of day (DeepSeek) outside the day's cheapest window moves into "
             "it; repeatable (the first matching glob applies).")] = None,
    no_break_even: Annotated[bool, typer.Option(
        "--no-break-even", help="Skip the break-even search.")] = False,
    engine: Annotated[Literal["duckdb", "spark", "python"], typer.Option(
        "--engine", help="Aggregation engine: duckdb (embedded), spark, python.")] = "duckdb",
    spark_master: Annotated[str | None, typer.Option(
        "--spark-master", help="Spark master URL for --engine spark (default: the running "
                               "session, else local[*]).")] = None,
) -> int:
    """Rate the same usage under every plan and compare revenue, supplier cost and margin."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a pipe or a file: do not squeeze the table to 80
    errors = Console(stderr=True)
    try:
        spec = build_trace_spec(
            trace, mapping=mapping or [], model=model, model_map=model_map or [],
            assume_tz=assume_tz, timestamp_unit=timestamp_unit, time_origin=time_origin,
            round_tokens=round_tokens, skip_when=skip_when or [], absent=absent or [],
            input_includes_cached=input_includes_cached, usage_format=usage_format,
        )
        default_seats, by_customer, seats_note = _seats(seats)
        rates = _fx(fx or [])
        changes = _price_changes(price_change or [])
        hit_rate = _cache_hit_rate(cache_hit_rate)
        shifts = _offpeak_shifts(offpeak_shift or [])
        catalog = load_catalog(plans)
        book = CostBook.load(costs) if costs is not None else CostBook.default()
        notes = [seats_note]
        notes += [f"1 {c} = {r} {book.currency} (--fx)" for c, r in rates.items()]
        notes.append(f"supplier cost from {costs if costs else 'the bundled genai-prices data'}")
        if spark_master is not None:
            if engine != "spark":
                raise _InputError("--spark-master needs --engine spark")
            spark_session(spark_master)  # the active session that engine 'spark' uses
        problems = input_problems(spec)  # every missing option at once, --fx included
        for currency in sorted({p.currency for p in catalog} - {book.currency} - set(rates)):
            ids = [p.id for p in catalog if p.currency == currency]
            more = f" (and {len(ids) - 1} more)" if len(ids) > 1 else ""
            problems.append(f"plan {ids[0]!r}{more} is priced in {currency}: --fx "
                            f"{currency}=RATE (1 {currency} = RATE {book.currency})")
        if problems:
            raise trace_error(spec, problems)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=errors, transient=True,
                      disable=quiet) as progress:
            task = progress.add_task("reading and aggregating the trace", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, description="rating customers under each plan",
                                completed=done, total=total)

            with tempfile.TemporaryDirectory() as scratch:
                # Without --rejects, the rejects go to a scratch file: the first few are shown.
                rejects_path = rejects or Path(scratch) / "rejects.csv"
                try:
                    report = compare(catalog, spec, costbook=book, options=CompareOptions(
                        seats=default_seats, seats_by_customer=by_customer, fx=rates,
                        full_periods=full_periods, rejects_path=rejects_path,
                        notes=tuple(notes), progress=advance, price_changes=changes,
                        cache_hit_rate=hit_rate, break_even=not no_break_even, engine=engine,
                        offpeak_shifts=shifts,
                    ))
                except BillingError as exc:
                    if rejects is None:  # the scratch file is gone once this returns
                        exc.args = (str(exc).replace(f"; all of them in {rejects_path}", ""),)
                    shown, _ = _rejects_seen(rejects_path)
                    if shown:  # no valid event: the first reject names its line
                        exc.args = (f"{exc}; first: {shown[0]}",)
                    raise
                shown, failing = _rejects_seen(rejects_path)
                report = dataclasses.replace(report, rejects_path=rejects)
    except (_InputError, BillingError) as exc:
        message = str(exc).replace("\n", "; ")
        errors.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
        return 2
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(report.to_json(), encoding="utf-8")
    if csv_out is not None:
        report.to_csv(csv_out)
    if html_out is not None:
        html_out.parent.mkdir(parents=True, exist_ok=True)
        html_out.write_text(report.to_html(), encoding="utf-8")
    if not quiet:
        _print_table(report, console)
    for line in rejects_lines(shown, failing, written_to=rejects, asked=rejects is not None):
        errors.print(escape(line), soft_wrap=True, highlight=False)
    if strict and failing:
        errors.print(f"[red]error:[/red] {failing:,} rejected row{'s' if failing != 1 else ''} "
                     "(--strict)", highlight=False)
        return 1
    return 0


def _rejects_seen(path: Path) -> tuple[list[Reject], int]:
    """The first rejected rows (skipped rows aside) of a rejects file, and how many there
    are (bad rows and conflicting copies)."""
    rows = [r for r in read_rejects(path) if not r.reason.startswith("skipped: ")]
    return list(itertools.islice(rows, 5)), len(rows)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
