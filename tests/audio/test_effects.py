"""Voices in a space (audio/effects.py, pedalboard): measured on sines and noise made in code."""

from __future__ import annotations

import numpy as np
import pytest

from audioflow.audio import Audio, apply_effects
from audioflow.audio.effects import TAIL_MS
from audioflow.errors import AudioError
from audioflow.steps import EffectSpec

RATE = 48_000


def sine(freq_hz: float, seconds: float = 1.0, amplitude: float = 0.3) -> Audio:
    t = np.arange(int(RATE * seconds)) / RATE
    return Audio((amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32), RATE)


def effect(kind: str, **settings: float) -> EffectSpec:
    return EffectSpec(kind, tuple(settings.items()))


def rms_db(samples: np.ndarray) -> np.ndarray:
    return 20 * np.log10(np.sqrt((samples.astype(np.float64) ** 2).mean(axis=0)) + 1e-12)


def test_no_effects_is_the_same_audio() -> None:
    audio = sine(440)
    assert apply_effects(audio, ()) is audio


@pytest.mark.parametrize(
    ("position", "left_db", "right_db"), [(-1.0, 0.0, None), (0.0, -3.01, -3.01), (1.0, None, 0.0)]
)
def test_pan_is_constant_power_and_zero_db_at_the_centre(position: float, left_db, right_db) -> None:
    audio = sine(440)
    panned = apply_effects(audio, [effect("pan", position=position)])
    assert panned.channels == 2 and panned.frames == audio.frames
    mono_db = rms_db(audio.samples)[0]
    level = rms_db(panned.samples) - mono_db  # relative to the mono source
    power = (panned.samples.astype(np.float64) ** 2).sum()
    assert power == pytest.approx(2 * (audio.samples.astype(np.float64) ** 2).sum(), rel=1e-4)
    for measured, wanted in zip(level, (left_db, right_db), strict=True):
        if wanted is None:
            assert measured < -100  # silent
        else:  # each side of a centred mono source is the source itself (0 dB); hard left: +3 dB power
            assert measured == pytest.approx(wanted + 3.01, abs=0.05)


def test_highpass_and_lowpass_cut_outside_their_band() -> None:
    low, high = sine(80), sine(8_000)
    assert rms_db(apply_effects(low, [effect("highpass", cutoff_hz=400)]).samples)[0] < rms_db(low.samples)[0] - 20
    passed = apply_effects(high, [effect("highpass", cutoff_hz=400)])
    assert abs(rms_db(passed.samples)[0] - rms_db(high.samples)[0]) < 1
    assert rms_db(apply_effects(high, [effect("lowpass", cutoff_hz=1_000)]).samples)[0] < rms_db(high.samples)[0] - 20


def test_shelves_boost_and_cut_their_side_by_their_gain() -> None:
    low, high = sine(60), sine(12_000)
    boosted = apply_effects(low, [effect("low_shelf", cutoff_hz=250, gain_db=6, q=0.7071)])
    assert rms_db(boosted.samples)[0] - rms_db(low.samples)[0] == pytest.approx(6, abs=0.7)
    cut = apply_effects(high, [effect("high_shelf", cutoff_hz=4_000, gain_db=-6, q=0.7071)])
    assert rms_db(cut.samples)[0] - rms_db(high.samples)[0] == pytest.approx(-6, abs=0.7)


def test_a_telephone_keeps_the_voice_band_and_cuts_the_rest() -> None:
    phone = effect("telephone", low_hz=300, high_hz=3_400, drive_db=6)
    voice_band, bass, air = sine(1_000), sine(80), sine(9_000)
    kept = rms_db(apply_effects(voice_band, [phone]).samples)[0] - rms_db(voice_band.samples)[0]
    assert kept > -6
    assert rms_db(apply_effects(bass, [phone]).samples)[0] - rms_db(bass.samples)[0] < kept - 25
    assert rms_db(apply_effects(air, [phone]).samples)[0] - rms_db(air.samples)[0] < kept - 25


def test_a_room_keeps_its_tail_and_ends_silent() -> None:
    burst = Audio(np.concatenate([sine(500, 0.2).samples, np.zeros((RATE // 5, 1), np.float32)]), RATE)
    roomy = apply_effects(burst, [effect("room", size=0.9, damping=0.3, wet=0.4, dry=0.6, width=1.0)])
    assert burst.duration_ms < roomy.duration_ms <= burst.duration_ms + TAIL_MS + 1
    tail = roomy.samples[burst.frames :]
    assert rms_db(tail)[0] > -60  # the reverb rings on after the input ends
    assert np.abs(roomy.samples[-10:]).max() < 1e-3  # and is faded out where it is cut


def test_distance_is_quieter_and_duller_the_further_away() -> None:
    voice = sine(3_000)
    near = apply_effects(voice, [effect("distance", gain_db=-2, lowpass_hz=12_000, size=0.3, wet=0.12, dry=0.9)])
    far = apply_effects(voice, [effect("distance", gain_db=-13, lowpass_hz=3_000, size=0.85, wet=0.45, dry=0.3)])
    first = voice.frames
    assert rms_db(far.samples[:first])[0] < rms_db(near.samples[:first])[0] - 8


def test_an_unknown_effect_is_an_audio_error() -> None:
    with pytest.raises(AudioError, match="unknown effect 'flanger'"):
        apply_effects(sine(440), [effect("flanger")])
