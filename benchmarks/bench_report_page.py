"""Benchmark the CPU one report page costs (issue 13: a cluster renders a hundred of them).

Renders RECIPE once offline (default the night-shift demo, ``provider: local``: Piper speech,
placeholder sounds; a copy of ``recipes/`` under ``--work``, so the first run takes a minute and
later ones reuse its cache), then renders the report page of its first output ``--repeats`` times
(default 20) in this process, as a bounce does (:func:`audioflow.engine.report.page_bytes`: the mix
placed again, the figure drawn, the kept previews embedded). Prints the CPU seconds
(``time.process_time``: this process, all threads) of a page whose texts are all new to the process
(the text extents ``report_figures`` remembers forgotten first: a worker's first page of a recipe),
of a page whose texts were measured before (the same page again; in a batch, the lane names, tick
labels and titles every page shares), and of the figure alone, median and range; the page's size and
whether every page came out byte-identical. Older code's per-process reuse of figures
(``report_figures._KEPT``) is emptied before each page, so every page draws every figure.

``--code DIR`` imports audioflow from another checkout (e.g. ``git archive main | tar -x -C DIR``)
for a before/after comparison on the same cache. ``--profile N`` prints cProfile's top N functions
of one more page.

Usage: ``python benchmarks/bench_report_page.py [RECIPE] [--work DIR] [--repeats N] [--code DIR]
[--profile N]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _cpu(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.process_time()
    out = call()
    return time.process_time() - start, out


def _summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return f"{name}: median {statistics.median(ms):.0f} ms CPU (min {ms[0]:.0f}, max {ms[-1]:.0f}; n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", default="night-shift.yaml", help="a recipe file name in recipes/")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "audioflow-bench-page")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose audioflow renders")
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's top N of one more page")
    args = parser.parse_args()
    sys.path.insert(0, str(args.code.resolve()))

    from audioflow.engine import open_project, report, report_figures
    from audioflow.engine.facade import _manifest_beside

    recipes = args.work / "recipes"
    if not recipes.is_dir():
        shutil.copytree(ROOT / "recipes", recipes, ignore=shutil.ignore_patterns("out", ".audioflow"))
    project = open_project(recipes / args.recipe, cache_dir=args.work / "cache")
    first, ran = _cpu(lambda: project.run())
    assert ran.ok, ran.warnings
    print(f"{args.recipe}: run {first:.1f} s CPU (a fresh --work renders everything once)")
    plan = project.plan()
    result = report.cached_result(plan)
    output = plan.graph.recipe.outputs[0]
    manifest = _manifest_beside(output)

    def forget(texts: bool) -> None:
        """Forget the figures kept per process (older code) and, if ``texts``, the text extents."""
        kept = getattr(report_figures, "_KEPT", None)
        if kept is not None:
            kept.clear()
        metrics = getattr(report_figures, "_text_metrics", None)
        if texts and metrics is not None:
            metrics.cache_clear()

    def page(texts: bool) -> bytes:
        forget(texts)
        return report.page_bytes(plan, result, project.store, output.path, output.step_id, manifest=manifest)

    data = report.collect(plan, result, project.store, output.path, output.step_id)

    def figures(texts: bool) -> Any:
        forget(texts)
        return report_figures.draw(data)

    page(True)  # imports, previews, fonts: a worker's first page
    cold, warm, drawn, digests = [], [], [], set()
    for _ in range(args.repeats):
        seconds, made = _cpu(lambda: page(True))
        cold.append(seconds)
        digests.add(hashlib.sha256(made).hexdigest())
        seconds, made = _cpu(lambda: page(False))
        warm.append(seconds)
        digests.add(hashlib.sha256(made).hexdigest())
        drawn.append(_cpu(lambda: figures(True))[0])
    print(f"{data.duration_ms / 1000:.1f} s programme, {len(data.lanes)} lanes, {len(data.blocks)} blocks")
    print(_summary("page, every text new to the process", cold))
    print(_summary("page, its texts measured before", warm))
    print(_summary("figures alone, every text new", drawn))
    print(f"page {len(made) / 1000:.0f} KB; identical every time: {len(digests) == 1}")
    print(f"load average: {os.getloadavg()[0]:.1f}")
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(figures, True)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
