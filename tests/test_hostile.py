"""The hostile corpus (tests/fixtures/hostile/, README.md there says what is wrong with each file)
through every command that reads such a file, plus bad options and paths.

Every run must: exit non-zero; print a short message naming the file and, where the problem has
one, its line (record, for Parquet); never print a Python traceback, and never fall back to the
generic "internal error" line (that fallback is for bugs, not for bad files). Commands run
in-process through ``billing.cli.main``; two runs go through a real subprocess.

A trace whose bad value is in one row is rated with ``--strict``: the row is a reject, and
``--strict`` turns any reject into a non-zero exit whose message names the first rejected line.
"""

from __future__ import annotations

import os
import pty
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from billing.cli import main

ROOT = Path(__file__).parents[1]
HOSTILE = ROOT / "tests" / "fixtures" / "hostile"
GOOD_TRACE = Path(__file__).parent / "fixtures" / "clean-events.csv"
"""examples/events.csv without its deliberately bad rows (a duplicate, a missing customer...)."""
GOOD_SUBS = ROOT / "examples" / "subscriptions.yaml"
PLANS = ROOT / "plans"
PERIOD = "2026-11"


@dataclass(frozen=True)
class Case:
    """One corpus file: where the message must point (``line`` None: the file as a whole)."""

    name: str
    line: int | None = None
    unit: str = "line"  # "record" for Parquet rows
    options: tuple[str, ...] = ()  # extra options every command needs to read the file
    row: bool = False  # the problem is one row of a trace: a reject, fatal with --strict
    bomb: bool = False  # must be refused fast and small (alias bomb, deep nesting)
    also: tuple[int, ...] = ()  # other lines the message may name instead of ``line``


CASES: tuple[Case, ...] = (
    # plans
    Case("plan-alias-bomb.yaml", bomb=True),
    Case("plan-deep-nesting.yaml", bomb=True),
    Case("plan-invalid-utf8.yaml", 3),
    Case("plan-utf16-bom.yaml"),
    Case("plan-empty.yaml"),
    Case("plan-binary.yaml"),
    Case("plan-nul-byte.yaml", 2),
    Case("plan-duplicate-key.yaml", 5),
    Case("plan-bare-float-money.yaml", 9),
    Case("plan-toml-syntax.toml", 3),
    Case("plan-yaml-syntax.yaml", 4),
    Case("plan-list-document.yaml"),
    Case("plan-huge-number.yaml", 9),
    # subscriptions
    Case("subs-invalid-utf8.yaml", 3),
    Case("subs-unknown-plan.yaml", 4),
    Case("subs-alias-bomb.yaml", bomb=True),
    Case("subs-deep-nesting.json", bomb=True),
    Case("subs-empty.yaml"),
    Case("subs-duplicate-key.yaml", 5),
    Case("subs-utf16-bom.yaml"),
    Case("subs-binary.json"),
    # traces: the file as a whole
    Case("trace-utf16-bom.csv"),
    Case("trace-empty.csv"),
    Case("trace-binary.csv"),
    Case("trace-truncated.csv.gz"),
    Case("trace-not-gzip.csv.gz"),
    Case("trace-really-csv.parquet"),
    Case("trace-output-misspelled.csv"),
    Case("trace-prompt-completion.csv"),
    Case("trace-tokens-cased.csv"),
    Case("trace-cache-lookalike.csv"),
    Case("trace-needs-every-option.csv"),
    # traces: one bad row (rejected; --strict makes it fatal)
    Case("trace-negative-tokens.csv", 3, row=True),
    Case("trace-deep-nesting.jsonl", 2, row=True, bomb=True),
    Case("trace-bad-json-line.jsonl", 2, row=True),
    Case("trace-empty-token-value.csv", 2, row=True),
    Case("trace-year-1.csv", 2, row=True),
    Case("trace-numeric-timestamp-overflow.csv", 2, row=True, options=("--timestamp-unit", "s")),
    Case("trace-invalid-utf8.csv", 2, row=True),
    Case("trace-invalid-utf8.jsonl", 1, row=True),
    Case("trace-long-line.csv.gz", 3, row=True),
    Case("trace-formula-injection.csv", 2, row=True),
    Case("trace-uint64-tokens.parquet", 1, "record", row=True),
    Case("trace-nan-tokens.parquet", 1, "record", row=True),
    Case("trace-uint64-timestamp.parquet", 1, "record", row=True,
         options=("--timestamp-unit", "s")),
    Case("trace-nan-timestamp.parquet", 1, "record", row=True, options=("--timestamp-unit", "s")),
    # supplier cost files
    Case("costs-negative-price.yaml", 6),
    Case("costs-alias-bomb.yaml", bomb=True),
    Case("costs-deep-nesting.yaml", 2, bomb=True),
    Case("costs-invalid-utf8.csv", 3),
    Case("costs-duplicate-key.yaml", 6),
    Case("costs-empty.csv"),
    Case("costs-wrong-suffix.txt"),
    Case("costs-nan-price.yaml", 5),
    Case("costs-utf16-bom.csv"),
    # seats files (compare --seats FILE)
    Case("seats-non-integer.csv", 3),
    Case("seats-missing-column.csv", 1),
    Case("seats-empty.csv"),
    Case("seats-invalid-utf8.csv", 3),
    # invoices (push)
    Case("invoices-not-json.json", 1),
    Case("invoices-deep-nesting.json", bomb=True),
    Case("invoices-invalid-utf8.json", 2),
    Case("invoices-empty.json"),
    Case("invoices-binary.json"),
    # workloads (simulate)
    Case("workload-alias-bomb.yaml", bomb=True),
    Case("workload-deep-nesting.yaml", 2, bomb=True),
    Case("workload-invalid-utf8.yaml", 2),
    Case("workload-duplicate-key.yaml", 5),
    Case("workload-utf16-bom.yaml"),
    Case("workload-empty.yaml"),
    Case("workload-binary.yaml"),
)


