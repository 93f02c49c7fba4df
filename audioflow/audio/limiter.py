"""The look-ahead true-peak limiter, streaming: blocks in, blocks out, state carried across blocks.

No library offers a true-peak limiter (ffmpeg's ``alimiter`` limits sample peaks), so this is ours.
The 4x-oversampled peak envelope comes from :class:`~audioflow.audio.loudness.PeakDetector` (soxr),
computed once per block; the gain is a running minimum then a moving average of the wanted gain
(both ±``lookahead``), and recovers at most 6 dB per ``release_ms``. The output lags the input by
the look-ahead plus soxr's delay; :meth:`TruePeakLimiter.flush` returns the tail. Feeding a
programme in blocks of any size gives the same output (to float rounding) as feeding it whole.
"""

from __future__ import annotations

import math
import queue
import threading
from typing import Any

import numpy as np

from audioflow.audio.loudness import PeakDetector
from audioflow.errors import AudioError

__all__ = ["EnvelopeThread", "TruePeakLimiter"]

_OVERSAMPLE = 4  # BS.1770-4 Annex 2: at least 4x at 48 kHz


class TruePeakLimiter:
    """Multiply a stream by ``10^(gain_db/20)`` and keep its 4x-oversampled peaks under ``ceiling_dbtp``.

    For frame n, peak[n] is the largest envelope value of frames n-1..n+1 (the reconstructed wave
    between the neighbouring samples), wanted[n] = min(1, ceiling / peak[n]); the gain is the moving
    average over ±L of the running minimum over ±L of ``wanted`` (L = ``lookahead_ms`` / 2), so it
    falls smoothly *before* each peak and never exceeds ``wanted`` at any frame, then is
    slew-limited to recover by 6 dB per ``release_ms`` (linear in dB). Where the gain moves the
    output's true peak can still overshoot by a few hundredths of a dB: callers keep a margin.
    ``limited`` says whether the gain ever fell below 1; ``max_reduction_db`` by how much (>= 0).
    Raises ``AudioError`` for a non-finite ceiling or gain.
    """

    def __init__(
        self,
        sample_rate_hz: int,
        channels: int,
        *,
        ceiling_dbtp: float,
        gain_db: float = 0.0,
        lookahead_ms: float = 5.0,
        release_ms: float = 60.0,
    ):
        if not math.isfinite(ceiling_dbtp):
            raise AudioError(f"limiter ceiling must be a finite dBTP value, got {ceiling_dbtp!r}")
        if not math.isfinite(gain_db):
            raise AudioError(f"limiter input gain must be a finite dB value, got {gain_db!r}")
        self.channels = int(channels)
        self.gain = 10.0 ** (gain_db / 20.0)
        self.ceiling = 10.0 ** (ceiling_dbtp / 20.0)
        self.half = max(1, round(lookahead_ms * sample_rate_hz / 1000.0 / 2))
        self.context = 2 * self.half + 1  # envelope frames needed on each side of an output frame
        self.step_db = 6.0 / max(release_ms * sample_rate_hz / 1000.0, 1.0)
        self.detector = PeakDetector(sample_rate_hz, channels, _OVERSAMPLE)
        self.limited = False
        self.max_reduction_db = 0.0
        self._previous_db = 0.0
        self._x = np.zeros((0, self.channels), np.float32)  # input frames not yet output
        self._out = 0  # index of the first frame in self._x
        self._env = np.zeros(self.context, np.float32)  # envelope (x gain) from frame self._env0
        self._env0 = -self.context  # frames before the start have no peak

    def process(self, block: np.ndarray, envelope: np.ndarray | None = None) -> np.ndarray:
        """Feed ``block`` (frames × channels); return the output frames that are ready (maybe none).
        ``envelope``: what a :class:`PeakDetector` fed the same blocks returned for this one (the
        envelope does not depend on the gain: a caller limiting one signal at several gains computes
        it once); None: computed here."""
        data = np.asarray(block, dtype=np.float32)
        if data.ndim != 2 or data.shape[1] != self.channels:
            raise AudioError(f"cannot limit a {data.shape} block on a {self.channels}-channel limiter")
        self._x = np.concatenate([self._x, data]) if self._x.shape[0] else data
        self._add_envelope(self.detector.push(data) if envelope is None else envelope)
        return self._emit(self._env0 + self._env.size - self.context)

    def flush(self, envelope: np.ndarray | None = None) -> np.ndarray:
        """The remaining output frames: the stream has ended (``envelope``: the detector's flush, as
        for :meth:`process`)."""
        self._add_envelope(self.detector.flush() if envelope is None else envelope)
        self._add_envelope(np.zeros(self.context, np.float32))  # nothing after the end
        return self._emit(self._out + self._x.shape[0])

    def _add_envelope(self, envelope: np.ndarray) -> None:
        if envelope.size:
            self._env = np.concatenate([self._env, envelope * np.float32(self.gain)])

    def _emit(self, end: int) -> np.ndarray:
        """Output frames [self._out, end) and drop what no later frame needs."""
        first = self._out
        count = min(end, self._out + self._x.shape[0]) - first
        if count <= 0:
            return np.zeros((0, self.channels), np.float32)
        lo = first - self.context - self._env0  # window of envelope frames [first - context, end + context)
        window = self._env[lo : lo + count + 2 * self.context]
        gain = self._gain(window, count)
        out = self._x[:count] * gain[:, None] if gain is not None else self._x[:count] * np.float32(self.gain)
        self._x = self._x[count:]
        self._out += count
        keep = self._out - self.context - self._env0
        self._env = self._env[keep:]
        self._env0 += keep
        return out

    def _gain(self, window: np.ndarray, count: int) -> np.ndarray | None:
        """float32 gain (input gain included) for the ``count`` middle frames of ``window``; None if flat."""
        if float(window.max(initial=0.0)) <= self.ceiling:
            if self._previous_db == 0.0:
                return None
            recovery = np.minimum(self._previous_db + (np.arange(count) + 1.0) * self.step_db, 0.0)
            self._previous_db = float(recovery[-1])
            return (self.gain * 10.0 ** (recovery / 20.0)).astype(np.float32)
        from scipy import ndimage  # imported on use: scipy.ndimage costs ~0.6 s at start-up

        env = window.astype(np.float64)
        peak = env.copy()
        np.maximum(peak[1:], env[:-1], out=peak[1:])  # the interval before each frame
        np.maximum(peak[:-1], env[1:], out=peak[:-1])  # and the one after
        with np.errstate(divide="ignore"):
            wanted = np.minimum(1.0, self.ceiling / peak)
        size = 2 * self.half + 1
        hold = ndimage.minimum_filter1d(wanted, size=size, mode="constant", cval=1.0)
        smooth = ndimage.uniform_filter1d(hold, size=size, mode="constant", cval=1.0)
        middle = slice(self.context, self.context + count)
        gain = np.clip(smooth[middle], 0.0, wanted[middle])  # a running mean's rounding can dip under 0
        gain_db = _release(_to_db(gain), self._previous_db, self.step_db)
        self._previous_db = float(gain_db[-1])
        lowest = float(gain_db.min())
        if lowest < 0.0:
            self.limited = True
            self.max_reduction_db = max(self.max_reduction_db, -lowest)
        return _from_db(gain_db, self.gain)


