"""Small signal-processing helpers: gain conversions, tape-style pitch shift, shelf EQ, draft beds, a DC blocker."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from audioflow.audio.types import Audio, resample_samples
from audioflow.errors import AudioError

__all__ = ["DC_BLOCK_HZ", "DcBlocker", "block_dc", "placeholder_bed", "shelf_eq", "shift_pitch_by_resampling"]

PLACEHOLDER_TEXTURES: tuple[str, ...] = ("noise", "tone")
_PLACEHOLDER_RMS_DBFS = -30.0
_PLACEHOLDER_FADE_MS = 50.0
# Pinking filter (-3 dB/octave within ~0.5 dB above 10 Hz at 44.1/48 kHz), J. O. Smith,
# "Spectral Audio Signal Processing", Example: synthesis of 1/f noise.
_PINK_B = (0.049922035, -0.095993537, 0.050612699, -0.004408786)
_PINK_A = (1.0, -2.494956002, 2.017265875, -0.522189400)
_SLOPE_ONE_Q = 1.0 / math.sqrt(2.0)  # an RBJ shelf's slope S = 1 as its Q


def shift_pitch_by_resampling(audio: Audio, semitones: float) -> Audio:
    """Tape-style pitch shift: every frequency scales by 2^(semitones/12), duration by 2^(-semitones/12).

    The audio is resampled by the inverse ratio (soxr, :func:`~audioflow.audio.types.resample_samples`;
    the ratio approximated by ``Fraction.limit_denominator(1000)``, error < 0.1 cent for
    |semitones| <= 24; ceil(frames * ratio) frames) and kept at the same sample rate. Formants
    move with the pitch: intended, it changes apparent size and timbre.
    Raises ``AudioError`` for a non-finite or out-of-range (|semitones| > 48) shift.
    """
    if not math.isfinite(semitones) or abs(semitones) > 48:
        raise AudioError(f"pitch shift must be a finite number of semitones within ±48, got {semitones!r}")
    if semitones == 0 or audio.frames == 0:
        return audio
    ratio = Fraction(2.0 ** (-semitones / 12.0)).limit_denominator(1000)
    frames = -(-audio.frames * ratio.numerator // ratio.denominator)
    out = resample_samples(audio.samples, ratio.denominator, ratio.numerator, frames)
    return Audio(out, audio.sample_rate_hz)


def shelf_eq(
    audio: Audio,
    *,
    low_shelf_db: float = 0.0,
    high_shelf_db: float = 0.0,
    low_hz: float = 250.0,
    high_hz: float = 4000.0,
) -> Audio:
    """Low and high shelving EQ (RBJ Audio EQ Cookbook biquads, slope 1) for colouring a voice.

    ``low_shelf_db`` is the gain well below ``low_hz``, ``high_shelf_db`` well above ``high_hz``
    (each corner is the shelf's midpoint, half the gain in dB). Filters with pedalboard's
    ``LowShelfFilter`` / ``HighShelfFilter`` (JUCE's cookbook shelves; Q = 1/sqrt(2) is slope 1),
    in float32. Raises ``AudioError`` for a corner outside (0, Nyquist).
    """
    nyquist_hz = audio.sample_rate_hz / 2.0
    shelves: list[tuple[float, float, bool]] = []
    for gain_db, corner_hz, high in ((low_shelf_db, low_hz, False), (high_shelf_db, high_hz, True)):
        if gain_db == 0:
            continue
        if not (math.isfinite(gain_db) and 0 < corner_hz < nyquist_hz):
            raise AudioError(f"shelf at {corner_hz!r} Hz / {gain_db!r} dB is outside (0, {nyquist_hz:g}) Hz")
        shelves.append((gain_db, corner_hz, high))
    if not shelves or audio.frames == 0:
        return audio
    import pedalboard  # imported on use, like every audio library

    board = pedalboard.Pedalboard(
        [
            (pedalboard.HighShelfFilter if high else pedalboard.LowShelfFilter)(
                cutoff_frequency_hz=corner_hz, gain_db=gain_db, q=_SLOPE_ONE_Q
            )
            for gain_db, corner_hz, high in shelves
        ]
    )
    out = board(np.ascontiguousarray(audio.samples.T), audio.sample_rate_hz)
    return Audio(np.ascontiguousarray(out.T, dtype=np.float32), audio.sample_rate_hz)


def _noise_texture(frames: int, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """Pink-ish stereo noise, low-passed at 3 kHz, with slow (0.05-0.2 Hz) amplitude drift."""
    white = rng.standard_normal((frames, 2))
    from scipy import signal  # imported on use: scipy.signal costs ~0.6 s at start-up

    pink = signal.lfilter(_PINK_B, _PINK_A, white, axis=0)
    lowpass = signal.butter(2, min(3000.0, rate_hz * 0.45), fs=rate_hz, output="sos")
    soft = signal.sosfilt(lowpass, pink, axis=0)
    seconds = np.arange(frames) / rate_hz
    drift = np.zeros(frames)
    for _ in range(3):
        drift += np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * seconds + rng.uniform(0, 2 * np.pi))
    return soft * (10.0 ** (2.0 * drift / 3.0 / 20.0))[:, None]  # about ±2 dB


def _tone_texture(frames: int, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """A soft A-minor-ish drone (A2, E3, A3, C4), slightly detuned between channels, slow tremolo."""
    seconds = np.arange(frames) / rate_hz
    out = np.zeros((frames, 2))
    for frequency_hz, level in ((110.0, 1.0), (164.81, 0.6), (220.0, 0.45), (261.63, 0.3)):
        for channel in range(2):
            detuned_hz = frequency_hz * (1.0 + rng.uniform(-0.002, 0.002))
            out[:, channel] += level * np.sin(2 * np.pi * detuned_hz * seconds + rng.uniform(0, 2 * np.pi))
    tremolo = 1.0 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.15, 0.35) * seconds + rng.uniform(0, 2 * np.pi))
    return out * tremolo[:, None]


def placeholder_bed(duration_ms: float, *, sample_rate_hz: int, seed: int, texture: str = "noise") -> Audio:
    """A soft procedural stereo bed for drafts: a labelled stand-in for a generated sound.

    ``texture`` "noise": pink-ish noise, low-passed, with slow amplitude drift (rain/room-like);
    "tone": a soft low drone chord with slow tremolo. Exactly ``round(duration_ms * rate / 1000)``
    frames × 2 channels, float32, -30 dBFS RMS (over both channels), 50 ms linear fades at both ends;
    the same ``seed`` gives the same samples. Raises ``AudioError`` for an unknown texture or a
    negative / non-finite duration.
    """
    if texture not in PLACEHOLDER_TEXTURES:
        raise AudioError(f"unknown placeholder texture {texture!r}: use one of {', '.join(PLACEHOLDER_TEXTURES)}")
    if not math.isfinite(duration_ms) or duration_ms < 0:
        raise AudioError(f"placeholder duration must be a finite number >= 0 ms, got {duration_ms!r}")
    frames = round(duration_ms * sample_rate_hz / 1000.0)
    if frames == 0:
        return Audio(np.zeros((0, 2), np.float32), sample_rate_hz)
    rng = np.random.default_rng(seed)
    make = _noise_texture if texture == "noise" else _tone_texture
    samples = make(frames, sample_rate_hz, rng)
    fade = min(round(_PLACEHOLDER_FADE_MS * sample_rate_hz / 1000.0), frames // 2)
    if fade > 0:
        ramp = np.arange(fade) / fade
        samples[:fade] *= ramp[:, None]
        samples[frames - fade :] *= ramp[::-1, None]
    rms = float(np.sqrt(np.mean(samples**2)))
    if rms > 0:
        samples *= 10.0 ** (_PLACEHOLDER_RMS_DBFS / 20.0) / rms
    return Audio(samples.astype(np.float32), sample_rate_hz)


#: Where the master's DC blocker is 3 dB down (Hz): 0.01 dB down at 20 Hz. Low, so that what it
#: leaves after a sound that stops dead (a low-frequency tail, ~cutoff/frequency of its level, decaying
#: with a time constant of 1/(2π·cutoff)) stays under room tone: at 5 Hz a gated 140 Hz tone at
#: -12 dBFS rang above -50 dBFS for 30 ms, at 1 Hz it does not.
DC_BLOCK_HZ = 1.0
_DC_SETTLE_TIME_CONSTANTS = 16.0  # the filter first runs this long on the first frame held: e^-16 of a step is left


class DcBlocker:
    """A first-order high-pass at ``cutoff_hz`` (-3 dB there, 6 dB/octave below) that removes a DC
    offset, fed a stream block by block (frames × channels, float32 out): pedalboard's
    ``HighpassFilter`` (https://spotify.github.io/pedalboard/reference/pedalboard.html#pedalboard.HighpassFilter,
    JUCE's first-order filter), its state kept across blocks (``reset=False``), so a stream fed in
    blocks of any size comes out the same.

    Before the first block the filter runs for 16 time constants on that block's first frame held
    (its output dropped): an offset present from the start then leaves no step for the filter to
    ring on (a programme starting in silence is filtered from rest, as without it). Raises
    ``AudioError`` for a cutoff that is not between 0 and a tenth of the rate."""

    def __init__(self, sample_rate_hz: int, channels: int, cutoff_hz: float = DC_BLOCK_HZ):
        import pedalboard

        if not 0.0 < cutoff_hz < sample_rate_hz / 10.0:
            top_hz = sample_rate_hz / 10.0
            raise AudioError(f"a DC blocker's cutoff must be between 0 and {top_hz:g} Hz, not {cutoff_hz!r}")
        self.sample_rate_hz, self.channels, self.cutoff_hz = int(sample_rate_hz), int(channels), float(cutoff_hz)
        self._filter = pedalboard.HighpassFilter(cutoff_frequency_hz=float(cutoff_hz))
        self._settled = False

    def process(self, block: np.ndarray) -> np.ndarray:
        """Filter the next ``block`` (frames × channels); the same number of frames, float32."""
        data = np.asarray(block, dtype=np.float32)
        if data.shape[0] == 0:
            return np.zeros(data.shape, np.float32)
        if not self._settled:
            settle_s = _DC_SETTLE_TIME_CONSTANTS / (2.0 * math.pi * self.cutoff_hz)
            held = np.repeat(data[:1].T, round(settle_s * self.sample_rate_hz), axis=1)
            self._filter.process(np.ascontiguousarray(held), self.sample_rate_hz, reset=False)
            self._settled = True
        out = self._filter.process(np.ascontiguousarray(data.T), self.sample_rate_hz, reset=False)
        return np.ascontiguousarray(out.T, dtype=np.float32)


def block_dc(audio: Audio, cutoff_hz: float = DC_BLOCK_HZ) -> Audio:
    """``audio`` through a :class:`DcBlocker` (the master's, in memory)."""
    blocker = DcBlocker(audio.sample_rate_hz, audio.channels, cutoff_hz)
    return Audio(blocker.process(audio.samples), audio.sample_rate_hz)
