"""The programme's overview (envelope and short-term loudness): measured by the master in the pass
that checks its decoded file, equal to decoding the file again, the same in any block size, and kept
in the master's meta without losing what the report draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audioflow.audio import Audio, AudioFile, master_to_file, write_wav
from audioflow.audio.figures import Overview
from audioflow.audio.overview import EnvelopeMeter, overview, overview_sizes
from audioflow.engine.meta import StepMeta

RATE_HZ = 44100


def bursts(duration_s: float, seed: int = 3) -> Audio:
    """Noise bursts at varying levels with pauses (speech-like loudness over time), stereo."""
    rng = np.random.default_rng(seed)
    frames = round(duration_s * RATE_HZ)
    envelope = np.zeros(frames)
    position = 0
    while position < frames:
        end = min(frames, position + int(rng.uniform(0.2, 0.9) * RATE_HZ))
        envelope[position:end] = np.hanning(end - position) * 10 ** (rng.uniform(-15, 0) / 20)
        position = end + int(rng.uniform(0.1, 0.6) * RATE_HZ)
    samples = rng.normal(0, 0.1, (frames, 2)) * envelope[:, None]
    return Audio(samples.astype(np.float32), RATE_HZ)


@pytest.mark.parametrize("fmt", ["mp3", "m4a"])
def test_the_master_measures_the_overview_of_its_decoded_file(tmp_path: Path, fmt: str) -> None:
    audio = bursts(12.0)
    (tmp_path / "mix.wav").write_bytes(write_wav(audio))
    path = tmp_path / f"out.{fmt}"
    source = AudioFile.open(tmp_path / "mix.wav")
    done = master_to_file(source, path, target_lufs=-16.0, true_peak_dbtp=-1.0, format=fmt)
    seen = done.overview
    assert seen is not None
    again = overview(path, sample_rate_hz=RATE_HZ, channels=2, duration_ms=audio.duration_ms)
    assert (seen.bin_frames, seen.hop_frames) == (again.bin_frames, again.hop_frames) == (441, 11025)
    assert seen.times_ms == again.times_ms and seen.loudness_ms == again.loudness_ms
    assert seen.low == again.low and seen.high == again.high  # the same decoded samples
    np.testing.assert_allclose(seen.short_term_lufs, again.short_term_lufs, rtol=0, atol=1e-9)
    assert len(seen.low) == pytest.approx(done.frames / 441, abs=1) and len(seen.loudness_ms) == 48
    assert max(seen.high) > 0.3 and min(seen.low) < -0.3
    loud = [v for ms, v in zip(seen.loudness_ms, seen.short_term_lufs, strict=True) if ms >= 3000]
    assert -16.0 - 8 < float(np.median(loud)) < -16.0 + 4  # around the target it was mastered to


@pytest.mark.parametrize("block_frames", [1, 997, 65536])
def test_the_envelope_is_the_same_in_any_block_size(block_frames: int) -> None:
    samples = bursts(2.0).samples
    meter = EnvelopeMeter(300)
    for first in range(0, samples.shape[0], block_frames):
        meter.add(samples[first : first + block_frames])
    low, high = meter.bins()
    frames = samples.shape[0]
    assert len(low) == -(-frames // 300)
    for k in (0, 7, len(low) - 1):  # the last bin is the partial one
        part = samples[k * 300 : (k + 1) * 300]
        assert low[k] == min(0.0, float(part.min())) and high[k] == max(0.0, float(part.max()))


def test_overview_sizes_bin_the_programme_for_the_report() -> None:
    assert overview_sizes(136_000.0, 44100) == (4998, 250.0)  # 1200 bins; loudness every 250 ms
    assert overview_sizes(3_600_000.0, 48000) == (144000, 3000.0)  # an hour: a reading every 3 s


def test_the_overview_survives_the_masters_meta() -> None:
    seen = Overview(
        [(k + 0.5) * 441 * 1000.0 / RATE_HZ for k in range(3)],
        [-0.123456, -0.5, 0.0],
        [0.25, 0.987654321, 0.0],
        [250.0, 500.0],
        [-float("inf"), -17.456],
        RATE_HZ,
        441,
        11025,
    )
    back = StepMeta.from_json(StepMeta(1000.0, RATE_HZ, 2, overview=seen).to_json()).overview
    assert back is not None
    assert back.times_ms == seen.times_ms and back.loudness_ms == seen.loudness_ms
    assert back.low == [-0.1235, -0.5, 0.0] and back.high == [0.25, 0.9877, 0.0]
    assert back.short_term_lufs == [-float("inf"), -17.46]


def test_two_masters_of_one_mix_measure_it_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    from concurrent.futures import ThreadPoolExecutor

    master = importlib.import_module("audioflow.audio.master")
    (tmp_path / "mix.wav").write_bytes(write_wav(bursts(70.0, seed=5)))  # over a minute: the trial takes excerpts
    measured: list[int] = []
    measure = master._measure_and_sample

    def counted(source: object, block_frames: int, **options: bool) -> object:
        measured.append(block_frames)
        return measure(source, block_frames, **options)

    def one(fmt: str) -> object:
        source = AudioFile.open(tmp_path / "mix.wav")
        return master_to_file(source, tmp_path / f"out.{fmt}", target_lufs=-16.0, true_peak_dbtp=-1.0, format=fmt)

    monkeypatch.setattr(master, "_measure_and_sample", counted)
    with ThreadPoolExecutor(2) as pool:
        wav, flac = pool.map(one, ["wav", "flac"])
    assert measured == [master.BLOCK_FRAMES]  # the second master took the first's pass 1
    alone = master_to_file(
        AudioFile.open(tmp_path / "mix.wav"),
        tmp_path / "mono.flac",
        target_lufs=-16.0,
        true_peak_dbtp=-1.0,
        format="flac",
        channels=1,
    )
    assert len(measured) == 2  # another channel count is another measurement
    assert wav.input_lufs == flac.input_lufs and alone.input_lufs < wav.input_lufs - 3  # mono: the mean of two
    assert abs(wav.lufs + 16.0) <= 0.2 and abs(flac.lufs + 16.0) <= 0.2 and abs(alone.lufs + 16.0) <= 0.2
