"""Benchmark a one-line edit of ``recipes/earnest.yaml``: what a producer waits for after changing a line.

The recipe and its assets are copied into a temporary folder and rendered once (untimed: Piper
speaks every line, so the cache holds every take). Then, ``--repeats`` times, one dialogue line is
edited (a different ending each time, so each edit is a new take) and ``audioflow run`` runs as a
subprocess (``python -m audioflow``, start-up and imports included): Piper speaks the edited line,
the dialogue is joined again, the mix and the master are rendered again, the output is bounced.
The wall time of that subprocess is the figure (goal: at most 5 s).

``--watch`` times the same edits under ``audioflow watch earnest.yaml`` instead (the edit loop
``audioflow init`` suggests): one process stays up, so the interpreter, the imports and the Piper
voice are paid once; each figure is from the save of the edited recipe to the watcher printing the
last output's report line (what the producer waits for before pressing play).

``--breakdown`` also runs one more edit in-process (``open_project(...).run()`` with an event
hook) and prints when each re-rendered step started and ended, each master's stages (measuring,
limiting+encoding, verifying: earnest has two outputs, an mp3 and an ACX m4b, each its own
master step) and the bounce and report pages after the last master, so the time can be attributed.

Usage: ``python benchmarks/bench_edit_line.py [--repeats 5] [--breakdown] [--watch]``
"""

from __future__ import annotations

import argparse
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LINE = "      - lane: Yes, sir; eight bottles and a pint."


def edit(recipe: Path, n: int) -> None:
    """Replace the edited line's text with variant ``n`` (every variant is a new take)."""
    text = recipe.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith("      - lane: Yes, sir; eight bottles"))
    lines[index] = f"{LINE[:-1]}, and {n + 2} more.\n"
    recipe.write_text("".join(lines), encoding="utf-8")


def run_cli(folder: Path) -> float:
    """Wall time of ``audioflow run earnest.yaml`` in ``folder``. With ``--allow-qc-fail``: a QC check
    that fails costs the same work and is printed (its warning line), not a reason to stop timing."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "audioflow", "run", "earnest.yaml", "--allow-qc-fail"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"audioflow run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    for line in done.stderr.splitlines():
        if line.startswith("warning: QC:"):
            print(f"  ({line})")
    return wall


class Watcher:
    """``audioflow watch earnest.yaml`` in ``folder``, its output lines read as they come."""

    def __init__(self, folder: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "audioflow", "watch", "earnest.yaml"]
        self.process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put((time.perf_counter(), line.rstrip()))
        self.lines.put((time.perf_counter(), ""))

    def until(self, prefix: str, count: int = 1, timeout_s: float = 300.0) -> float:
        """When the ``count``-th line starting with ``prefix`` from now was printed (perf_counter s)."""
        deadline = time.perf_counter() + timeout_s
        while True:
            at, line = self.lines.get(timeout=max(0.0, deadline - time.perf_counter()))
            if not line and self.process.poll() is not None:
                raise SystemExit(f"audioflow watch exited ({self.process.returncode})")
            if line.startswith("warning: QC:"):
                print(f"  ({line})")
            if line.startswith(prefix):
                count -= 1
                if count == 0:
                    return at

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def watched_edits(folder: Path, repeats: int) -> list[float]:
    """Each edit's wall under ``audioflow watch``: from the save to the last output's report line."""
    outputs = 2  # earnest.mp3 and earnest.m4b: a render ends with one "report:" line each
    watcher = Watcher(folder)
    try:
        started = time.perf_counter()
        watcher.until("report:", outputs)
        print(f"first render under watch (untimed fill): {time.perf_counter() - started:.1f} s")
        watcher.until("watching")  # the watcher is up: an edit from now on is seen
        walls = []
        for n in range(repeats):
            edit(folder / "earnest.yaml", n)
            saved = time.perf_counter()
            walls.append(watcher.until("report:", outputs) - saved)
            print(f"edit {n + 1}: {walls[-1]:.2f} s")
            watcher.until("watching")
        return walls
    finally:
        watcher.stop()


def breakdown(folder: Path) -> None:
    """One edit in-process: each re-rendered step's start, stages and end, seconds from ``open_project``;
    then the bounce and the report pages (everything after the last step)."""
    from audioflow.engine import open_project

    started = time.perf_counter()
    marks: list[str] = []
    last = [0.0]

    def on_event(event: object) -> None:
        at = time.perf_counter() - started
        status, message = str(event.status), event.message  # type: ignore[attr-defined]
        if status != "cached":
            marks.append(f"{at:6.2f} s  {event.step_id:<20} {status} {message if status == 'progress' else ''}")  # type: ignore[attr-defined]
            last[0] = at

    project = open_project(folder / "earnest.yaml")
    opened = time.perf_counter() - started
    report = project.run(on_event=on_event)
    total = time.perf_counter() - started
    print(f"  {opened:6.2f} s  open_project (load, expand)")
    for mark in marks:
        print(f"  {mark}")
    outputs = ", ".join(str(b.path.name) for b in report.outputs)
    print(f"  {total:6.2f} s  done: bounce + {len(report.outputs)} report pages {total - last[0]:.2f} s ({outputs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--breakdown", action="store_true")
    parser.add_argument("--watch", action="store_true", help="time the edits under `audioflow watch`")
    args = parser.parse_args()
    print(f"load average before: {'/'.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="audioflow-edit-") as tmp:
        folder = Path(tmp)
        shutil.copy(ROOT / "recipes" / "earnest.yaml", folder / "earnest.yaml")
        shutil.copytree(ROOT / "recipes" / "assets", folder / "assets")
        if args.watch:
            walls = watched_edits(folder, args.repeats)
        else:
            print(f"first render (untimed fill): {run_cli(folder):.1f} s")
            walls = []
            for n in range(args.repeats):
                edit(folder / "earnest.yaml", n)
                walls.append(run_cli(folder))
                print(f"edit {n + 1}: {walls[-1]:.2f} s")
        if args.breakdown:
            edit(folder / "earnest.yaml", args.repeats)
            breakdown(folder)
    load = os.getloadavg()
    how = " under audioflow watch" if args.watch else ""
    print(
        f"\none-line edit of earnest.yaml{how}, {len(walls)} runs: median {statistics.median(walls):.2f} s, "
        f"min {min(walls):.2f} s, max {max(walls):.2f} s (goal <= 5 s)\n"
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}"
    )


if __name__ == "__main__":
    main()
