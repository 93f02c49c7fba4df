"""A decoded file's QC figures (:class:`FileFigures`): plain data, kept apart from the meters of
:mod:`audioflow.audio.qc` so reading a stored master's meta imports no numpy (a no-op run)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FIGURE_LEVELS", "FileFigures"]

#: The figures that are levels (dB, LU): -inf (silence) is written as null.
FIGURE_LEVELS = (
    "integrated_lufs",
    "loudness_range_lu",
    "true_peak_dbtp",
    "sample_peak_dbfs",
    "rms_dbfs",
    "noise_floor_dbfs",
)


@dataclass(frozen=True)
class FileFigures:
    """A decoded file's figures: rate (Hz), channels, frames; ``integrated_lufs`` (LUFS),
    ``loudness_range_lu`` (LU, EBU Tech 3342), ``true_peak_dbtp`` (dBTP, 4x), ``sample_peak_dbfs``,
    ``rms_dbfs`` and ``noise_floor_dbfs`` (dBFS; ``-inf`` for silence)."""

    sample_rate_hz: int
    channels: int
    frames: int
    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    rms_dbfs: float
    noise_floor_dbfs: float

    @property
    def duration_ms(self) -> float:
        """Length of the decoded file in ms."""
        return self.frames * 1000.0 / self.sample_rate_hz

    def to_json(self) -> dict[str, Any]:
        """JSON data (levels -inf as None), read back by :meth:`from_json`."""
        out: dict[str, Any] = {"sample_rate_hz": self.sample_rate_hz, "channels": self.channels, "frames": self.frames}
        for name in FIGURE_LEVELS:
            value = getattr(self, name)
            out[name] = value if math.isfinite(value) else None
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileFigures:
        """The figures :meth:`to_json` wrote (None is -inf)."""
        levels = {name: -math.inf if data[name] is None else float(data[name]) for name in FIGURE_LEVELS}
        return cls(int(data["sample_rate_hz"]), int(data["channels"]), int(data["frames"]), **levels)
