"""Mastering: gain to a loudness target, look-ahead true-peak limiting, and verified bounces.

Targets (integrated LUFS, true peak dBTP) come from the recipe's master (its presets:
``recipe.model``). Loudness is ITU-R BS.1770-4 (see :mod:`audioflow.audio.loudness`), true peak BS.1770-4 Annex 2 at 4x.

:func:`master_to_file` is the streamed master the engine uses: it reads its source block by block
(a WAV on disk, a mix being rendered), so memory does not grow with the programme. Pass 1 measures
the integrated loudness and keeps a one-minute sample; a trial encode of the sample predicts the
loudness the limiter and the codec will take; pass 2 applies the gain and the streaming limiter
and pipes the blocks into ffmpeg's encoder; then the encoded file is decoded (streamed) and measured. When the decoded
loudness is more than 0.2 LU off the target or its true peak over the ceiling, the gain is
corrected by the error (and the limiter's margin grown by the overshoot + 0.1 dB) and pass 2 runs
again: at most three encodes in all, one in the usual case. :func:`master` and
:func:`master_encoded` are the in-memory forms.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from audioflow.audio import io as audio_io
from audioflow.audio import loudness
from audioflow.audio.limiter import TruePeakLimiter
from audioflow.audio.loudness import LoudnessMeter, PeakDetector, integrated_lufs
from audioflow.audio.pipes import EncoderPipe, decode_blocks
from audioflow.audio.types import Audio
from audioflow.errors import AudioError

__all__ = [
    "BlockSource",
    "MasterResult",
    "MasteredFile",
    "limit",
    "master",
    "master_encoded",
    "master_to_file",
    "measure_blocks",
]


BLOCK_FRAMES = 1 << 16  # ~1.4 s at 48 kHz: the unit every streamed pass works in
_LIMIT_CHUNK_FRAMES = 1 << 19
_LUFS_TOLERANCE_LU = 0.2
_MARGIN_DB = 0.3  # the limiter's ceiling sits this far under the target's: it can overshoot where the gain moves
_OVERSHOOT_STEP_DB = 0.1
_TRIAL_EXCERPTS = 20  # pass 1 keeps this many excerpts of the programme for the trial encode
_TRIAL_EXCERPT_S = 3.0
_MAX_ENCODES = 3  # a programme the limiter works hard on, or a codec that overshoots, may need more than one


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


@dataclass(frozen=True)
class MasteredFile:
    """What :func:`master_to_file` wrote and measured.

    ``path``: the encoded file; ``sample_rate_hz``/``channels``/``frames``: of the decoded file;
    ``input_lufs``: the source's loudness; ``gain_db``: gain before the limiter (last pass);
    ``lufs``/``true_peak_dbtp``: measured on the DECODED file; ``limited`` and
    ``max_reduction_db``: what the limiter did; ``passes``: encodes made (1 to 3).
    """

    path: Path
    format: str
    sample_rate_hz: int
    channels: int
    frames: int
    input_lufs: float
    gain_db: float
    lufs: float
    true_peak_dbtp: float
    limited: bool
    max_reduction_db: float
    passes: int

    @property
    def duration_ms(self) -> float:
        """Duration of the decoded file in ms."""
        return self.frames * 1000.0 / self.sample_rate_hz


def limit(audio: Audio, *, ceiling_dbtp: float, lookahead_ms: float = 5.0, release_ms: float = 60.0) -> Audio:
    """Look-ahead brickwall limiter keeping the 4x-oversampled peak envelope under ``ceiling_dbtp``.

    The in-memory form of :class:`~audioflow.audio.limiter.TruePeakLimiter` (see it for the gain
    curve): the gain falls over ``lookahead_ms`` ahead of each peak and recovers at 6 dB per
    ``release_ms``. The true peak of the output can still overshoot by a few hundredths of a dB
    where the gain moves, so :func:`master` keeps a margin and re-measures. Audio that needs no
    limiting comes back unchanged. Raises ``AudioError`` for a non-finite ceiling.
    """
    limiter = TruePeakLimiter(
        audio.sample_rate_hz,
        audio.channels,
        ceiling_dbtp=ceiling_dbtp,
        lookahead_ms=lookahead_ms,
        release_ms=release_ms,
    )
    parts = [limiter.process(block) for block in _AudioBlocks(audio).blocks(_LIMIT_CHUNK_FRAMES)]
    parts.append(limiter.flush())
    return Audio(np.concatenate(parts), audio.sample_rate_hz)


def master(
    audio: Audio,
    *,
    target_lufs: float = -16.0,
    true_peak_dbtp: float = -1.0,
    margin_db: float = _MARGIN_DB,
    max_passes: int = 4,
) -> MasterResult:
    """Bring ``audio`` to ``target_lufs`` with its true peak at or under ``true_peak_dbtp``, in memory.

    Applies gain to the target through the limiter (ceiling ``true_peak_dbtp - margin_db``),
    re-measures, and corrects the gain while loudness is more than 0.2 LU off and passes remain;
    a pass whose measured true peak still overshoots is re-limited lower. Returns the pass
    closest to the target. Raises ``AudioError("cannot master silence")`` for silence or audio
    shorter than a 400 ms gating block.
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
    limiter = TruePeakLimiter(audio.sample_rate_hz, audio.channels, ceiling_dbtp=ceiling_dbtp, gain_db=gain_db)
    parts = [limiter.process(block) for block in _AudioBlocks(audio).blocks(_LIMIT_CHUNK_FRAMES)]
    parts.append(limiter.flush())
    out = Audio(np.concatenate(parts), audio.sample_rate_hz)
    return MasterResult(
        audio=out,
        input_lufs=input_lufs,
        gain_db=gain_db,
        lufs=integrated_lufs(out),
        true_peak_dbtp=loudness.true_peak_dbtp(out),
        limited=limiter.limited,
    )