def _discovered() -> tuple[Case, ...]:
    """Cases other helpers put in the folder and CASES does not list yet: the lines their
    ``# hostile:`` comment names (any of them), else the file as a whole."""
    listed = {case.name for case in CASES}
    found = []
    for path in sorted(HOSTILE.iterdir()):
        if path.name in listed or path.name in ("README.md", "make_corpus.py"):
            continue
        first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8", "replace")
        numbers = [int(n) for pair in re.findall(r"\blines? (\d+)(?:\s*(?:and|,)\s*(\d+))?",
                                                  first) for n in pair if n]
        found.append(Case(path.name, numbers[-1] if numbers else None,
                          "record" if path.suffix == ".parquet" else "line",
                          row=path.name.startswith("trace-"),
                          bomb="alias bomb" in first or "nested" in first,
                          also=tuple(numbers)))
    return tuple(found)


ALL_CASES = CASES + _discovered()


def _commands(case: Case, tmp: Path) -> list[list[str]]:
    """Every command line that reads ``case``'s file, with good companions for the rest."""
    f = str(HOSTILE / case.name)
    out = ["--out", str(tmp / "invoices.json"), "--rejects", str(tmp / "rejects.csv")]
    rate = ["rate", "--period", PERIOD, *out]
    compare = ["compare", "--quiet", "--fx", "EUR=1.08", "--rejects", str(tmp / "rejects.csv")]
    kind = case.name.split("-", 1)[0]
    if kind == "plan":
        return [["plan", "check", f],
                [*rate, "--events", str(GOOD_TRACE), "--subscriptions", str(GOOD_SUBS),
                 "--plans", f],
                [*compare, "--plans", f, "--trace", str(GOOD_TRACE)]]
    if kind == "subs":
        return [[*rate, "--events", str(GOOD_TRACE), "--subscriptions", f,
                 "--plans", str(PLANS)]]
    if kind == "trace":
        strict = ["--strict"]  # a reject is then an error naming its line
        return [[*rate, "--events", f, "--subscriptions", str(GOOD_SUBS), "--plans", str(PLANS),
                 *case.options, *strict],
                [*compare, "--plans", str(PLANS), "--trace", f, *case.options, *strict]]
    if kind == "costs":
        return [[*rate, "--events", str(GOOD_TRACE), "--subscriptions", str(GOOD_SUBS),
                 "--plans", str(PLANS), "--costs", f],
                [*compare, "--plans", str(PLANS), "--trace", str(GOOD_TRACE), "--costs", f]]
    if kind == "seats":
        return [[*compare, "--plans", str(PLANS), "--trace", str(GOOD_TRACE), "--seats", f]]
    if kind == "invoices":
        return [["push", f, "--dry-run"],
                ["push", f, "--api-key", "sk_test_hostile", "--state", str(tmp / "state.sqlite")]]
    if kind == "workload":
        return [["simulate", f, "--out", str(tmp / "trace.parquet")]]
    raise AssertionError(f"no commands for {case.name}")


