"""An independent check of what the master delivers: every format × loudness preset, on short
programmes made in code, measured by tools audioflow's meters do not share.

For each case the programme is mastered with :func:`audioflow.audio.master.master_to_file` (as the
engine does), then the file is read back by ffmpeg alone (imageio-ffmpeg's binary): its stream
line (codec, rate, channels, bitrate) and its ``ebur128`` filter with ``peak=true+sample``
(integrated loudness, true peak at 192 kHz, sample peak); the decoded samples are measured again
with pyloudnorm (BS.1770 in numpy, independent of libebur128). A case passes when the integrated
loudness lands within ±0.2 LU of the target (ACX: RMS within -23…-18 dBFS, sample peak ≤ -3
dBFS), the true peak is at or under the ceiling, and the rate is the documented one.

Run: ``PYTHONPATH=$PWD python benchmarks/check_deliverables.py [--quick] [--noise-sweep]``. Prints a
Markdown table; exit status 1 when any case fails.
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyloudnorm

from audioflow.audio.blocks import _AudioBlocks
from audioflow.audio.io import ffmpeg_exe
from audioflow.audio.master import master_to_file
from audioflow.audio.types import Audio
from audioflow.errors import AudioError
from audioflow.recipe.outputs import ACX, PRESETS

FORMATS = ("mp3", "m4a", "m4b", "opus", "flac", "wav")
# What docs/reference/recipe.md documents for each format's rate when the recipe asks 44.1 kHz.
_OUT_RATE = {"opus": 48000}


def speech_like(seconds: float, rate_hz: int, channels: int, seed: int = 0) -> np.ndarray:
    """Syllables of speech-band noise (4 Hz envelope) in phrases with pauses, over -70 dBFS room tone."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate_hz)
    t = np.arange(n) / rate_hz
    noise = rng.standard_normal(n)
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(n, 1 / rate_hz)
    spectrum *= np.where((freqs > 100) & (freqs < 5000), 1.0 / np.sqrt(np.maximum(freqs, 100) / 300), 0.0)
    voice = np.fft.irfft(spectrum, n)
    voice /= np.max(np.abs(voice))
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) ** 2
    phrases = (np.sin(2 * np.pi * t / 3.1) > -0.4).astype(float)
    out = 0.5 * voice * envelope * phrases + 10 ** (-70 / 20) * rng.standard_normal(n)
    return _channels(out, channels, rng)


