"""Loudness and peak meters: integrated loudness (LUFS), true peak (dBTP) and sample peak (dBFS).

Integrated loudness follows ITU-R BS.1770-4 (K-weighting, 400 ms blocks with 75 % overlap,
-70 LUFS absolute and -10 LU relative gates) as implemented by libebur128 (through ``pyebur128``),
which measures a stream block by block. True peak follows BS.1770-4 Annex 2: the signal is
upsampled 4x by a streaming soxr resampler and the largest absolute value is taken (never less
than the largest sample). Both meters are exact across block boundaries: feeding a programme in
blocks of any size gives the same figures as feeding it whole.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from audioflow.audio.types import Audio
from audioflow.errors import AudioError

__all__ = [
    "LoudnessMeter",
    "PeakDetector",
    "RmsMeter",
    "ShortTermMeter",
    "integrated_lufs",
    "sample_peak_dbfs",
    "true_peak_dbtp",
]

_GATING_BLOCK_MS = 400.0  # BS.1770-4 gating block length
_LUFS_OFFSET = 0.691  # BS.1770-4: loudness = -0.691 + 10 log10(the weighted mean square)
_TRUE_PEAK_CHUNK_S = 10.0
_SOXR_QUALITY = "HQ"  # 20-bit linear phase; the same filter for the limiter and every meter


def _amplitude_to_db(amplitude: float) -> float:
    return 20.0 * math.log10(amplitude) if amplitude > 0 else -math.inf


class LoudnessMeter:
    """Integrated loudness of a stream (ITU-R BS.1770-4 / EBU R128), fed block by block.

    Channels are weighted as BS.1770-4 says (libebur128's default map: L, R, C = 1.0; channel 4
    and 5 surrounds 1.41; channel 3 (LFE) unused). Raises ``AudioError`` for a bad rate or channel count.
    """

    def __init__(self, sample_rate_hz: int, channels: int):
        import pyebur128  # imported on use, like scipy

        if sample_rate_hz <= 0 or channels < 1:
            raise AudioError(f"cannot meter {channels} channels at {sample_rate_hz} Hz")
        self._module = pyebur128
        self._state = pyebur128.R128State(int(channels), int(sample_rate_hz), pyebur128.MeasurementMode.MODE_I)
        self.channels = int(channels)
        self.frames = 0
        self.sample_rate_hz = int(sample_rate_hz)
        self._heard = False

    def add(self, block: np.ndarray) -> None:
        """Measure ``block`` (frames × channels, any float dtype)."""
        if block.shape[0] == 0:
            return
        data = np.ascontiguousarray(block, dtype=np.float32)
        self._state.add_frames(data.reshape(-1), data.shape[0])
        self.frames += data.shape[0]
        self._heard = self._heard or bool(np.any(data))

    def lufs(self) -> float:
        """Integrated loudness so far, in LUFS; ``-math.inf`` for silence or under 400 ms of audio."""
        if not self._heard or self.frames * 1000.0 < _GATING_BLOCK_MS * self.sample_rate_hz:
            return -math.inf
        value = float(self._module.get_loudness_global(self._state))
        return value if math.isfinite(value) else -math.inf


class ShortTermMeter:
    """Short-term loudness over time (EBU R128 / EBU Tech 3341: a 3 s sliding window, in LUFS),
    read every ``hop_ms`` of a stream fed block by block (libebur128's ``MODE_S``).

    :meth:`add` returns the (time_ms, LUFS) readings completed by the block: the loudness of the
    3 s ending at time_ms (``-inf`` for silence; the first readings cover less than 3 s). Raises
    ``AudioError`` for a bad rate, channel count or hop."""

    def __init__(self, sample_rate_hz: int, channels: int, hop_ms: float = 1000.0, *, also: Any = None):
        import pyebur128

        if sample_rate_hz <= 0 or channels < 1 or not hop_ms > 0:
            raise AudioError(f"cannot meter {channels} channels at {sample_rate_hz} Hz every {hop_ms} ms")
        self._module = pyebur128
        modes = pyebur128.MeasurementMode.MODE_S | (also if also is not None else pyebur128.MeasurementMode.MODE_S)
        #: libebur128's state: ``also`` (more ``pyebur128.MeasurementMode`` flags, e.g. ``MODE_I``) lets
        #: one pass of the K-weighting filter give the integrated loudness and its range too.
        self.state = pyebur128.R128State(int(channels), int(sample_rate_hz), modes)
        self.sample_rate_hz = int(sample_rate_hz)
        self.hop_frames = max(1, round(hop_ms * sample_rate_hz / 1000.0))
        self._frames = 0
        # libebur128 sums its whole 3 s window (30 of its 100 ms) for every reading; when the window is
        # a whole number of hops, each reading is instead the mean of the last hops' energies, each hop's
        # read once over that hop alone (libebur128's loudness_window): the same sum, 1/k of the work.
        window_frames = 30 * ((self.sample_rate_hz + 5) // 10)
        hop_ms_whole = round(hop_ms)
        exact = hop_ms_whole == hop_ms and self.sample_rate_hz * hop_ms_whole // 1000 == self.hop_frames
        self._hop_ms = hop_ms_whole if exact and window_frames % self.hop_frames == 0 else 0
        self._energies: deque[float] = deque(maxlen=window_frames // self.hop_frames)

    def add(self, block: np.ndarray) -> list[tuple[float, float]]:
        """Measure ``block`` (frames × channels); the readings it completes."""
        data = np.ascontiguousarray(block, dtype=np.float32)
        readings = []
        first = 0
        while first < data.shape[0]:
            count = min(self.hop_frames - self._frames % self.hop_frames, data.shape[0] - first)
            part = data[first : first + count]
            self.state.add_frames(part.reshape(-1), count)
            self._frames += count
            first += count
            if self._frames % self.hop_frames == 0:
                value = self._reading()
                readings.append(
                    (self._frames * 1000.0 / self.sample_rate_hz, value if math.isfinite(value) else -math.inf)
                )
        return readings

    def _reading(self) -> float:
        """The short-term loudness (LUFS) of the 3 s ending now (frames before the start count as silence)."""
        if not self._hop_ms:
            return float(self._module.get_loudness_shortterm(self.state))
        hop = float(self._module.get_loudness_window(self.state, self._hop_ms))
        self._energies.append(10.0 ** ((hop + _LUFS_OFFSET) / 10.0) if math.isfinite(hop) else 0.0)
        energy = math.fsum(self._energies) / self._energies.maxlen  # type: ignore[operator]
        return 10.0 * math.log10(energy) - _LUFS_OFFSET if energy > 0.0 else -math.inf


class RmsMeter:
    """The RMS level of a stream (every sample of every channel), fed block by block."""

    def __init__(self) -> None:
        self.squares = 0.0
        self.samples = 0

    def add(self, block: np.ndarray) -> None:
        """Measure ``block`` (frames × channels)."""
        data = np.asarray(block, dtype=np.float64)
        self.squares += float(np.einsum("ij,ij->", data, data)) if data.ndim == 2 else float(np.dot(data, data))
        self.samples += data.size

    def rms_dbfs(self) -> float:
        """The level so far in dBFS (a full-scale sine is -3.01 dBFS); ``-math.inf`` for silence."""
        if not self.samples or self.squares <= 0.0:
            return -math.inf
        return 10.0 * math.log10(self.squares / self.samples)


class PeakDetector:
    """Per-frame true-peak envelope of a stream: 4x oversampled (soxr), max across channels.

    :meth:`push` takes the next block and returns the envelope of the frames it can complete
    (soxr needs some look-ahead, so the envelope lags the input by a few dozen frames);
    :meth:`flush` returns the rest. Element n is max(|x[n]|, the |upsampled x| at n, n+1/4,
    n+2/4, n+3/4) over channels: never below the sample peak. ``peak`` is the largest value so far.

    With ``refine`` (what the QC figures use) ``peak`` also takes each local maximum of the
    upsampled signal through the parabola of it and its two neighbours: 4x alone under-reads a
    full-band transient's peak by up to a few tenths of a dB (0.19 dB on white-noise bursts in an
    mp3, where 8x, 32x and ffmpeg's ebur128 at 192 kHz agree within 0.01 dB of the refined
    reading). The envelope is the same either way. With ``envelope=False`` (a meter that wants only
    ``peak``) :meth:`push` returns no values and ``peak`` is the largest of the same values, read
    without forming the per-frame maxima.
    """

    def __init__(
        self, sample_rate_hz: int, channels: int, oversample: int = 4, *, refine: bool = False, envelope: bool = True
    ):
        import soxr

        if oversample < 1 or int(oversample) != oversample:
            raise AudioError(f"oversample must be an integer >= 1, got {oversample!r}")
        self.oversample = int(oversample)
        self.channels = int(channels)
        self._stream = None
        if self.oversample > 1:
            rate = int(sample_rate_hz)
            self._stream = soxr.ResampleStream(rate, rate * self.oversample, self.channels, "float32", _SOXR_QUALITY)
        self._pending = np.zeros(0, np.float32)  # sample peaks of frames whose upsampled values are not out yet
        self._spill = np.zeros((0, self.channels), np.float32)  # upsampled values of an incomplete frame
        self.peak = 0.0
        self._refine_tail: np.ndarray | None = np.zeros((0, self.channels), np.float32) if refine else None
        self._envelope = envelope

    def push(self, block: np.ndarray, *, last: bool = False) -> np.ndarray:
        """Feed ``block`` (frames × channels); return float32 envelope values for newly complete frames."""
        data = np.ascontiguousarray(block, dtype=np.float32)
        sample = _channel_max(np.abs(data), data.shape[0], self.channels)
        if self._stream is None:
            out = sample
        else:
            self._pending = np.concatenate([self._pending, sample]) if self._pending.size else sample
            upsampled = self._stream.resample_chunk(data, last=last)
            if self._spill.shape[0]:
                upsampled = np.concatenate([self._spill, upsampled])
            done = min(upsampled.shape[0] // self.oversample, self._pending.size)
            if last:
                done = self._pending.size
                short = done * self.oversample - upsampled.shape[0]
                if short > 0:
                    upsampled = np.concatenate([upsampled, np.zeros((short, self.channels), np.float32)])
            used = done * self.oversample
            magnitudes = np.abs(upsampled[:used])
            if self._refine_tail is not None:
                self._refine(magnitudes)
            self._spill = upsampled[used:]
            if not self._envelope:  # the peak alone: the largest of the same values
                top = max(float(magnitudes.max(initial=0.0)), float(self._pending[:done].max(initial=0.0)))
                self.peak = max(self.peak, top)
                self._pending = self._pending[done:]
                return np.zeros(0, np.float32)
            envelope = _channel_max(magnitudes, done, self.channels * self.oversample)
            out = np.maximum(envelope, self._pending[:done])
            self._pending = self._pending[done:]
        if out.size:
            self.peak = max(self.peak, float(out.max()))
        return out

    def _refine(self, magnitudes: np.ndarray) -> None:
        """Raise ``peak`` to the parabolic peak of every local maximum of ``magnitudes`` (the
        upsampled signal's absolute values) that lies within 1 dB of the largest value (the
        refinement adds at most a few tenths of a dB at 4x); the last two values wait for the next
        block, so each is judged with both its neighbours. Only values over that threshold are
        looked at (a parabola through a local maximum y1 rises at most y1/8 above it: a block whose
        largest value is under peak/1.13 cannot raise ``peak`` and is skipped)."""
        assert self._refine_tail is not None
        data = np.concatenate([self._refine_tail, magnitudes]) if self._refine_tail.size else magnitudes
        self._refine_tail = data[-2:]
        if data.shape[0] < 3:
            return
        top = float(data.max())
        if 1.13 * top <= self.peak:
            return
        flat, width = data.reshape(-1), data.shape[1]  # a frame's neighbours in time lie ±width away
        at = np.flatnonzero(flat[width:-width] >= 0.89 * top) + width
        y0, y1, y2 = flat[at - width], flat[at], flat[at + width]
        found = (y1 >= y0) & (y1 >= y2)
        y0, y1, y2 = y0[found].astype(np.float64), y1[found].astype(np.float64), y2[found].astype(np.float64)
        curve = y0 - 2.0 * y1 + y2
        with np.errstate(divide="ignore", invalid="ignore"):
            vertex = np.where(curve < 0, y1 - (y0 - y2) ** 2 / (8.0 * curve), y1)
        if vertex.size:
            self.peak = max(self.peak, float(vertex.max()))

    def flush(self) -> np.ndarray:
        """The envelope of every frame not returned yet (the stream has ended)."""
        return self.push(np.zeros((0, self.channels), np.float32), last=True)

    def peak_dbtp(self) -> float:
        """The largest envelope value so far in dBTP (-inf for silence)."""
        return _amplitude_to_db(self.peak)


def _channel_max(magnitudes: np.ndarray, frames: int, width: int) -> np.ndarray:
    """Row maxima of ``magnitudes`` viewed as (frames, width): strided maxima beat ``max(axis=1)``."""
    rows = magnitudes.reshape(frames, width)
    out = rows[:, 0].copy()
    for k in range(1, width):
        np.maximum(out, rows[:, k], out=out)
    return out


def integrated_lufs(audio: Audio) -> float:
    """Integrated loudness of ``audio`` in LUFS (ITU-R BS.1770-4 / EBU R128), via libebur128.

    Channels are weighted as BS.1770-4 says for up to 5 channels (L, R, C = 1.0; Ls, Rs = 1.41):
    a full-scale 997 Hz sine in one mono channel reads -3.01 LUFS, in both channels of stereo +0.0 LUFS.
    Returns ``-math.inf`` for silence (everything gated out) and for audio shorter than one
    400 ms gating block, where the measure is undefined.
    """
    if audio.duration_ms < _GATING_BLOCK_MS or not np.any(audio.samples):
        return -math.inf
    meter = LoudnessMeter(audio.sample_rate_hz, audio.channels)
    meter.add(audio.samples)
    return meter.lufs()


def sample_peak_dbfs(audio: Audio) -> float:
    """Largest absolute sample value across channels, in dBFS (1.0 = 0 dBFS); -inf for silence."""
    if audio.frames == 0:
        return -math.inf
    return _amplitude_to_db(float(np.max(np.abs(audio.samples))))


def true_peak_dbtp(audio: Audio, *, oversample: int = 4, refine: bool = False) -> float:
    """True peak of ``audio`` in dBTP (ITU-R BS.1770-4 Annex 2), -inf for silence.

    The signal is upsampled ``oversample`` times (>= 4 per BS.1770-4 at 48 kHz; soxr, streamed
    in 10 s chunks so memory stays bounded) and the largest absolute value across channels is
    taken, never less than the sample peak (see :class:`PeakDetector`); with ``refine`` each local
    maximum near the top is read through its parabola, as the QC figures and the master's check of
    its decoded file are. Raises ``AudioError`` if ``oversample`` < 1.
    """
    detector = PeakDetector(audio.sample_rate_hz, audio.channels, oversample, refine=refine, envelope=False)
    chunk_frames = max(1, int(_TRUE_PEAK_CHUNK_S * audio.sample_rate_hz))
    for first in range(0, audio.frames, chunk_frames):
        detector.push(audio.samples[first : first + chunk_frames])
    detector.flush()
    return detector.peak_dbtp()
