"""Mastering: gain to a loudness target, look-ahead true-peak limiting, and verified bounces.

Targets (integrated LUFS, true peak dBTP) come from the recipe's master (its presets:
``recipe.model``). Loudness is ITU-R BS.1770-4 (see :mod:`audioflow.audio.loudness`), true peak BS.1770-4 Annex 2 at 4x.

:func:`master_to_file` is the streamed master the engine uses: it reads its source block by block
(a WAV on disk, a mix being rendered), so memory does not grow with the programme. Pass 1 measures
the integrated loudness and keeps a sample (the whole programme up to a minute, else up to 20
excerpts of 3 s); the trial limits the sample in memory, encodes up to 20 s of it once to learn what
the codec does, and solves for the gain with the limiter alone (what the limiter takes grows with
the gain); pass 2 applies the gain and the streaming limiter and pipes the blocks into ffmpeg's
encoder; then the encoded file is decoded (streamed) and measured. When the decoded loudness is
more than 0.2 LU off the target or its true peak over the ceiling, the gain is corrected (and the
limiter's margin grown by the overshoot + 0.1 dB) and pass 2 runs again: at most three encodes in
all, one in the usual case, and up to two more (at no higher gain) for a file still over the ceiling. :func:`master` and
:func:`master_encoded` are the in-memory forms.
"""

from __future__ import annotations

import math
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from audioflow.audio import io as audio_io
from audioflow.audio import loudness
from audioflow.audio.dsp import DcBlocker, block_dc
from audioflow.audio.figures import Overview
from audioflow.audio.limiter import EnvelopeThread, TruePeakLimiter
from audioflow.audio.loudness import LoudnessMeter, PeakDetector, RmsMeter, integrated_lufs
from audioflow.audio.pipes import EncoderPipe, decode_blocks
from audioflow.audio.qc import FigureMeter, FileFigures
from audioflow.audio.types import Audio
from audioflow.audio.wavstream import AudioFile
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
_TRIAL_EXCERPTS = 20  # pass 1 keeps at most this many excerpts of the programme for the trial
_TRIAL_EXCERPT_S = 3.0
_TRIAL_WHOLE_S = 60.0  # a programme up to this long is its own trial sample
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
_MAX_ENCODES = 3  # a programme the limiter works hard on, or a codec that overshoots, may need more than one
# A file still over the ceiling after _MAX_ENCODES gets up to this many more encodes at no higher gain,
# each with the limiter's margin grown by the overshoot (+ 0.1 dB): the ceiling comes before the target.
_PEAK_ENCODES = 2
# A shared pass 1 keeps the limiter's envelope (float32, a value per frame) of a programme up to this
# long (32 MiB: about 3 minutes at 44.1 or 48 kHz), so its masters' pass 2 need not upsample it again.
_ENVELOPE_KEEP_FRAMES = 1 << 23


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
    ``input_lufs``: the source's loudness (after the DC blocker); ``gain_db``: gain before the limiter (last pass);
    ``lufs``/``true_peak_dbtp``: measured on the DECODED file; ``limited`` and
    ``max_reduction_db``: what the limiter did; ``passes``: encodes made (1 to 5); ``figures``:
    every QC figure of the decoded file and ``overview`` its envelope and short-term loudness
    (what the report draws), both measured in the same pass.
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
    figures: FileFigures | None = None
    overview: Overview | None = None

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
    audio = block_dc(audio)  # as the streamed master does (see _DcBlocked)
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


