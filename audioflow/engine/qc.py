"""The QC report of one delivered file: what it is, what it measures (decoded), and whether it
meets its preset — the ``qc`` object of the manifest (``schemas/manifest.schema.json``).

The checks, by preset (:data:`audioflow.recipe.outputs.PRESETS`): a loudness preset passes when
the integrated loudness is within the store's tolerance of the target (Apple ±1 LU for
``podcast``, EBU R 128 ±0.5 LU, ATSC A/85 ±2 dB, ±0.5 LU for a custom ``loudness_lufs``) and the
true peak is at or under the ceiling; ``speech-mono`` also needs one channel. ``audiobook`` checks
ACX's figures (:data:`~audioflow.recipe.outputs.ACX`): RMS −23 … −18 dBFS, sample peak ≤ −3 dBFS,
noise floor ≤ −60 dBFS but room tone, not digital silence (ACX rejects a file with digital silence:
a floor under -90 dBFS fails), 0.5–1 s of room tone at the head and 1–5 s at the tail
(:mod:`audioflow.audio.qc` says how they are measured), and for an mp3 a bitrate of 192 kbps or
more at 44.1 kHz.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..recipe.outputs import ACX, Master

if TYPE_CHECKING:  # audio.qc imports numpy: measured only when a master is checked
    from ..audio.figures import FileFigures

__all__ = ["CODECS", "QcCheck", "QcReport", "qc_report"]

#: The codec each format is encoded with.
CODECS = {
    "mp3": "mp3 (libmp3lame, CBR)",
    "m4a": "aac (AAC-LC)",
    "m4b": "aac (AAC-LC)",
    "ogg": "opus",
    "opus": "opus",
    "flac": "flac",
    "wav": "pcm",
}
_LOSSY = ("mp3", "m4a", "m4b", "ogg", "opus")
#: A noise floor under this (dBFS) is digital silence, not room tone: no microphone chain is this quiet
#: (16-bit dither alone measures about -96 dBFS).
DIGITAL_SILENCE_DBFS = -90.0
#: ACX's room tone at the head and the tail of a file (seconds, inclusive).
ROOM_TONE_HEAD_S = (0.5, 1.0)
ROOM_TONE_TAIL_S = (1.0, 5.0)


def _db(value: float) -> float | None:
    """A level for JSON: rounded to 0.01, None for -inf (silence)."""
    return round(value, 2) if math.isfinite(value) else None


@dataclass(frozen=True)
class QcCheck:
    """One check: the ``figure`` (``integrated_lufs``…), what was ``measured`` (None: -inf), the
    ``limit`` as text (``-16 ±1 LU``), whether it ``passed``, and the ``reason`` in words."""

    figure: str
    measured: float | None
    limit: str
    passed: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "measured": self.measured,
            "limit": self.limit,
            "pass": self.passed,
            "reason": self.reason,
        }


def _check(figure: str, value: float, unit: str, low: float | None, high: float | None, limit: str) -> QcCheck:
    measured = _db(value)
    shown = f"{value:.2f} {unit}" if math.isfinite(value) else "silence"
    if low is not None and value < low:
        return QcCheck(figure, measured, limit, False, f"{figure} {shown} is under {limit}")
    if high is not None and value > high:
        return QcCheck(figure, measured, limit, False, f"{figure} {shown} is over {limit}")
    return QcCheck(figure, measured, limit, True, f"{figure} {shown} is within {limit}")


def _floor_check(floor_dbfs: float) -> QcCheck:
    """ACX's noise floor: at or under -60 dBFS, but room tone, not digital silence."""
    limit = "≤ -60 dBFS, room tone (not digital silence)"
    if floor_dbfs < DIGITAL_SILENCE_DBFS:
        shown = f"{floor_dbfs:.2f} dBFS" if math.isfinite(floor_dbfs) else "-inf dBFS"
        reason = f"noise_floor {shown} is digital silence: ACX rejects it (keep room tone under the pauses)"
        return QcCheck("noise_floor", _db(floor_dbfs), limit, False, reason)
    return _check("noise_floor", floor_dbfs, "dBFS", None, ACX.noise_floor_max_dbfs, limit)


def _room_tone_checks(figures: FileFigures) -> list[QcCheck]:
    """ACX's room tone: 0.5–1 s at the head, 1–5 s at the tail (seconds)."""
    head_s, tail_s = (figures.room_tone_head_ms or 0.0) / 1000.0, (figures.room_tone_tail_ms or 0.0) / 1000.0
    return [
        _check("room_tone_head", head_s, "s", *ROOM_TONE_HEAD_S, "0.5 … 1 s of room tone at the start"),
        _check("room_tone_tail", tail_s, "s", *ROOM_TONE_TAIL_S, "1 … 5 s of room tone at the end"),
    ]


