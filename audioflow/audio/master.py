"""Mastering: gain to a loudness target, look-ahead true-peak limiting, and verified bounces.

Targets (integrated LUFS, true peak dBTP) come from the recipe's master (its presets: ``recipe.model``). Loudness is
ITU-R BS.1770-4 (see :mod:`audioflow.audio.loudness`), true peak BS.1770-4 Annex 2 at 4x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from audioflow.audio import io as audio_io
from audioflow.audio import loudness
from audioflow.audio.loudness import integrated_lufs, oversampled_abs_peaks
from audioflow.audio.types import Audio
from audioflow.errors import AudioError

__all__ = ["MasterResult", "limit", "master", "master_encoded"]

_OVERSAMPLE = 4  # BS.1770-4 Annex 2: at least 4x at 48 kHz
_LIMIT_CHUNK_S = 10.0
_LUFS_TOLERANCE_LU = 0.2
_ENCODE_TRIES = 4
_ENCODED_LUFS_TOLERANCE_LU = 0.5


@dataclass(frozen=True)
class MasterResult:
    """A mastered programme and its measurements.

    ``input_lufs``: loudness before mastering; ``gain_db``: gain applied before the limiter;
    ``lufs`` and ``true_peak_dbtp`` (4x oversampled): measured on ``audio`` (for
    :func:`master_encoded`, on the decoded encoded file); ``limited``: whether the limiter acted.
    """

    audio: Audio
    input_lufs: float
    gain_db: float
    lufs: float
    true_peak_dbtp: float
    limited: bool


def _limiter_gain(samples: np.ndarray, first: int, last: int, ceiling: float, lookahead: int) -> np.ndarray:
    """Smoothed limiter gain (float64) for frames [first, last); never above min(1, ceiling/peak).

    peak[n] is the largest 4x-oversampled |x| between frames n-1 and n+1 across channels.
    g = min(1, ceiling / peak); hold = min of g over ±lookahead; gain = mean of hold over
    ±lookahead. Every hold value in the averaging window at n covers n, so gain[n] <= g[n].
    """
    context = 2 * lookahead + 1
    lo = max(0, first - context)
    hi = min(samples.shape[0], last + context)
    quarter = oversampled_abs_peaks(samples, _OVERSAMPLE, lo, hi).reshape(-1, _OVERSAMPLE).max(axis=1)
    peak = quarter.copy()
    peak[1:] = np.maximum(quarter[1:], quarter[:-1])  # the interval before each frame
    peak[:-1] = np.maximum(peak[:-1], quarter[1:])  # and the one after (its first quarter)
    with np.errstate(divide="ignore"):
        wanted = np.minimum(1.0, ceiling / peak)
    size = 2 * lookahead + 1
    from scipy import ndimage  # imported on use: scipy.ndimage costs ~0.6 s at start-up

    hold = ndimage.minimum_filter1d(wanted, size=size, mode="constant", cval=1.0)
    smooth = ndimage.uniform_filter1d(hold, size=size, mode="constant", cval=1.0)
    return np.minimum(smooth[first - lo : last - lo], wanted[first - lo : last - lo])


def _release(gain_db: np.ndarray, previous_db: float, step_db: float) -> np.ndarray:
    """Slew-limit gain recovery: r[n] = min(g[n], r[n-1] + step_db), vectorised via a running min.

    r[n] = min over m <= n of (g[m] + step*(n - m)) = step*n + cummin(g[m] - step*m).
    """
    frames = np.arange(gain_db.size, dtype=np.float64)
    released = frames * step_db + np.minimum.accumulate(gain_db - frames * step_db)
    released = np.minimum(released, previous_db + (frames + 1) * step_db)
    return np.minimum(released, 0.0)


def limit(audio: Audio, *, ceiling_dbtp: float, lookahead_ms: float = 5.0, release_ms: float = 60.0) -> Audio:
    """Look-ahead brickwall limiter keeping the 4x-oversampled peak envelope under ``ceiling_dbtp``.

    The gain falls over ``lookahead_ms`` ahead of each peak (min filter then moving average, both
    ±lookahead/2) and recovers at 6 dB per ``release_ms`` (linear in dB). The gain never exceeds
    ceiling/peak at any frame; the true peak of the output can still overshoot by a few hundredths
    of a dB where the gain moves, so :func:`master` keeps a margin and re-measures. Vectorised;
    processed in 10 s chunks. Raises ``AudioError`` for a non-finite ceiling.
    """
    if not math.isfinite(ceiling_dbtp):
        raise AudioError(f"limiter ceiling must be a finite dBTP value, got {ceiling_dbtp!r}")
    rate = audio.sample_rate_hz
    ceiling = 10.0 ** (ceiling_dbtp / 20.0)
    lookahead = max(1, round(lookahead_ms * rate / 1000.0 / 2))
    step_db = 6.0 / max(release_ms * rate / 1000.0, 1.0)
    out = np.empty_like(audio.samples)
    chunk = max(int(_LIMIT_CHUNK_S * rate), 4 * lookahead)
    previous_db = 0.0
    for first in range(0, audio.frames, chunk):
        last = min(audio.frames, first + chunk)
        gain = _limiter_gain(audio.samples, first, last, ceiling, lookahead)
        with np.errstate(divide="ignore"):
            gain_db = _release(20.0 * np.log10(gain), previous_db, step_db)
        previous_db = float(gain_db[-1])
        np.multiply(
            audio.samples[first:last],
            (10.0 ** (gain_db / 20.0)).astype(np.float32)[:, None],
            out=out[first:last],
        )
    return Audio(out, rate)


def _apply_gain(audio: Audio, gain_db: float) -> Audio:
    return Audio(audio.samples * np.float32(10.0 ** (gain_db / 20.0)), audio.sample_rate_hz)


def master(
    audio: Audio,
    *,
    target_lufs: float = -16.0,
    true_peak_dbtp: float = -1.0,
    margin_db: float = 0.3,
    max_passes: int = 4,
) -> MasterResult:
    """Bring ``audio`` to ``target_lufs`` with its true peak at or under ``true_peak_dbtp``.

    Applies gain to the target, limits to ``true_peak_dbtp - margin_db`` when the true peak is
    over it, re-measures, and corrects the gain while loudness is more than 0.2 LU off and
    passes remain; a pass whose measured true peak still overshoots is re-limited lower.
    Returns the pass closest to the target. Raises ``AudioError("cannot master silence")`` for
    silence or audio shorter than a 400 ms gating block.
    """
    input_lufs = integrated_lufs(audio)
    if not math.isfinite(input_lufs):
        raise AudioError("cannot master silence (or audio shorter than 400 ms)")
    gain_db = target_lufs - input_lufs
    ceiling_dbtp = true_peak_dbtp - margin_db
    best: MasterResult | None = None
    for _ in range(max(1, max_passes)):
        result = _master_pass(audio, input_lufs, gain_db, ceiling_dbtp)
        if result.true_peak_dbtp > true_peak_dbtp:  # limiter overshoot where the gain moves
            ceiling_dbtp -= result.true_peak_dbtp - true_peak_dbtp + 0.05
            result = _master_pass(audio, input_lufs, gain_db, ceiling_dbtp)
        if best is None or abs(result.lufs - target_lufs) < abs(best.lufs - target_lufs):
            best = result
        if abs(result.lufs - target_lufs) <= _LUFS_TOLERANCE_LU or not result.limited:
            break
        gain_db += target_lufs - result.lufs
    assert best is not None
    return best


def _master_pass(audio: Audio, input_lufs: float, gain_db: float, ceiling_dbtp: float) -> MasterResult:
    """One gain + limit + measure pass."""
    gained = _apply_gain(audio, gain_db)
    limited = loudness.true_peak_dbtp(gained, oversample=_OVERSAMPLE) > ceiling_dbtp
    if limited:
        gained = limit(gained, ceiling_dbtp=ceiling_dbtp)
    return MasterResult(
        audio=gained,
        input_lufs=input_lufs,
        gain_db=gain_db,
        lufs=integrated_lufs(gained),
        true_peak_dbtp=loudness.true_peak_dbtp(gained, oversample=_OVERSAMPLE),
        limited=limited,
    )


def master_encoded(
    audio: Audio,
    *,
    target_lufs: float,
    true_peak_dbtp: float,
    format: str,
    bitrate_kbps: int = 192,
    sample_rate_hz: int | None = None,
) -> tuple[bytes, MasterResult]:
    """Master, encode as ``format`` (see :func:`audioflow.audio.io.encode`), and verify the file.

    Lossy codecs overshoot the limiter's ceiling, so the encoded bytes are decoded and measured;
    while the decoded true peak is over ``true_peak_dbtp`` the limiter ceiling is lowered by the
    overshoot + 0.1 dB and the programme is mastered and encoded again (at most 4 tries); a decoded
    loudness more than 0.5 LU off the target also retries, aiming off by the error. The
    returned result's ``audio``, ``lufs`` and ``true_peak_dbtp`` are those of the DECODED file; if
    the last try still overshoots it is returned as is (compare ``true_peak_dbtp`` to decide).
    Raises ``AudioError`` for silence or an encoding failure.
    """
    margin_db = 0.3
    aim_lufs = target_lufs
    encoded = b""
    checked: MasterResult | None = None
    for _ in range(_ENCODE_TRIES):
        mastered = master(audio, target_lufs=aim_lufs, true_peak_dbtp=true_peak_dbtp, margin_db=margin_db)
        encoded = audio_io.encode(mastered.audio, format, bitrate_kbps=bitrate_kbps, sample_rate_hz=sample_rate_hz)
        decoded = audio_io.decode_bytes(encoded, "ogg" if format == "opus" else format)
        checked = MasterResult(
            audio=decoded,
            input_lufs=mastered.input_lufs,
            gain_db=mastered.gain_db,
            lufs=integrated_lufs(decoded),
            true_peak_dbtp=loudness.true_peak_dbtp(decoded, oversample=_OVERSAMPLE),
            limited=mastered.limited,
        )
        overshoot_db = checked.true_peak_dbtp - true_peak_dbtp
        loudness_error_lu = checked.lufs - target_lufs
        if overshoot_db <= 0 and abs(loudness_error_lu) <= _ENCODED_LUFS_TOLERANCE_LU:
            break
        if overshoot_db > 0:
            margin_db += overshoot_db + 0.1
        aim_lufs -= loudness_error_lu  # e.g. an mp3 low-pass removing energy above 16-19 kHz
    assert checked is not None
    return encoded, checked
