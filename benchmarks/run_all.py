"""Every mix/master figure of issue 10 in one run, side by side, written into docs/benchmarks.md.

Scenario (as ``bench_mix.py``): a 48 kHz stereo programme of 10 mono clips per minute (2-8 s,
0.3-1.5 s gaps) over one 30 s stereo bed looped to the programme's length (500 ms loop crossfade,
-6 dB) and ducked -10 dB under every clip (attack 80 ms, release 400 ms). The clips are
speech-band noise bursts (low-passed at 7 kHz: speech has little energy above 8 kHz; white noise
would lose over 1 LU to the mp3 encoder's low-pass and cost a second encode). Inputs are written
as float32 WAV files first, untimed, as the engine's takes are. Each measure runs in its own
process, reporting wall time and its peak RSS (for ffmpeg: ffmpeg's own).

* audioflow: ``MixStream`` over the clip files -> ``mix_to_wav`` (the mix artifact) ->
  ``master_to_file`` to mp3 (libmp3lame CBR 192k, 44.1 kHz, -16 LUFS / -1 dBTP, verified on the
  decoded file), at ``--minutes`` (default 60);
* ffmpeg encode: ``ffmpeg -i mix.wav`` to the same mp3 options: the anchor (the goal is at most 2x it);
* ffmpeg filter graph: ``adelay`` + ``amix`` + ``volume`` ducking (bench_mix's graph) + ``loudnorm``
  (I=-16, TP=-1) + the same mp3, at each ``--baseline-minutes`` (default 10,20);
* pydub: looped bed, two ``fade`` calls per duck, ``overlay`` per clip, ``normalize``, ``export``
  to mp3 192k, at the same minutes. Both baselines are O(clips x length) in principle (every
  ``adelay`` emits silence up to its clip and ``amix`` reads it all; every pydub call copies the
  whole base), but at these sizes they grow more slowly, so they are extrapolated to ``--minutes``
  by the power law fitted to their two measurements (the quadratic figure is noted beside it);
* ``--long``: the audioflow path on a 10-hour, 6,000-clip programme: peak RSS (goal < 1.5 GB).

Then issue 10's other goals, each by its own script as a subprocess (``--goals``, the default, or
``--only-goals``), into a second table: a no-op run of a 500-step recipe from the command line
(``bench_noop_run.py``), ``validate`` of a 1 MB recipe (``bench_validate.py``), ``audioflow --help``,
a one-line edit of ``recipes/earnest.yaml`` (``bench_edit_line.py``, under ``audioflow watch`` and as a
cold ``audioflow run``), 40 Piper lines on every core
(``bench_piper_parallel.py``) and the scheduler's makespan (``bench_scheduler.py``). The machine is
shared: the load average is printed beside every figure.

Usage: ``python benchmarks/run_all.py [--minutes 60] [--baseline-minutes 10,20] [--long]
[--skip pydub,graph] [--quick] [--only-goals] [--no-goals] [--no-write]`` (``--quick``: no ffmpeg
graph or pydub baselines, and a 10-minute programme).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_mix  # noqa: E402  (the scenario and the baselines' graph)

from audioflow.audio import Audio, AudioFile, Clip, Duck, ffmpeg_exe, master_to_file, placeholder_bed  # noqa: E402
from audioflow.audio.io import write_wav  # noqa: E402
from audioflow.audio.mixstream import MixStream, mix_to_wav  # noqa: E402

RATE_HZ = bench_mix.RATE_HZ
MP3 = ["-c:a", "libmp3lame", "-b:a", "192k", "-ar", "44100"]
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- run_all:begin -->", "<!-- run_all:end -->"
GOALS_BEGIN, GOALS_END = "<!-- run_all:goals:begin -->", "<!-- run_all:goals:end -->"


def speech_pool(seed: int = 1) -> np.ndarray:
    """16 s of speech-band mono audio: bench_mix's noise bursts, low-passed at 7 kHz."""
    from scipy import signal

    sos = signal.butter(6, 7000, fs=RATE_HZ, output="sos")
    return signal.sosfilt(sos, bench_mix.clip_pool(seed), axis=0).astype(np.float32)