def white_bursts(
    seconds: float, rate_hz: int, channels: int, seed: int, level_dbfs: float, burst_ms: float, period_ms: float
) -> np.ndarray:
    """Full-band white-noise bursts, ``burst_ms`` long every ``period_ms``, at ``level_dbfs`` RMS
    (clipped at full scale), digital silence between them."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate_hz)
    phase = np.arange(n) % round(period_ms * rate_hz / 1000)
    gate = phase < round(burst_ms * rate_hz / 1000)
    out = rng.standard_normal((n, channels)) * 10 ** (level_dbfs / 20) * gate[:, None]
    return np.clip(out, -1, 1)


def _channels(mono: np.ndarray, channels: int, rng: np.random.Generator) -> np.ndarray:
    if channels == 1:
        return mono[:, None]
    return np.stack([mono, 0.9 * mono + 0.02 * rng.standard_normal(mono.shape[0]) * np.std(mono)], axis=1)


@dataclass
class Read:
    codec: str
    rate_hz: int
    channels: int
    bitrate_kbps: int | None
    lufs_ffmpeg: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    lufs_pyloudnorm: float
    rms_dbfs: float


def read_back(path: Path) -> Read:
    """Stream line, ebur128 (peak=true+sample) and pyloudnorm of ``path``, all through ffmpeg alone."""
    ffmpeg = ffmpeg_exe()
    probe = subprocess.run([ffmpeg, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    line = re.search(r"Stream #0:\d+.*?: Audio: (\w+).*?, (\d+) Hz, (mono|stereo)[^\n]*", probe)
    assert line, probe
    kbps = re.search(r"(\d+) kb/s", line.group(0))
    meta = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostats", "-i", str(path), "-af",
         "ebur128=peak=true+sample:metadata=1,ametadata=mode=print:file=-", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    lufs = [float(v) for v in re.findall(r"lavfi\.r128\.I=(-?[\d.]+|-inf)", meta)]
    tp = [float(v) for v in re.findall(r"lavfi\.r128\.true_peak=([\d.e+-]+)", meta)]
    sp = [float(v) for v in re.findall(r"lavfi\.r128\.sample_peak=([\d.e+-]+)", meta)]
    channels = 1 if line.group(3) == "mono" else 2
    rate = int(line.group(2))
    raw = subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", str(path), "-f", "f32le", "-ac", str(channels), "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    samples = np.frombuffer(raw, "<f4").reshape(-1, channels).astype(np.float64)
    pln = pyloudnorm.Meter(rate).integrated_loudness(samples) if samples.shape[0] > rate * 0.4 else -math.inf
    rms = 10 * math.log10(float(np.mean(samples * samples))) if np.any(samples) else -math.inf
    return Read(
        line.group(1), rate, channels, int(kbps.group(1)) if kbps else None,
        lufs[-1] if lufs else -math.inf, _db(max(tp, default=0.0)), _db(max(sp, default=0.0)), pln, rms,
    )  # fmt: skip


def _db(linear: float) -> float:
    return 20 * math.log10(linear) if linear > 0 else -math.inf


@dataclass
class Case:
    programme: str
    samples: np.ndarray
    rate_hz: int
    fmt: str
    preset: str
    bitrate_kbps: int = 192


def run_case(case: Case, folder: Path) -> tuple[str, bool, str]:
    """Master one case and check it; (row, passed, note)."""
    preset = PRESETS[case.preset]
    name = re.sub(r"[^A-Za-z0-9.+-]+", "_", f"{case.programme}-{case.preset}-{case.bitrate_kbps}")
    path = folder / f"{name}.{case.fmt}"
    target_lufs = preset.target_lufs if preset.target_lufs is not None else -20.0
    channels = preset.channels
    started = time.perf_counter()
    try:
        done = master_to_file(
            _AudioBlocks(Audio(case.samples.astype(np.float32), case.rate_hz)),
            path,
            target_lufs=target_lufs,
            true_peak_dbtp=preset.true_peak_dbtp,
            format=case.fmt,
            bitrate_kbps=case.bitrate_kbps,
            sample_rate_hz=44100,
            channels=channels,
            target_rms_dbfs=preset.target_rms_dbfs,
        )
    except AudioError as exc:
        return f"| {case.programme} | {case.fmt} {case.bitrate_kbps}k | {case.preset} | error: {exc} |", False, str(exc)
    seconds = time.perf_counter() - started
    got = read_back(path)
    rate_ok = got.rate_hz == _OUT_RATE.get(case.fmt, 44100)
    peak_ok = got.true_peak_dbtp <= preset.true_peak_dbtp + 1e-9
    if preset.target_rms_dbfs is not None:
        level_ok = ACX.rms_min_dbfs <= got.rms_dbfs <= ACX.rms_max_dbfs and got.sample_peak_dbfs <= ACX.peak_max_dbfs
        miss = got.rms_dbfs - preset.target_rms_dbfs
    else:
        miss = got.lufs_ffmpeg - target_lufs
        level_ok = abs(miss) <= 0.2 and abs(got.lufs_pyloudnorm - target_lufs) <= 0.2
    ok = rate_ok and peak_ok and level_ok
    row = (
        f"| {case.programme} | {case.fmt} {case.bitrate_kbps}k | {case.preset} |"
        f" {got.codec} {got.rate_hz} Hz {got.channels} ch"
        f" {got.bitrate_kbps or '-'} kb/s | {got.lufs_ffmpeg:.2f} / {got.lufs_pyloudnorm:.2f} | {miss:+.2f} |"
        f" {got.true_peak_dbtp:.2f} (≤ {preset.true_peak_dbtp:g}) | {got.sample_peak_dbfs:.2f} | {got.rms_dbfs:.2f} |"
        f" {done.passes} | ours {done.lufs:.2f}/{done.true_peak_dbtp:.2f} | {seconds:.1f} s |"
        f" {'pass' if ok else 'FAIL'} |"
    )
    return row, ok, ""


HEADER = (
    "| programme | format | preset | stream (ffmpeg) | LUFS ffmpeg / pyloudnorm | miss (LU; ACX: RMS dB) |"
    " true peak dBTP (ffmpeg) | sample peak dBFS | RMS dBFS | encodes | audioflow's own reading | time | verdict |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def matrix(quick: bool) -> list[Case]:
    rate = 48000
    speech = speech_like(12.0, rate, 2)
    presets = ("podcast", "streaming", "ebu-r128", "atsc-a85", "speech-mono", "audiobook")
    formats = ("mp3", "m4b") if quick else FORMATS
    return [Case("speech 12 s", speech, rate, fmt, p) for fmt in formats for p in presets]


def hard_cases() -> list[Case]:
    cases = []
    for rate, channels in ((44100, 1), (48000, 2)):
        cases.append(
            Case(f"speech {rate} Hz {channels} ch", speech_like(10.0, rate, channels, 3), rate, "mp3", "podcast")
        )
    rate = 48000
    dc = speech_like(10.0, rate, 2, 4) + 0.2
    cases.append(Case("DC offset +0.2", dc, rate, "mp3", "podcast"))
    quiet = speech_like(10.0, rate, 2, 5) * 10 ** (-40 / 20)
    cases.append(Case("near-silence (-63 LUFS)", quiet, rate, "mp3", "podcast"))
    click = np.zeros((rate * 5, 2))
    click[rate * 2] = 0.9
    cases.append(Case("single click in silence", click, rate, "mp3", "podcast"))
    click_tone = 10 ** (-62 / 20) * np.random.default_rng(6).standard_normal((rate * 5, 2))
    click_tone[rate * 2] = 0.9
    cases.append(Case("single click in room tone", click_tone, rate, "mp3", "podcast"))
    for seconds in (2.5, 1.0, 0.45):
        short = speech_like(seconds, rate, 2, 7)
        for fmt in ("mp3", "m4a", "opus"):
            cases.append(Case(f"short {seconds} s", short, rate, fmt, "podcast"))
    return cases


def noise_sweep() -> list[Case]:
    cases = []
    rate = 48000
    for seed in range(3):
        for burst_ms, period_ms in ((5.0, 100.0), (20.0, 400.0), (100.0, 1000.0)):
            for level, seconds in ((-6.0, 10.0), (-20.0, 30.0)):
                samples = white_bursts(seconds, rate, 2, seed, level, burst_ms, period_ms)
                name = f"white bursts seed {seed} {level:g} dBFS {burst_ms:g}/{period_ms:g} ms {seconds:g} s"
                for preset in ("podcast", "streaming"):
                    for bitrate in (128, 192):
                        cases.append(Case(name, samples, rate, "mp3", preset, bitrate))
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="mp3 and m4b only")
    parser.add_argument(
        "--noise-sweep", action="store_true", help="white-noise bursts to mp3, seeds × levels × lengths"
    )
    parser.add_argument("--hard", action="store_true", help="hard programmes only")
    args = parser.parse_args()
    cases = noise_sweep() if args.noise_sweep else hard_cases() if args.hard else matrix(args.quick) + hard_cases()
    failed = 0
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory(prefix="audioflow-check-") as tmp:
        for case in cases:
            row, ok, _ = run_case(case, Path(tmp))
            failed += not ok
            print(row, flush=True)
    print(f"\n{len(cases) - failed} of {len(cases)} cases pass", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
