"""Record the golden outputs: what this version bills and reports on shipped inputs.

    python scripts/goldens.py              # re-record tests/goldens/ from the current code
    python scripts/goldens.py --check      # compare with tests/goldens/, list what differs

``tests/test_goldens.py`` regenerates every file into a temporary folder and compares it byte
for byte with ``tests/goldens/``, so a refactor that changes one invoice line or one report
figure fails CI. What is recorded (all through ``billing.cli.main``, as a user runs it):

- ``rate-examples.json``: ``billing rate`` of examples/subscriptions.yaml on examples/events.csv,
  period 2026-11 (the README's command);
- ``rate-catalog-<plan id>.json``: every catalog plan, with every customer of examples/events.csv
  subscribed to it from 2026-11-01 (3 seats), on those events and on the same events x 1,000
  (``rate-catalog-heavy-<plan id>.json``: large enough to reach overage tiers, credit top-ups,
  spot capacity and the commitment), period 2026-11;
- ``compare-<trace>.json``, ``.csv``, ``.html``: ``billing compare`` of plans/ on every trace of
  data/traces with the options README.md and docs/compare.md give for it (the Azure trace also
  with ``--cache-hit-rate 0.4``).

Nothing is normalised: the reports embed neither the version of ``billing`` nor the date of
the run (should one ever do, normalise only that, here, and say so).

Re-recording after a deliberate change: make the change, run ``python scripts/goldens.py``,
read ``git diff tests/goldens`` line by line (every difference must be one the change intends),
and commit the goldens in the same commit as the change, saying in the message why they moved.
Never re-record to make a refactor pass: a refactor must leave the goldens byte-identical.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOLDENS = REPO / "tests" / "goldens"
PLANS = REPO / "plans"
EXAMPLES = REPO / "examples"
TRACES = REPO / "data" / "traces"
PERIOD = "2026-11"
HEAVY = 1000  # token multiplier of the heavy catalog run

SERVEGEN = [
    "--costs", "examples/costbook.yaml", "--fx", "EUR=1.08",
    "--map", "customer_id=pool+client_id", "--map", "timestamp=window_start_s",
    "--map", "input_tokens=input_tokens_expected", "--map", "output_tokens=output_tokens_expected",
    "--map", "requests=requests_expected", "--timestamp-unit", "s",
    "--time-origin", "2026-01-05T00:00:00Z", "--round-tokens",
    "--skip-when", "token_pdf_available=False",
]
AZURE = ["--map", "customer_id=service", "--assume-tz", "UTC", "--model", "gpt-4o-mini",
         "--fx", "EUR=1.08"]

#: name -> arguments of ``billing compare`` (plans and outputs are added)
COMPARES: dict[str, list[str]] = {
    "azure2023": ["--trace", "data/traces/azure2023_requests.csv.gz", *AZURE],
    "azure2023-cache-0.4": ["--trace", "data/traces/azure2023_requests.csv.gz", *AZURE,
                            "--cache-hit-rate", "0.4"],
    "servegen-deepseek-r1": [
        "--trace", "data/traces/servegen_reason_deepseek-r1_client_windows.csv.gz", *SERVEGEN,
        "--model", "deepseek-r1"],
    "servegen-m-small": [
        "--trace", "data/traces/servegen_language_m-small_client_windows.csv.gz", *SERVEGEN,
        "--model", "m-small"],
}


@contextlib.contextmanager
def _in_repo() -> Iterator[None]:
    """Run with the repository as working directory, so paths in outputs are relative."""
    import os

    before = Path.cwd()
    os.chdir(REPO)
    try:
        yield
    finally:
        os.chdir(before)


def _run(args: list[str]) -> None:
    from billing.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(args)
    if code != 0:
        raise SystemExit(f"goldens: `billing {' '.join(args)}` exited {code}")


def _valid_events(heavy: bool, out: Path) -> list[str]:
    """The valid rows of examples/events.csv (optionally x HEAVY tokens); their customers."""
    with (EXAMPLES / "events.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    tokens = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
    kept = [r for r in rows if r["customer_id"] and r["timestamp"].endswith("Z")
            and all(int(r[t]) >= 0 for t in tokens)]
    if heavy:
        for row in kept:
            for t in tokens:
                row[t] = str(int(row[t]) * HEAVY)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
    return sorted({r["customer_id"] for r in kept})


def _plan_ids() -> dict[str, Path]:
    from billing.plans import load_plan

    return {load_plan(p).id: p for p in sorted(PLANS.glob("*.yaml"))}


def record(out: Path) -> list[Path]:
    """Write every golden file into ``out``; return them."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with _in_repo(), tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        target = out / "rate-examples.json"
        _run(["rate", "--plans", "plans/", "--subscriptions", "examples/subscriptions.yaml",
              "--events", "examples/events.csv", "--period", PERIOD, "--out", str(target),
              "--rejects", str(tmp / "examples.rejects.csv")])
        written.append(target)
        for heavy in (False, True):
            events = tmp / f"events-{heavy}.csv"
            customers = _valid_events(heavy, events)
            for plan_id, plan_path in _plan_ids().items():
                subs = tmp / f"subs-{plan_id}.yaml"
                subs.write_text("subscriptions:\n" + "".join(
                    f"  - {{customer_id: {c}, plan: {plan_id}, start: 2026-11-01, seats: 3}}\n"
                    for c in customers), encoding="utf-8")
                name = f"rate-catalog-{'heavy-' if heavy else ''}{plan_id}.json"
                _run(["rate", "--plans", str(plan_path.relative_to(REPO)), "--subscriptions",
                      str(subs), "--events", str(events), "--period", PERIOD,
                      "--out", str(out / name), "--rejects", str(tmp / "rejects.csv")])
                written.append(out / name)
        for name, args in COMPARES.items():
            files = {ext: out / f"compare-{name}.{ext}" for ext in ("json", "csv", "html")}
            _run(["compare", "--plans", "plans/", *args, "--quiet",
                  "--json", str(files["json"]), "--csv", str(files["csv"]),
                  "--html", str(files["html"])])
            written.extend(files.values())
    return written


def differences(recorded: Path, expected: Path = GOLDENS) -> list[str]:
    """Names of the files that differ between two golden folders (missing or extra included)."""
    names = {p.name for p in recorded.iterdir()} | {p.name for p in expected.iterdir()}
    return sorted(n for n in names if not (recorded / n).is_file() or not (expected / n).is_file()
                  or (recorded / n).read_bytes() != (expected / n).read_bytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not re-record")
    args = parser.parse_args(argv)
    if not args.check:
        for old in GOLDENS.glob("*"):
            old.unlink()
        print(f"recorded {len(record(GOLDENS))} files in tests/goldens/")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        record(Path(tmp))
        changed = differences(Path(tmp))
    for name in changed:
        print(f"differs: {name}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