def measure_blocks(blocks: Iterator[np.ndarray], sample_rate_hz: int, channels: int) -> tuple[float, float, int]:
    """(integrated LUFS, true peak dBTP, frames) of a stream of blocks, in one pass."""
    meter = LoudnessMeter(sample_rate_hz, channels)
    peaks = PeakDetector(sample_rate_hz, channels)
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


def _measure_and_sample(source: BlockSource, block_frames: int) -> tuple[float, np.ndarray | None]:
    """Pass 1: the source's integrated loudness, and a sample of it for the trial encode (None when the
    programme is too short for a sample to be cheaper than a whole pass): ``_TRIAL_EXCERPTS`` excerpts of
    ``_TRIAL_EXCERPT_S`` spread evenly, each faded in and out over 10 ms so the joins do not click."""
    meter = LoudnessMeter(source.sample_rate_hz, source.channels)
    length = round(_TRIAL_EXCERPT_S * source.sample_rate_hz)
    sampled = source.frames >= 4 * _TRIAL_EXCERPTS * length
    starts = np.linspace(0, source.frames - length, _TRIAL_EXCERPTS).astype(np.int64) if sampled else np.zeros(0)
    sample = np.zeros((len(starts) * length, source.channels), np.float32)
    first = 0
    for block in source.blocks(block_frames):
        meter.add(block)
        last = first + block.shape[0]
        for k, start in enumerate(starts):
            lo, hi = max(first, int(start)), min(last, int(start) + length)
            if lo < hi:
                sample[k * length + lo - int(start) : k * length + hi - int(start)] = block[lo - first : hi - first]
        first = last
    if not sampled:
        return meter.lufs(), None
    fade = np.sin(np.linspace(0.0, np.pi / 2, round(0.01 * source.sample_rate_hz))).astype(np.float32)[:, None]
    excerpts = sample.reshape(len(starts), length, source.channels)
    excerpts[:, : fade.shape[0]] *= fade
    excerpts[:, length - fade.shape[0] :] *= fade[::-1]
    return meter.lufs(), sample


def _encode_pass(
    source: BlockSource, encoder: EncoderPipe, gain_db: float, ceiling_dbtp: float, block_frames: int
) -> TruePeakLimiter:
    """Pass 2: gain + limiter, block by block, piped into ``encoder``."""
    limiter = TruePeakLimiter(source.sample_rate_hz, source.channels, ceiling_dbtp=ceiling_dbtp, gain_db=gain_db)
    with encoder:
        for block in source.blocks(block_frames):
            encoder.write(limiter.process(block))
        encoder.write(limiter.flush())
    return limiter


def _encode_and_measure(
    source: BlockSource, path: Path, encoding: _Encoding, gain_db: float, ceiling_dbtp: float
) -> tuple[TruePeakLimiter, float, float, int]:
    """Pass 2 (gain + limiter piped into the encoder) and the check of the DECODED file:
    (the limiter, decoded LUFS, decoded true peak dBTP, decoded frames)."""
    encoder = EncoderPipe(
        path,
        encoding.format,
        sample_rate_hz=source.sample_rate_hz,
        channels=source.channels,
        bitrate_kbps=encoding.bitrate_kbps,
        out_rate_hz=encoding.sample_rate_hz,
    )
    limiter = _encode_pass(source, encoder, gain_db, ceiling_dbtp, encoding.block_frames)
    rate, channels = encoding.out_rate_hz, source.channels
    decoded = decode_blocks(path, sample_rate_hz=rate, channels=channels, block_frames=encoding.block_frames)
    lufs, peak_dbtp, frames = measure_blocks(decoded, rate, channels)
    return limiter, lufs, peak_dbtp, frames


