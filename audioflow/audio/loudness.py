"""Loudness and peak meters: integrated loudness (LUFS), true peak (dBTP) and sample peak (dBFS).

Integrated loudness follows ITU-R BS.1770-4 (K-weighting, 400 ms blocks with 75 % overlap,
-70 LUFS absolute and -10 LU relative gates) as implemented by pyloudnorm. pyloudnorm has no true-peak
meter, so :func:`true_peak_dbtp` implements BS.1770-4 Annex 2 (oversampling peak meter).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from audioflow.audio.types import Audio
from audioflow.errors import AudioError

__all__ = ["integrated_lufs", "sample_peak_dbfs", "true_peak_dbtp"]

_GATING_BLOCK_MS = 400.0  # BS.1770-4 gating block length
_TRUE_PEAK_CHUNK_S = 10.0
_TRUE_PEAK_OVERLAP_FRAMES = 256  # >> resample_poly's half filter length (10 * oversample taps at the high rate)


def _amplitude_to_db(amplitude: float) -> float:
    return 20.0 * math.log10(amplitude) if amplitude > 0 else -math.inf


def integrated_lufs(audio: Audio) -> float:
    """Integrated loudness of ``audio`` in LUFS (ITU-R BS.1770-4 / EBU R128), via pyloudnorm.

    Channels are weighted as BS.1770-4 says for up to 5 channels (L, R, C = 1.0; Ls, Rs = 1.41):
    a full-scale 997 Hz sine in one mono channel reads -3.01 LUFS, in both channels of stereo +0.0 LUFS.
    Returns ``-math.inf`` for silence (everything gated out) and for audio shorter than one
    400 ms gating block, where the measure is undefined. Raises ``AudioError`` if pyloudnorm fails.
    """
    if audio.duration_ms < _GATING_BLOCK_MS or not np.any(audio.samples):
        return -math.inf
    try:
        import pyloudnorm

        meter = pyloudnorm.Meter(audio.sample_rate_hz)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "possible clipped samples", log10(0) on silence
            lufs = float(meter.integrated_loudness(audio.samples.astype(np.float64)))
    except (ValueError, IndexError) as exc:
        raise AudioError(f"cannot measure loudness: {exc}") from exc
    return lufs if math.isfinite(lufs) else -math.inf


def sample_peak_dbfs(audio: Audio) -> float:
    """Largest absolute sample value across channels, in dBFS (1.0 = 0 dBFS); -inf for silence."""
    if audio.frames == 0:
        return -math.inf
    return _amplitude_to_db(float(np.max(np.abs(audio.samples))))


def oversampled_abs_peaks(samples: np.ndarray, oversample: int, first: int, last: int) -> np.ndarray:
    """|x| upsampled ``oversample`` times, max across channels, for frames [first, last).

    Returns float64 of shape ((last - first) * oversample,): element k is the reconstructed
    signal at frame first + k / oversample. Reads ``_TRUE_PEAK_OVERLAP_FRAMES`` of context on each
    side so chunks join exactly; outside the signal is silence (resample_poly pads zeros).
    """
    lo = max(0, first - _TRUE_PEAK_OVERLAP_FRAMES)
    hi = min(samples.shape[0], last + _TRUE_PEAK_OVERLAP_FRAMES)
    chunk = samples[lo:hi].astype(np.float64)
    if oversample > 1:
        from scipy import signal  # imported on use: scipy.signal costs ~0.6 s at start-up

        chunk = signal.resample_poly(chunk, oversample, 1, axis=0)
    start = (first - lo) * oversample
    return np.max(np.abs(chunk[start : start + (last - first) * oversample]), axis=1)


def true_peak_dbtp(audio: Audio, *, oversample: int = 4) -> float:
    """True peak of ``audio`` in dBTP (ITU-R BS.1770-4 Annex 2), -inf for silence.

    The signal is upsampled ``oversample`` times (>= 4 per BS.1770-4 at 48 kHz; polyphase FIR via
    ``scipy.signal.resample_poly``) and the largest absolute value across channels is taken.
    Works in chunks of 10 s with filter-length overlap, so memory stays bounded on long files.
    Raises ``AudioError`` if ``oversample`` < 1.
    """
    if oversample < 1 or int(oversample) != oversample:
        raise AudioError(f"oversample must be an integer >= 1, got {oversample!r}")
    chunk_frames = max(1, int(_TRUE_PEAK_CHUNK_S * audio.sample_rate_hz))
    peak = 0.0
    for first in range(0, audio.frames, chunk_frames):
        last = min(audio.frames, first + chunk_frames)
        peaks = oversampled_abs_peaks(audio.samples, int(oversample), first, last)
        if peaks.size:
            peak = max(peak, float(peaks.max()))
    return _amplitude_to_db(peak)
