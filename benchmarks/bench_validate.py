"""Benchmark ``audioflow validate`` on large recipes, and the YAML loader on hostile ones.

Recipes (written to a temporary folder):

* ``realistic``: a radio drama of ``--size`` bytes (default 1 MB): a cast of four, dialogue steps of
  40 lines each (most lines short form with a direction, one in ten long form with a gap and a take, one
  in ten folded over two lines), one mix track per scene and a looped, ducked bed. Valid.
* ``realistic-3.8MB``: the same at 3.8 MB (close to the 4 MiB cap). Valid.
* ``dense-3.8MB``: ``steps: [1,1,1,…]``, 1.9 million values in 3.8 MB: refused at the 250,000-value cap.
* ``alias-bomb``: nine anchors, each a list of ten aliases of the one before (10⁹ values expanded),
  refused at the cap.

Figures:

* ``cli validate``: wall time and CPU time (user + system) of ``python -m audioflow validate RECIPE`` as
  a subprocess (interpreter start-up and imports included), medians of ``--repeats`` runs, and the
  child's peak RSS (``wait4``);
* for the realistic recipes, one in-process run split into stages: imports, load (YAML → data with
  locations), schema, build (the model), expand (the graph), provider checks;
* ``load``: :func:`audioflow.recipe.parse_document` alone with libyaml's parser and with the pure-Python
  fallback, and the peak RSS of that process (which imports audioflow.recipe and reads the text first).

Usage: ``python benchmarks/bench_validate.py [--size 1000000] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
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


def realistic_recipe(size_bytes: int, seed: int = 1) -> str:
    """A valid recipe of about ``size_bytes`` bytes (see the module docstring)."""
    rnd = random.Random(seed)
    rows = ["audioflow: 1", "title: Validate benchmark", "provider: local", "cast:"]
    rows += [f'  {name}: {{preset: {{local: joe}}, description: "voice {name}"}}' for name in CAST]
    rows += ["steps:", "  bed: {generate: a slow warm synth pad, duration: 20s, texture: tone}"]
    size, scenes, n = sum(len(r) + 1 for r in rows) + 200, 0, 0
    while size < size_bytes - 60 * (scenes + 1):
        scenes += 1
        block = [f"  scene{scenes}:", "    gap: 350ms", "    dialogue:"]
        for _ in range(40):
            n += 1
            text = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(4, 18))).capitalize() + "."
            voice, kind = CAST[n % len(CAST)], rnd.random()
            if kind < 0.1:
                block.append(f'      - {{voice: {voice}, text: "{text}", gap: -100ms, take: 2}}')
            elif kind < 0.2:
                block += [f"      - {voice}: >-", f"          {text}", f"          {text.lower()}"]
            else:
                block.append(f"      - {voice}: ({rnd.choice(['softly', 'dryly', 'quickly'])}) {text}")
        rows += block
        size += sum(len(r) + 1 for r in block) + 40
    rows.append("mix:")
    rows += [f"  - {{track: scene{s}, offset: 500ms}}" for s in range(1, scenes + 1)]
    rows.append("  - {track: bed, under: scene1, gain_db: -18, loop: true, duck_db: -10}")
    rows += ["master: {preset: podcast, format: mp3, bitrate: 192k}", "output: out/validate.mp3", ""]
    return "\n".join(rows)


def dense_recipe(size_bytes: int) -> str:
    return "audioflow: 1\nsteps: [" + ",".join(["1"] * (size_bytes // 2)) + "]\n"


def alias_bomb() -> str:
    rows = ["audioflow: 1", "a0: &a0 [x,x,x,x,x,x,x,x,x,x]"]
    rows += [f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 10) + "]" for n in range(1, 9)]
    return "\n".join(rows) + "\n"


# -- children -----------------------------------------------------------------------------------
def child_stages(recipe: Path) -> None:
    started = time.perf_counter()
    from audioflow.engine.facade import make_providers
    from audioflow.engine.preflight import check_requests
    from audioflow.recipe import build_recipe, expand, load_document, validate_document
    from audioflow.recipe.paths import cache_folder, check_outputs

    times = {"imports": time.perf_counter() - started}
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        times[name], mark = now - mark, now

    document = load_document(recipe)
    lap("load")
    validate_document(document)
    lap("schema")
    model = build_recipe(document, recipe)
    lap("build")
    graph = expand(model)
    lap("expand")
    check_outputs(graph.recipe, cache_folder(graph.recipe.root, None))
    check_requests(graph, make_providers(graph))
    lap("checks")
    times["values"] = len(document.locations)
    times["steps"] = len(graph.steps)
    print(json.dumps(times))


def child_load(recipe: Path, backend: str) -> None:
    from audioflow.errors import RecipeError
    from audioflow.recipe import loader

    loader._LOADER = next(cls for cls in loader._LOADERS if cls.__name__ == backend)
    text = recipe.read_text(encoding="utf-8")
    before = peak_rss_mib(resource.getrusage(resource.RUSAGE_SELF))
    started = time.perf_counter()
    try:
        outcome = f"ok, {len(loader.parse_document(text, recipe.name).locations)} values"
    except RecipeError as err:
        outcome = f"refused: {err.message}"
    elapsed = time.perf_counter() - started
    after = peak_rss_mib(resource.getrusage(resource.RUSAGE_SELF))
    print(json.dumps({"seconds": elapsed, "rss_mib": after, "rss_growth_mib": after - before, "outcome": outcome}))


# -- parent -------------------------------------------------------------------------------------
def peak_rss_mib(usage: resource.struct_rusage) -> float:
    """ru_maxrss is KiB on Linux, bytes on macOS."""
    return usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024) / (1024 * 1024)


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run_child(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False, env=child_env()
    )
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_validate(recipe: Path) -> tuple[float, float, int, float]:
    """Wall seconds, peak RSS (MiB), exit code and CPU seconds (user + system) of one
    ``python -m audioflow validate``: on a busy machine the CPU time is the steadier figure."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "audioflow", "validate", recipe.name],
        cwd=recipe.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=child_env(),
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    return wall, peak_rss_mib(usage), os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="bytes of the realistic recipe")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only-realistic", action="store_true", help="only the --size recipe (run_all.py)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        child_stages(Path(rest[0])) if kind == "stages" else child_load(Path(rest[0]), rest[1])
        return

    from audioflow.recipe import loader

    # audioflow's modules from __pycache__, as an installed package ships them (PYTHONDONTWRITEBYTECODE
    # would otherwise make every CLI run compile them from source)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "audioflow")], check=True, capture_output=True)
    print(f"# validate benchmark: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} cores")
    print(f"# parsers: {', '.join(cls.__name__ for cls in loader._LOADERS)}; {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"# load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        recipes = {f"realistic-{args.size / 1e6:g}MB": realistic_recipe(args.size)}
        if not args.only_realistic:
            recipes |= {
                "realistic-3.8MB": realistic_recipe(3_800_000),
                "dense-3.8MB": dense_recipe(3_800_000),
                "alias-bomb": alias_bomb(),
            }
        print(
            "| recipe | bytes | validate: wall, CPU (medians) | exit | peak RSS | load, libyaml | load, pure Python |"
        )
        print("|---|---|---|---|---|---|---|")
        stages = {}
        for name, text in recipes.items():
            path = Path(tmp) / f"{name}.yaml"
            path.write_text(text, encoding="utf-8")
            runs = [time_validate(path) for _ in range(args.repeats)]
            wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[3] for r in runs)
            loads = {cls.__name__: run_child("load", str(path), cls.__name__) for cls in loader._LOADERS}
            cells = [
                f"{loads[cls]['seconds']:.3f} s, {loads[cls]['rss_mib']:.0f} MiB" if cls in loads else "n/a"
                for cls in ("_Yaml12CSafeLoader", "_Yaml12SafeLoader")
            ]
            print(
                f"| {name} | {len(text.encode()):,} | {wall:.2f} s, {cpu:.2f} s | {runs[0][2]} "
                f"| {max(r[1] for r in runs):.0f} MiB "
                f"| {cells[0]} | {cells[1]} |"
            )
            outcome = next(iter(loads.values()))["outcome"]
            print(f"|   ↳ {outcome[:100]} | | | | | | |")
            if name.startswith("realistic"):
                stages[name] = run_child("stages", str(path))
        print()
        print("In-process stages (seconds) of one validate:")
        for name, times in stages.items():
            parts = ", ".join(f"{k} {v:.3f}" for k, v in times.items() if k not in ("values", "steps"))
            print(f"  {name}: {times['values']:,} values, {times['steps']:,} steps: {parts}")


if __name__ == "__main__":
    main()
