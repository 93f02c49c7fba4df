"""Benchmark local speech on every core: a recipe's Piper lines rendered one at a time and in parallel.

Scenario (issue 10): a recipe of ``--lines`` (default 40) dialogue lines of 8-16 words for a cast of
four local voices (the bundled Piper voice in four styles), ``render: lines``: one ``speak`` step per
line. Each measure runs in its own process with a fresh cache; the Piper voice is loaded before the
clock starts (loading is the same either way), then ``open_project(recipe).run(jobs=N)``; the figure
is the time until the last ``speak`` step has rendered (the join, mix and master follow, untimed).

* ``serial``: ``jobs=1``, one onnxruntime thread per line (``AUDIOFLOW_PIPER_THREADS=1``);
* ``serial, onnxruntime threads``: ``jobs=1`` with ``AUDIOFLOW_PIPER_THREADS=0`` (onnxruntime's
  default: every core works on the one line, as the engine now does for a line spoken alone), the
  best a one-line-at-a-time engine can do;
* ``parallel``: ``jobs`` = the machine's cores, the engine's own setting: a line per core, one
  thread each (a line spoken alone, at the end, on a thread per core).

The goal: parallel at most 0.6x the faster serial figure on 2 cores.

Usage: ``python benchmarks/bench_piper_parallel.py [--lines 40]``; prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CAST = ("narrator", "mara", "tom", "ines")
WORDS = ("the", "night", "shift", "was", "quiet", "until", "a", "bell", "rang", "twice", "in", "back", "room")
WORDS += ("and", "nobody", "answered", "her", "question", "about", "tea", "or", "letter", "on", "Tuesday")


def recipe_text(lines: int, seed: int = 7) -> str:
    rnd = random.Random(seed)
    rows = ["audioflow: 1", "title: Piper parallel", "provider: local", "cast:"]
    rows += [f"  {name}: {{}}" for name in CAST]
    rows += ["steps:", "  scene:", "    dialogue:"]
    for n in range(lines):
        text = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(8, 16))).capitalize()
        rows.append(f"      - {CAST[n % len(CAST)]}: Line {n + 1}, {text}.")
    rows += ["mix:", "  - {track: scene}", "master: {format: wav}", "output: out/piper.wav", ""]
    return "\n".join(rows)


def child(recipe: Path, jobs: int) -> None:
    from audioflow.engine import StepEvent, StepStatus, open_project
    from audioflow.providers.local import _VOICES, _bundled_model

    _VOICES.get(_bundled_model())  # the voice loads before the clock starts
    project = open_project(recipe)
    done: list[float] = []

    def on_event(event: StepEvent) -> None:
        if event.kind == "speak" and event.status == StepStatus.RENDERED:
            done.append(time.perf_counter())

    started = time.perf_counter()
    report = project.run(jobs=jobs, on_event=on_event)
    if not report.ok:
        raise SystemExit("the run failed")
    cpu = os.times()
    print(json.dumps({"seconds": max(done) - started, "lines": len(done), "cpu_s": cpu.user + cpu.system}))


def measure(lines: int, jobs: int, threads: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "piper.yaml"
        recipe.write_text(recipe_text(lines), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDIOFLOW_PIPER_THREADS": threads}
        env.pop("AUDIOFLOW_CACHE_DIR", None)
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(recipe), str(jobs)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"child failed:\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), int(args.child[1]))
        return
    cores = os.cpu_count() or 1
    print(
        f"# Piper parallel benchmark: {platform.platform()}, Python {platform.python_version()}, {cores} cores; "
        f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    figures = {
        "serial_s": measure(args.lines, 1, "1")["seconds"],
        "serial_ort_threads_s": measure(args.lines, 1, "0")["seconds"],
        "parallel_s": measure(args.lines, cores, "")["seconds"],  # the engine's own setting
    }
    best_serial = min(figures["serial_s"], figures["serial_ort_threads_s"])
    figures["ratio"] = figures["parallel_s"] / best_serial
    figures["load_after"] = os.getloadavg()[0]
    print(
        f"{args.lines} Piper lines: serial {figures['serial_s']:.2f} s; serial with onnxruntime's threads "
        f"{figures['serial_ort_threads_s']:.2f} s; parallel ({cores} at once) {figures['parallel_s']:.2f} s = "
        f"{figures['ratio']:.2f}x the faster serial (goal <= 0.6x)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