def _trial(sample: np.ndarray, rate_hz: int, encoding: _Encoding, gain_db: float, ceiling_dbtp: float) -> float:
    """The loudness the limiter and the codec take, predicted on the sample: decoded LUFS of the
    sample mastered and encoded, minus its LUFS before, minus the gain (negative: loudness lost)."""
    excerpts = _AudioBlocks(Audio(sample, rate_hz))
    before = integrated_lufs(excerpts.audio)
    if not math.isfinite(before):
        return 0.0
    with tempfile.TemporaryDirectory(prefix="audioflow-trial-") as tmp:
        path = Path(tmp) / f"trial.{encoding.format}"
        _, after, _, _ = _encode_and_measure(excerpts, path, encoding, gain_db, ceiling_dbtp)
    return after - before - gain_db if math.isfinite(after) else 0.0


def master_to_file(
    source: BlockSource,
    path: Path,
    *,
    target_lufs: float,
    true_peak_dbtp: float,
    format: str,
    bitrate_kbps: int = 192,
    sample_rate_hz: int | None = None,
    block_frames: int = BLOCK_FRAMES,
) -> MasteredFile:
    """Master ``source`` to ``target_lufs`` / ``true_peak_dbtp`` and encode it to ``path``, streamed.

    Memory is O(``block_frames``), whatever the programme's length. ``format`` and the codec
    options are :func:`audioflow.audio.io.encode`'s. The rule: pass 1 measures the source (and, for
    a programme over ~4 minutes, keeps 20 excerpts of 3 s); a trial masters and encodes the excerpts
    to predict what the limiter and the codec take, and the gain aims that much higher; pass 2
    applies ``target - input`` dB (+ the prediction) and the limiter (ceiling 0.3 dB under
    ``true_peak_dbtp``) and encodes; the decoded file is measured; if its loudness is more than
    0.2 LU off the target or its true peak over ``true_peak_dbtp``, the gain moves by the loudness
    error, the margin grows by the overshoot + 0.1 dB, and pass 2 runs again, at most three times
    in all (the last result is kept as measured: compare ``lufs`` and ``true_peak_dbtp``).
    Raises ``AudioError`` for silence (or under 400 ms of audio) and for an encoding failure.
    """
    fmt = audio_io.encoder_format(format)
    out_rate = audio_io.encoded_rate_hz(fmt, source.sample_rate_hz, sample_rate_hz)
    encoding = _Encoding(fmt, int(bitrate_kbps), sample_rate_hz, out_rate, int(block_frames))
    input_lufs, sample = _measure_and_sample(source, block_frames)
    if not math.isfinite(input_lufs):
        raise AudioError("cannot master silence (or audio shorter than 400 ms)")
    gain_db, margin_db = target_lufs - input_lufs, _MARGIN_DB
    if sample is not None:
        gain_db -= _trial(sample, source.sample_rate_hz, encoding, gain_db, true_peak_dbtp - margin_db)
    for attempt in range(_MAX_ENCODES):
        ceiling_dbtp = true_peak_dbtp - margin_db
        limiter, lufs, peak_dbtp, frames = _encode_and_measure(source, Path(path), encoding, gain_db, ceiling_dbtp)
        result = MasteredFile(
            Path(path),
            fmt,
            out_rate,
            source.channels,
            frames,
            input_lufs,
            gain_db,
            lufs,
            peak_dbtp,
            limiter.limited,
            limiter.max_reduction_db,
            attempt + 1,
        )
        overshoot_db = peak_dbtp - true_peak_dbtp
        if abs(lufs - target_lufs) <= _LUFS_TOLERANCE_LU and overshoot_db <= 0:
            break
        gain_db += target_lufs - lufs  # e.g. the limiter or an mp3 encoder took some loudness
        if overshoot_db > 0:
            margin_db += overshoot_db + _OVERSHOOT_STEP_DB
    return result


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

    The in-memory form of :func:`master_to_file` (same passes, same rule). The returned result's
    ``audio``, ``lufs`` and ``true_peak_dbtp`` are those of the DECODED file; if the last pass
    still misses, it is returned as is (compare ``lufs`` and ``true_peak_dbtp`` to decide).
    Raises ``AudioError`` for silence or an encoding failure.
    """
    fmt = audio_io.encoder_format(format)
    with tempfile.TemporaryDirectory(prefix="audioflow-") as tmp:
        path = Path(tmp) / f"master.{fmt}"
        done = master_to_file(
            _AudioBlocks(audio),
            path,
            target_lufs=target_lufs,
            true_peak_dbtp=true_peak_dbtp,
            format=fmt,
            bitrate_kbps=bitrate_kbps,
            sample_rate_hz=sample_rate_hz,
        )
        data = path.read_bytes()
        decoded = audio_io.decode_file(path)
    result = MasterResult(decoded, done.input_lufs, done.gain_db, done.lufs, done.true_peak_dbtp, done.limited)
    return data, result