def build_inputs(minutes: float) -> tuple[list[tuple[float, Audio]], Audio, float]:
    pool = speech_pool()
    clips = []
    for index, (start_ms, duration_ms) in enumerate(bench_mix.schedule(minutes)):
        frames = round(duration_ms * RATE_HZ / 1000)
        offset = (index * 7919) % (pool.shape[0] - frames)
        clips.append((start_ms, Audio(pool[offset : offset + frames], RATE_HZ)))
    bed = placeholder_bed(30_000, sample_rate_hz=RATE_HZ, seed=3)
    return clips, bed, minutes * 60_000


def write_inputs(minutes: float, folder: Path) -> None:
    """The clips and the bed as float32 WAV files, plus where each clip starts (clips.json)."""
    clips, bed, total_ms = build_inputs(minutes)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bed.wav").write_bytes(write_wav(bed))
    starts = []
    for index, (start_ms, audio) in enumerate(clips):
        (folder / f"clip{index:05d}.wav").write_bytes(write_wav(audio))
        starts.append(start_ms)
    (folder / "clips.json").write_text(json.dumps({"starts_ms": starts, "total_ms": total_ms}))


# -- workers (each runs in its own process) ------------------------------------------------------------


def run_audioflow(folder: Path) -> dict[str, float]:
    began = time.perf_counter()
    layout = json.loads((folder / "clips.json").read_text())
    starts, total_ms = layout["starts_ms"], layout["total_ms"]
    files = [AudioFile.open(folder / f"clip{index:05d}.wav") for index in range(len(starts))]
    intervals = tuple((start, start + file.duration_ms) for start, file in zip(starts, files, strict=True))
    duck = Duck(bench_mix.DUCK_DB, intervals, attack_ms=bench_mix.ATTACK_MS, release_ms=bench_mix.RELEASE_MS)
    bed = AudioFile.open(folder / "bed.wav")
    timeline = [Clip(bed, 0.0, gain_db=-6, length_ms=total_ms, loop=True, loop_crossfade_ms=500, duck=duck)]
    timeline += [Clip(file, start) for start, file in zip(starts, files, strict=True)]
    mixed = mix_to_wav(MixStream(timeline, sample_rate_hz=RATE_HZ, channels=2, length_ms=total_ms), folder / "mix.wav")
    mixed_s = time.perf_counter() - began
    done = master_to_file(
        AudioFile.open(mixed.path),
        folder / "audioflow.mp3",
        target_lufs=-16.0,
        true_peak_dbtp=-1.0,
        format="mp3",
        sample_rate_hz=44100,
    )
    wall_s = time.perf_counter() - began
    return {
        "wall_s": wall_s,
        "mix_s": mixed_s,
        "master_s": wall_s - mixed_s,
        "passes": done.passes,
        "lufs": done.lufs,
        "true_peak_dbtp": done.true_peak_dbtp,
        "limited": done.limited,
        "maxrss_mb": _self_maxrss_mb(),
    }


def run_ffmpeg_encode(folder: Path) -> dict[str, float]:
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(folder / "mix.wav")]
    return _timed_child([*command, *MP3, str(folder / "ffmpeg.mp3")])


def run_ffmpeg_graph(minutes: float) -> dict[str, float]:
    clips, bed, total_ms = build_inputs(minutes)
    with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
        inputs = ["-i", str(Path(tmp) / "bed.wav")]
        (Path(tmp) / "bed.wav").write_bytes(write_wav(bed))
        for index, (_, audio) in enumerate(clips):
            path = Path(tmp) / f"clip{index:04d}.wav"
            path.write_bytes(write_wav(audio))
            inputs += ["-i", str(path)]
        graph = bench_mix._filter_graph(clips, bed, total_ms).replace("[out]", "[mixed]")
        graph += ";\n[mixed]loudnorm=I=-16:TP=-1:LRA=11,aresample=44100[out]"
        script = Path(tmp) / "graph.txt"
        script.write_text(graph)
        command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *inputs]
        command += ["-/filter_complex", str(script), "-map", "[out]", *MP3, str(Path(tmp) / "graph.mp3")]
        return _timed_child(command)


