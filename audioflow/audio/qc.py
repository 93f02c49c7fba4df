"""What a delivered file measures, decoded: the figures of a QC report.

:func:`measure_file` decodes a file (streamed, at its own rate and channels) and measures, in one
pass: integrated loudness and loudness range (ITU-R BS.1770-4 / EBU Tech 3342, libebur128 through
``pyebur128``), true peak (4x oversampled, :class:`~audioflow.audio.loudness.PeakDetector`), sample
peak, RMS level and noise floor (dBFS).

The noise floor is measured as ACX Check measures it: the file is cut into consecutive 500 ms
windows (a shorter last window is left out, unless it is the whole file), each window's RMS is
taken over every sample of every channel, and the floor is the RMS of the quietest window. A file
with a window of digital silence has a floor of ``-inf`` (reported as none).

The room tone at the head and the tail (ACX: 0.5–1 s before the first word, 1–5 s after the last)
is measured in consecutive 10 ms windows: the head is how long the file stays at or under
``ROOM_TONE_MAX_DBFS`` RMS from its start, the tail how long it stays there up to its end (a
shorter last window counts with the tail). -50 dBFS lies between what ACX allows room tone (a
floor of -60 dBFS) and speech mastered to ACX's -23…-18 dBFS RMS.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from audioflow.audio.figures import FIGURE_LEVELS, FileFigures, Overview
from audioflow.audio.io import probe_file
from audioflow.audio.loudness import PeakDetector, RmsMeter, ShortTermMeter
from audioflow.audio.overview import EnvelopeMeter, make_overview, overview_sizes
from audioflow.audio.pipes import decode_blocks
from audioflow.errors import AudioError

__all__ = [
    "FIGURE_LEVELS",
    "NOISE_WINDOW_MS",
    "ROOM_TONE_MAX_DBFS",
    "ROOM_TONE_WINDOW_MS",
    "FigureMeter",
    "FileFigures",
    "measure_file",
]

#: The window the noise floor is measured in (ms), as ACX Check does.
NOISE_WINDOW_MS = 500.0
#: The windows (ms) and the level (dBFS RMS) at or under which the head and tail count as room tone.
ROOM_TONE_WINDOW_MS = 10.0
ROOM_TONE_MAX_DBFS = -50.0
_BLOCK_FRAMES = 1 << 16


class _RoomTone:
    """How many frames from the start, and up to the end, stay at or under ``ROOM_TONE_MAX_DBFS``
    in windows of ``window_frames``, fed block by block."""

    def __init__(self, window_frames: int, channels: int):
        self.window = max(1, window_frames)
        self.carry = np.zeros((0, channels), np.float64)
        self.limit = 10.0 ** (ROOM_TONE_MAX_DBFS / 10.0)  # a mean square
        self.head = 0  # frames, while ``heard`` is False
        self.tail = 0  # frames of the quiet run that reaches the latest window
        self.heard = False

    def add(self, block: np.ndarray) -> None:
        data = np.concatenate([self.carry, block.astype(np.float64)])
        full = data.shape[0] // self.window * self.window
        if full:
            quiet = np.mean(data[:full].reshape(-1, self.window * data.shape[1]) ** 2, axis=1) <= self.limit
            self._count(quiet)
        self.carry = data[full:]

    def _count(self, quiet: np.ndarray) -> None:
        loud = np.flatnonzero(~quiet)
        if loud.size == 0:
            self.tail += quiet.size * self.window
            if not self.heard:
                self.head += quiet.size * self.window
            return
        if not self.heard:
            self.head += int(loud[0]) * self.window
            self.heard = True
        self.tail = (quiet.size - 1 - int(loud[-1])) * self.window

    def result(self) -> tuple[int, int]:
        """(head, tail) in frames; the last, shorter window is judged too."""
        if self.carry.shape[0]:
            quiet = float(np.mean(self.carry**2)) <= self.limit
            window, self.window = self.window, self.carry.shape[0]
            self._count(np.array([quiet]))
            self.window, self.carry = window, self.carry[:0]
        return self.head, self.tail


class _NoiseFloor:
    """The quietest window's mean square, fed block by block."""

    def __init__(self, window_frames: int, channels: int):
        self.window = window_frames
        self.carry = np.zeros((0, channels), np.float64)
        self.quietest = math.inf
        self.whole = RmsMeter()

    def add(self, block: np.ndarray) -> None:
        self.whole.add(block)
        data = np.concatenate([self.carry, block.astype(np.float64)])
        full = data.shape[0] // self.window * self.window
        if full:
            windows = data[:full].reshape(-1, self.window * data.shape[1])
            self.quietest = min(self.quietest, float(np.min(np.mean(windows * windows, axis=1))))
        self.carry = data[full:]

    def floor_dbfs(self) -> float:
        if math.isinf(self.quietest):  # shorter than one window: the whole file is the window
            return self.whole.rms_dbfs()
        return 10.0 * math.log10(self.quietest) if self.quietest > 0 else -math.inf


