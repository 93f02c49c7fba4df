"""The streamed mix: the timeline rendered block by block, so memory does not grow with its length.

For each block (``2**16`` frames by default) only the clips that touch it are opened; each adds
its frames with the same gain, fade, loop and duck arithmetic as :func:`~audioflow.audio.mix.render_mix`
(sample-accurate placement, envelopes computed for the block). A clip whose audio is an
:class:`~audioflow.audio.wavstream.AudioFile` is read from disk for the block only: converted to the
timeline's rate by soxr on an aligned chunk with enough context that
the result equals converting the whole clip, then to its channel count. A clip held in memory
(:class:`~audioflow.audio.types.Audio`) is converted once, when the mix first reaches it, and
dropped when the mix passes its end. So memory is O(block + clips playing at once), not
O(programme). :func:`mix_to_wav` writes the stream to a float32 WAV and returns its digest.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from audioflow.audio.mix import (
    Clip,
    _ClipSource,
    _DuckEnvelope,
    _fade_gain,
    _ms_to_frames,
    _span_frames,
    timeline_frames,
)
from audioflow.audio.types import Audio, resample_context_frames, resample_samples
from audioflow.audio.wavstream import AudioFile, WavWriter
from audioflow.errors import AudioError

__all__ = ["MixStream", "MixedFile", "mix_to_wav"]

BLOCK_FRAMES = 1 << 16


class _ChunkResampler:
    """Frames [a, b) of a file converted to ``rate_hz``, equal (within 1e-6) to ``Audio.resampled``
    of the whole file.

    With the reduced ratio up/down, output frame k*up is input frame k*down: a chunk that starts on
    that grid, with more input than soxr's filter reaches on each side
    (:func:`~audioflow.audio.types.resample_context_frames`), gives the whole-file outputs away
    from its edges (past the file's end both see zeros).
    """

    def __init__(self, file: AudioFile, rate_hz: int):
        ratio = Fraction(rate_hz, file.sample_rate_hz)
        self.file, self.up, self.down = file, ratio.numerator, ratio.denominator
        self.context = -(-resample_context_frames(self.down, self.up) // self.down)  # in groups of `down` frames
        self.frames = -(-file.frames * self.up // self.down)

    def read(self, first: int, last: int) -> np.ndarray:
        group_lo = max(0, first // self.up - self.context)
        group_hi = -(-last // self.up) + self.context
        want = (group_hi - group_lo) * self.down
        raw = self.file.read(group_lo * self.down, want)
        if raw.shape[0] < want:  # past the file's end: zeros, as the whole file is resampled
            raw = np.concatenate([raw, np.zeros((want - raw.shape[0], raw.shape[1]), np.float32)])
        offset = first - group_lo * self.up
        return resample_samples(raw, self.down, self.up, offset + last - first)[offset:]


class _FileClipSource:
    """A file clip at the timeline's rate and channels, read per block; loops like ``_ClipSource``."""

    def __init__(self, clip: Clip, index: int, rate_hz: int, channels: int):
        file = clip.audio
        assert isinstance(file, AudioFile)
        self.index, self.file, self.channels = index, file, channels
        self.resampler = _ChunkResampler(file, rate_hz) if file.sample_rate_hz != rate_hz else None
        source_frames = self.resampler.frames if self.resampler else file.frames
        span = _span_frames(clip, rate_hz)
        self.frames = span if clip.loop else min(span, source_frames)
        self.looping = clip.loop and self.frames > source_frames and source_frames > 0
        self.cross = min(_ms_to_frames(clip.loop_crossfade_ms, rate_hz), source_frames // 2) if self.looping else 0
        self.period = source_frames - self.cross

    def _read(self, first: int, last: int) -> np.ndarray:
        raw = self.resampler.read(first, last) if self.resampler else self.file.read(first, last - first)
        if raw.shape[1] != self.channels:
            raw = Audio(raw, self.file.sample_rate_hz).with_channels(self.channels).samples
        if not np.isfinite(raw).all():
            raise AudioError(f"clip {self.index}: audio contains NaN or infinite samples")
        return raw

    def _crossfaded(self, j: int, count: int) -> np.ndarray:
        """Loop frames j..j+count of the seam: the head fading in over the tail fading out."""
        phase = (np.arange(j, j + count, dtype=np.float64) + 0.5) / self.cross * (math.pi / 2)
        fade_in = np.sin(phase).astype(np.float32)[:, None]
        fade_out = np.cos(phase).astype(np.float32)[:, None]
        return self._read(j, j + count) * fade_in + self._read(self.period + j, self.period + j + count) * fade_out

    def block(self, first: int, count: int) -> np.ndarray:
        """Samples for clip frames [first, first+count)."""
        if not self.looping or first + count <= self.period:
            return self._read(first, first + count)
        parts, position, end = [], first, first + count
        while position < end:
            if position < self.period:  # the first pass plays clean
                step = min(end, self.period) - position
                parts.append(self._read(position, position + step))
            else:
                j = position % self.period
                if j < self.cross:
                    step = min(end - position, self.cross - j)
                    parts.append(self._crossfaded(j, step))
                else:
                    step = min(end - position, self.period - j)
                    parts.append(self._read(j, j + step))
            position += step
        return np.concatenate(parts)


class _Placement:
    """One clip on the timeline while the stream plays it: its source is opened on first use."""

    def __init__(self, clip: Clip, index: int, rate_hz: int, channels: int, start: int, playable: int):
        self.clip, self.index, self.rate_hz, self.channels = clip, index, rate_hz, channels
        self.start, self.end = start, start + playable
        self.gain = 10.0 ** (clip.gain_db / 20.0)
        self.fade_in = _ms_to_frames(clip.fade_in_ms, rate_hz)
        self.fade_out = _ms_to_frames(clip.fade_out_ms, rate_hz)
        self.duck = _DuckEnvelope(clip.duck, rate_hz) if clip.duck is not None else None
        self.source: _ClipSource | _FileClipSource | None = None

    def add_into(self, out: np.ndarray, first: int) -> None:
        """Add this clip's part of timeline frames [first, first + len(out)) into ``out``."""
        if self.source is None:
            kind = _ClipSource if isinstance(self.clip.audio, Audio) else _FileClipSource
            self.source = kind(self.clip, self.index, self.rate_hz, self.channels)
        lo, hi = max(first, self.start), min(first + out.shape[0], self.end)
        at, count = lo - self.start, hi - lo
        envelope = _fade_gain(at, count, self.source.frames, self.fade_in, self.fade_out)
        ducked = self.duck.gain(lo, count) if self.duck is not None else None
        if ducked is not None:
            envelope = ducked if envelope is None else envelope * ducked
        samples = self.source.block(at, count)
        dest = out[lo - first : hi - first]
        if envelope is None:
            dest += samples if self.gain == 1.0 else samples * np.float32(self.gain)
        else:
            dest += samples * (envelope * self.gain).astype(np.float32)[:, None]


class MixStream:
    """``clips`` mixed at ``sample_rate_hz`` × ``channels``, rendered block by block on demand.

    The same timeline as :func:`~audioflow.audio.mix.render_mix` with the same arguments (equal to
    float rounding), never held whole: a :class:`~audioflow.audio.blocks.BlockSource`, so it can be
    mastered without being stored. Raises ``AudioError`` as ``render_mix`` does (NaN samples in a
    file clip: when the stream reaches them).
    """

    def __init__(
        self, clips: Sequence[Clip], *, sample_rate_hz: int, channels: int = 2, length_ms: float | None = None
    ):
        self.clips = list(clips)
        self.frames = timeline_frames(self.clips, sample_rate_hz=sample_rate_hz, channels=channels, length_ms=length_ms)
        self.sample_rate_hz, self.channels = int(sample_rate_hz), int(channels)
        self._starts = [_ms_to_frames(clip.start_ms, self.sample_rate_hz) for clip in self.clips]

    @property
    def duration_ms(self) -> float:
        return self.frames * 1000.0 / self.sample_rate_hz

    def blocks(self, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """The timeline in order, ``block_frames`` frames (float32, × channels) at a time."""
        if block_frames < 1:
            raise AudioError(f"block_frames must be >= 1, got {block_frames!r}")
        order = sorted(range(len(self.clips)), key=self._starts.__getitem__)
        waiting, active = 0, list[_Placement]()
        for first in range(0, self.frames, block_frames):
            out = np.zeros((min(block_frames, self.frames - first), self.channels), np.float32)
            last = first + out.shape[0]
            opened = False
            while waiting < len(order) and self._starts[order[waiting]] < last:
                active.append(self._place(order[waiting]))
                waiting, opened = waiting + 1, True
            if opened:  # add in clip order, as render_mix does: the same float sums
                active = sorted((p for p in active if p.end > p.start), key=lambda p: p.index)
            for placement in active:
                if placement.start < last and placement.end > first:
                    placement.add_into(out, first)
            active = [p for p in active if p.end > last]
            yield out

    def _place(self, index: int) -> _Placement:
        clip, start = self.clips[index], self._starts[index]
        playable = max(0, min(_span_frames(clip, self.sample_rate_hz), self.frames - start))
        return _Placement(clip, index, self.sample_rate_hz, self.channels, start, playable)


@dataclass(frozen=True)
class MixedFile:
    """A mix written by :func:`mix_to_wav`: its ``path``, hex sha256 ``digest``, ``size`` in bytes,
    and the timeline's ``frames``, ``sample_rate_hz`` and ``channels``."""

    path: Path
    digest: str
    size: int
    frames: int
    sample_rate_hz: int
    channels: int

    @property
    def duration_ms(self) -> float:
        return self.frames * 1000.0 / self.sample_rate_hz


def mix_to_wav(stream: MixStream, path: Path, *, block_frames: int = BLOCK_FRAMES) -> MixedFile:
    """Render ``stream`` into a float32 WAV at ``path`` block by block (see :class:`WavWriter`);
    the partial file is removed on failure. Raises ``AudioError``."""
    writer = WavWriter(path, sample_rate_hz=stream.sample_rate_hz, channels=stream.channels, frames=stream.frames)
    try:
        for block in stream.blocks(block_frames):
            writer.write(block)
        digest = writer.close()
    except BaseException:
        writer.abort()
        raise
    return MixedFile(Path(path), digest, writer.size, stream.frames, stream.sample_rate_hz, stream.channels)