def _where(case: Case) -> re.Pattern[str]:
    name = re.escape(case.name)
    if case.line is None:
        return re.compile(name)
    n = "|".join(str(line) for line in {case.line, *case.also})
    return re.compile(rf"{name}.*?(:({n})\b|\b(line|row|{case.unit}) ({n})\b)")


def _check(code: int, out: str, err: str, command: list[str], where: re.Pattern[str]) -> None:
    shown = f"billing {' '.join(command)}\nexit {code}\nstdout:\n{out[-2000:]}\nstderr:\n{err[-2000:]}"
    assert code != 0, shown
    assert "Traceback" not in out + err, shown
    assert "internal error" not in err, shown
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, shown
    assert len(lines) <= 5, shown
    assert all(len(line) <= 1000 for line in lines), shown  # no kilobytes of SQL or data
    assert any(where.search(line) for line in lines), shown


class _TooSlow(BaseException):
    """Raised by the alarm: a BaseException, so main()'s handlers let it through."""


@contextmanager
def _time_limit(seconds: int, command: list[str]) -> Iterator[None]:
    """Fail the test (not hang it) when a command runs longer than ``seconds``."""

    def ring(signum: int, frame: object) -> None:
        raise _TooSlow(f"billing {' '.join(command)} ran over {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    except _TooSlow as exc:
        pytest.fail(str(exc))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_the_corpus_has_at_least_40_cases_and_every_file_is_run() -> None:
    assert len(CASES) >= 40
    listed = {case.name for case in ALL_CASES}
    on_disk = {p.name for p in HOSTILE.iterdir()} - {"README.md", "make_corpus.py"}
    assert listed == on_disk, listed ^ on_disk


def test_every_case_says_what_is_wrong() -> None:
    readme = (HOSTILE / "README.md").read_text(encoding="utf-8")
    for case in ALL_CASES:
        head = (HOSTILE / case.name).read_bytes()[:200]
        assert head.startswith(b"# hostile:") or f"`{case.name}`" in readme, case.name


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.name)
def test_a_hostile_file_is_one_clear_error_in_every_command(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = _where(case)
    for command in _commands(case, tmp_path):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with _time_limit(10 if case.bomb else 120, command):
            code = main(command)
        elapsed = time.perf_counter() - started
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        captured = capsys.readouterr()
        _check(code, captured.out, captured.err, command, where)
        if case.bomb:
            assert elapsed < 2, f"billing {' '.join(command)} took {elapsed:.1f} s"
            assert grown_mb < 200, f"billing {' '.join(command)} grew by {grown_mb:.0f} MB"


def test_a_key_given_twice_in_a_cost_file_names_both_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    command = ["compare", "--quiet", "--plans", str(PLANS), "--trace", str(GOOD_TRACE),
               "--fx", "EUR=1.08", "--costs", str(HOSTILE / "costs-duplicate-key.yaml")]
    assert main(command) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {HOSTILE / 'costs-duplicate-key.yaml'}:6: input_per_mtok: given twice "
        "(first on line 5)")


