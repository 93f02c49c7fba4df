from __future__ import annotations

import math

import numpy as np
import pytest

from audioflow.audio import Audio, integrated_lufs, loudness, sample_peak_dbfs, true_peak_dbtp
from audioflow.errors import AudioError

RATE_HZ = 48000


def sine(frequency_hz: float, duration_s: float, peak: float = 1.0, phase: float = 0.0) -> np.ndarray:
    t = np.arange(round(duration_s * RATE_HZ)) / RATE_HZ
    return peak * np.sin(2 * np.pi * frequency_hz * t + phase)


def test_full_scale_997_hz_sine_mono_reads_minus_3_01_lufs() -> None:
    # ITU-R BS.1770-4 §2.1: a 0 dBFS 997 Hz sine in one channel (left, centre...) reads -3.01 LUFS.
    assert integrated_lufs(Audio(sine(997, 5), RATE_HZ)) == pytest.approx(-3.01, abs=0.1)


def test_stereo_sums_channel_powers() -> None:
    tone = sine(997, 5)
    assert integrated_lufs(Audio(np.stack([tone, tone], axis=1), RATE_HZ)) == pytest.approx(0.0, abs=0.1)


def test_loudness_follows_gain() -> None:
    tone = sine(997, 5)
    assert integrated_lufs(Audio(tone * 0.1, RATE_HZ)) == pytest.approx(-23.01, abs=0.1)


def test_silence_and_short_audio_are_minus_infinity() -> None:
    assert integrated_lufs(Audio.silence(2000, RATE_HZ)) == -math.inf
    assert integrated_lufs(Audio(sine(997, 0.3), RATE_HZ)) == -math.inf
    assert true_peak_dbtp(Audio.silence(100, RATE_HZ)) == -math.inf
    assert sample_peak_dbfs(Audio.silence(100, RATE_HZ)) == -math.inf


def faded(samples: np.ndarray, fade_frames: int = 4800) -> np.ndarray:
    window = np.ones(samples.size)
    ramp = np.sin(np.linspace(0, np.pi / 2, fade_frames)) ** 2
    window[:fade_frames] = ramp
    window[-fade_frames:] = ramp[::-1]
    return samples * window


def test_true_peak_finds_inter_sample_peaks() -> None:
    # A sine at fs/4 with a 45° phase: every sample is ±0.7071 (-3.01 dBFS), the wave peaks at 1.0.
    audio = Audio(faded(sine(RATE_HZ / 4, 2, phase=math.pi / 4)), RATE_HZ)
    assert sample_peak_dbfs(audio) == pytest.approx(-3.01, abs=0.01)
    assert true_peak_dbtp(audio) == pytest.approx(0.0, abs=0.2)


def test_true_peak_of_a_low_sine_equals_its_peak() -> None:
    audio = Audio(faded(sine(1000, 1, peak=0.5)), RATE_HZ)
    assert true_peak_dbtp(audio) == pytest.approx(-6.02, abs=0.05)


def test_true_peak_chunks_join_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    audio = Audio(rng.normal(0, 0.1, (RATE_HZ * 3, 2)), RATE_HZ)
    whole = true_peak_dbtp(audio)
    monkeypatch.setattr(loudness, "_TRUE_PEAK_CHUNK_S", 0.1)
    assert true_peak_dbtp(audio) == pytest.approx(whole, abs=1e-9)


def test_true_peak_refuses_bad_oversampling() -> None:
    with pytest.raises(AudioError):
        true_peak_dbtp(Audio(sine(1000, 0.1), RATE_HZ), oversample=0)


@pytest.mark.parametrize(("rate", "hop_ms"), [(44100, 250.0), (48000, 500.0), (44100, 337.5)])
def test_short_term_readings_equal_libebur128s_own_3_s_window(rate: int, hop_ms: float) -> None:
    """Read from hop energies (a hop that divides the 3 s window) or from libebur128's window (one
    that does not), each reading is libebur128's short-term loudness at that frame, from the start on."""
    import pyebur128

    rng = np.random.default_rng(7)
    bursts = np.repeat(rng.uniform(0.0, 0.5, 40), rate // 4)[:, None] * rng.standard_normal((40 * (rate // 4), 2))
    audio = np.concatenate([np.zeros((rate, 2)), bursts]).astype(np.float32)
    meter = loudness.ShortTermMeter(rate, 2, hop_ms)
    readings = [r for first in range(0, len(audio), 5003) for r in meter.add(audio[first : first + 5003])]
    state = pyebur128.R128State(2, rate, pyebur128.MeasurementMode.MODE_S)
    expected = []
    for end in range(meter.hop_frames, len(audio) + 1, meter.hop_frames):
        part = audio[end - meter.hop_frames : end]
        state.add_frames(part.reshape(-1), part.shape[0])
        expected.append(pyebur128.get_loudness_shortterm(state))
    assert [ms for ms, _ in readings] == [k * meter.hop_frames * 1000.0 / rate for k in range(1, len(expected) + 1)]
    got, want = np.array([lufs for _, lufs in readings]), np.array(expected)
    assert (np.isfinite(got) == np.isfinite(want)).all() and np.isinf(got[: rate // meter.hop_frames]).all()
    assert np.max(np.abs(got[np.isfinite(want)] - want[np.isfinite(want)])) < 1e-9


@pytest.mark.parametrize("refine", [False, True])
def test_a_peak_only_detector_reads_the_envelopes_peak_exactly(refine: bool) -> None:
    """Without the per-frame envelope the peak is the same float, whatever the blocks."""
    rng = np.random.default_rng(3)
    audio = (rng.uniform(0.0, 0.9, 30).repeat(4410)[:, None] * rng.standard_normal((30 * 4410, 2))).astype(np.float32)
    full = loudness.PeakDetector(44100, 2, refine=refine)
    only = loudness.PeakDetector(44100, 2, refine=refine, envelope=False)
    envelope = [full.push(audio[first : first + 9000]) for first in range(0, len(audio), 9000)] + [full.flush()]
    outs = [only.push(audio[first : first + 7001]) for first in range(0, len(audio), 7001)] + [only.flush()]
    assert sum(len(e) for e in envelope) == len(audio) and all(len(o) == 0 for o in outs)
    assert only.peak == full.peak == pytest.approx(float(np.concatenate(envelope).max()), abs=0 if not refine else 0.1)
