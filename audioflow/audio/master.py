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
:func:`master_encoded` are the in-memory forms. The trial lives in :mod:`audioflow.audio.trial`, the block
sources in :mod:`audioflow.audio.blocks`.
"""

from __future__ import annotations

import math
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioflow.audio import io as audio_io
from audioflow.audio import loudness
from audioflow.audio.blocks import BLOCK_FRAMES, BlockSource, _AudioBlocks, _DcBlocked, _Remixed
from audioflow.audio.dsp import block_dc
from audioflow.audio.figures import Overview
from audioflow.audio.limiter import EnvelopeThread, TruePeakLimiter
from audioflow.audio.loudness import LoudnessMeter, RmsMeter, integrated_lufs
from audioflow.audio.pipes import EncoderPipe, decode_blocks
from audioflow.audio.qc import FigureMeter, FileFigures
from audioflow.audio.trial import _MARGIN_DB, _bounded_step, _encoder, _Encoding, _fade_edges, _trial, measure_blocks
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


_LIMIT_CHUNK_FRAMES = 1 << 19
_LUFS_TOLERANCE_LU = 0.2
_OVERSHOOT_STEP_DB = 0.1
_TRIAL_EXCERPTS = 20  # pass 1 keeps at most this many excerpts of the programme for the trial
_TRIAL_EXCERPT_S = 3.0
_TRIAL_WHOLE_S = 60.0  # a programme up to this long is its own trial sample
_MAX_ENCODES = 3  # a programme the limiter works hard on, or a codec that overshoots, may need more than one
# A file still over the ceiling after _MAX_ENCODES gets up to this many more encodes at no higher gain,
# each with the limiter's margin grown by the overshoot (+ 0.1 dB): the ceiling comes before the target.
_PEAK_ENCODES = 2
# A shared pass 1 keeps the limiter's envelope (float32, a value per frame) of a programme up to this
# long (32 MiB: about 3 minutes at 44.1 or 48 kHz), so its masters' pass 2 need not upsample it again.
_ENVELOPE_KEEP_FRAMES = 1 << 23


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
