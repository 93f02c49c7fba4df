"""The master's trial: predict, on a sample of the programme, the gain that lands it on its target.

The sample (the whole programme up to a minute, else excerpts: see
:func:`audioflow.audio.master.master_to_file`) is limited in memory at the plain gain, up to 20 s of it
is encoded once as the master will be and DECODED, to learn the codec's loudness change and true-peak
overshoot; then the gain is solved with the limiter alone. Also the encoding helpers the master's
pass 2 shares with the trial (the encoder pipe, the streamed measurement of a decoded file).
Loudness is ITU-R BS.1770-4 (LUFS), true peak BS.1770-4 Annex 2 at 4x (dBTP).
"""

from __future__ import annotations

import math
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioflow.audio.blocks import BLOCK_FRAMES, _AudioBlocks
from audioflow.audio.limiter import TruePeakLimiter
from audioflow.audio.loudness import LoudnessMeter, PeakDetector, integrated_lufs
from audioflow.audio.pipes import EncoderPipe, decode_blocks
from audioflow.audio.types import Audio

__all__ = ["measure_blocks"]

_MARGIN_DB = 0.3  # the limiter's ceiling sits this far under the target's: it can overshoot where the gain moves
_CODEC_TRIAL_S = 20.0  # the trial encodes at most this much of the sample
_SOLVE_TOLERANCE_LU = 0.03  # the trial's gain is solved this close (the check allows 0.2 LU)
_MAX_SOLVE_STEPS = 4
_MIN_SLOPE = 0.1
# The solve moves the gain at most this far above the plain gain (target - input): what a limiter takes
# from speech or music is a few dB (5-6 dB on the demos); a programme that would need more (a DC offset
# or a square wave: the limiter flattens every added dB) is left to miss its target, and QC says so,
# instead of the secant walking the gain to hundreds of dB.
_MAX_LIMITER_MAKEUP_DB = 24.0
_PEAK_GUARD_DB = 0.05  # a decoded trial peak closer than this to the ceiling grows the limiter's margin
_SAMPLED_MAX = 2  # samples kept (as the master keeps pass 1 of its last two sources)


def measure_blocks(blocks: Iterator[np.ndarray], sample_rate_hz: int, channels: int) -> tuple[float, float, int]:
    """(integrated LUFS, true peak dBTP, frames) of a stream of blocks, in one pass."""
    meter = LoudnessMeter(sample_rate_hz, channels)
    peaks = PeakDetector(sample_rate_hz, channels, refine=True, envelope=False)
    for block in blocks:
        meter.add(block)
        peaks.push(block)
    peaks.flush()
    return meter.lufs(), peaks.peak_dbtp(), meter.frames


@dataclass(frozen=True)
class _Encoding:
    """The fixed options of one master: codec, bit rate, the asked and the actual output rate, block size."""

    format: str
    bitrate_kbps: int
    sample_rate_hz: int | None
    out_rate_hz: int
    block_frames: int
    bit_depth: int = 24


def _fade_edges(excerpts: np.ndarray, rate_hz: int) -> None:
    """Fade each excerpt (excerpts × frames × channels, in place) in and out over 10 ms: no clicks at the joins."""
    fade = np.sin(np.linspace(0.0, np.pi / 2, round(0.01 * rate_hz))).astype(np.float32)[:, None]
    excerpts[:, : fade.shape[0]] *= fade
    excerpts[:, excerpts.shape[1] - fade.shape[0] :] *= fade[::-1]


def _encoder(path: Path, encoding: _Encoding, rate_hz: int, channels: int) -> EncoderPipe:
    return EncoderPipe(
        path,
        encoding.format,
        sample_rate_hz=rate_hz,
        channels=channels,
        bitrate_kbps=encoding.bitrate_kbps,
        out_rate_hz=encoding.sample_rate_hz,
        bit_depth=encoding.bit_depth,
    )


