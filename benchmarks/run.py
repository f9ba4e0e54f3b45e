"""Measure, side by side in one run on the same trace file:

(a) the raw floor: one DuckDB GROUP BY customer, model, hour that checks nothing
    (``benchmarks/floor_duckdb.py``);
(a2) the validating floor: DuckDB doing the minimum that correct rating needs (every row
    validated and the bad ones counted, repeated ids dropped, then the same GROUP BY: a check
    pass and a grouping; ``benchmarks/floor_duckdb.py --validated``);
(b) ``billing compare`` of 10 plans (plans/ plus benchmarks/plans/), end to end, JSON out;
(b9) the same with 9 plans (without benchmarks/plans/10-cost-plus-50.yaml): the 10th plan's cost
     (the median over the rounds of that round's b - b9, over b9);
(c) a straightforward pandas script rating the PAYG plan alone (benchmarks/pandas_payg.py).

Each runs in its own process (interpreter start included), ``--repeat`` times (default 3), in
turn (each round starting one run later than the previous, b9 before b every other round), and
the median wall time is reported (runs on a shared 2-core machine vary by a second or two); peak
RSS is the largest of the runs, from the operating system (``os.wait4``: the process's
own peak, worker processes of ``billing compare`` are separate). Prints a table, the ratios b/a2,
b/a and c/b, and JSON (also written with ``--json``).

``--compare-commits OLD NEW`` measures b for two commits in the same run instead of b and b9:
each commit is checked out with ``git worktree add`` in a temporary folder and its own
``billing compare`` runs there on its own plan files (``PYTHONPATH`` set to that checkout,
nothing installed), the two alternating (NEW before OLD every other round) between a, a2 and c.
It reports each commit's median b and its ratios b/a2 and b/a, from the medians and as the
median of each round's ratio (less exposed to the machine's drift between rounds); the
worktrees are removed afterwards. The live checkout is not measured (uncommitted edits in it
are not part of either commit).

    python benchmarks/run.py benchmarks/data/events-10m.parquet --json benchmarks/data/run.json
    python benchmarks/run.py benchmarks/data/events-10m.parquet --repeat 5 \\
        --compare-commits 1307383 HEAD --json benchmarks/data/run-commits.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
PLANS = ROOT / "plans"
VARIANTS = ROOT / "benchmarks" / "plans"


Run = tuple[list[str], Path, dict[str, str] | None]  # argv, working folder, environment


def measure(argv: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None
            ) -> dict[str, float]:  # float-ok: seconds and megabytes
    # Output goes to files, not pipes: a pipe that fills up would stall the process measured.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            out.seek(0)
            err.seek(0)
            raise SystemExit(f"failed: {' '.join(argv)}\n{out.read().decode()[-4000:]}\n"
                             f"{err.read().decode()[-4000:]}")
    # Linux reports ru_maxrss in kilobytes.
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def git(*args: str) -> str:
    found = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if found.returncode != 0:
        raise SystemExit(f"git {' '.join(args)}: {found.stderr.strip()}")
    return found.stdout.strip()


@contextmanager
def worktrees(commits: list[str]) -> Iterator[list[Path]]:
    """A detached ``git worktree`` of each commit in a temporary folder, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="billing-bench-"))
    made: list[Path] = []
    try:
        for n, commit in enumerate(commits):
            path = folder / f"{n}-{commit[:10]}"
            git("worktree", "add", "--detach", "--quiet", str(path), commit)
            made.append(path)
        yield made
    finally:
        for path in made:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT,
                           capture_output=True, check=False)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def checkout_env(path: Path) -> dict[str, str]:
    """The environment running ``python -m billing`` from the checkout at ``path``; refuses to
    go on if Python would import ``billing`` from anywhere else."""
    env = dict(os.environ, PYTHONPATH=str(path))
    found = subprocess.run([sys.executable, "-c", "import billing; print(billing.__file__)"],
                           cwd=path, env=env, capture_output=True, text=True, check=False)
    where = Path(found.stdout.strip() or ".").resolve()
    if found.returncode != 0 or not where.is_relative_to(path.resolve()):
        raise SystemExit(f"billing in {path} does not import from that checkout "
                         f"({found.stdout.strip() or found.stderr.strip()[-500:]})")
    return env


