"""A programme at a glance: its min/max envelope and its short-term loudness over time, measured
in one streamed pass over an encoded file (what the run report draws)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioflow.audio.loudness import ShortTermMeter
from audioflow.audio.pipes import decode_blocks

__all__ = ["Overview", "overview"]


@dataclass(frozen=True)
class Overview:
    """``times_ms`` (bin centres) with the lowest and highest sample value across channels in each
    bin; ``loudness_ms`` with the short-term loudness (EBU R128, 3 s window, LUFS; -inf for silence)
    of the 3 s ending there. All lists of floats."""

    times_ms: list[float]
    low: list[float]
    high: list[float]
    loudness_ms: list[float]
    short_term_lufs: list[float]


def overview(path: Path, *, sample_rate_hz: int, channels: int, duration_ms: float, points: int = 1200) -> Overview:
    """The :class:`Overview` of the file at ``path`` (any format ffmpeg reads, decoded at
    ``sample_rate_hz`` with ``channels``; ``duration_ms`` sizes about ``points`` bins, loudness read
    as often but at least every 250 ms). Streamed: memory does not grow with length. Raises
    ``AudioError`` when ffmpeg cannot decode it."""
    total = max(1, round(duration_ms * sample_rate_hz / 1000.0))
    per_bin = max(1, math.ceil(total / points))
    bins = math.ceil(total / per_bin)
    low, high = np.zeros(bins), np.zeros(bins)
    meter = ShortTermMeter(sample_rate_hz, channels, hop_ms=max(250.0, duration_ms / points))
    readings: list[tuple[float, float]] = []
    first = 0
    for block in decode_blocks(path, sample_rate_hz=sample_rate_hz, channels=channels, block_frames=per_bin * 64):
        readings += meter.add(block)
        count = min(block.shape[0], bins * per_bin - first)
        if count <= 0:
            continue
        index = (first + np.arange(count)) // per_bin
        np.maximum.at(high, index, block[:count].max(axis=1))
        np.minimum.at(low, index, block[:count].min(axis=1))
        first += count
    times = (np.arange(bins) + 0.5) * per_bin * 1000.0 / sample_rate_hz
    return Overview(
        times.tolist(), low.tolist(), high.tolist(), [ms for ms, _ in readings], [lufs for _, lufs in readings]
    )