class FigureMeter:
    """Every figure of :class:`FileFigures` for a stream at ``sample_rate_hz`` × ``channels``, fed
    block by block in one pass (what :func:`measure_file` and the master's check of its decoded file use).

    With ``overview_ms`` (the stream's expected length, ms) it also measures the stream's
    :class:`~audioflow.audio.figures.Overview` (:meth:`overview`): the short-term loudness read
    from the same libebur128 state, the envelope binned for about ``OVERVIEW_POINTS`` bins."""

    def __init__(self, sample_rate_hz: int, channels: int, *, overview_ms: float | None = None):
        import pyebur128

        self._module = pyebur128
        modes = pyebur128.MeasurementMode
        self.rate, self.channels = int(sample_rate_hz), int(channels)
        self._short: ShortTermMeter | None = None
        self._envelope: EnvelopeMeter | None = None
        self._readings: list[tuple[float, float]] = []
        if overview_ms is None:
            self._state = pyebur128.R128State(self.channels, self.rate, modes.MODE_I | modes.MODE_LRA)
        else:
            bin_frames, hop_ms = overview_sizes(overview_ms, self.rate)
            self._envelope = EnvelopeMeter(bin_frames)
            self._short = ShortTermMeter(self.rate, self.channels, hop_ms, also=modes.MODE_I | modes.MODE_LRA)
            self._state = self._short.state
        self._peaks = PeakDetector(self.rate, self.channels, refine=True, envelope=False)
        self._floor = _NoiseFloor(round(NOISE_WINDOW_MS * self.rate / 1000.0), self.channels)
        self._room = _RoomTone(round(ROOM_TONE_WINDOW_MS * self.rate / 1000.0), self.channels)
        self._sample_peak, self.frames = 0.0, 0

    def add(self, block: np.ndarray) -> None:
        """Measure ``block`` (frames × channels)."""
        if block.shape[0] == 0:
            return
        data = np.ascontiguousarray(block, dtype=np.float32)
        if self._short is not None and self._envelope is not None:
            self._readings += self._short.add(data)
            self._envelope.add(data)
        else:
            self._state.add_frames(data.reshape(-1), data.shape[0])
        self._peaks.push(data)
        self._floor.add(data)
        self._room.add(data)
        self._sample_peak = max(self._sample_peak, float(np.max(np.abs(data))))
        self.frames += data.shape[0]

    def figures(self) -> FileFigures:
        """The figures of everything added (call once: it ends the true-peak stream); loudness is
        ``-inf`` and its range 0 for silence or under 400 ms of audio."""
        self._peaks.flush()
        lufs, lra = -math.inf, 0.0
        if self.frames * 1000.0 >= 400.0 * self.rate and self._sample_peak > 0:
            lufs = float(self._module.get_loudness_global(self._state))
            lra = float(self._module.get_loudness_range(self._state))
        head, tail = self._room.result()
        return FileFigures(
            self.rate,
            self.channels,
            self.frames,
            lufs if math.isfinite(lufs) else -math.inf,
            lra if math.isfinite(lra) else 0.0,
            self._peaks.peak_dbtp(),
            20.0 * math.log10(self._sample_peak) if self._sample_peak > 0 else -math.inf,
            self._floor.whole.rms_dbfs(),
            self._floor.floor_dbfs(),
            room_tone_head_ms=head * 1000.0 / self.rate,
            room_tone_tail_ms=tail * 1000.0 / self.rate,
        )

    def overview(self) -> Overview | None:
        """The stream's overview (None without ``overview_ms``)."""
        if self._short is None or self._envelope is None:
            return None
        return make_overview(self._envelope, self._readings, self.rate, self._short.hop_frames)


def measure_file(path: Path) -> FileFigures:
    """Decode ``path`` (streamed, at its own rate and channel count) and measure it (see the module).
    Raises ``AudioError`` when the file cannot be read or holds less than 400 ms of audio."""
    info = probe_file(Path(path))
    rate, channels = info.sample_rate_hz, info.channels
    if not rate or not channels:
        raise AudioError(f"cannot measure {Path(path).name}: its rate or channels are unknown")
    meter = FigureMeter(rate, channels)
    for block in decode_blocks(Path(path), sample_rate_hz=rate, channels=channels, block_frames=_BLOCK_FRAMES):
        meter.add(block)
    if meter.frames * 1000.0 < 400.0 * rate:
        raise AudioError(f"cannot measure {Path(path).name}: it holds less than 400 ms of audio")
    return meter.figures()