def test_the_clean_trace_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The companion trace of the plan, subscription and cost cases rates without a reject."""
    code = main(["rate", "--events", str(GOOD_TRACE), "--subscriptions", str(GOOD_SUBS),
                 "--plans", str(PLANS), "--period", PERIOD, "--strict",
                 "--rejects", str(tmp_path / "r.csv")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""


# -- bad paths and options ------------------------------------------------------------------------


def _file_commands(path: str, tmp: Path) -> list[list[str]]:
    """Every option or argument that names a file to read, each given ``path``."""
    good = {"--events": str(GOOD_TRACE), "--subscriptions": str(GOOD_SUBS),
            "--plans": str(PLANS)}
    out = ["--out", str(tmp / "invoices.json"), "--rejects", str(tmp / "rejects.csv")]
    runs = [["plan", "check", path], ["push", path, "--dry-run"],
            ["simulate", path, "--out", str(tmp / "t.parquet")]]
    for option in ("--events", "--subscriptions", "--plans", "--costs"):
        args = {**good, option: path}
        runs.append(["rate", "--period", PERIOD, *out,
                     *[part for pair in args.items() for part in pair]])
    for option in ("--trace", "--plans", "--costs", "--seats"):
        args = {"--trace": str(GOOD_TRACE), "--plans": str(PLANS), option: path}
        runs.append(["compare", "--quiet", "--fx", "EUR=1.08",
                     *[part for pair in args.items() for part in pair]])
    return runs


def test_a_missing_file_is_named_by_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "no-such-file.yaml")
    for command in _file_commands(missing, tmp_path):
        code = main(command)
        captured = capsys.readouterr()
        _check(code, captured.out, captured.err, command, re.compile("no-such-file.yaml"))


def test_a_folder_where_a_file_is_expected_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "a-folder.csv"
    folder.mkdir()
    for command in _file_commands(str(folder), tmp_path):
        if command[0] == "plan" or ("--plans" in command and command[command.index("--plans") + 1] == str(folder)):
            continue  # a folder of plans is what --plans and plan check take
        code = main(command)
        captured = capsys.readouterr()
        _check(code, captured.out, captured.err, command, re.compile("a-folder.csv"))


BASE_COMPARE = ["compare", "--quiet", "--plans", str(PLANS), "--trace", str(GOOD_TRACE)]
BASE_RATE = ["rate", "--events", str(GOOD_TRACE), "--subscriptions", str(GOOD_SUBS),
             "--plans", str(PLANS), "--period", PERIOD]
ECONOMICS = ["economics", "--price-per-mtok", "10", "--tokens-per-task", "20000",
             "--hours-saved", "0.5", "--hourly-rate", "60"]


def _with(base: list[str], flag: str, value: str) -> list[str]:
    if flag in base:
        index = base.index(flag)
        return [*base[:index + 1], value, *base[index + 2:]]
    return [*base, flag, value]


BAD_OPTIONS: tuple[tuple[list[str], str], ...] = (
    ([*BASE_COMPARE, "--fx", "EUR=abc"], "--fx"),
    ([*BASE_COMPARE, "--fx", "EUR"], "--fx"),
    ([*BASE_COMPARE, "--fx", "EUR=-1.08"], "--fx"),
    ([*BASE_COMPARE, "--fx", "EUR=NaN"], "--fx"),
    ([*BASE_COMPARE, "--fx", "EUR=1.08", "--seats", "-3"], "--seats"),
    ([*BASE_COMPARE, "--fx", "EUR=1.08", "--cache-hit-rate", "1.5"], "--cache-hit-rate"),
    ([*BASE_COMPARE, "--fx", "EUR=1.08", "--supplier-price-change", "gpt-5"],
     "--supplier-price-change"),
    ([*BASE_COMPARE, "--fx", "EUR=1.08", "--map", "customer_id"], "--map"),
    ([*BASE_COMPARE, "--fx", "EUR=1.08", "--time-origin", "yesterday", "--timestamp-unit", "s"],
     "--time-origin"),
    ([*BASE_COMPARE, "--fx", "EUR=1.08", "--spark-master", "local[1]"], "--spark-master"),
    ([*BASE_RATE, "--timestamp-unit", "fortnights"], "--timestamp-unit"),
    (_with(BASE_RATE, "--period", "November"), "--period"),
    ([*BASE_RATE, "--model-map", "gpt"], "--model-map"),
    ([*BASE_RATE, "--skip-when", "status"], "--skip-when"),
    ([*BASE_RATE, "--assume-tz", "Mars/Olympus"], "--assume-tz"),
    (_with(ECONOMICS, "--price-per-mtok", "ten"), "--price-per-mtok"),
    (_with(ECONOMICS, "--price-per-mtok", "NaN"), "--price-per-mtok"),
    (_with(ECONOMICS, "--tokens-per-task", "-5"), "--tokens-per-task"),
    (_with(ECONOMICS, "--hourly-rate", "0"), "--hourly-rate"),
    (_with(ECONOMICS, "--hours-saved", "Infinity"), "--hours-saved"),
    ([*ECONOMICS, "--competitors", "1,two"], "--competitors"),
    ([*ECONOMICS, "--competitors", "0"], "--competitors"),
    (["simulate", str(ROOT / "examples" / "workload.yaml")], "--out"),
)


@pytest.mark.parametrize(("command", "flag"), BAD_OPTIONS,
                         ids=[" ".join(c[-2:]) for c, _ in BAD_OPTIONS])
def test_a_bad_option_is_one_error_naming_the_flag(
    command: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(command)
    captured = capsys.readouterr()
    _check(code, captured.out, captured.err, command, re.compile(re.escape(flag)))


def test_push_with_a_bad_collection_method_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    invoices = tmp_path / "invoices.json"
    assert main([*BASE_RATE, "--out", str(invoices), "--rejects", str(tmp_path / "r.csv")]) == 0
    capsys.readouterr()
    command = ["push", str(invoices), "--api-key", "sk_test_x", "--state",
               str(tmp_path / "state.sqlite"), "--collection-method", "by-pigeon"]
    code = main(command)
    captured = capsys.readouterr()
    _check(code, captured.out, captured.err, command, re.compile("--collection-method"))


def test_no_traceback_reaches_a_terminal(tmp_path: Path) -> None:
    """`billing compare` on a binary trace with a pseudo-terminal as stdout and stderr (rich
    draws progress bars and colours only for a terminal)."""
    master, slave = pty.openpty()
    command = [sys.executable, "-m", "billing", "compare", "--plans", str(PLANS), "--trace",
               str(HOSTILE / "trace-binary.csv"), "--fx", "EUR=1.08"]
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, cwd=tmp_path,
                            env={k: v for k, v in os.environ.items() if k != "BILLING_DEBUG"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=120)
    os.close(master)
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", b"".join(chunks).decode("utf-8", "replace"))
    assert code == 2, text
    assert "Traceback" not in text, text
    assert "trace-binary.csv" in text, text


# -- a real terminal -------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["plan", "check", str(HOSTILE / "plan-alias-bomb.yaml")],
    ["rate", "--events", str(HOSTILE / "trace-binary.csv"), "--subscriptions", str(GOOD_SUBS),
     "--plans", str(PLANS), "--period", PERIOD],
], ids=["plan-check-alias-bomb", "rate-binary-trace"])
def test_no_traceback_reaches_a_real_process(args: list[str], tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "billing", *args], capture_output=True,
                          text=True, check=False, cwd=tmp_path, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "BILLING_DEBUG"})
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert Path(args[-1] if args[0] == "plan" else args[2]).name in done.stderr
