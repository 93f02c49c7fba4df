"""Benchmark a no-op run: a large recipe whose every step is already in the cache.

This measures what a producer pays on every rerun before anything is rendered: loading and
validating the recipe, expanding it, planning (one input digest and one store lookup per step),
the scheduler walking the graph, and the bounce (copy the master, write the manifest, SRT and VTT).

Scenario (``--steps`` total, default 500): a cast of four voices; ``--dialogues`` dialogue steps
(default 5) whose lines total ``steps - dialogues - 3 generate - mix - master`` (490 for 500 steps);
three ``generate`` steps (a looped, ducked bed ``under`` the first scene, a room tone ``under`` the
third, a sting between two scenes); the recipe's mix and master.

Filling the cache: by default the lines are NOT spoken by Piper. The cache is filled in-process with
``open_project(path, providers={"local": fake})`` where ``fake`` is a :class:`LocalProvider` whose
``render`` returns a short sine WAV (300 ms per line; 2 s for a generated sound). Because ``fake``
inherits ``prepare`` from the real provider, the input digests are exactly those the
real provider computes, so the CLI (which uses the real provider) sees every step up to date.
``--fill real`` speaks every line with Piper instead (about 0.2 s of CPU per short line).

Then, each ``--repeats`` times (default 5), in fresh processes:

* ``in-process run``: ``open_project(recipe).run()`` in one Python process that has already
  imported audioflow (the first repetition is reported separately as "first");
* ``in-process plan``: ``open_project(recipe).plan()`` likewise;
* ``cli run`` / ``cli plan``: ``audioflow run RECIPE`` / ``audioflow plan RECIPE`` as subprocesses,
  wall time including interpreter start-up and imports;
* ``cli --version``: the bare start-up cost of the CLI, for reference.

Peak RSS is the maximum resident set size of the measuring process (``ru_maxrss``; for the CLI,
of the child process, from ``os.wait4``).

Usage: ``python benchmarks/bench_noop_run.py [--steps 500] [--repeats 5] [--fill fake|real]
[--profile]`` (``--profile`` also prints the top functions of one in-process no-op run, by cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GENERATE_STEPS = 3
CAST = ("narrator", "mara", "tom", "ines")
WORDS = ("the", "night", "shift", "was", "quiet", "until", "a", "bell", "rang", "twice", "in", "back")


def audioflow_exe() -> list[str]:
    """The ``audioflow`` console script of this interpreter's environment, else ``python -m audioflow``
    (this worktree on ``PYTHONPATH``: the script's own start-up is a few ms less)."""
    beside = Path(sys.executable).with_name("audioflow")
    found = str(beside) if beside.exists() else shutil.which("audioflow")
    if found:
        return [found]
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return [sys.executable, "-m", "audioflow"]


def write_recipe(folder: Path, steps: int, dialogues: int) -> Path:
    """Write a recipe with exactly ``steps`` expanded steps into ``folder``; return its path."""
    lines_total = steps - dialogues - GENERATE_STEPS - 2  # dialogue lines; -2: mix and master
    if lines_total < dialogues:
        raise SystemExit(f"--steps {steps} is too few for {dialogues} dialogues")
    per_scene = [lines_total // dialogues + (1 if i < lines_total % dialogues else 0) for i in range(dialogues)]
    out = ["audioflow: 1", "title: No-op benchmark", "provider: local", "cast:"]
    out += [f"  {name}: {{}}" for name in CAST]
    out += [
        "steps:",
        "  bed: {generate: a slow warm synth pad, duration: 20s, texture: tone}",
        "  room: {generate: room tone of a small office, duration: 10s}",
        "  sting: {generate: a short bright three-note sting, duration: 2s, texture: tone}",
    ]
    n = 0
    for scene, count in enumerate(per_scene, start=1):
        out += [f"  scene{scene}:", "    dialogue:"]
        for _ in range(count):
            n += 1
            words = " ".join(WORDS[(n + k) % len(WORDS)] for k in range(5))
            out.append(f"      - {CAST[n % len(CAST)]}: Line {n}, {words}.")
    out += [
        "mix:",
        "  - {track: scene1}",
        "  - {track: bed, under: scene1, gain_db: -18, loop: true, duck_db: -10, fade_in: 1s, fade_out: 2s}",
    ]
    for scene in range(2, dialogues + 1):
        out.append(f"  - {{track: scene{scene}, offset: 500ms}}")
        if scene == 2:
            out.append("  - {track: sting, offset: 300ms, gain_db: -6}")
        if scene == 3:
            out.append("  - {track: room, under: scene3, gain_db: -24, loop: true, duck_db: -6}")
    out += ["master: {preset: podcast, format: mp3, bitrate: 192k}", "output: out/noop.mp3", ""]
    path = folder / "noop.yaml"
    path.write_text("\n".join(out), encoding="utf-8")
    return path


def ensure_bytecode() -> None:
    """Compile audioflow's modules to ``__pycache__`` first, as an installed package ships them: with
    ``PYTHONDONTWRITEBYTECODE`` set (as in this project's sessions) every CLI run would otherwise
    compile ~70 modules from source, about 0.4 s that no user pays."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "audioflow")], check=True, capture_output=True)


def fake_local_provider():  # type: ignore[no-untyped-def]
    """A LocalProvider whose render returns a short sine: same model ids and checks, no Piper."""
    from audioflow.audio import Audio, write_wav
    from audioflow.providers import Journal, LocalProvider, PreparedRequest, Take

    class FastLocal(LocalProvider):
        async def render(self, prepared: PreparedRequest, journal: Journal | None = None) -> Take:
            request = prepared.request
            rate_hz = 22050
            seconds = 2.0 if request.kind == "generate" else 0.3
            t = np.arange(int(rate_hz * seconds)) / rate_hz
            tone = 0.1 * np.sin(2 * np.pi * (180 + 7 * (len(request.step_id) % 11)) * t)
            channels = 2 if request.kind == "generate" else 1
            audio = Audio(np.repeat(tone[:, None], channels, axis=1).astype(np.float32), rate_hz)
            return Take(
                write_wav(audio),
                "wav",
                placeholder=request.kind == "generate",
                notes=("benchmark fake: a sine stands in",) if request.kind == "generate" else (),
            )

    return FastLocal()


def peak_rss_mib(usage: resource.struct_rusage) -> float:
    """ru_maxrss is KiB on Linux, bytes on macOS."""
    scale = 1 if sys.platform == "darwin" else 1024
    return usage.ru_maxrss * scale / (1024 * 1024)


# -- children -----------------------------------------------------------------------------------
def child_fill(recipe: Path, fill: str) -> None:
    from audioflow.engine import open_project

    providers = {"local": fake_local_provider()} if fill == "fake" else None
    started = time.perf_counter()
    report = open_project(recipe, providers=providers).run(jobs=os.cpu_count() or 2)
    elapsed = time.perf_counter() - started
    if not report.result.ok:
        bad = [f"{o.step.id}: {o.error}" for o in report.result.outcomes.values() if o.status != "rendered"]
        raise SystemExit(f"filling the cache failed: {bad[:3]}")
    print(json.dumps({"seconds": elapsed, "rendered": report.result.count("rendered")}))


def child_inprocess(recipe: Path, what: str, repeats: int) -> None:
    from audioflow.engine import open_project

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        project = open_project(recipe)
        if what == "run":
            report = project.run()
            assert report.result.count("rendered") == 0, "a no-op run rendered something"
        else:
            assert not project.plan().stale, "the plan has stale steps"
        times.append(time.perf_counter() - started)
    print(json.dumps({"times": times, "rss_mib": peak_rss_mib(resource.getrusage(resource.RUSAGE_SELF))}))


def child_profile(recipe: Path) -> None:
    from audioflow.engine import open_project

    open_project(recipe).run()  # warm: imports, first-use caches
    profiler = cProfile.Profile()
    profiler.enable()
    open_project(recipe).run()
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
    print(text.getvalue())
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
    print(text.getvalue())


# -- parent -------------------------------------------------------------------------------------
def run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_command(command: list[str], cwd: Path) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds (user + system) of one subprocess; exits on a
    non-zero status."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}:\n{stderr}")
    return elapsed, peak_rss_mib(usage), usage.ru_utime + usage.ru_stime


def row(name: str, times: list[float], rss_mib: float, cpu: list[float] | None = None) -> str:
    cpu_ms = f"{statistics.median(cpu) * 1000:.0f}" if cpu else ""
    return (
        f"| {name} | {len(times)} | {statistics.median(times) * 1000:.0f} | {min(times) * 1000:.0f} | "
        f"{max(times) * 1000:.0f} | {rss_mib:.0f} | {cpu_ms} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=500, help="expanded steps in the recipe (default 500)")
    parser.add_argument("--dialogues", type=int, default=5, help="dialogue steps (default 5)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions of each measure (default 5)")
    parser.add_argument(
        "--fill",
        choices=("fake", "real"),
        default="fake",
        help="fill the cache with a fast fake of the local provider, or with Piper",
    )
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one no-op run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, recipe = args.child[0], Path(args.child[1])
        if kind == "fill":
            child_fill(recipe, args.child[2])
        elif kind == "profile":
            child_profile(recipe)
        else:
            child_inprocess(recipe, kind, int(args.child[2]))
        return

    ensure_bytecode()
    folder = Path(tempfile.mkdtemp(prefix="audioflow-bench-noop-"))
    os.environ.pop("AUDIOFLOW_CACHE_DIR", None)  # the store is .audioflow/ beside the recipe
    try:
        recipe = write_recipe(folder, args.steps, args.dialogues)
        exe = audioflow_exe()
        check = subprocess.run([*exe, "validate", str(recipe)], capture_output=True, text=True, check=False)
        print(f"recipe: {check.stdout.strip() or check.stderr.strip()}")
        fill = run_child("fill", str(recipe), args.fill)
        print(f"filled the cache ({args.fill}): {fill['rendered']} steps rendered in {fill['seconds']:.1f} s")

        runs = run_child("run", str(recipe), str(args.repeats + 1))
        plans = run_child("plan", str(recipe), str(args.repeats + 1))
        cli: dict[str, tuple[list[float], float, list[float]]] = {}
        for name, command in (
            ("cli run", [*exe, "run", recipe.name]),
            ("cli plan", [*exe, "plan", recipe.name]),
            ("cli --version", [*exe, "--version"]),
        ):
            time_command(command, folder)  # once unmeasured: the first run after the fill rewrites the report
            measured = [time_command(command, folder) for _ in range(args.repeats)]
            cli[name] = ([m[0] for m in measured], max(m[1] for m in measured), [m[2] for m in measured])

        print()
        print(
            f"No-op run of a {args.steps}-step recipe ({args.steps - args.dialogues - GENERATE_STEPS - 2} lines "
            f"in {args.dialogues} dialogues, {GENERATE_STEPS} generate, mix, master); cache filled with "
            f"--fill {args.fill}; {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
        )
        print()
        print(f"load average (1 min) {os.getloadavg()[0]:.1f}")
        print()
        print("| measure | n | median ms | min ms | max ms | peak RSS MiB | median CPU ms |")
        print("|---|---|---|---|---|---|---|")
        print(row("in-process `open_project(...).run()`, first in process", runs["times"][:1], runs["rss_mib"]))
        print(row("in-process `open_project(...).run()`, warm", runs["times"][1:], runs["rss_mib"]))
        print(row("in-process `open_project(...).plan()`, warm", plans["times"][1:], plans["rss_mib"]))
        print(row("`audioflow run RECIPE` (subprocess)", *cli["cli run"]))
        print(row("`audioflow plan RECIPE` (subprocess)", *cli["cli plan"]))
        print(row("`audioflow --version` (start-up only)", *cli["cli --version"]))
        if args.profile:
            print()
            print(
                subprocess.run(
                    [sys.executable, __file__, "--child", "profile", str(recipe)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
