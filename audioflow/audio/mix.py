"""The mix engine: clips summed into one preallocated float32 timeline at sample-accurate offsets.

Not chained pydub overlays (those copy the whole base per call and round to whole ms). Each clip
is converted to the timeline's rate and channel count once, then added block by block into a view
of the timeline: gain, fades and ducking are one gain envelope per block, so memory beyond the
timeline is O(clip + block), never a second full-length timeline. The sum is neither clipped nor
normalised: mastering does that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audioflow.audio.types import Audio
from audioflow.audio.wavstream import AudioFile
from audioflow.errors import AudioError

__all__ = ["Clip", "Duck", "clip_gain_db", "render_mix"]

_BLOCK_FRAMES = 1 << 17  # ~2.7 s at 48 kHz: the working set per clip step


@dataclass(frozen=True)
class Duck:
    """Lower a clip (a bed) while speech is present.

    ``depth_db`` (<= 0, e.g. -10) is the gain inside ``intervals_ms``, which are (start_ms, end_ms)
    pairs on the TIMELINE (absolute ms, not relative to the clip). The gain ramps linearly *in dB*
    from 0 dB down to ``depth_db`` over ``attack_ms`` ending at each interval's start, and back up
    over ``release_ms`` starting at its end. Overlapping or touching intervals merge; where ramps
    of neighbouring intervals meet, the deeper gain wins.
    """

    depth_db: float
    intervals_ms: tuple[tuple[float, float], ...]
    attack_ms: float = 80.0
    release_ms: float = 400.0


@dataclass(frozen=True)
class Clip:
    """One clip on the timeline.

    ``start_ms`` (>= 0) places the clip's first sample at frame ``round(start_ms * rate / 1000)``
    (halves round up). ``gain_db`` is a constant gain. ``fade_in_ms`` / ``fade_out_ms`` are linear
    ramps over the clip's own span (gain 0 at its first / last sample). ``length_ms`` truncates the
    clip; with ``loop`` the audio is repeated to fill ``length_ms`` (a loop without ``length_ms``
    plays once), with an equal-power crossfade of ``loop_crossfade_ms`` at each seam. ``duck``
    lowers the clip under speech. ``audio`` may be an :class:`AudioFile` (a WAV on disk): the
    streamed mix (:mod:`audioflow.audio.mixstream`) then reads it block by block.
    """

    audio: Audio | AudioFile
    start_ms: float
    gain_db: float = 0.0
    fade_in_ms: float = 0.0
    fade_out_ms: float = 0.0
    length_ms: float | None = None
    loop: bool = False
    loop_crossfade_ms: float = 0.0
    duck: Duck | None = None

    @property
    def end_ms(self) -> float:
        """Where the clip ends on the timeline, in ms (a non-looping clip ends with its audio)."""
        if self.length_ms is None:
            return self.start_ms + self.audio.duration_ms
        if self.loop:
            return self.start_ms + self.length_ms
        return self.start_ms + min(self.length_ms, self.audio.duration_ms)


def _ms_to_frames(ms: float, rate_hz: int) -> int:
    """Nearest frame to ``ms`` at ``rate_hz`` (halves round up, unlike banker's ``round``)."""
    return math.floor(ms * rate_hz / 1000.0 + 0.5)


def _check_finite(value: float, name: str, index: int, *, minimum: float | None = 0.0) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AudioError(f"clip {index}: {name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise AudioError(f"clip {index}: {name} must be >= {minimum:g}, got {value!r}")


def _validate(clip: Clip, index: int) -> None:
    """Raise AudioError for a clip the engine cannot place (negative start, NaN, bad duck)."""
    if not isinstance(clip.audio, (Audio, AudioFile)):
        raise AudioError(f"clip {index}: audio must be an Audio or AudioFile, got {type(clip.audio).__name__}")
    _check_finite(clip.start_ms, "start_ms", index)
    _check_finite(clip.gain_db, "gain_db", index, minimum=None)
    _check_finite(clip.fade_in_ms, "fade_in_ms", index)
    _check_finite(clip.fade_out_ms, "fade_out_ms", index)
    _check_finite(clip.loop_crossfade_ms, "loop_crossfade_ms", index)
    if clip.length_ms is not None:
        _check_finite(clip.length_ms, "length_ms", index)
    if clip.duck is not None:
        duck = clip.duck
        _check_finite(duck.depth_db, "duck depth_db", index, minimum=None)
        if duck.depth_db > 0:
            raise AudioError(f"clip {index}: duck depth_db must be <= 0 dB, got {duck.depth_db!r}")
        _check_finite(duck.attack_ms, "duck attack_ms", index)
        _check_finite(duck.release_ms, "duck release_ms", index)
        for start_ms, end_ms in duck.intervals_ms:
            _check_finite(start_ms, "duck interval start", index, minimum=None)
            _check_finite(end_ms, "duck interval end", index, minimum=None)
            if end_ms < start_ms:
                raise AudioError(f"clip {index}: duck interval ({start_ms}, {end_ms}) ends before it starts")


def _merge_intervals(intervals: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sort intervals and merge those that overlap or touch."""
    merged: list[list[float]] = []
    for start, end in sorted((float(s), float(e)) for s, e in intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def _span_frames(clip: Clip, rate_hz: int) -> int:
    """Frames the clip occupies at ``rate_hz`` (resample_poly yields ceil(frames * new / old))."""
    audio = clip.audio
    source_frames = -(-audio.frames * rate_hz // audio.sample_rate_hz)
    if clip.length_ms is None:
        return source_frames
    if clip.loop and source_frames > 0:
        return _ms_to_frames(clip.length_ms, rate_hz)
    return min(source_frames, _ms_to_frames(clip.length_ms, rate_hz))


class _DuckEnvelope:
    """Duck gain (linear factor) for any range of timeline frames; ramps are linear in dB."""

    def __init__(self, duck: Duck, rate_hz: int):
        per_ms = rate_hz / 1000.0
        merged = _merge_intervals(duck.intervals_ms)
        self.depth_db = float(duck.depth_db)
        self.starts = np.array([s * per_ms for s, _ in merged], dtype=np.float64)
        self.ends = np.array([e * per_ms for _, e in merged], dtype=np.float64)
        self.attack = max(duck.attack_ms * per_ms, 1e-9)  # frames; ~0 means a step
        self.release = max(duck.release_ms * per_ms, 1e-9)

    def gain(self, first_frame: int, count: int) -> np.ndarray | None:
        """Linear gain for timeline frames [first_frame, first_frame+count), or None if all 1."""
        if self.depth_db == 0 or self.starts.size == 0 or count <= 0:
            return None
        return self.gain_at(np.arange(first_frame, first_frame + count, dtype=np.float64))

    def gain_at(self, frames: np.ndarray) -> np.ndarray | None:
        """Linear gain at each timeline frame of ``frames`` (float64, ascending), or None if all 1."""
        if self.depth_db == 0 or self.starts.size == 0 or frames.size == 0:
            return None
        # intervals whose ramped extent [start - attack, end + release] meets these frames
        lo = int(np.searchsorted(self.ends + self.release, frames[0], side="left"))
        hi = int(np.searchsorted(self.starts - self.attack, frames[-1] + 1, side="right"))
        if lo >= hi:
            return None
        depth = np.zeros(frames.size, dtype=np.float64)  # 0 = no duck, 1 = full depth
        for start, end in zip(self.starts[lo:hi], self.ends[lo:hi], strict=True):
            shape = np.minimum(
                (frames - (start - self.attack)) / self.attack, ((end + self.release) - frames) / self.release
            )
            np.maximum(depth, np.clip(shape, 0.0, 1.0), out=depth)
        return np.power(10.0, depth * (self.depth_db / 20.0))


class _ClipSource:
    """A clip's samples at the timeline's format, indexable by clip-relative frame, looping if asked."""

    def __init__(self, clip: Clip, index: int, rate_hz: int, channels: int):
        audio = clip.audio if isinstance(clip.audio, Audio) else clip.audio.load()
        audio = audio.resampled(rate_hz).with_channels(channels)
        if not np.isfinite(audio.samples).all():
            raise AudioError(f"clip {index}: audio contains NaN or infinite samples")
        self.samples = audio.samples
        source_frames = audio.frames
        self.frames = min(_span_frames(clip, rate_hz), source_frames) if not clip.loop else _span_frames(clip, rate_hz)
        self.looping = clip.loop and self.frames > source_frames and source_frames > 0
        self.unit = self.samples
        if self.looping:
            self.unit = self._loop_unit(_ms_to_frames(clip.loop_crossfade_ms, rate_hz))

    def _loop_unit(self, crossfade_frames: int) -> np.ndarray:
        """One loop period: the audio minus its tail, whose tail is crossfaded into the head."""
        source = self.samples
        cross = min(crossfade_frames, source.shape[0] // 2)
        if cross <= 0:
            return source
        period = source.shape[0] - cross
        unit = source[:period].copy()
        phase = (np.arange(cross, dtype=np.float64) + 0.5) / cross * (math.pi / 2)
        fade_in = np.sin(phase).astype(np.float32)[:, None]  # equal power: sin^2 + cos^2 = 1
        fade_out = np.cos(phase).astype(np.float32)[:, None]
        unit[:cross] = source[:cross] * fade_in + source[period:] * fade_out
        return unit

    def block(self, first: int, count: int) -> np.ndarray:
        """Samples for clip frames [first, first+count) (a view when it can be)."""
        if not self.looping:
            return self.samples[first : first + count]
        period = self.unit.shape[0]
        head = self.samples.shape[0] - period  # crossfade length; the first pass starts clean
        indices = np.arange(first, first + count) % period
        out = self.unit[indices]
        clean = np.arange(first, first + count) < head
        if clean.any():
            out[clean] = self.samples[np.arange(first, first + count)[clean]]
        return out


def _fade_gain(first: int, count: int, total: int, fade_in: int, fade_out: int) -> np.ndarray | None:
    """Linear fade gains for clip frames [first, first+count) of a clip of ``total`` frames."""
    gain: np.ndarray | None = None
    if fade_in > 0 and first < fade_in:
        frames = np.arange(first, first + count, dtype=np.float64)
        gain = np.minimum(frames / fade_in, 1.0)
    if fade_out > 0 and first + count > total - 1 - fade_out:
        frames = np.arange(first, first + count, dtype=np.float64)
        out = np.clip((total - 1 - frames) / fade_out, 0.0, 1.0)
        gain = out if gain is None else gain * out
    return gain


def _add_clip(timeline: np.ndarray, clip: Clip, index: int, rate_hz: int) -> None:
    """Add one clip into ``timeline`` (frames × channels, float32) in place, block by block."""
    source = _ClipSource(clip, index, rate_hz, timeline.shape[1])
    start = _ms_to_frames(clip.start_ms, rate_hz)
    playable = min(source.frames, timeline.shape[0] - start)
    if playable <= 0:
        return
    gain = 10.0 ** (clip.gain_db / 20.0)
    fade_in = _ms_to_frames(clip.fade_in_ms, rate_hz)
    fade_out = _ms_to_frames(clip.fade_out_ms, rate_hz)
    duck = _DuckEnvelope(clip.duck, rate_hz) if clip.duck is not None else None
    for first in range(0, playable, _BLOCK_FRAMES):
        count = min(_BLOCK_FRAMES, playable - first)
        envelope = _fade_gain(first, count, source.frames, fade_in, fade_out)
        ducked = duck.gain(start + first, count) if duck is not None else None
        if ducked is not None:
            envelope = ducked if envelope is None else envelope * ducked
        samples = source.block(first, count)
        dest = timeline[start + first : start + first + count]
        if envelope is None:
            if gain == 1.0:
                dest += samples
            else:
                dest += samples * np.float32(gain)
        else:
            dest += samples * (envelope * gain).astype(np.float32)[:, None]


def clip_gain_db(clip: Clip, times_ms: Sequence[float] | np.ndarray, rate_hz: int) -> np.ndarray:
    """The gain (dB) :func:`render_mix` gives ``clip`` at each timeline time in ``times_ms``: its
    ``gain_db``, fades and duck, from the same envelope code at ``rate_hz``; ``-inf`` where the clip
    is silent or not playing. Shape (len(times_ms),), float64. Raises ``AudioError`` as render_mix."""
    _validate(clip, 0)
    total = _span_frames(clip, rate_hz)
    start = _ms_to_frames(clip.start_ms, rate_hz)
    fade_in = _ms_to_frames(clip.fade_in_ms, rate_hz)
    fade_out = _ms_to_frames(clip.fade_out_ms, rate_hz)
    duck = _DuckEnvelope(clip.duck, rate_hz) if clip.duck is not None else None
    out = np.full(len(times_ms), -np.inf)
    frames = np.array([_ms_to_frames(t, rate_hz) - start for t in times_ms], dtype=np.int64)
    inside = np.flatnonzero((frames >= 0) & (frames < total))
    if not inside.size:
        return out
    order = inside[np.argsort(frames[inside], kind="stable")]  # the envelopes take ascending frames
    at = frames[order].astype(np.float64)
    gain = np.full(at.size, 10.0 ** (clip.gain_db / 20.0))
    if fade_in > 0:  # as _fade_gain, frame by frame
        gain *= np.minimum(at / fade_in, 1.0)
    if fade_out > 0:
        gain *= np.clip((total - 1 - at) / fade_out, 0.0, 1.0)
    ducked = duck.gain_at(start + at) if duck is not None else None
    if ducked is not None:
        gain *= ducked
    with np.errstate(divide="ignore"):
        out[order] = np.where(gain > 0, 20.0 * np.log10(np.where(gain > 0, gain, 1.0)), -np.inf)
    return out


def render_mix(
    clips: Sequence[Clip], *, sample_rate_hz: int, channels: int = 2, length_ms: float | None = None
) -> Audio:
    """Mix ``clips`` into one timeline of float32 (frames × ``channels``) at ``sample_rate_hz``.

    The timeline is ``length_ms`` long (clips beyond it are cut), or else as long as the latest
    clip end. Clips are converted to the timeline rate (``Audio.resampled``) and channel count
    (``Audio.with_channels``), then added; overlapping clips sum. The result is not clipped.
    Raises ``AudioError`` for a negative or non-finite start, gain, fade or length, NaN samples,
    a positive duck depth, or an invalid timeline format.
    """
    total = timeline_frames(clips, sample_rate_hz=sample_rate_hz, channels=channels, length_ms=length_ms)
    timeline = np.zeros((total, channels), dtype=np.float32)
    for index, clip in enumerate(clips):
        _add_clip(timeline, clip, index, sample_rate_hz)
    return Audio(timeline, sample_rate_hz)


def timeline_frames(clips: Sequence[Clip], *, sample_rate_hz: int, channels: int, length_ms: float | None) -> int:
    """Validate the clips and the timeline format; return the timeline's length in frames
    (``length_ms``, or else the latest clip end). Raises ``AudioError`` as :func:`render_mix` does."""
    if int(sample_rate_hz) != sample_rate_hz or sample_rate_hz <= 0:
        raise AudioError(f"timeline sample rate must be a positive integer in Hz, got {sample_rate_hz!r}")
    if int(channels) != channels or channels < 1:
        raise AudioError(f"timeline channel count must be >= 1, got {channels!r}")
    for index, clip in enumerate(clips):
        _validate(clip, index)
    if length_ms is not None:
        if not math.isfinite(length_ms) or length_ms < 0:
            raise AudioError(f"timeline length_ms must be a finite number >= 0, got {length_ms!r}")
        return _ms_to_frames(length_ms, sample_rate_hz)
    starts = (_ms_to_frames(clip.start_ms, sample_rate_hz) for clip in clips)
    return max((s + _span_frames(c, sample_rate_hz) for s, c in zip(starts, clips, strict=True)), default=0)
