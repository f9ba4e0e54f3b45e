"""Regenerate the README's screenshots from what the current version produces on shipped data.

    python scripts/screenshots.py            # writes docs/img/compare-report.png and
                                             # docs/img/design-a-plan.png
    python scripts/screenshots.py --check    # also prints the figures the README quotes

Each screenshot is the HTML report of a command the README shows, run by this version of
``billing`` (in-process, through the same ``main`` as the command line), rendered by headless
Chromium (``chromium --headless --screenshot``; Debian's ``chromium`` package, which
``scripts/setup.sh`` installs). Nothing is edited by hand: re-run this script whenever the report
changes, and commit the images with the change.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "docs" / "img"
WIDTH = 1440
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--force-device-scale-factor=1", "--virtual-time-budget=10000")


@dataclass(frozen=True)
class Shot:
    image: str
    height: int
    """Pixels of the page shown, from its top."""
    commands: tuple[tuple[str, ...], ...]
    """``billing`` commands, run in a scratch folder (``{repo}``: this repository); the last
    one writes ``report.html`` and ``report.json`` there."""


SERVEGEN = ("compare", "--plans", "{repo}/plans", "--costs", "{repo}/examples/costbook.yaml",
            "--fx", "EUR=1.08",
            "--trace", "data/traces/servegen_reason_deepseek-r1_client_windows.csv.gz",
            "--map", "customer_id=pool+client_id", "--map", "timestamp=window_start_s",
            "--map", "input_tokens=input_tokens_expected",
            "--map", "output_tokens=output_tokens_expected",
            "--map", "requests=requests_expected", "--timestamp-unit", "s",
            "--time-origin", "2026-01-05T00:00:00Z", "--round-tokens",
            "--skip-when", "token_pdf_available=False", "--model", "deepseek-r1")

SHOTS = (
    # README "Compare plans on real usage": the ServeGen command of "In five minutes"
    Shot("compare-report.png", 2300, (SERVEGEN,)),
    # README "Design a plan": steps 1 and 2 of the walk-through
    Shot("design-a-plan.png", 3700, (
        ("simulate", "{repo}/examples/workload.yaml", "--out", "trace.parquet"),
        ("compare", "--plans", "{repo}/plans", "--trace", "trace.parquet", "--fx", "EUR=1.08",
         "--supplier-price-change", "claude-sonnet*=-0.8"),
    )),
)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("screenshots: no chromium found (bash scripts/setup.sh installs it)")


@contextlib.contextmanager
def _inside(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def run(command: Sequence[str], scratch: Path, last: bool) -> None:
    if str(REPO) not in sys.path:  # this checkout's billing, whatever else is installed
        sys.path.insert(0, str(REPO))
    from billing.cli import main

    args = [a.replace("{repo}", str(REPO)) for a in command]
    # a shipped trace is read from the repository by the path the README gives
    shipped = args[0] == "compare" and args[args.index("--trace") + 1].startswith("data/")
    where = REPO if shipped else scratch
    if last:
        args += ["--html", str(scratch / "report.html"), "--json", str(scratch / "report.json"),
                 "--quiet"]
    with _inside(where):
        code = main(args)
    if code != 0:
        sys.exit(f"screenshots: billing {' '.join(command)} exited with {code}")


def shoot(shot: Shot, browser: str, out: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        for n, command in enumerate(shot.commands, 1):
            run(command, scratch, n == len(shot.commands))
        page = scratch / "report.html"
        # the page names the trace as given: no path of this machine in a committed image
        text = page.read_text(encoding="utf-8").replace(str(REPO) + "/", "")
        page.write_text(text, encoding="utf-8")
        subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={scratch / 'profile'}",
                        f"--window-size={WIDTH},{shot.height}", f"--screenshot={out}",
                        page.as_uri()], check=True, capture_output=True, timeout=300)
        report: dict[str, object] = json.loads((scratch / "report.json").read_text("utf-8"))
    print(f"wrote {out}")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true",
                        help="print the plans' figures of each report (what the README quotes)")
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder of the images")
    args = parser.parse_args(argv)
    browser = chromium()
    args.out.mkdir(parents=True, exist_ok=True)
    for shot in SHOTS:
        report = shoot(shot, browser, args.out / shot.image)
        if args.check:
            print(json.dumps({k: report[k] for k in ("best", "best_by_margin_without_unused")},
                             indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