def _sample_starts(frames: int, length: int, rate_hz: int) -> np.ndarray | None:
    """Where the trial's excerpts start; None: the programme (up to ``_TRIAL_WHOLE_S``) is its own sample.
    Up to ``_TRIAL_EXCERPTS`` excerpts of ``length`` frames, spread evenly, covering about a quarter of it."""
    if frames <= _TRIAL_WHOLE_S * rate_hz:
        return None
    count = int(min(_TRIAL_EXCERPTS, max(2, frames // (4 * length))))
    return np.linspace(0, frames - length, count).astype(np.int64)


@dataclass(frozen=True)
class _Pass1:
    """What pass 1 measured: the source's loudness (LUFS) and RMS level (dBFS), the trial's sample,
    and (for a short programme whose pass 1 is shared: see :func:`_measured_once`) the limiter's
    true-peak envelope of each block, so pass 2 does not upsample the programme again."""

    lufs: float
    rms_dbfs: float
    sample: np.ndarray
    envelopes: list[np.ndarray] | None = None


def _measure_and_sample(source: BlockSource, block_frames: int, *, envelopes: bool = False) -> _Pass1:
    """Pass 1: the source's integrated loudness (LUFS), its RMS level (dBFS) and a sample of it for
    the trial: the whole programme when it is short (up to ``_TRIAL_WHOLE_S``), else excerpts of
    ``_TRIAL_EXCERPT_S`` (see :func:`_sample_starts`), each faded in and out over 10 ms so the joins
    do not click. With ``envelopes``, also the limiter's envelope of each block (an
    :class:`~audioflow.audio.limiter.EnvelopeThread`: on the other core while this one meters)."""
    tap = EnvelopeThread(source.sample_rate_hz, source.channels) if envelopes else None
    try:
        lufs, rms_dbfs, sample = _measure_blocks(source, block_frames, tap)
    except BaseException:
        if tap is not None:
            tap.close()
        raise
    return _Pass1(lufs, rms_dbfs, sample, tap.result() if tap is not None else None)


def _measure_blocks(
    source: BlockSource, block_frames: int, tap: EnvelopeThread | None
) -> tuple[float, float, np.ndarray]:
    """:func:`_measure_and_sample`'s pass over the blocks (each handed to ``tap`` too, when given)."""
    meter = LoudnessMeter(source.sample_rate_hz, source.channels)
    squares = RmsMeter()
    length = round(_TRIAL_EXCERPT_S * source.sample_rate_hz)
    starts = _sample_starts(source.frames, length, source.sample_rate_hz)
    whole: list[np.ndarray] = []
    sample = np.zeros((0 if starts is None else len(starts) * length, source.channels), np.float32)
    first = 0
    for block in source.blocks(block_frames):
        if tap is not None:
            tap.push(block)
        meter.add(block)
        squares.add(block)
        last = first + block.shape[0]
        if starts is None:
            whole.append(np.array(block, dtype=np.float32))
        for k, start in enumerate(starts if starts is not None else ()):
            lo, hi = max(first, int(start)), min(last, int(start) + length)
            if lo < hi:
                sample[k * length + lo - int(start) : k * length + hi - int(start)] = block[lo - first : hi - first]
        first = last
    if starts is None:
        return meter.lufs(), squares.rms_dbfs(), np.concatenate(whole) if whole else sample
    _fade_edges(sample.reshape(len(starts), length, source.channels), source.sample_rate_hz)
    return meter.lufs(), squares.rms_dbfs(), sample


#: Pass 1's results for the last sources measured (a file's identity, channels, block size): the
#: outputs of one mix (an mp3 and an m4b, say) are mastered at once from the same file, and the
#: second takes the first's measurement instead of reading and metering the programme again.
_MEASURED: OrderedDict[tuple[object, ...], _Pass1] = OrderedDict()
_MEASURED_LOCKS: dict[tuple[object, ...], threading.Lock] = {}
_MEASURED_GUARD = threading.Lock()
_MEASURED_MAX = 2


def _measured_once(source: BlockSource, block_frames: int) -> _Pass1:
    """:func:`_measure_and_sample`, once per WAV file (its path, size and mtime), channels and block
    size in this process while it is among the last :data:`_MEASURED_MAX`; other sources every time.
    The sample is returned read-only (two masters share it); a file of at most
    ``_ENVELOPE_KEEP_FRAMES`` keeps the limiter's envelope too (its masters' pass 2 share it)."""
    base = source
    while isinstance(base, (_Remixed, _DcBlocked)):
        base = base.source
    if not isinstance(base, AudioFile):
        return _measure_and_sample(source, block_frames)
    stat = base.path.stat()
    key = (str(base.path), stat.st_size, stat.st_mtime_ns, source.channels, block_frames)
    with _MEASURED_GUARD:
        lock = _MEASURED_LOCKS.setdefault(key, threading.Lock())
    with lock:  # a second master of the same mix waits for the first's pass 1
        with _MEASURED_GUARD:
            found = _MEASURED.get(key)
        if found is None:
            found = _measure_and_sample(source, block_frames, envelopes=source.frames <= _ENVELOPE_KEEP_FRAMES)
            found.sample.flags.writeable = False
            with _MEASURED_GUARD:
                _MEASURED[key] = found
                while len(_MEASURED) > _MEASURED_MAX:
                    gone, _ = _MEASURED.popitem(last=False)
                    _MEASURED_LOCKS.pop(gone, None)
        return found


def _fade_edges(excerpts: np.ndarray, rate_hz: int) -> None:
    """Fade each excerpt (excerpts × frames × channels, in place) in and out over 10 ms: no clicks at the joins."""
    fade = np.sin(np.linspace(0.0, np.pi / 2, round(0.01 * rate_hz))).astype(np.float32)[:, None]
    excerpts[:, : fade.shape[0]] *= fade
    excerpts[:, excerpts.shape[1] - fade.shape[0] :] *= fade[::-1]


def _encode_pass(
    source: BlockSource,
    encoder: EncoderPipe,
    levels: tuple[float, float],
    block_frames: int,
    envelopes: list[np.ndarray] | None = None,
) -> TruePeakLimiter:
    """Pass 2: gain + limiter (``levels``: gain dB, ceiling dBTP), block by block, piped into
    ``encoder``; ``envelopes``: pass 1's envelope of each block and its flush (None: computed here)."""
    gain_db, ceiling_dbtp = levels
    limiter = TruePeakLimiter(source.sample_rate_hz, source.channels, ceiling_dbtp=ceiling_dbtp, gain_db=gain_db)
    with encoder:
        for k, block in enumerate(source.blocks(block_frames)):
            encoder.write(limiter.process(block, None if envelopes is None else envelopes[k]))
        encoder.write(limiter.flush(None if envelopes is None else envelopes[-1]))
    return limiter


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


def _encode_and_measure(
    source: BlockSource,
    path: Path,
    encoding: _Encoding,
    levels: tuple[float, float],
    on_stage: Callable[[str], None],
    envelopes: list[np.ndarray] | None = None,
) -> tuple[TruePeakLimiter, FileFigures, Overview | None]:
    """Pass 2 (gain + limiter piped into the encoder; ``levels``: gain dB, ceiling dBTP;
    ``envelopes``: see :func:`_encode_pass`) and the check of the DECODED file, every QC figure and
    the overview in one streamed pass: (the limiter, the decoded file's figures, its overview)."""
    encoder = _encoder(path, encoding, source.sample_rate_hz, source.channels)
    on_stage("limiting+encoding")
    limiter = _encode_pass(source, encoder, levels, encoding.block_frames, envelopes)
    on_stage("verifying")
    rate = encoding.out_rate_hz
    meter = FigureMeter(rate, source.channels, overview_ms=source.frames * 1000.0 / source.sample_rate_hz)
    for block in decode_blocks(path, sample_rate_hz=rate, channels=source.channels, block_frames=encoding.block_frames):
        meter.add(block)
    return limiter, meter.figures(), meter.overview()


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
#: sample array's identity: the masters of one mix share pass 1's sample (:func:`_measured_once`), so
#: the second master reuses what the first computed. Only read-only samples (shared ones) are kept.
_SAMPLED: OrderedDict[int, tuple[np.ndarray, float, _Sample | None]] = OrderedDict()
_SAMPLED_LOCK = threading.Lock()


def _sample_once(samples: np.ndarray, rate_hz: int) -> tuple[float, _Sample | None]:
    """(the sample's integrated LUFS, the sample in blocks with its envelope; None when it is silent),
    computed once per shared (read-only) sample array while it is among the last ``_MEASURED_MAX``."""

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
            while len(_SAMPLED) > _MEASURED_MAX:
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
    on_stage: Callable[[str], None] | None = None,
    channels: int | None = None,
    bit_depth: int = 24,
    target_rms_dbfs: float | None = None,
) -> MasteredFile:
    """Master ``source`` to ``target_lufs`` / ``true_peak_dbtp`` and encode it to ``path``, streamed.

    Memory is O(``block_frames``) plus the trial's sample (at most a minute of audio), whatever the
    programme's length. ``format`` and the codec options are :func:`audioflow.audio.io.encode`'s.
    The rule: pass 1 measures the source and keeps a sample (the whole programme up to a minute,
    else up to 20 excerpts of 3 s); the trial limits the sample in memory and encodes it once to
    learn what the codec does to loudness and true peak, then solves for the gain with the limiter
    alone; pass 2 applies that gain and the limiter (ceiling 0.3 dB under ``true_peak_dbtp``, more
    if the codec overshot on the trial) and encodes; the decoded file is measured; if its loudness
    is more than 0.2 LU off the target or its true peak over ``true_peak_dbtp``, the gain moves by
    the loudness error (over the trial's slope), the margin grows by the overshoot + 0.1 dB, and
    pass 2 runs again, at most three times in all; a file still over the ceiling then gets up to two
    more passes at no higher gain, each with the margin grown again (the last result is kept as
    measured: compare ``lufs`` and ``true_peak_dbtp``; QC fails a file left over the ceiling).
    ``on_stage`` (if given) hears each stage as it begins, in the
    calling thread: ``"measuring"`` (pass 1 and the trial), then ``"limiting+encoding"`` and
    ``"verifying"`` for each pass 2. Raises ``AudioError`` for silence (or under 400 ms of audio)
    and for an encoding failure.

    ``channels`` (1 or 2) down- or up-mixes the source first (mono is the mean of left and right;
    stereo from mono repeats it); ``bit_depth`` (16 or 24) is that of wav and flac. With
    ``target_rms_dbfs`` (ACX) the target is an RMS level (dBFS, every sample of every channel) and
    ``target_lufs`` is ignored: the loudness target becomes ``target_rms_dbfs`` plus the source's
    measured LUFS − RMS difference, which a gain does not change (the limiter and the codec barely
    do: the RMS lands within a few tenths of a dB when the loudness lands within 0.2 LU).
    """
    stage = on_stage or (lambda name: None)
    fmt = audio_io.encoder_format(format)
    if channels is not None and int(channels) != source.channels:
        source = _Remixed(source, int(channels))
    source = _DcBlocked(source)
    out_rate = audio_io.encoded_rate_hz(fmt, source.sample_rate_hz, sample_rate_hz)
    encoding = _Encoding(fmt, int(bitrate_kbps), sample_rate_hz, out_rate, int(block_frames), int(bit_depth))
    stage("measuring")
    measured = _measured_once(source, block_frames)
    input_lufs, input_rms_dbfs, sample = measured.lufs, measured.rms_dbfs, measured.sample
    if not math.isfinite(input_lufs):
        raise AudioError("cannot master silence (or audio shorter than 400 ms)")
    if target_rms_dbfs is not None:
        target_lufs = target_rms_dbfs + (input_lufs - input_rms_dbfs)
    prediction = _trial(sample, source.sample_rate_hz, encoding, (input_lufs, target_lufs, true_peak_dbtp))
    del sample
    gain_db, margin_db = prediction.gain_db, prediction.margin_db
    for attempt in range(_MAX_ENCODES + _PEAK_ENCODES):
        ceiling_dbtp = true_peak_dbtp - margin_db
        levels = (gain_db, ceiling_dbtp)
        limiter, figures, seen = _encode_and_measure(source, Path(path), encoding, levels, stage, measured.envelopes)
        lufs, peak_dbtp, frames = figures.integrated_lufs, figures.true_peak_dbtp, figures.frames
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
            figures,
            seen,
        )
        overshoot_db = peak_dbtp - true_peak_dbtp
        if abs(lufs - target_lufs) <= _LUFS_TOLERANCE_LU and overshoot_db <= 0:
            break
        if attempt + 1 >= _MAX_ENCODES and overshoot_db <= 0:
            break  # the loudness is left as it is (QC judges it); only a peak over the ceiling goes on
        step_db = _bounded_step(gain_db, (target_lufs - lufs) / prediction.slope, target_lufs - input_lufs)
        if attempt + 1 >= _MAX_ENCODES:
            step_db = min(step_db, 0.0)  # the extra passes only bring the peak under the ceiling
        gain_db += step_db  # the limiter takes part of any gain
        if step_db == 0.0 and overshoot_db <= 0:
            break
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