def run_pydub(minutes: float) -> dict[str, float]:
    from pydub import AudioSegment, effects

    AudioSegment.converter = ffmpeg_exe()  # pydub looks for "ffmpeg" on PATH otherwise
    clips, bed, total_ms = build_inputs(minutes)
    segments = [(start, bench_mix._to_segment(audio.with_channels(2))) for start, audio in clips]
    bed_segment = bench_mix._to_segment(bed)
    began = time.perf_counter()
    looped = (bed_segment * (int(total_ms // bed_segment.duration_seconds // 1000) + 1))[: int(total_ms)]
    looped = looped.apply_gain(-6)
    for start, segment in segments:
        end = start + len(segment)
        duck = bench_mix.DUCK_DB
        looped = looped.fade(to_gain=duck, start=max(0, int(start - bench_mix.ATTACK_MS)), end=int(start))
        release_end = int(min(total_ms, end + bench_mix.RELEASE_MS))
        looped = looped.fade(from_gain=0, to_gain=-duck, start=int(end), end=release_end)
    base = AudioSegment.silent(duration=int(total_ms), frame_rate=RATE_HZ).set_channels(2).set_sample_width(2)
    base = base.overlay(looped)
    for start, segment in segments:
        base = base.overlay(segment, position=int(start))
    base = effects.normalize(base, headroom=1.0)
    with tempfile.TemporaryDirectory(prefix="bench-pydub-") as tmp:
        base.export(str(Path(tmp) / "pydub.mp3"), format="mp3", bitrate="192k", parameters=["-ar", "44100"])
    return {"wall_s": time.perf_counter() - began, "maxrss_mb": _self_maxrss_mb()}


_WRAPPER = """
import json, resource, subprocess, sys, time
began = time.perf_counter()
subprocess.run(sys.argv[1:], check=True)
wall_s = time.perf_counter() - began
print(json.dumps({"wall_s": wall_s, "maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def _timed_child(command: list[str]) -> dict[str, float]:
    """Wall time and peak RSS of ``command``, started from a small wrapper (a fork starts at its parent's RSS)."""
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def _self_maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(worker: str, argument: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", worker, "--argument", argument]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"worker {worker} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_worker(worker: str, argument: str) -> None:
    if worker == "prepare":
        minutes, folder = argument.split(":", 1)
        write_inputs(float(minutes), Path(folder))
        print("{}")
        return
    runners = {
        "audioflow": lambda: run_audioflow(Path(argument)),
        "encode": lambda: run_ffmpeg_encode(Path(argument)),
        "graph": lambda: run_ffmpeg_graph(float(argument)),
        "pydub": lambda: run_pydub(float(argument)),
    }
    print(json.dumps(runners[worker]()))


# -- the run and the table --------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = found.group(1).strip() if found else cpu
        memory_kb = int(re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        memory = f", {memory_kb / 2**20:.0f} GiB RAM"
    except (OSError, AttributeError):
        memory = ""
    version = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    return f"{cpu}, {os.cpu_count()} cores{memory}; Python {platform.python_version()}; {' '.join(version.split()[:3])}"


def audioflow_rows(minutes: float, folder: Path, label: str) -> tuple[list[str], dict[str, float]]:
    measure("prepare", f"{minutes}:{folder}")
    result = measure("audioflow", str(folder))
    detail = (
        f"mix {result['mix_s']:.1f} s + master {result['master_s']:.1f} s ({int(result['passes'])} encode"
        f"{'s' if result['passes'] > 1 else ''}); decoded {result['lufs']:.2f} LUFS, "
        f"{result['true_peak_dbtp']:.2f} dBTP"
    )
    return [
        _row(f"audioflow mix + master + mp3{label}", f"{minutes:g} min", result["wall_s"], result["maxrss_mb"], detail)
    ], result


def _row(method: str, programme: str, wall_s: float | str, rss_mb: float | None, note: str = "") -> str:
    wall = f"{wall_s:.1f}" if isinstance(wall_s, float) else wall_s
    rss = f"{rss_mb:.0f}" if rss_mb is not None else "—"
    return f"| {method} | {programme} | {wall} | {rss} | {note} |"


def baseline_rows(worker: str, method: str, minutes: float, sizes: list[float]) -> tuple[list[str], float]:
    rows, measured = [], {}
    for size in sizes:
        result = measure(worker, str(size))
        measured[size] = result["wall_s"]
        rows.append(_row(method, f"{size:g} min (measured)", result["wall_s"], result["maxrss_mb"]))
        print(rows[-1], flush=True)
    small, largest = min(sizes), max(sizes)
    quadratic = measured[largest] * (minutes / largest) ** 2
    estimate, note = quadratic, f"× ({minutes:g}/{largest:g})²"
    if len(sizes) > 1 and measured[largest] > measured[small]:
        # the growth measured between the two sizes, as a power law: honest where it is below quadratic
        exponent = math.log(measured[largest] / measured[small]) / math.log(largest / small)
        estimate = measured[largest] * (minutes / largest) ** exponent
        note = f"power law fitted to the measured growth: exponent {exponent:.2f}; ~{quadratic:.0f} if quadratic"
    rows.append(_row(method, f"{minutes:g} min (extrapolated)", f"~{estimate:.0f}", None, note))
    return rows, estimate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--baseline-minutes", default="10,20", help="programme lengths the baselines run at")
    parser.add_argument("--long", action="store_true", help="also the 10-hour, 6,000-clip programme (slow)")
    parser.add_argument("--skip", default="", help="comma-separated: graph,pydub")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave docs/benchmarks.md alone")
    parser.add_argument("--quick", action="store_true", help="10 min programme, no graph or pydub baselines")
    parser.add_argument("--only-goals", action="store_true", help="only the start-up, edit, Piper, scheduler goals")
    parser.add_argument("--no-goals", action="store_true", help="only the mix/master figures")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--argument", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker, args.argument)
        return
    if not args.no_goals:
        import goals  # benchmarks/goals.py: the other goals' figures

        table = goals.table()
        print("\n" + table, flush=True)
        if not args.no_write:
            _write_between(GOALS_BEGIN, GOALS_END, table)
    if args.only_goals:
        return
    skip = set(filter(None, args.skip.split(",")))
    if args.quick:
        skip |= {"graph", "pydub"}
        args.minutes = min(args.minutes, 10.0)
    sizes = [float(m) for m in args.baseline_minutes.split(",")]
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-all-", dir=os.environ.get("BENCH_TMP")) as tmp:
        ours, result = audioflow_rows(args.minutes, Path(tmp) / "main", "")
        rows += ours
        print(rows[-1], flush=True)
        encode = measure("encode", str(Path(tmp) / "main"))
        rows.append(
            _row(
                "ffmpeg: encode the finished WAV to the same mp3",
                f"{args.minutes:g} min",
                encode["wall_s"],
                encode["maxrss_mb"],
            )
        )
        print(rows[-1], flush=True)
        ratios = [f"audioflow / ffmpeg encode: **{result['wall_s'] / encode['wall_s']:.2f}×** (goal ≤ 2×)"]
        if "graph" not in skip:
            graph_rows, graph_s = baseline_rows(
                "graph", "ffmpeg filter graph: adelay + amix + volume duck + loudnorm + mp3", args.minutes, sizes
            )
            rows += graph_rows
            ratios.append(f"ffmpeg filter graph / audioflow: **{graph_s / result['wall_s']:.0f}×** (goal ≥ 20×)")
        if "pydub" not in skip:
            pydub_rows, pydub_s = baseline_rows(
                "pydub", "pydub: fade + overlay chain, normalize, export mp3", args.minutes, sizes
            )
            rows += pydub_rows
            ratios.append(f"pydub chain / audioflow: **{pydub_s / result['wall_s']:.0f}×** (goal ≥ 20×)")
        for path in Path(tmp).glob("main/*"):
            path.unlink()
        if args.long:
            long_rows, long = audioflow_rows(600.0, Path(tmp) / "long", " (6,000 clips)")
            rows += long_rows
            print(rows[-1], flush=True)
            ratios.append(f"10-hour peak RSS: **{long['maxrss_mb']:.0f} MiB** (goal < 1.5 GB)")
    table = _table(rows, ratios, args)
    print("\n" + table)
    if not args.no_write:
        _write_between(BEGIN, END, table)


def _write_between(begin: str, end: str, table: str) -> None:
    """Replace what docs/benchmarks.md holds between the markers ``begin`` and ``end``."""
    text = DOCS.read_text()
    start, stop = text.index(begin) + len(begin), text.index(end)
    DOCS.write_text(text[:start] + "\n" + table + "\n" + text[stop:])


def _table(rows: list[str], ratios: list[str], args: argparse.Namespace) -> str:
    today = datetime.date.today().isoformat()
    command = "python benchmarks/run_all.py" + (" --long" if args.long else "") + (" --quick" if args.quick else "")
    lines = [
        f"Measured {today} with `{command}` on {machine()}.",
        "",
        "| method | programme | wall time (s) | peak RSS (MiB) | note |",
        "|---|---|---:|---:|---|",
        *rows,
        "",
        *[f"- {ratio}" for ratio in ratios],
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
