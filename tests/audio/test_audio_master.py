from __future__ import annotations

import numpy as np
import pytest

from audioflow.audio import (
    Audio,
    decode_bytes,
    integrated_lufs,
    limit,
    master,
    master_encoded,
    true_peak_dbtp,
)
from audioflow.errors import AudioError

RATE_HZ = 48000


def noise_at(target_lufs: float, duration_s: float = 8.0, seed: int = 1) -> Audio:
    rng = np.random.default_rng(seed)
    noise = Audio(rng.normal(0, 0.05, (round(duration_s * RATE_HZ), 2)), RATE_HZ)
    gain = 10 ** ((target_lufs - integrated_lufs(noise)) / 20)
    return Audio(noise.samples * gain, RATE_HZ)


def speech_like(duration_s: float = 8.0, seed: int = 2) -> Audio:
    """Noise bursts of 200-900 ms with varying level, separated by silences, plus a few clicks."""
    rng = np.random.default_rng(seed)
    frames = round(duration_s * RATE_HZ)
    samples = np.zeros((frames, 2))
    position = 0
    while position < frames:
        burst = int(rng.uniform(0.2, 0.9) * RATE_HZ)
        level = 10 ** (rng.uniform(-12, 0) / 20) * 0.1
        end = min(frames, position + burst)
        samples[position:end] = rng.normal(0, level, (end - position, 1)) * np.hanning(end - position)[:, None]
        position = end + int(rng.uniform(0.1, 0.5) * RATE_HZ)
    samples[::12345] = 0.4  # transient peaks the limiter must catch
    return Audio(samples, RATE_HZ)


def test_limiter_holds_the_ceiling() -> None:
    rng = np.random.default_rng(0)
    loud = Audio(np.clip(rng.normal(0, 0.5, (RATE_HZ * 2, 2)), -2, 2), RATE_HZ)
    assert true_peak_dbtp(loud) > 3
    limited = limit(loud, ceiling_dbtp=-1.0)
    assert true_peak_dbtp(limited) <= -1.0 + 0.1
    quiet = Audio(loud.samples * 0.01, RATE_HZ)
    np.testing.assert_array_equal(limit(quiet, ceiling_dbtp=-1.0).samples, quiet.samples)


def test_noise_at_minus_30_is_mastered_to_minus_16() -> None:
    result = master(noise_at(-30.0), target_lufs=-16.0, true_peak_dbtp=-1.0)
    assert result.input_lufs == pytest.approx(-30.0, abs=0.01)
    assert result.lufs == pytest.approx(-16.0, abs=0.5)
    assert integrated_lufs(result.audio) == pytest.approx(result.lufs)
    assert true_peak_dbtp(result.audio) <= -1.0
    assert result.true_peak_dbtp <= -1.0


def test_speech_like_bursts_are_mastered_and_limited() -> None:
    result = master(speech_like(), target_lufs=-16.0, true_peak_dbtp=-1.0)
    assert result.limited
    assert result.lufs == pytest.approx(-16.0, abs=0.5)
    assert true_peak_dbtp(result.audio) <= -1.0


def test_silence_cannot_be_mastered() -> None:
    with pytest.raises(AudioError, match="cannot master silence"):
        master(Audio.silence(2000, RATE_HZ, channels=2))


def test_master_encoded_mp3_meets_targets_on_the_decoded_file() -> None:
    data, result = master_encoded(speech_like(), target_lufs=-16.0, true_peak_dbtp=-1.0, format="mp3")
    decoded = decode_bytes(data, "mp3")
    assert true_peak_dbtp(decoded, refine=True) <= -1.0
    assert integrated_lufs(decoded) == pytest.approx(-16.0, abs=1.0)
    assert result.true_peak_dbtp == pytest.approx(true_peak_dbtp(decoded, refine=True), abs=1e-6)
    assert result.lufs == pytest.approx(integrated_lufs(decoded), abs=1e-6)
