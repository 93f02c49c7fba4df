"""Benchmark the scheduler's makespan: independent remote steps on a fake host with a fixed latency.

Scenario (issue 10): ``--steps`` (default 200) independent ``speak`` steps (one dialogue of that many
lines, ``render: lines``) on the fake Segmind of ``tests/fakes`` (127.0.0.1, its own threads), where
every submission takes ``--latency`` seconds (default 2) to answer and the job is then complete on the
first status poll; the recipe allows ``--concurrency`` (default 8) requests at a time. The ideal
makespan is ``ceil(steps / concurrency) × latency`` (50 s for the defaults); the goal is at most
1.05× that.

Measured (``on_event``): the makespan of the remote steps, from the run's start (after the plan) to
the last ``speak`` step rendered; the whole run's wall time (the dialogue join, mix and master of
200 short takes follow); the most submissions the fake saw in flight at once (must equal the
concurrency: fewer wastes slots, more breaks the host's limit).

Usage: ``python benchmarks/bench_scheduler.py [--steps 200] [--latency 2] [--concurrency 8]
[--poll 50ms]``; prints one JSON line last (``run_all.py`` reads it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fakes.base import max_overlap  # noqa: E402
from fakes.recipes import dialogue_recipe  # noqa: E402
from fakes.segmind import KEY, segmind_hosts  # noqa: E402

from audioflow.engine import StepEvent, StepStatus, open_project  # noqa: E402


def recipe_text(steps: int, concurrency: int, poll: str) -> str:
    lines = [f"Line number {i} of the long scene." for i in range(steps)]
    return dialogue_recipe(
        lines, title="Scheduler benchmark", output="out/scheduler.wav", concurrency=concurrency, poll_interval=poll
    )


def measure(steps: int, latency_s: float, concurrency: int, poll: str) -> dict[str, float]:
    """One run on fresh fakes and a fresh cache; the figures (see the module docstring)."""
    with segmind_hosts() as hosts, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(hosts.env)
        os.environ["SEGMIND_API_KEY"] = KEY
        os.environ.pop("AUDIOFLOW_CACHE_DIR", None)
        hosts.api.opt.queued_polls = 0
        hosts.api.opt.processing_polls = 0
        hosts.api.opt.output_s = 0.5
        hosts.api.slow(latency_s, methods=["POST"], paths=[r"^/v2/[^/]+$"])
        recipe = Path(tmp) / "scheduler.yaml"
        recipe.write_text(recipe_text(steps, concurrency, poll), encoding="utf-8")
        project = open_project(recipe)
        done: list[float] = []

        def on_event(event: StepEvent) -> None:
            if event.kind == "speak" and event.status == StepStatus.RENDERED:
                done.append(time.perf_counter())

        started = time.perf_counter()
        report = project.run(on_event=on_event, jobs=os.cpu_count() or 2)
        wall = time.perf_counter() - started
        if not report.ok or len(done) != steps:
            bad = [f"{o.step.id}: {o.error}" for o in report.result.outcomes.values() if o.error][:3]
            raise SystemExit(f"the run failed ({len(done)} of {steps} speak steps rendered): {bad}")
        submits = hosts.api.calls("POST", r"^/v2/[^/]+$")
        if os.environ.get("BENCH_TRACE"):
            t0 = min(r.t_start for r in hosts.api.requests)
            for r in sorted(hosts.all_requests(), key=lambda r: r.t_start):
                print(f"{r.t_start - t0:7.3f} {(r.t_end or 0) - r.t_start:6.3f} {r.method} {r.path[:50]}")
        return {
            "makespan_s": max(done) - started,
            "run_s": wall,
            "bound_s": math.ceil(steps / concurrency) * latency_s,
            "max_in_flight": max_overlap(submits),
            "submits": len(submits),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--latency", type=float, default=2.0, help="seconds each submission takes (default 2)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--poll", default="50ms", help="the recipe's poll_interval (default 50ms)")
    args = parser.parse_args()
    print(
        f"# scheduler benchmark: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} cores; "
        f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    figures = measure(args.steps, args.latency, args.concurrency, args.poll)
    figures["ratio"] = figures["makespan_s"] / figures["bound_s"]
    figures["load_after"] = os.getloadavg()[0]
    print(
        f"{args.steps} remote steps, {args.latency:g} s latency, concurrency {args.concurrency}: makespan "
        f"{figures['makespan_s']:.2f} s = {figures['ratio']:.3f}× the bound {figures['bound_s']:g} s "
        f"(goal ≤ 1.05×); whole run {figures['run_s']:.2f} s; at most {figures['max_in_flight']} submissions "
        f"in flight ({figures['submits']} in all)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
