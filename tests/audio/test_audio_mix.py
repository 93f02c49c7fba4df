from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audioflow.audio import Audio, Clip, Duck, render_mix
from audioflow.errors import AudioError

RATE_HZ = 48000


def impulse(rate_hz: int = RATE_HZ) -> Audio:
    samples = np.zeros((10, 1), np.float32)
    samples[0] = 1.0
    return Audio(samples, rate_hz)


def constant(duration_ms: float, value: float = 0.5, channels: int = 2, rate_hz: int = RATE_HZ) -> Audio:
    return Audio(np.full((round(duration_ms * rate_hz / 1000), channels), value, np.float32), rate_hz)


def db(value: float) -> float:
    return 20 * math.log10(value)


@pytest.mark.parametrize(
    ("start_ms", "frame"),
    [(0.0, 0), (1000.0, 48000), (1000.01, 48000), (1000.02, 48001), (0.5 / 48, 1), (1234.5678, 59259)],
)
def test_impulse_lands_on_the_exact_frame(start_ms: float, frame: int) -> None:
    mixed = render_mix([Clip(impulse(), start_ms)], sample_rate_hz=RATE_HZ, channels=2)
    assert np.argmax(mixed.samples[:, 0]) == frame
    assert mixed.samples[frame, 1] == 1.0
    assert np.count_nonzero(mixed.samples) == 2


def test_timeline_length_is_latest_clip_end_or_given_length() -> None:
    clips = [Clip(constant(500), 0.0), Clip(constant(250), 1000.0)]
    assert render_mix(clips, sample_rate_hz=RATE_HZ).frames == 60000
    assert render_mix(clips, sample_rate_hz=RATE_HZ, length_ms=1100).frames == 52800
    assert render_mix([], sample_rate_hz=RATE_HZ).frames == 0


def test_gain_minus_6_db_halves_amplitude() -> None:
    mixed = render_mix([Clip(constant(100, 1.0), 0.0, gain_db=-6.0206)], sample_rate_hz=RATE_HZ)
    np.testing.assert_allclose(mixed.samples, 0.5, atol=1e-3)


def test_linear_fades() -> None:
    clip = Clip(constant(1000, 1.0, channels=1), 0.0, fade_in_ms=100, fade_out_ms=200)
    out = render_mix([clip], sample_rate_hz=RATE_HZ, channels=1).samples[:, 0]
    assert out[0] == 0.0
    assert out[-1] == 0.0
    assert out[2400] == pytest.approx(0.5, abs=1e-3)  # 50 ms into a 100 ms fade-in
    assert out[4800] == pytest.approx(1.0)
    assert out[-1 - 4800] == pytest.approx(0.5, abs=1e-3)  # 100 ms before the end of a 200 ms fade-out
    assert out[-1 - 9600] == pytest.approx(1.0)
    assert np.all(np.diff(out[:4800]) > 0)


def test_fade_out_ends_at_truncated_length() -> None:
    clip = Clip(constant(1000, 1.0, channels=1), 0.0, length_ms=500, fade_out_ms=100)
    out = render_mix([clip], sample_rate_hz=RATE_HZ, channels=1).samples[:, 0]
    assert out.size == 24000
    assert out[-1] == 0.0
    assert clip.end_ms == 500


def test_loop_fills_length() -> None:
    ramp = Audio(np.arange(4800, dtype=np.float32) / 4800, RATE_HZ)  # 100 ms
    clip = Clip(ramp, 10.0, length_ms=350, loop=True)
    out = render_mix([clip], sample_rate_hz=RATE_HZ, channels=1).samples[:, 0]
    assert out.size == 480 + 16800
    body = out[480:]
    np.testing.assert_array_equal(body[:4800], ramp.samples[:, 0])
    np.testing.assert_array_equal(body[4800:9600], ramp.samples[:, 0])
    np.testing.assert_array_equal(body[14400:], ramp.samples[:2400, 0])
    assert clip.end_ms == 360


def test_loop_crossfade_keeps_a_constant_level_constant_enough() -> None:
    clip = Clip(constant(200, 0.5, channels=1), 0.0, length_ms=1000, loop=True, loop_crossfade_ms=50)
    out = render_mix([clip], sample_rate_hz=RATE_HZ, channels=1).samples[:, 0]
    assert out.size == 48000
    assert out.min() > 0.5 * 0.99  # equal-power on correlated audio bumps up to +3 dB, never dips
    assert out.max() < 0.5 * 1.42


def test_ducking_depth_and_ramps() -> None:
    duck = Duck(depth_db=-10.0, intervals_ms=((1000.0, 2000.0),), attack_ms=100.0, release_ms=400.0)
    bed = Clip(constant(4000, 0.5), 0.0, duck=duck)
    out = render_mix([bed], sample_rate_hz=RATE_HZ).samples[:, 0]
    frame = RATE_HZ // 1000
    assert db(out[1500 * frame] / 0.5) == pytest.approx(-10.0, abs=0.1)
    assert db(out[1000 * frame] / 0.5) == pytest.approx(-10.0, abs=0.1)  # attack finishes at the start
    assert db(out[950 * frame] / 0.5) == pytest.approx(-5.0, abs=0.1)  # ramps linear in dB
    assert db(out[2200 * frame] / 0.5) == pytest.approx(-5.0, abs=0.1)
    assert db(out[800 * frame] / 0.5) == pytest.approx(0.0, abs=0.01)
    assert db(out[2500 * frame] / 0.5) == pytest.approx(0.0, abs=0.01)


