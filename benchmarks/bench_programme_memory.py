"""Benchmark the memory the mix and master steps take per sample of programme.

The figure is what ``engine/resources.py`` (``RENDER_BYTES_PER_SAMPLE``) uses to tell, before the
mix allocates anything, whether a programme fits in this machine's memory.

Scenario: one 3 s stereo clip placed ``at`` the end of a ``--minutes`` long programme (the shape
of ``at: 10h`` on a short clip), mixed by ``engine.assemble.assemble_mix`` to 44.1 kHz stereo and
then mastered to mp3 by ``engine.assemble.master_mix``, each step in its own fresh subprocess so
each peak RSS is that step's own. The reported figure is (peak RSS - RSS after imports and inputs)
/ (programme frames x channels), the slope over two lengths (so the interpreter and libraries
cancel out).

Usage: ``python benchmarks/bench_programme_memory.py [--minutes 5 10]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RATE_HZ = 44_100
CHANNELS = 2


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(step: str, minutes: float, folder: Path) -> dict[str, float]:
    from audioflow.audio import Audio, write_wav
    from audioflow.engine.assemble import Upstream, assemble_mix, master_mix

    clip = folder / "clip.wav"
    if not clip.exists():
        t = np.arange(3 * RATE_HZ) / RATE_HZ
        tone = 0.3 * np.sin(2 * np.pi * 440 * t)
        clip.write_bytes(write_wav(Audio(np.stack([tone, tone], axis=1).astype(np.float32), RATE_HZ)))
    end_ms = minutes * 60_000.0
    track = {
        "track": "clip",
        "at_ms": end_ms - 3000.0,
        "after": None,
        "with": None,
        "under": None,
        "offset_ms": 0.0,
        "duration_ms": None,
        "gain_db": 0.0,
        "fade_in_ms": 0.0,
        "fade_out_ms": 0.0,
        "loop": False,
        "duck_db": None,
        "duck_attack_ms": 80.0,
        "duck_release_ms": 400.0,
    }
    mix_path = folder / f"mix-{minutes:g}.wav"
    base = _rss_mb()
    if step == "mix":
        params = {"sample_rate_hz": RATE_HZ, "channels": CHANNELS, "tracks": [track]}
        data, _, _ = assemble_mix(params, {"clip": Upstream("clip", "file", clip, {"duration_ms": 3000.0})})
        mix_path.write_bytes(data)
    else:
        params = {
            "target_lufs": -16.0,
            "true_peak_dbtp": -1.0,
            "format": "mp3",
            "bitrate_kbps": 192,
            "sample_rate_hz": RATE_HZ,
            "channels": CHANNELS,
        }
        master_mix(params, Upstream("mix", "mix", mix_path, {"segments": []}))
    return {"base_mb": base, "peak_mb": _peak_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, nargs=2, default=[5.0, 10.0])
    parser.add_argument("--child", nargs=3, metavar=("STEP", "MINUTES", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, minutes, folder = args.child
        print(json.dumps(child(step, float(minutes), Path(folder))))
        return
    rows: dict[str, dict[float, float]] = {"mix": {}, "master": {}}
    with tempfile.TemporaryDirectory(prefix="audioflow-bench-") as tmp:
        for minutes in args.minutes:
            for step in ("mix", "master"):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", step, str(minutes), tmp],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                found = json.loads(out)
                rows[step][minutes] = found["peak_mb"] - found["base_mb"]
                samples = minutes * 60 * RATE_HZ * CHANNELS
                print(
                    f"{step:<6} {minutes:>6g} min: peak RSS {found['peak_mb']:8.0f} MiB, "
                    f"above the baseline {rows[step][minutes]:8.0f} MiB = "
                    f"{rows[step][minutes] * 2**20 / samples:5.1f} bytes per sample"
                )
    short, long = args.minutes
    for step, by_length in rows.items():
        slope = (by_length[long] - by_length[short]) * 2**20 / ((long - short) * 60 * RATE_HZ * CHANNELS)
        print(f"{step}: {slope:.1f} bytes per programme sample (slope {short:g} → {long:g} min)")


if __name__ == "__main__":
    main()