def _checks(master: Master, figures: FileFigures, bitrate_kbps: int | None) -> tuple[QcCheck, ...]:
    """Every check of ``master``'s preset on ``figures`` (see the module)."""
    if master.target_rms_dbfs is not None:
        acx = ACX
        out = [
            _check("rms", figures.rms_dbfs, "dBFS", acx.rms_min_dbfs, acx.rms_max_dbfs, "-23 … -18 dBFS"),
            _check("sample_peak", figures.sample_peak_dbfs, "dBFS", None, acx.peak_max_dbfs, "≤ -3 dBFS"),
            _floor_check(figures.noise_floor_dbfs),
            *_room_tone_checks(figures),
        ]
        if master.format == "mp3" and bitrate_kbps is not None:
            rate = figures.sample_rate_hz
            out.append(_check("bitrate", bitrate_kbps, "kbps", acx.mp3_min_bitrate_kbps, None, "≥ 192 kbps"))
            out.append(_check("sample_rate", rate, "Hz", acx.mp3_sample_rate_hz, acx.mp3_sample_rate_hz, "44100 Hz"))
        return tuple(out)
    tolerance = master.tolerance_lu
    limit = f"{master.target_lufs:g} ±{tolerance:g} LU"
    low, high = master.target_lufs - tolerance, master.target_lufs + tolerance
    out = [
        _check("integrated_lufs", figures.integrated_lufs, "LUFS", low, high, limit),
        _check(
            "true_peak",
            figures.true_peak_dbtp,
            "dBTP",
            None,
            master.true_peak_dbtp,
            f"≤ {master.true_peak_dbtp:g} dBTP",
        ),
    ]
    if master.preset == "speech-mono":
        out.append(_check("channels", figures.channels, "", 1, 1, "1 channel"))
    return tuple(out)


@dataclass(frozen=True)
class QcReport:
    """The QC report of one delivered file: its ``preset`` (None: a custom target), codec, nominal
    ``bitrate_kbps`` (lossy formats), ``average_bitrate_kbps`` (size over length), ``bit_depth``
    (wav/flac), size in bytes, sha256, the decoded :class:`FileFigures` and the preset's checks."""

    preset: str | None
    format: str
    codec: str
    bitrate_kbps: int | None
    average_bitrate_kbps: float
    bit_depth: int | None
    size_bytes: int
    sha256: str
    figures: FileFigures
    checks: tuple[QcCheck, ...]

    @property
    def passed(self) -> bool:
        """Every check passed."""
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> tuple[QcCheck, ...]:
        return tuple(check for check in self.checks if not check.passed)

    def to_json(self) -> dict[str, Any]:
        f = self.figures
        return {
            "preset": self.preset,
            "codec": self.codec,
            "bitrate_kbps": self.bitrate_kbps,
            "average_bitrate_kbps": round(self.average_bitrate_kbps, 1),
            "bit_depth": self.bit_depth,
            "sample_rate_hz": f.sample_rate_hz,
            "channels": f.channels,
            "duration_ms": round(f.duration_ms, 1),
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "integrated_lufs": _db(f.integrated_lufs),
            "loudness_range_lu": round(f.loudness_range_lu, 2),
            "true_peak_dbtp": _db(f.true_peak_dbtp),
            "sample_peak_dbfs": _db(f.sample_peak_dbfs),
            "rms_dbfs": _db(f.rms_dbfs),
            "noise_floor_dbfs": _db(f.noise_floor_dbfs),
            "room_tone_head_ms": None if f.room_tone_head_ms is None else round(f.room_tone_head_ms, 1),
            "room_tone_tail_ms": None if f.room_tone_tail_ms is None else round(f.room_tone_tail_ms, 1),
            "pass": self.passed,
            "checks": [check.to_json() for check in self.checks],
        }


def _sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def qc_report(
    path: Path, master: Master, figures: FileFigures | None = None, *, written: tuple[str, int] | None = None
) -> QcReport:
    """The QC report of the delivered file at ``path`` (its size and sha256 as written, tags
    included) against ``master``'s preset. ``figures`` are its audio's, measured when the master
    rendered (tags change no sample); without them the file is decoded and measured now.
    ``written`` is the file's (sha256, size) when they are known (a bounce found unchanged), else
    the file is read for them. Raises ``AudioError`` when it cannot be decoded."""
    if figures is None or (master.target_rms_dbfs is not None and figures.room_tone_head_ms is None):
        from ..audio.qc import measure_file  # none measured yet, or kept before room tone was

        figures = measure_file(path)
    sha256, size = written if written is not None else _sha256(path)
    lossy = master.format in _LOSSY
    seconds = figures.duration_ms / 1000.0
    return QcReport(
        master.preset,
        master.format,
        CODECS.get(master.format, master.format),
        master.bitrate_kbps if lossy else None,
        size * 8 / 1000.0 / seconds if seconds > 0 else 0.0,
        None if lossy else master.bit_depth,
        size,
        sha256,
        figures,
        _checks(master, figures, master.bitrate_kbps if lossy else None),
    )