def compare_argv(trace: Path, root: Path, plans: int, json_out: Path) -> list[str]:
    """``billing compare`` of the first ``plans`` plans of the checkout at ``root`` (plans/,
    then benchmarks/plans/ in name order)."""
    variants = sorted((root / "benchmarks" / "plans").glob("*.yaml"))
    extra = plans - len(list((root / "plans").glob("*.yaml")))
    if extra < 0 or extra > len(variants):
        raise SystemExit(f"{root}: cannot make {plans} plans from plans/ and benchmarks/plans/")
    return [sys.executable, "-m", "billing", "compare", "--trace", str(trace), "--fx",
            "EUR=1.08", "--quiet", "--plans", str(root / "plans"),
            *(a for v in variants[:extra] for a in ("--plans", str(v))),
            "--json", str(json_out)]


def rounds(runs: dict[str, Run], repeat: int, swap: tuple[str, str]
           ) -> dict[str, list[dict[str, float]]]:
    """Every run ``repeat`` times in turn: each round starts one run later than the previous
    (the machine's speed drifts from one run to the next; a fixed order turned that into a
    bias), and every other round runs the two runs of ``swap`` the other way round (else one
    of them mostly ran right after the other)."""
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
    names = list(runs)
    first, second = names.index(swap[0]), names.index(swap[1])
    for repeat_no in range(repeat):
        order = list(names)
        if repeat_no % 2 == 1:
            order[first], order[second] = order[second], order[first]
        shift = repeat_no % len(order)
        for name in order[shift:] + order[:shift]:
            argv, cwd, env = runs[name]
            samples[name].append(measure(argv, cwd, env))
    return samples


