"""Benchmark what the HTML report costs a fully cached rerun (issue 12's follow-up; issue 10's budget).

Runs ``python -m audioflow run RECIPE --cache-dir CACHE`` as a subprocess ``--repeats`` times (default
5) after one warm-up run that fills the cache and the report's previews, and prints each wall time,
the median, and the size of every ``*.report.html`` the run wrote. ``--code DIR`` runs another
checkout's audioflow (e.g. an export of ``main`` before this change: ``git archive main | tar -x -C
DIR``) against the same cache, for a before/after comparison.

Usage: ``python benchmarks/bench_report_rerun.py [RECIPE] [--cache-dir DIR] [--code DIR] [--repeats N]``
(default RECIPE ``recipes/earnest.yaml``; the cache defaults to a folder under the system temp dir).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(code: Path, recipe: Path, cache: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(code))
    start = time.perf_counter()
    command = [sys.executable, "-m", "audioflow", "run", str(recipe.resolve()), "--cache-dir", str(cache.resolve())]
    subprocess.run(command, env=env, cwd=code, check=True, capture_output=True)  # -m puts cwd first
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", type=Path, default=ROOT / "recipes" / "earnest.yaml")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "audioflow-bench-report")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose audioflow runs")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warm = _run(args.code, args.recipe, args.cache_dir)
    times = [_run(args.code, args.recipe, args.cache_dir) for _ in range(args.repeats)]
    print(f"warm-up (fills the cache): {warm:.2f} s")
    print("fully cached runs: " + ", ".join(f"{t:.2f}" for t in times) + f" s; median {statistics.median(times):.2f} s")
    print(f"load average: {os.getloadavg()[0]:.1f}")
    for page in sorted((args.recipe.parent / "out").glob("*.report.html")):
        print(f"{page.name}: {page.stat().st_size / 1000:.0f} KB")


if __name__ == "__main__":
    main()
