"""Benchmark the numpy mix engine against chained pydub overlays and an ffmpeg filter graph.

Scenario: a ``--minutes`` long 48 kHz stereo timeline (default 60) of 10 mono clips per minute
(2-8 s each, in sequence with 0.3-1.5 s gaps) over one looping 30 s stereo bed, ducked -10 dB under
every clip (attack 80 ms, release 400 ms). Each method runs in its own subprocess, which reports
the mix's wall time, the peak of memory allocated during the mix (tracemalloc: numpy arrays and
Python bytes) and the process's peak RSS (for ffmpeg: the ffmpeg process's own peak RSS).

pydub: the usual recipe, with each step copying the whole base: the bed is looped with ``*``,
ducked with two ``fade`` calls per interval (``fade`` keeps its end gain for the rest of the
segment, so one fade down and one back up per interval) and every clip is added with ``overlay``.
It costs O(clips x timeline), so it runs on ``--pydub-minutes`` (default 5) and is extrapolated by
(minutes / pydub_minutes)^2, printed as such.

ffmpeg: clips are written to WAV files first (not timed, like decoded takes); one filter_complex
delays each clip with ``adelay`` (sample-exact ``S`` delays) and sums them with
``amix=normalize=0``; the bed is looped with ``aloop``, trimmed, and ducked with ``volume`` whose
``enable`` expression is the union of ``between(t, start, end)`` over all clips: hard -10 dB
steps without ramps (ffmpeg has no per-interval ramp short of ``sidechaincompress``, whose
depth depends on the speech level and so would not be the same mix). Output goes to ``/dev/null``
as float32 PCM. This graph is also O(clips x timeline) (each ``adelay`` produces silence until its
clip starts and ``amix`` reads all of it), so it runs on ``--ffmpeg-minutes`` (default 20) and is
extrapolated quadratically (measured growth is a little steeper: 1.8 s at 5 min, 9.1 s at 10 min).

Usage: ``python benchmarks/bench_mix.py [--minutes 60] [--pydub-minutes 5] [--ffmpeg-minutes 20]
[--skip numpy,pydub,ffmpeg]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audioflow.audio import Audio, Clip, Duck, ffmpeg_exe, placeholder_bed, render_mix
from audioflow.audio.io import write_wav

RATE_HZ = 48_000
CLIPS_PER_MINUTE = 10
DUCK_DB = -10.0
ATTACK_MS = 80.0
RELEASE_MS = 400.0


def schedule(minutes: float, seed: int = 0) -> list[tuple[float, float]]:
    """(start_ms, duration_ms) of sequential clips filling ``minutes``: 2-8 s clips, 0.3-1.5 s gaps."""
    rng = np.random.default_rng(seed)
    count = max(1, round(minutes * CLIPS_PER_MINUTE))
    durations = rng.uniform(2000, 8000, count)
    gaps = rng.uniform(300, 1500, count)
    scale = minutes * 60_000 / float(durations.sum() + gaps.sum())
    starts = np.concatenate([[0.0], np.cumsum((durations + gaps) * scale)[:-1]]) + gaps[0] * scale / 2
    return [(round(float(s), 3), round(float(d) * scale, 3)) for s, d in zip(starts, durations, strict=True)]


def clip_pool(seed: int = 1) -> np.ndarray:
    """16 s of speech-like mono audio (noise bursts); clips are views into it, not copies."""
    rng = np.random.default_rng(seed)
    frames = 16 * RATE_HZ
    syllables = (np.sin(np.arange(frames) / RATE_HZ * 2 * np.pi * 4) > -0.3).astype(np.float32)
    return (rng.normal(0, 0.1, frames).astype(np.float32) * syllables).reshape(-1, 1)


def build_inputs(minutes: float) -> tuple[list[tuple[float, Audio]], Audio, float]:
    pool = clip_pool()
    clips = []
    for index, (start_ms, duration_ms) in enumerate(schedule(minutes)):
        frames = round(duration_ms * RATE_HZ / 1000)
        offset = (index * 7919) % (pool.shape[0] - frames)
        clips.append((start_ms, Audio(pool[offset : offset + frames], RATE_HZ)))
    bed = placeholder_bed(30_000, sample_rate_hz=RATE_HZ, seed=3)
    return clips, bed, minutes * 60_000


def run_numpy(minutes: float) -> dict[str, float]:
    clips, bed, total_ms = build_inputs(minutes)
    intervals = tuple((start, start + audio.duration_ms) for start, audio in clips)
    duck = Duck(DUCK_DB, intervals, attack_ms=ATTACK_MS, release_ms=RELEASE_MS)
    timeline = [Clip(bed, 0.0, gain_db=-6, length_ms=total_ms, loop=True, loop_crossfade_ms=500, duck=duck)]
    timeline += [Clip(audio, start) for start, audio in clips]
    tracemalloc.start()
    began = time.perf_counter()
    mixed = render_mix(timeline, sample_rate_hz=RATE_HZ, channels=2, length_ms=total_ms)
    wall_s = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert mixed.frames == round(total_ms * RATE_HZ / 1000)
    return {"wall_s": wall_s, "traced_peak_mb": peak / 2**20, "maxrss_mb": _self_maxrss_mb()}


def _to_segment(audio: Audio):
    from pydub import AudioSegment

    pcm = np.round(np.clip(audio.samples, -1, 1) * 32767).astype("<i2")
    return AudioSegment(pcm.tobytes(), frame_rate=audio.sample_rate_hz, sample_width=2, channels=audio.channels)


def run_pydub(minutes: float) -> dict[str, float]:
    from pydub import AudioSegment

    clips, bed, total_ms = build_inputs(minutes)
    segments = [(start, _to_segment(audio.with_channels(2))) for start, audio in clips]
    bed_segment = _to_segment(bed)
    tracemalloc.start()
    began = time.perf_counter()
    looped = (bed_segment * (int(total_ms // bed_segment.duration_seconds // 1000) + 1))[: int(total_ms)]
    looped = looped.apply_gain(-6)
    for start, segment in segments:
        end = start + len(segment)
        looped = looped.fade(to_gain=DUCK_DB, start=max(0, int(start - ATTACK_MS)), end=int(start))
        looped = looped.fade(from_gain=0, to_gain=-DUCK_DB, start=int(end), end=int(min(total_ms, end + RELEASE_MS)))
    base = AudioSegment.silent(duration=int(total_ms), frame_rate=RATE_HZ).set_channels(2).set_sample_width(2)
    base = base.overlay(looped)
    for start, segment in segments:
        base = base.overlay(segment, position=int(start))  # pydub positions are whole ms
    wall_s = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"wall_s": wall_s, "traced_peak_mb": peak / 2**20, "maxrss_mb": _self_maxrss_mb()}


def run_ffmpeg(minutes: float) -> dict[str, float]:
    clips, bed, total_ms = build_inputs(minutes)
    with tempfile.TemporaryDirectory(prefix="bench-mix-") as tmp:
        inputs = ["-i", str(Path(tmp) / "bed.wav")]
        (Path(tmp) / "bed.wav").write_bytes(write_wav(bed))
        for index, (_, audio) in enumerate(clips):
            path = Path(tmp) / f"clip{index:04d}.wav"
            path.write_bytes(write_wav(audio))
            inputs += ["-i", str(path)]
        script = Path(tmp) / "graph.txt"
        script.write_text(_filter_graph(clips, bed, total_ms))
        command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", *inputs]
        command += ["-/filter_complex", str(script), "-map", "[out]", "-f", "f32le", "-y", os.devnull]
        # A child's max RSS starts at its parent's RSS when forked, so ffmpeg is started from a
        # small wrapper process that reports ffmpeg's own peak RSS and wall time.
        done = subprocess.run([sys.executable, "-c", _FFMPEG_WRAPPER, *command], capture_output=True)
        if done.returncode != 0:
            raise SystemExit(f"ffmpeg failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return json.loads(done.stdout)


_FFMPEG_WRAPPER = """
import json, resource, subprocess, sys, time
began = time.perf_counter()
subprocess.run(sys.argv[1:], check=True)
wall_s = time.perf_counter() - began
rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"wall_s": wall_s, "traced_peak_mb": float("nan"), "maxrss_mb": rss_mb}))
"""


def _filter_graph(clips: list[tuple[float, Audio]], bed: Audio, total_ms: float) -> str:
    # ffmpeg's expression parser has a depth limit of ~100, so the duck is a chain of volume
    # filters with 40 intervals each (the intervals do not overlap: one filter acts at a time).
    terms = [f"between(t,{s / 1000:.6f},{(s + a.duration_ms) / 1000:.6f})" for s, a in clips]
    ducks = [
        f"volume=volume={10 ** (DUCK_DB / 20):.6f}:eval=frame:enable='{'+'.join(terms[i : i + 40])}'"
        for i in range(0, len(terms), 40)
    ]
    lines = [f"[0:a]aloop=loop=-1:size={bed.frames},atrim=end={total_ms / 1000:.6f},volume=-6dB,{','.join(ducks)}[bed]"]
    labels = ["[bed]"]
    for index, (start_ms, _) in enumerate(clips, start=1):
        delay = round(start_ms * RATE_HZ / 1000)
        lines.append(f"[{index}:a]aformat=channel_layouts=stereo,adelay=delays={delay}S:all=1[c{index}]")
        labels.append(f"[c{index}]")
    lines.append(f"{''.join(labels)}amix=inputs={len(labels)}:normalize=0:duration=first[out]")
    return ";\n".join(lines)


def _self_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(method: str, minutes: float) -> None:
    runner = {"numpy": run_numpy, "pydub": run_pydub, "ffmpeg": run_ffmpeg}[method]
    print(json.dumps(runner(minutes)))


def measure(method: str, minutes: float) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", method, "--minutes", str(minutes)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="timeline length (10 clips per minute)")
    parser.add_argument("--pydub-minutes", type=float, default=5.0, help="pydub subset, extrapolated")
    parser.add_argument("--ffmpeg-minutes", type=float, default=20.0, help="ffmpeg subset, extrapolated")
    parser.add_argument("--skip", default="", help="comma-separated methods to skip: numpy,pydub,ffmpeg")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker, args.minutes)
        return
    skip = set(filter(None, args.skip.split(",")))
    clips = round(args.minutes * CLIPS_PER_MINUTE)
    cpu = platform.processor() or platform.machine()
    print(f"Timeline: {args.minutes:g} min, 48 kHz stereo, {clips} clips + 1 looping ducked bed")
    print(f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}\n")
    print("| method | timeline | wall time (s) | traced peak during mix (MB) | peak RSS (MB) |")
    print("|---|---|---:|---:|---:|")
    minutes = f"{args.minutes:g} min"
    if "numpy" not in skip:
        r = measure("numpy", args.minutes)
        _row("audioflow render_mix", minutes, f"{r['wall_s']:.2f}", r["traced_peak_mb"], r["maxrss_mb"])
    if "pydub" not in skip:
        sub = min(args.pydub_minutes, args.minutes)
        r = measure("pydub", sub)
        _row(
            "pydub chained fade + overlay",
            f"{sub:g} min (measured)",
            f"{r['wall_s']:.2f}",
            r["traced_peak_mb"],
            r["maxrss_mb"],
        )
        if sub < args.minutes:
            factor = (args.minutes / sub) ** 2
            where = f"{minutes} (extrapolated x{factor:g}: O(clips x length))"
            _row("pydub chained fade + overlay", where, f"~{r['wall_s'] * factor:.0f}", None, None)
    if "ffmpeg" not in skip:
        sub = min(args.ffmpeg_minutes, args.minutes)
        r = measure("ffmpeg", sub)
        method = "ffmpeg adelay + amix + volume(enable)"
        _row(method, f"{sub:g} min (measured)", f"{r['wall_s']:.2f}", None, r["maxrss_mb"])
        if sub < args.minutes:
            factor = (args.minutes / sub) ** 2
            where = f"{minutes} (extrapolated x{factor:g}: every adelay emits silence up to its clip)"
            _row(method, where, f"~{r['wall_s'] * factor:.0f} (at least)", None, None)


def _row(method: str, timeline: str, wall: str, traced_mb: float | None, rss_mb: float | None) -> None:
    traced = f"{traced_mb:.0f}" if traced_mb is not None else "n/a"
    rss = f"{rss_mb:.0f}" if rss_mb is not None else "n/a"
    print(f"| {method} | {timeline} | {wall} | {traced} | {rss} |", flush=True)


if __name__ == "__main__":
    main()
