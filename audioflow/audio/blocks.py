"""Block sources: audio read in order, block by block, as the streamed master reads it.

:class:`BlockSource` is the protocol (an ``AudioFile``, a mix being rendered, in-memory audio);
the wrappers here change a source's channels or take its DC offset out on the fly. Blocks are
float32 arrays of shape (frames, channels), at most ``block_frames`` long.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from audioflow.audio.dsp import DcBlocker
from audioflow.audio.types import Audio

__all__ = ["BLOCK_FRAMES", "BlockSource"]

BLOCK_FRAMES = 1 << 16  # ~1.4 s at 48 kHz: the unit every streamed pass works in


class BlockSource(Protocol):
    """Audio that can be read, in order and more than once, block by block (an ``AudioFile``, a mix)."""

    @property
    def sample_rate_hz(self) -> int: ...
    @property
    def channels(self) -> int: ...
    @property
    def frames(self) -> int: ...
    def blocks(self, block_frames: int) -> Iterator[np.ndarray]: ...


@dataclass(frozen=True)
class _AudioBlocks:
    """An in-memory :class:`Audio` as a :class:`BlockSource` (views, no copies)."""

    audio: Audio

    @property
    def sample_rate_hz(self) -> int:
        return self.audio.sample_rate_hz

    @property
    def channels(self) -> int:
        return self.audio.channels

    @property
    def frames(self) -> int:
        return self.audio.frames

    def blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        for first in range(0, self.audio.frames, block_frames):
            yield self.audio.samples[first : first + block_frames]


@dataclass(frozen=True)
class _Remixed:
    """A :class:`BlockSource` with its channels changed to ``channels``: stereo to mono is the mean of
    the two (a centred voice keeps its level), mono to stereo repeats the one channel."""

    source: BlockSource
    channels: int

    @property
    def sample_rate_hz(self) -> int:
        return self.source.sample_rate_hz

    @property
    def frames(self) -> int:
        return self.source.frames

    def blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        for block in self.source.blocks(block_frames):
            if self.channels == 1:
                yield block.mean(axis=1, keepdims=True, dtype=np.float32)
            else:
                yield (
                    np.repeat(block[:, :1], self.channels, axis=1) if block.shape[1] == 1 else block[:, : self.channels]
                )


@dataclass(frozen=True)
class _DcBlocked:
    """A :class:`BlockSource` through the master's DC blocker (:class:`~audioflow.audio.dsp.DcBlocker`,
    a first-order high-pass at 1 Hz), restarted at each read: a DC offset is no loudness (K-weighting
    removes it) but a peak, so left in it would take the limiter's every dB of gain."""

    source: BlockSource

    @property
    def sample_rate_hz(self) -> int:
        return self.source.sample_rate_hz

    @property
    def channels(self) -> int:
        return self.source.channels

    @property
    def frames(self) -> int:
        return self.source.frames

    def blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        blocker = DcBlocker(self.sample_rate_hz, self.channels)
        for block in self.source.blocks(block_frames):
            yield blocker.process(block)
