"""Voices in a space: the effects a drama needs, built from pedalboard (Spotify's JUCE-based effects).

An effect is any value with a ``kind`` and numeric settings (``steps.EffectSpec`` is one): the
recipe resolves presets (``room: hall``, ``distance: far``, ``telephone``) into numbers, so what is
rendered is exactly what the step digest covers. :func:`apply_effects` runs a chain in order:

========== ===================================================================================
kind       settings (units in the names) → pedalboard plugins
========== ===================================================================================
pan        ``position`` −1 (left) … +1 (right): a constant-power pan of the mono sum, 0 dB at
           the centre (numpy: pedalboard has no panner); the result is stereo
highpass   ``cutoff_hz`` → ``HighpassFilter`` (6 dB/octave per pass), applied twice
lowpass    ``cutoff_hz`` → ``LowpassFilter``, applied twice
low_shelf  ``cutoff_hz``, ``gain_db``, ``q`` → ``LowShelfFilter``
high_shelf ``cutoff_hz``, ``gain_db``, ``q`` → ``HighShelfFilter``
room       ``size``, ``damping``, ``wet``, ``dry``, ``width`` (0–1) → ``Reverb``
distance   ``gain_db``, ``lowpass_hz``, ``size``, ``wet``, ``dry`` → ``Gain``, ``LowpassFilter``,
           ``Reverb``: quieter, duller and more of the room the further away
telephone  ``low_hz``, ``high_hz``, ``drive_db`` → band-limit (high- and low-pass, 18 dB/octave) and
           ``Distortion``; radio: the same with a ``Compressor`` (``threshold_db``, ``ratio``)
radio
========== ===================================================================================

A chain with a reverb keeps its tail: the input is padded with :data:`TAIL_MS` of silence and the
output cut where the tail falls 60 dB below the peak, so the result may be longer than the input
(by at most :data:`TAIL_MS`). Raises :class:`~audioflow.errors.AudioError` for an unknown kind.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from audioflow.audio.types import Audio
from audioflow.errors import AudioError

__all__ = ["EFFECT_KINDS", "TAIL_MS", "Effect", "apply_effects"]

#: The effects :func:`apply_effects` knows.
EFFECT_KINDS = (
    "pan",
    "highpass",
    "lowpass",
    "low_shelf",
    "high_shelf",
    "room",
    "distance",
    "telephone",
    "radio",
)
#: The longest reverb tail kept after the input ends, ms.
TAIL_MS = 2_500.0
_TAIL_FLOOR_DB = -60.0
_TAIL_FADE_MS = 20.0


class Effect(Protocol):
    """What :func:`apply_effects` reads of an effect: its ``kind`` and its settings by name."""

    @property
    def kind(self) -> str: ...

    def setting(self, name: str) -> float: ...


def _band(low_hz: float, high_hz: float) -> list[Any]:
    from pedalboard import HighpassFilter, LowpassFilter

    return [HighpassFilter(low_hz) for _ in range(3)] + [LowpassFilter(high_hz) for _ in range(3)]


def _plugins(effect: Effect) -> list[Any]:
    """The pedalboard plugins of one effect (pan is done apart)."""
    import pedalboard as pb

    kind, get = effect.kind, effect.setting
    if kind == "highpass":
        return [pb.HighpassFilter(get("cutoff_hz")), pb.HighpassFilter(get("cutoff_hz"))]
    if kind == "lowpass":
        return [pb.LowpassFilter(get("cutoff_hz")), pb.LowpassFilter(get("cutoff_hz"))]
    if kind == "low_shelf":
        return [pb.LowShelfFilter(get("cutoff_hz"), get("gain_db"), get("q"))]
    if kind == "high_shelf":
        return [pb.HighShelfFilter(get("cutoff_hz"), get("gain_db"), get("q"))]
    if kind == "room":
        return [pb.Reverb(get("size"), get("damping"), get("wet"), get("dry"), get("width"))]
    if kind == "distance":
        reverb = pb.Reverb(get("size"), 0.5, get("wet"), get("dry"), 1.0)
        return [pb.Gain(get("gain_db")), pb.LowpassFilter(get("lowpass_hz")), reverb]
    if kind == "telephone":
        return [*_band(get("low_hz"), get("high_hz")), pb.Distortion(get("drive_db")), pb.Gain(-get("drive_db") / 2)]
    if kind == "radio":
        compressor = pb.Compressor(get("threshold_db"), get("ratio"), 5.0, 120.0)
        return [*_band(get("low_hz"), get("high_hz")), compressor, pb.Distortion(get("drive_db"))]
    raise AudioError(f"unknown effect {kind!r}: expected one of {', '.join(EFFECT_KINDS)}")


def _pan(samples: np.ndarray, position: float) -> np.ndarray:
    """Constant-power pan of the mono sum of ``samples`` (frames × channels) to stereo, 0 dB at the centre."""
    mono = samples.mean(axis=1)
    angle = (min(1.0, max(-1.0, position)) + 1.0) * math.pi / 4.0
    gains = np.array([math.cos(angle), math.sin(angle)], dtype=np.float32) * np.float32(math.sqrt(2.0))
    return np.ascontiguousarray(mono[:, None] * gains[None, :])


def _has_tail(effects: Sequence[Effect]) -> bool:
    return any(effect.kind in ("room", "distance") for effect in effects)


def _cut_tail(samples: np.ndarray, input_frames: int, rate_hz: int) -> np.ndarray:
    """Keep the input's length plus the tail while it is within 60 dB of the peak, faded out."""
    level = np.abs(samples).max(axis=1)
    peak = float(level.max()) if level.size else 0.0
    if peak == 0.0:
        return samples[:input_frames]
    loud = np.flatnonzero(level[input_frames:] > peak * 10.0 ** (_TAIL_FLOOR_DB / 20.0))
    end = input_frames + (int(loud[-1]) + 1 if loud.size else 0)
    out = samples[:end].copy()
    fade = min(end - input_frames, round(_TAIL_FADE_MS * rate_hz / 1000))
    if fade > 0:
        out[end - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    return out


def apply_effects(audio: Audio, effects: Sequence[Effect]) -> Audio:
    """``audio`` through ``effects`` in order (see the module docstring). The channel count is kept,
    except that ``pan`` makes stereo; a reverb's tail lengthens the result by up to :data:`TAIL_MS`.
    No effects return ``audio`` itself. Raises :class:`AudioError` for an unknown effect kind."""
    if not effects:
        return audio
    from pedalboard import Pedalboard

    rate = audio.sample_rate_hz
    samples = audio.samples
    input_frames = audio.frames
    if _has_tail(effects):
        pad = np.zeros((round(TAIL_MS * rate / 1000), audio.channels), dtype=np.float32)
        samples = np.concatenate([samples, pad])
    pending: list[Any] = []

    def flush(block: np.ndarray) -> np.ndarray:
        if not pending:
            return block
        board = Pedalboard(list(pending))
        pending.clear()
        processed = board(np.ascontiguousarray(block.T), float(rate), reset=True)
        return np.ascontiguousarray(np.asarray(processed, dtype=np.float32).T)

    for effect in effects:
        if effect.kind == "pan":
            samples = _pan(flush(samples), effect.setting("position"))
        else:
            pending.extend(_plugins(effect))
    samples = flush(samples)
    if not np.isfinite(samples).all():
        raise AudioError("an effect produced non-finite samples")
    if _has_tail(effects):
        samples = _cut_tail(samples, input_frames, rate)
    return Audio(samples, rate)