def _measure_file(path: Path, encoding: _Encoding, channels: int) -> tuple[float, float, int]:
    """(LUFS, true peak dBTP, frames) of the DECODED file, streamed."""
    rate = encoding.out_rate_hz
    decoded = decode_blocks(path, sample_rate_hz=rate, channels=channels, block_frames=encoding.block_frames)
    return measure_blocks(decoded, rate, channels)


@dataclass(frozen=True)
class _Prediction:
    """What the trial predicts: the gain that lands the programme on its target, d(output LUFS)/d(gain)
    near it (1 where nothing is limited, less where the limiter works), and the limiter's margin (grown
    when the codec's true peak overshoots on the sample)."""

    gain_db: float
    slope: float
    margin_db: float


@dataclass(frozen=True)
class _Sample:
    """The trial's sample in blocks, with each block's true-peak envelope (the same at every gain)."""

    rate_hz: int
    channels: int
    blocks: list[np.ndarray]
    envelopes: list[np.ndarray]  # one per block, then the detector's flush

    @classmethod
    def of(cls, samples: np.ndarray, rate_hz: int) -> _Sample:
        channels = samples.shape[1]
        detector = PeakDetector(rate_hz, channels)
        blocks = list(_AudioBlocks(Audio(samples, rate_hz)).blocks(BLOCK_FRAMES))
        return cls(rate_hz, channels, blocks, [*(detector.push(b) for b in blocks), detector.flush()])


#: The trial's view of the last samples (their loudness, their blocks and true-peak envelope), by the
#: sample array's identity: the masters of one mix share pass 1's sample
#: (:func:`audioflow.audio.master._measured_once`), so the second master reuses what the first
#: computed. Only read-only samples (shared ones) are kept.
_SAMPLED: OrderedDict[int, tuple[np.ndarray, float, _Sample | None]] = OrderedDict()
_SAMPLED_LOCK = threading.Lock()


def _sample_once(samples: np.ndarray, rate_hz: int) -> tuple[float, _Sample | None]:
    """(the sample's integrated LUFS, the sample in blocks with its envelope; None when it is silent),
    computed once per shared (read-only) sample array while it is among the last ``_SAMPLED_MAX``."""

    def compute() -> tuple[float, _Sample | None]:
        lufs = integrated_lufs(Audio(samples, rate_hz))
        return lufs, (_Sample.of(samples, rate_hz) if math.isfinite(lufs) else None)

    if samples.flags.writeable:
        return compute()
    with _SAMPLED_LOCK:  # held while computing: a second master of the same mix waits for the first's
        found = _SAMPLED.get(id(samples))
        if found is None or found[0] is not samples:
            found = (samples, *compute())
            _SAMPLED[id(samples)] = found
            while len(_SAMPLED) > _SAMPLED_MAX:
                _SAMPLED.popitem(last=False)
        return found[1], found[2]


def _limited_lufs(
    sample: _Sample, gain_db: float, ceiling_dbtp: float, *, keep: bool = False
) -> tuple[np.ndarray | None, float]:
    """The sample through the gain and the limiter block by block (kept in memory only when ``keep``),
    and its integrated loudness."""
    limiter = TruePeakLimiter(sample.rate_hz, sample.channels, ceiling_dbtp=ceiling_dbtp, gain_db=gain_db)
    meter = LoudnessMeter(sample.rate_hz, sample.channels)
    parts = []
    outs = (limiter.process(block, envelope) for block, envelope in zip(sample.blocks, sample.envelopes, strict=False))
    for out in [*outs, limiter.flush(sample.envelopes[-1])]:
        meter.add(out)
        if keep:
            parts.append(out)
    return (np.concatenate(parts) if keep else None), meter.lufs()


def _codec_excerpts(limited: np.ndarray, rate_hz: int) -> np.ndarray:
    """At most ``_CODEC_TRIAL_S`` of ``limited`` for the codec trial: evenly spaced 1 s pieces, faded."""
    piece = rate_hz
    count = round(_CODEC_TRIAL_S)
    if limited.shape[0] <= count * piece:
        return limited
    starts = np.linspace(0, limited.shape[0] - piece, count).astype(np.int64)
    pieces = np.stack([limited[start : start + piece] for start in starts])
    _fade_edges(pieces, rate_hz)
    return pieces.reshape(-1, limited.shape[1])


