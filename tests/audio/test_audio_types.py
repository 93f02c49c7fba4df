from __future__ import annotations

import numpy as np
import pytest

from audioflow.audio import Audio
from audioflow.errors import AudioError


def sine(frequency_hz: float, duration_ms: float, rate_hz: int, channels: int = 1) -> Audio:
    t = np.arange(round(duration_ms * rate_hz / 1000)) / rate_hz
    return Audio(np.repeat((0.5 * np.sin(2 * np.pi * frequency_hz * t))[:, None], channels, axis=1), rate_hz)


def test_one_dimensional_samples_become_mono_float32() -> None:
    audio = Audio(np.zeros(10, dtype=np.int16), 8000)
    assert audio.samples.shape == (10, 1)
    assert audio.samples.dtype == np.float32
    assert audio.samples.flags["C_CONTIGUOUS"]
    assert (audio.frames, audio.channels, audio.duration_ms) == (10, 1, 1.25)


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 2)), np.zeros((4, 0))])
def test_bad_shapes_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(AudioError):
        Audio(bad, 48000)


def test_bad_rate_is_refused() -> None:
    with pytest.raises(AudioError):
        Audio(np.zeros(4), 0)


def test_channel_conversion() -> None:
    mono = sine(440, 100, 48000)
    stereo = mono.with_channels(2)
    assert stereo.channels == 2
    np.testing.assert_array_equal(stereo.samples[:, 0], stereo.samples[:, 1])
    assert mono.with_channels(1) is mono
    left_right = Audio(np.stack([np.ones(5), -np.ones(5) * 0.5], axis=1), 48000)
    np.testing.assert_allclose(left_right.with_channels(1).samples[:, 0], 0.25)
    with pytest.raises(AudioError):
        left_right.with_channels(6)


@pytest.mark.parametrize(("source_hz", "target_hz"), [(22050, 48000), (48000, 44100), (44100, 16000)])
def test_resampling_preserves_duration_within_one_frame(source_hz: int, target_hz: int) -> None:
    audio = sine(440, 1234.5, source_hz, channels=2)
    out = audio.resampled(target_hz)
    assert out.sample_rate_hz == target_hz
    assert out.channels == 2
    assert abs(out.duration_ms - audio.duration_ms) <= 1000.0 / target_hz
    assert audio.resampled(source_hz) is audio


def test_resampling_keeps_level() -> None:
    out = sine(440, 500, 22050).resampled(48000)
    middle = out.samples[1000:-1000]
    assert abs(float(np.abs(middle).max()) - 0.5) < 0.01


def test_silence() -> None:
    silence = Audio.silence(250, 48000, channels=2)
    assert silence.samples.shape == (12000, 2)
    assert not silence.samples.any()
    with pytest.raises(AudioError):
        Audio.silence(-1, 48000)