def test_duck_intervals_are_timeline_absolute_and_merge() -> None:
    duck = Duck(depth_db=-10.0, intervals_ms=((1500.0, 1800.0), (1000.0, 1500.0)), attack_ms=50, release_ms=50)
    bed = Clip(constant(2000, 0.5), 500.0, duck=duck)  # clip starts at 500 ms
    out = render_mix([bed], sample_rate_hz=RATE_HZ).samples[:, 0]
    frame = RATE_HZ // 1000
    inside = out[1000 * frame : 1800 * frame]
    np.testing.assert_allclose(20 * np.log10(inside / 0.5), -10.0, atol=0.01)
    assert db(out[700 * frame] / 0.5) == pytest.approx(0.0, abs=0.01)


def test_overlapping_clips_sum() -> None:
    clips = [Clip(constant(1000, 0.25), 0.0), Clip(constant(1000, 0.5), 500.0)]
    out = render_mix(clips, sample_rate_hz=RATE_HZ).samples
    assert out[100, 0] == pytest.approx(0.25)
    assert out[30000, 0] == pytest.approx(0.75)
    assert out[60000, 1] == pytest.approx(0.5)


def test_sum_is_not_clipped() -> None:
    clips = [Clip(constant(100, 0.8), 0.0), Clip(constant(100, 0.8), 0.0)]
    assert render_mix(clips, sample_rate_hz=RATE_HZ).samples.max() == pytest.approx(1.6)


def test_clip_is_converted_to_timeline_rate_and_channels() -> None:
    t = np.arange(22050) / 22050
    clip_audio = Audio(0.5 * np.sin(2 * np.pi * 440 * t), 22050)  # 1 s mono at 22.05 kHz
    out = render_mix([Clip(clip_audio, 250.0)], sample_rate_hz=RATE_HZ, channels=2)
    assert out.channels == 2
    assert out.frames == 12000 + 48000
    np.testing.assert_array_equal(out.samples[:, 0], out.samples[:, 1])
    spectrum = np.abs(np.fft.rfft(out.samples[12000:, 0]))
    assert np.argmax(spectrum) == 440  # 1 s of audio: bin k is k Hz
    assert abs(float(np.abs(out.samples[20000:50000, 0]).max()) - 0.5) < 0.01


@pytest.mark.parametrize(
    "clip",
    [
        Clip(constant(10), -1.0),
        Clip(constant(10), float("nan")),
        Clip(constant(10), 0.0, gain_db=float("inf")),
        Clip(constant(10), 0.0, fade_in_ms=-5),
        Clip(constant(10), 0.0, length_ms=float("nan")),
        Clip(constant(10), 0.0, duck=Duck(depth_db=6.0, intervals_ms=((0, 1),))),
        Clip(constant(10), 0.0, duck=Duck(depth_db=-6.0, intervals_ms=((5, 1),))),
        Clip(Audio(np.full(10, np.nan), RATE_HZ), 0.0),
    ],
)
def test_invalid_clips_raise_audio_error(clip: Clip) -> None:
    with pytest.raises(AudioError, match="clip 0"):
        render_mix([clip], sample_rate_hz=RATE_HZ)


def test_clip_beyond_given_length_is_cut() -> None:
    out = render_mix([Clip(constant(100), 2000.0)], sample_rate_hz=RATE_HZ, length_ms=1000)
    assert out.frames == 48000
    assert not out.samples.any()


@settings(max_examples=40, deadline=None)
@given(
    placements=st.lists(
        st.tuples(
            st.floats(0, 50, allow_nan=False),  # start_ms
            st.integers(1, 400),  # frames
            st.floats(-20, 6, allow_nan=False),  # gain_db
        ),
        min_size=1,
        max_size=6,
    )
)
def test_mix_equals_a_naive_sum(placements: list[tuple[float, int, float]]) -> None:
    rng = np.random.default_rng(len(placements))
    clips = [
        Clip(Audio(rng.uniform(-1, 1, (frames, 2)), 8000), start_ms, gain_db=gain_db)
        for start_ms, frames, gain_db in placements
    ]
    mixed = render_mix(clips, sample_rate_hz=8000).samples
    expected = np.zeros_like(mixed, dtype=np.float64)
    for clip in clips:
        first = math.floor(clip.start_ms * 8 + 0.5)
        expected[first : first + clip.audio.frames] += clip.audio.samples * 10 ** (clip.gain_db / 20)
    np.testing.assert_allclose(mixed, expected, atol=1e-5)
