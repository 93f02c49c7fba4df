"""A decoded file's QC figures (:class:`FileFigures`) and its :class:`Overview` (what the report
draws): plain data, kept apart from the meters of :mod:`audioflow.audio.qc` and
:mod:`audioflow.audio.overview` so reading a stored master's meta imports no numpy (a no-op run)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FIGURE_LEVELS", "OVERVIEW_POINTS", "FileFigures", "Overview"]

#: The figures that are levels (dB, LU): -inf (silence) is written as null.
FIGURE_LEVELS = (
    "integrated_lufs",
    "loudness_range_lu",
    "true_peak_dbtp",
    "sample_peak_dbfs",
    "rms_dbfs",
    "noise_floor_dbfs",
)
#: Envelope bins across a programme in an :class:`Overview` (the report's figures are 11 inches wide).
OVERVIEW_POINTS = 1200


@dataclass(frozen=True)
class FileFigures:
    """A decoded file's figures: rate (Hz), channels, frames; ``integrated_lufs`` (LUFS),
    ``loudness_range_lu`` (LU, EBU Tech 3342), ``true_peak_dbtp`` (dBTP, 4x, each maximum refined),
    ``sample_peak_dbfs``, ``rms_dbfs`` and ``noise_floor_dbfs`` (dBFS; ``-inf`` for silence), and
    ``room_tone_head_ms``/``room_tone_tail_ms``: how long the file stays quiet at its start and end
    (see :mod:`audioflow.audio.qc`; None in figures measured before they were)."""

    sample_rate_hz: int
    channels: int
    frames: int
    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    rms_dbfs: float
    noise_floor_dbfs: float
    room_tone_head_ms: float | None = None
    room_tone_tail_ms: float | None = None

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
        out["room_tone_head_ms"], out["room_tone_tail_ms"] = self.room_tone_head_ms, self.room_tone_tail_ms
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileFigures:
        """The figures :meth:`to_json` wrote (None is -inf)."""
        levels = {name: -math.inf if data[name] is None else float(data[name]) for name in FIGURE_LEVELS}
        head, tail = data.get("room_tone_head_ms"), data.get("room_tone_tail_ms")
        return cls(
            int(data["sample_rate_hz"]),
            int(data["channels"]),
            int(data["frames"]),
            **levels,
            room_tone_head_ms=None if head is None else float(head),
            room_tone_tail_ms=None if tail is None else float(tail),
        )


@dataclass(frozen=True)
class Overview:
    """A programme at a glance (what the report draws): ``times_ms`` (bin centres) with the lowest
    and highest sample value across channels in each bin (never above / below 0: a waveform's
    outline); ``loudness_ms`` with the short-term loudness (EBU R128, 3 s window, LUFS; -inf for
    silence) of the 3 s ending there. Made by :class:`audioflow.audio.overview.OverviewMeter` from
    ``rate_hz``, ``bin_frames`` and ``hop_frames``, which :meth:`from_json` uses to rebuild the times."""

    times_ms: list[float]
    low: list[float]
    high: list[float]
    loudness_ms: list[float]
    short_term_lufs: list[float]
    rate_hz: int = 0
    bin_frames: int = 0
    hop_frames: int = 0

    def to_json(self) -> dict[str, Any]:
        """Compact JSON (the times are rebuilt from the bin and hop sizes; sample values rounded to
        1e-4, loudness to 0.01 LU, -inf as None), read back by :meth:`from_json`."""
        return {
            "rate_hz": self.rate_hz,
            "bin_frames": self.bin_frames,
            "hop_frames": self.hop_frames,
            "low": [round(v, 4) for v in self.low],
            "high": [round(v, 4) for v in self.high],
            "short_term_lufs": [round(v, 2) if math.isfinite(v) else None for v in self.short_term_lufs],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Overview:
        """The overview :meth:`to_json` wrote."""
        rate, per_bin, hop = int(data["rate_hz"]), int(data["bin_frames"]), int(data["hop_frames"])
        low, high = [float(v) for v in data["low"]], [float(v) for v in data["high"]]
        lufs = [-math.inf if v is None else float(v) for v in data["short_term_lufs"]]
        return cls(
            bin_times_ms(len(low), per_bin, rate),
            low,
            high,
            [(k + 1) * hop * 1000.0 / rate for k in range(len(lufs))],
            lufs,
            rate,
            per_bin,
            hop,
        )


def bin_times_ms(bins: int, bin_frames: int, rate_hz: int) -> list[float]:
    """The centres (ms) of ``bins`` bins of ``bin_frames`` frames at ``rate_hz``."""
    return [(k + 0.5) * bin_frames * 1000.0 / rate_hz for k in range(bins)]