def _codec_change(limited: np.ndarray, rate_hz: int, encoding: _Encoding) -> tuple[float, float]:
    """(LUFS, true peak dBTP) of ``limited`` encoded as the master will be and DECODED."""
    with tempfile.TemporaryDirectory(prefix="audioflow-trial-") as tmp:
        path = Path(tmp) / f"trial.{encoding.format}"
        with _encoder(path, encoding, rate_hz, limited.shape[1]) as encoder:
            for first in range(0, limited.shape[0], BLOCK_FRAMES):
                encoder.write(limited[first : first + BLOCK_FRAMES])
        lufs, peak_dbtp, _ = _measure_file(path, encoding, limited.shape[1])
    return lufs, peak_dbtp


def _trial(samples: np.ndarray, rate_hz: int, encoding: _Encoding, levels: tuple[float, float, float]) -> _Prediction:
    """Predict on the sample the gain that lands the programme on its target after the limiter and the codec.

    ``levels``: (the programme's input LUFS, target LUFS, true-peak ceiling dBTP). The sample is
    limited at the plain gain ``target - input`` and (at most ``_CODEC_TRIAL_S`` of it) encoded once:
    the codec's loudness change and its true-peak overshoot are measured on the decoded trial. Then
    the gain is solved (secant, the limiter only, no codec) so that input + gain + what the limiter
    takes + what the codec takes is the target, to within ``_SOLVE_TOLERANCE_LU``."""
    input_lufs, target_lufs, true_peak_dbtp = levels
    gain_db, margin_db = target_lufs - input_lufs, _MARGIN_DB
    sample_lufs, sample = _sample_once(samples, rate_hz)
    if sample is None:
        return _Prediction(gain_db, 1.0, margin_db)
    limited, lufs = _limited_lufs(sample, gain_db, true_peak_dbtp - margin_db, keep=True)
    assert limited is not None
    pieces = _codec_excerpts(limited, rate_hz)
    del limited
    pieces_lufs = integrated_lufs(Audio(pieces, rate_hz))
    decoded_lufs, decoded_peak_dbtp = _codec_change(pieces, rate_hz, encoding)
    codec_lu = decoded_lufs - pieces_lufs if math.isfinite(decoded_lufs) and math.isfinite(pieces_lufs) else 0.0
    if decoded_peak_dbtp > true_peak_dbtp - _PEAK_GUARD_DB:  # the codec overshoots: limit lower
        margin_db += decoded_peak_dbtp - (true_peak_dbtp - _PEAK_GUARD_DB)
        _, lufs = _limited_lufs(sample, gain_db, true_peak_dbtp - margin_db)

    def error(lufs_after: float) -> float:  # the programme's predicted miss, in LU
        return input_lufs + (lufs_after - sample_lufs) + codec_lu - target_lufs

    slope, miss = 1.0, error(lufs)
    for _ in range(_MAX_SOLVE_STEPS):
        if abs(miss) <= _SOLVE_TOLERANCE_LU:
            break
        step = _bounded_step(gain_db, -miss / slope, target_lufs - input_lufs)
        if step == 0.0:
            break
        _, lufs = _limited_lufs(sample, gain_db + step, true_peak_dbtp - margin_db)
        new_miss = error(lufs)
        slope = min(1.0, max(_MIN_SLOPE, (new_miss - miss) / step))
        gain_db, miss = gain_db + step, new_miss
    return _Prediction(gain_db, slope, margin_db)


def _bounded_step(gain_db: float, step_db: float, plain_gain_db: float) -> float:
    """``step_db`` (dB) clipped so that ``gain_db + step`` stays within ``_MAX_LIMITER_MAKEUP_DB``
    above ``plain_gain_db`` (target - input LUFS) and never under it minus the same."""
    high = plain_gain_db + _MAX_LIMITER_MAKEUP_DB
    low = plain_gain_db - _MAX_LIMITER_MAKEUP_DB
    return min(high, max(low, gain_db + step_db)) - gain_db