def per_round(samples: dict[str, list[dict[str, float]]], top: str, bottom: str) -> float:
    """The median over the rounds of that round's ``top / bottom``."""
    return round(statistics.median(
        x["seconds"] / y["seconds"] for x, y in zip(samples[top], samples[bottom], strict=True)),
        2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare-commits", nargs=2, metavar=("OLD", "NEW"), default=None,
                        help="measure b of two commits side by side (git worktrees), "
                             "instead of b and b9")
    args = parser.parse_args()
    trace = args.trace.resolve()
    if not trace.is_file():
        raise SystemExit(f"{args.trace}: no such file (make it with benchmarks/generate.py)")
    out_dir = args.out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    events = pq.ParquetFile(trace).metadata.num_rows
    synthetic = (pq.read_schema(trace).metadata or {}).get(b"synthetic") == b"true"
    py = sys.executable
    floors: dict[str, Run] = {
        "a_duckdb_floor": ([py, "benchmarks/floor_duckdb.py", str(trace)], ROOT, None),
        "a2_validated_floor": ([py, "benchmarks/floor_duckdb.py", str(trace), "--validated"],
                               ROOT, None),
    }
    pandas: dict[str, Run] = {
        "c_pandas_payg": ([py, "benchmarks/pandas_payg.py", str(trace),
                           str(PLANS / "01-payg-rate-card.yaml")], ROOT, None),
    }
    report: dict[str, object] = {
        "trace": {"path": str(args.trace), "events": events, "synthetic": synthetic},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
    }
    if args.compare_commits is None:
        runs = {**floors,
                "b_compare_10_plans": (compare_argv(trace, ROOT, 10, out_dir / "compare-10.json"),
                                       ROOT, None),
                "b9_compare_9_plans": (compare_argv(trace, ROOT, 9, out_dir / "compare-9.json"),
                                       ROOT, None),
                **pandas}
        samples = rounds(runs, args.repeat, ("b_compare_10_plans", "b9_compare_9_plans"))
        results = summarize(samples, events)
        a, a2, b, b9, c = (results[k]["seconds"] for k in runs)
        # The 10th plan's cost from the two runs of each round, less exposed to the machine's
        # drift between rounds than the difference of two medians.
        tenth = statistics.median(
            x["seconds"] - y["seconds"] for x, y in
            zip(samples["b_compare_10_plans"], samples["b9_compare_9_plans"], strict=True))
        ratios = {"b_over_a2": round(b / a2, 2), "b_over_a": round(b / a, 2),
                  "a2_over_a": round(a2 / a, 2), "c_over_b": round(c / b, 2),
                  "b_over_a2_per_round": per_round(samples, "b_compare_10_plans",
                                                   "a2_validated_floor"),
                  "tenth_plan_share": round(tenth / b9, 3)}
        report |= {"commands": commands(runs, py), "results": results, "ratios": ratios}
        print_table(results)
        print(f"b/a2 = {ratios['b_over_a2']}  b/a = {ratios['b_over_a']}  "
              f"a2/a = {ratios['a2_over_a']}  c/b = {ratios['c_over_b']}  "
              f"10th plan adds {ratios['tenth_plan_share']:.1%} to b")
    else:
        old, new = (git("rev-parse", "--verify", f"{name}^{{commit}}")
                    for name in args.compare_commits)
        plans_differ = bool(git("diff", "--name-only", old, new, "--", "plans",
                                "benchmarks/plans"))
        with worktrees([old, new]) as (old_root, new_root):
            b_old, b_new = f"b_compare_10_plans@{old[:7]}", f"b_compare_10_plans@{new[:7]}"
            runs = {**floors,
                    b_old: (compare_argv(trace, old_root, 10, out_dir / "compare-10-old.json"),
                            old_root, checkout_env(old_root)),
                    b_new: (compare_argv(trace, new_root, 10, out_dir / "compare-10-new.json"),
                            new_root, checkout_env(new_root)),
                    **pandas}
            samples = rounds(runs, args.repeat, (b_old, b_new))
            # The goldens' promise, checked on the way: both commits wrote the same report.
            same_json = ((out_dir / "compare-10-old.json").read_bytes()
                         == (out_dir / "compare-10-new.json").read_bytes())
            commands_run = commands(runs, py, {old_root: f"<{old[:7]}>", new_root:
                                               f"<{new[:7]}>"})
        results = summarize(samples, events)
        a, a2 = results["a_duckdb_floor"]["seconds"], results["a2_validated_floor"]["seconds"]
        c = results["c_pandas_payg"]["seconds"]
        commits = {}
        for label, name, commit, given in (("old", b_old, old, args.compare_commits[0]),
                                           ("new", b_new, new, args.compare_commits[1])):
            b = results[name]["seconds"]
            commits[label] = {
                "commit": commit, "given_as": given,
                "b_seconds": b, "b_over_a2": round(b / a2, 2), "b_over_a": round(b / a, 2),
                "c_over_b": round(c / b, 2),
                "b_over_a2_per_round": per_round(samples, name, "a2_validated_floor"),
                "b_over_a_per_round": per_round(samples, name, "a_duckdb_floor")}
        ratios = {"a2_over_a": round(a2 / a, 2),
                  "new_over_old_per_round": per_round(samples, b_new, b_old)}
        report |= {"commands": commands_run, "results": results, "commits": commits,
                   "ratios": ratios, "plans_differ": plans_differ,
                   "json_identical": same_json}
        print_table(results)
        for label, figures in commits.items():
            print(f"{label} {figures['commit'][:10]} ({figures['given_as']}): "
                  f"b = {figures['b_seconds']:.2f} s  b/a2 = {figures['b_over_a2']} "
                  f"(per round {figures['b_over_a2_per_round']})  b/a = {figures['b_over_a']} "
                  f"(per round {figures['b_over_a_per_round']})  c/b = {figures['c_over_b']}")
        print(f"a2/a = {ratios['a2_over_a']}  new b / old b per round = "
              f"{ratios['new_over_old_per_round']}")
        print("the two commits' JSON reports are "
              + ("byte-identical" if same_json else "DIFFERENT (compare-10-old/new.json)"))
        if plans_differ:
            print("note: the two commits' plan files differ; each rated its own")
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")


def summarize(samples: dict[str, list[dict[str, float]]], events: int
              ) -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    for name, found in samples.items():
        seconds = statistics.median(r["seconds"] for r in found)
        results[name] = {"seconds": seconds, "runs": [r["seconds"] for r in found],
                         "peak_rss_mb": max(r["peak_rss_mb"] for r in found),
                         "events_per_s": round(events / seconds)}
    return results


def commands(runs: dict[str, Run], py: str, roots: dict[Path, str] | None = None
             ) -> dict[str, str]:
    """Each run's command line, without this machine's paths."""
    shown = {}
    for name, (argv, _, _) in runs.items():
        text = " ".join(argv)
        for root, label in (roots or {}).items():
            text = text.replace(str(root) + "/", label + "/")
        shown[name] = text.replace(str(ROOT) + "/", "").replace(py, "python")
    return shown


def print_table(results: dict[str, dict[str, object]]) -> None:
    width = max(22, *(len(name) + 2 for name in results))
    print(f"{'run':<{width}}{'seconds':>9}{'peak RSS MB':>13}{'events/s':>14}")
    for name, figures in results.items():
        print(f"{name:<{width}}{figures['seconds']:>9.2f}{figures['peak_rss_mb']:>13.1f}"
              f"{figures['events_per_s']:>14,}")


if __name__ == "__main__":
    main()
