from __future__ import annotations

import math

import numpy as np
import pytest

from audioflow.audio import (
    Audio,
    placeholder_bed,
    shelf_eq,
    shift_pitch_by_resampling,
)
from audioflow.errors import AudioError

RATE_HZ = 48000


def sine(frequency_hz: float, duration_s: float = 1.0) -> Audio:
    t = np.arange(round(duration_s * RATE_HZ)) / RATE_HZ
    return Audio(0.5 * np.sin(2 * np.pi * frequency_hz * t), RATE_HZ)


def peak_frequency_hz(audio: Audio) -> float:
    spectrum = np.abs(np.fft.rfft(audio.samples[:, 0] * np.hanning(audio.frames)))
    return float(np.argmax(spectrum)) * audio.sample_rate_hz / audio.frames


def test_pitch_up_an_octave_halves_duration_and_doubles_frequency() -> None:
    shifted = shift_pitch_by_resampling(sine(440), 12)
    assert shifted.sample_rate_hz == RATE_HZ
    assert shifted.frames == RATE_HZ // 2
    assert peak_frequency_hz(shifted) == pytest.approx(880, abs=3)


def test_pitch_down_three_semitones() -> None:
    shifted = shift_pitch_by_resampling(sine(440), -3)
    assert shifted.duration_ms == pytest.approx(1000 * 2 ** (3 / 12), abs=1)
    assert peak_frequency_hz(shifted) == pytest.approx(440 * 2 ** (-3 / 12), abs=2)
    with pytest.raises(AudioError):
        shift_pitch_by_resampling(sine(440), float("nan"))


def steady_level_db(audio: Audio) -> float:
    middle = audio.samples[audio.frames // 2 :, 0]
    return 20 * math.log10(float(np.abs(middle).max()) / 0.5)


def test_shelves_boost_their_band_only() -> None:
    assert steady_level_db(shelf_eq(sine(50), low_shelf_db=6)) == pytest.approx(6, abs=0.3)
    assert steady_level_db(shelf_eq(sine(15000), low_shelf_db=6)) == pytest.approx(0, abs=0.1)
    assert steady_level_db(shelf_eq(sine(15000), high_shelf_db=-6)) == pytest.approx(-6, abs=0.3)
    assert steady_level_db(shelf_eq(sine(250), low_shelf_db=6)) == pytest.approx(3, abs=0.2)
    audio = sine(440)
    assert shelf_eq(audio) is audio
    with pytest.raises(AudioError):
        shelf_eq(audio, high_shelf_db=3, high_hz=30000)


@pytest.mark.parametrize("texture", ["noise", "tone"])
def test_placeholder_bed(texture: str) -> None:
    bed = placeholder_bed(2500.0, sample_rate_hz=RATE_HZ, seed=7, texture=texture)
    assert bed.frames == 120000
    assert bed.channels == 2
    rms_db = 10 * math.log10(float(np.mean(bed.samples.astype(np.float64) ** 2)))
    assert rms_db == pytest.approx(-30, abs=1)
    assert bed.samples[0].tolist() == [0.0, 0.0]
    again = placeholder_bed(2500.0, sample_rate_hz=RATE_HZ, seed=7, texture=texture)
    np.testing.assert_array_equal(bed.samples, again.samples)
    other = placeholder_bed(2500.0, sample_rate_hz=RATE_HZ, seed=8, texture=texture)
    assert not np.array_equal(bed.samples, other.samples)


def test_placeholder_bed_refuses_unknown_texture() -> None:
    with pytest.raises(AudioError, match="texture"):
        placeholder_bed(1000.0, sample_rate_hz=RATE_HZ, seed=1, texture="choir")


def test_the_dc_blocker_removes_an_offset_and_keeps_the_audible_band() -> None:
    from audioflow.audio.dsp import DcBlocker

    rate = 44100
    t = np.arange(rate * 4) / rate

    def gain_db(freq_hz: float) -> float:
        tone = np.sin(2 * np.pi * freq_hz * t)[:, None].astype(np.float32)
        out = DcBlocker(rate, 1).process(tone)[rate * 2 :]  # after the filter has settled
        return 20 * math.log10(float(np.sqrt(np.mean(out**2))) / math.sqrt(0.5))

    assert gain_db(1.0) == pytest.approx(-3.01, abs=0.05)  # first order: -3 dB at the cutoff
    assert gain_db(0.5) == pytest.approx(-6.99, abs=0.1)  # 10·log10(1 + 2²)
    assert abs(gain_db(20.0)) < 0.02 and abs(gain_db(1000.0)) < 0.01
    offset = (0.2 + 0.1 * np.sin(2 * np.pi * 440 * t)[:, None]).astype(np.float32) * np.ones((1, 2), np.float32)
    whole = DcBlocker(rate, 2).process(offset)
    blocker = DcBlocker(rate, 2)
    pieces = np.concatenate([blocker.process(offset[first : first + 7001]) for first in range(0, len(offset), 7001)])
    assert np.array_equal(whole, pieces)  # any blocks
    assert np.abs(whole).max() < 0.11  # no step of 0.2 at the start: the offset was there before it
    assert abs(float(whole[rate:].mean())) < 1e-4
    with pytest.raises(AudioError):
        DcBlocker(rate, 2, cutoff_hz=0.0)