def _to_db(gain: np.ndarray) -> np.ndarray:
    """20·log10(``gain``) (``gain`` in [0, 1]), the logarithm taken only where the gain is under 1:
    where it is 1 (most frames: the limiter acts around peaks) the result is 0 exactly, as before."""
    out = np.zeros(gain.shape, np.float64)
    below = gain < 1.0
    with np.errstate(divide="ignore"):
        out[below] = 20.0 * np.log10(gain[below])
    return out


def _from_db(gain_db: np.ndarray, scale: float) -> np.ndarray:
    """float32 ``scale`` · 10^(``gain_db``/20), the power taken only where ``gain_db`` is under 0
    (elsewhere 10^0 = 1 exactly: ``scale``)."""
    out = np.full(gain_db.shape, scale, np.float64)
    below = gain_db < 0.0
    out[below] = scale * 10.0 ** (gain_db[below] / 20.0)
    return out.astype(np.float32)


def _release(gain_db: np.ndarray, previous_db: float, step_db: float) -> np.ndarray:
    """Slew-limit gain recovery: r[n] = min(g[n], r[n-1] + step_db), vectorised via a running min.

    r[n] = min over m <= n of (g[m] + step*(n - m)) = step*n + cummin(g[m] - step*m).
    """
    frames = np.arange(gain_db.size, dtype=np.float64)
    released = frames * step_db + np.minimum.accumulate(gain_db - frames * step_db)
    released = np.minimum(released, previous_db + (frames + 1) * step_db)
    return np.minimum(released, 0.0)


class EnvelopeThread:
    """The true-peak envelope :class:`TruePeakLimiter` computes (4x, its :class:`PeakDetector`), of a
    stream fed block by block, computed in a thread of its own: soxr releases the GIL, so the
    envelope comes at once with whatever the feeding thread does (pass 1's loudness meter). The
    envelope does not depend on the gain: a limiter fed the same blocks with these envelopes
    (:meth:`TruePeakLimiter.process`) gives the same output, sample for sample. :meth:`result` is
    one array per block pushed, then the detector's flush (memory grows with the stream: callers
    keep it for short programmes only). Raises, from :meth:`result`, what the detector raised."""

    def __init__(self, sample_rate_hz: int, channels: int):
        self._detector = PeakDetector(sample_rate_hz, channels, _OVERSAMPLE)
        self._blocks: queue.Queue[Any] = queue.Queue(4)
        self._envelopes: list[np.ndarray] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="audioflow-envelope", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (block := self._blocks.get()) is not None:
            if self._error is None:
                try:
                    self._envelopes.append(self._detector.push(block))
                except BaseException as exc:  # re-raised by result(); keep draining so push() never hangs
                    self._error = exc
        if self._error is None:
            try:
                self._envelopes.append(self._detector.flush())
            except BaseException as exc:
                self._error = exc

    def push(self, block: np.ndarray) -> None:
        """Queue the next block (frames × channels, float32; not modified afterwards by the caller)."""
        self._blocks.put(block)

    def result(self) -> list[np.ndarray]:
        """End the stream and wait: the envelope of each block pushed, then the flush."""
        self.close()
        if self._error is not None:
            raise self._error
        return self._envelopes

    def close(self) -> None:
        """End the stream and wait for the thread (what it computed, or met, is left unread)."""
        if self._thread.is_alive():
            self._blocks.put(None)
            self._thread.join()
