"""Issue 10's start-up, edit, local-speech and scheduler goals, measured by their own scripts (each a
subprocess) and gathered into one Markdown table for ``run_all.py``. Every figure carries the load
average around it: the machine is shared, and at a load of 10 every figure roughly doubles.

``python benchmarks/goals.py`` prints the table alone.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _run(script: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{script} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _last_json(out: str) -> dict[str, float]:
    return json.loads(out.strip().splitlines()[-1])


def noop_run() -> tuple[float, str]:
    out = _run("bench_noop_run.py", "--repeats", "5")
    row = re.search(r"\| `audioflow run RECIPE` \(subprocess\) \| \d+ \| (\d+) \|.*\| (\d+) \|$", out, re.M)
    assert row is not None, out
    inproc = re.search(r"\| in-process `open_project\(\.\.\.\)\.run\(\)`, warm \| \d+ \| (\d+) \|", out)
    note = f"median of 5; CPU {int(row.group(2)) / 1000:.2f} s; in-process {inproc.group(1) if inproc else '?'} ms"
    return int(row.group(1)) / 1000, note


def validate() -> tuple[float, str]:
    out = _run("bench_validate.py", "--repeats", "5", "--only-realistic")
    row = re.search(r"\| realistic-1MB \| [\d,]+ \| ([\d.]+) s, ([\d.]+) s \|", out)
    assert row is not None, out
    return float(row.group(1)), f"median of 5; CPU {row.group(2)} s"


def cli_help() -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "audioflow")], check=True, capture_output=True)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "audioflow", "--help"], capture_output=True, env=env, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times), "median of 5"


def edit_line() -> tuple[float, str]:
    out = _run("bench_edit_line.py", "--repeats", "5")
    row = re.search(r"median ([\d.]+) s, min ([\d.]+) s, max ([\d.]+) s", out)
    assert row is not None, out
    return float(row.group(1)), f"median of 5 ({row.group(2)}–{row.group(3)} s)"


def edit_line_watch() -> tuple[float, str]:
    out = _run("bench_edit_line.py", "--repeats", "5", "--watch")
    row = re.search(r"median ([\d.]+) s, min ([\d.]+) s, max ([\d.]+) s", out)
    assert row is not None, out
    return float(row.group(1)), f"median of 5 ({row.group(2)}–{row.group(3)} s); save → last output written"


def piper() -> tuple[float, str]:
    figures = _last_json(_run("bench_piper_parallel.py"))
    return figures["ratio"], (
        f"serial {figures['serial_s']:.1f} s (onnxruntime's threads: {figures['serial_ort_threads_s']:.1f} s), "
        f"parallel {figures['parallel_s']:.1f} s"
    )


def scheduler() -> tuple[float, str]:
    figures = _last_json(_run("bench_scheduler.py"))
    return figures["ratio"], (
        f"makespan {figures['makespan_s']:.1f} s of the 50 s bound; {figures['max_in_flight']:.0f} in flight at most"
    )


#: (goal, unit, the bound, the measure)
GOALS: list[tuple[str, str, float, Callable[[], tuple[float, str]]]] = [
    ("no-op run of a 500-step recipe, `audioflow run` wall", "s", 0.3, noop_run),
    ("`validate` of a 1 MB recipe, CLI wall", "s", 1.0, validate),
    ("`audioflow --help`", "s", 0.15, cli_help),
    ("one-line edit of `recipes/earnest.yaml` under `audioflow watch`", "s", 5.0, edit_line_watch),
    ("one-line edit of `recipes/earnest.yaml`, a cold `audioflow run` wall", "s", 5.0, edit_line),
    ("40 Piper lines on every core / serial", "×", 0.6, piper),
    ("scheduler makespan, 200 remote steps, 2 s latency, concurrency 8 / 50 s", "×", 1.05, scheduler),
]


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def table() -> str:
    rows = []
    for goal, unit, bound, measure in GOALS:
        before = _load()
        value, note = measure()
        met = "yes" if value <= bound else "**no**"
        rows.append(f"| {goal} | {value:.3g} {unit} | ≤ {bound:g} {unit} | {met} | {before} → {_load()} | {note} |")
        print(rows[-1], flush=True)
    return "\n".join(
        [
            f"Measured {datetime.date.today().isoformat()} with `python benchmarks/run_all.py --only-goals` "
            f"({os.cpu_count()} cores, Python {sys.version.split()[0]}).",
            "",
            "| goal | measured | bound | met? | load average (1 min) before → after | note |",
            "|---|---:|---:|---|---|---|",
            *rows,
        ]
    )


if __name__ == "__main__":
    print(table())
