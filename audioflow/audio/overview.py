"""A programme at a glance: its min/max envelope and its short-term loudness over time (what the
run report draws), measured in one streamed pass.

The master measures its decoded file's :class:`Overview` in the pass that checks it
(:class:`audioflow.audio.qc.FigureMeter` with ``overview_ms``) and keeps it in its step's meta, so a
report page never decodes the programme again; :func:`overview` measures an encoded file on its
own (a master whose meta has none).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from audioflow.audio.figures import OVERVIEW_POINTS, Overview, bin_times_ms
from audioflow.audio.loudness import ShortTermMeter
from audioflow.audio.pipes import decode_blocks

__all__ = ["OVERVIEW_POINTS", "EnvelopeMeter", "Overview", "overview", "overview_sizes"]

_MIN_HOP_MS = 250.0


def overview_sizes(duration_ms: float, sample_rate_hz: int, points: int = OVERVIEW_POINTS) -> tuple[int, float]:
    """(frames per envelope bin, ms between loudness readings) for about ``points`` bins over
    ``duration_ms``: loudness is read as often, but at most every 250 ms."""
    total = max(1, round(duration_ms * sample_rate_hz / 1000.0))
    return max(1, math.ceil(total / points)), max(_MIN_HOP_MS, duration_ms / points)


class EnvelopeMeter:
    """The lowest and highest sample value across channels in each bin of ``bin_frames`` frames of a
    stream fed block by block (a last, shorter bin holds the rest); each bin's low is at most 0 and
    its high at least 0 (a waveform's outline)."""

    def __init__(self, bin_frames: int):
        self.bin_frames = max(1, int(bin_frames))
        self._lows: list[np.ndarray] = []
        self._highs: list[np.ndarray] = []
        self._carry: np.ndarray | None = None  # frames of a bin not complete yet

    def add(self, block: np.ndarray) -> None:
        """Measure ``block`` (frames × channels)."""
        if block.shape[0] == 0:
            return
        data = block if self._carry is None or not self._carry.shape[0] else np.concatenate([self._carry, block])
        full = data.shape[0] // self.bin_frames * self.bin_frames
        if full:  # a bin's frames × channels are contiguous: one long reduction per bin
            bins = np.ascontiguousarray(data[:full]).reshape(-1, self.bin_frames * data.shape[1])
            self._lows.append(bins.min(axis=1))
            self._highs.append(bins.max(axis=1))
        self._carry = np.array(data[full:])

    def bins(self) -> tuple[list[float], list[float]]:
        """(lows, highs) of every bin so far, the partial last one included."""
        lows, highs = [*self._lows], [*self._highs]
        if self._carry is not None and self._carry.shape[0]:
            lows.append(self._carry.min(keepdims=True).reshape(1))
            highs.append(self._carry.max(keepdims=True).reshape(1))
        if not lows:
            return [], []
        low = np.minimum(np.concatenate(lows).astype(np.float64), 0.0)
        high = np.maximum(np.concatenate(highs).astype(np.float64), 0.0)
        return low.tolist(), high.tolist()


def make_overview(
    envelope: EnvelopeMeter, readings: list[tuple[float, float]], sample_rate_hz: int, hop_frames: int
) -> Overview:
    """The :class:`Overview` of a stream measured by ``envelope`` and a :class:`ShortTermMeter`
    (its ``readings`` every ``hop_frames`` frames)."""
    low, high = envelope.bins()
    times = bin_times_ms(len(low), envelope.bin_frames, sample_rate_hz)
    return Overview(
        times,
        low,
        high,
        [ms for ms, _ in readings],
        [lufs for _, lufs in readings],
        int(sample_rate_hz),
        envelope.bin_frames,
        int(hop_frames),
    )


def overview(
    path: Path, *, sample_rate_hz: int, channels: int, duration_ms: float, points: int = OVERVIEW_POINTS
) -> Overview:
    """The :class:`Overview` of the file at ``path`` (any format ffmpeg reads, decoded at
    ``sample_rate_hz`` with ``channels``; ``duration_ms`` sizes about ``points`` bins, see
    :func:`overview_sizes`). Streamed: memory does not grow with length. Raises ``AudioError``
    when ffmpeg cannot decode it."""
    bin_frames, hop_ms = overview_sizes(duration_ms, sample_rate_hz, points)
    envelope = EnvelopeMeter(bin_frames)
    meter = ShortTermMeter(sample_rate_hz, channels, hop_ms=hop_ms)
    readings: list[tuple[float, float]] = []
    for block in decode_blocks(path, sample_rate_hz=sample_rate_hz, channels=channels, block_frames=1 << 16):
        readings += meter.add(block)
        envelope.add(block)
    return make_overview(envelope, readings, sample_rate_hz, meter.hop_frames)
