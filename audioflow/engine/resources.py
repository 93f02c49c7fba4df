"""Checks made before a step allocates its output: will the programme fit?

A mix (or a dialogue joining its lines) knows its programme's end once its tracks are laid out,
before anything is allocated. :func:`check_programme` refuses, with a clear error, a programme
longer than the recipe cap (:data:`~audioflow.recipe.model.MAX_PROGRAMME_MS`, 24 h), or one this
machine's memory cannot hold while it is mixed and mastered: so a run says so when the mix starts
instead of failing mid-render (or writing a 12 GB WAV into the cache first).
"""

from __future__ import annotations

import psutil

from ..errors import AudioflowError
from ..recipe.limits import MAX_PROGRAMME_MS

__all__ = ["RENDER_BYTES_PER_SAMPLE", "available_memory_bytes", "check_programme"]

#: Peak memory of rendering one programme sample (one frame of one channel) through the mix and the
#: master, in bytes: the master's peak (float64 loudness copies, 4x-oversampled true peak) dominates.
#: Measured by ``benchmarks/bench_programme_memory.py``: mix 4.1, master 32.3 B per sample (slope over
#: 5 and 10 min at 44.1 kHz stereo); rounded up to 34.
RENDER_BYTES_PER_SAMPLE = 34


def available_memory_bytes() -> int:
    """The memory this machine can give without swapping, in bytes (``psutil``'s ``available``)."""
    return int(psutil.virtual_memory().available)


def _hms(ms: float) -> str:
    seconds = round(ms / 1000.0)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def check_programme(end_ms: float, sample_rate_hz: int, channels: int, *, what: str = "the programme") -> None:
    """Raise :class:`AudioflowError` when a programme ending at ``end_ms`` (ms) is over the 24 h cap,
    or needs more memory to mix and master at ``sample_rate_hz`` × ``channels`` than is available
    (:data:`RENDER_BYTES_PER_SAMPLE` per sample, against :func:`available_memory_bytes`)."""
    if end_ms > MAX_PROGRAMME_MS:
        raise AudioflowError(
            f"{what} would last {_hms(end_ms)} (h:mm:ss): audioflow renders at most "
            f"{_hms(MAX_PROGRAMME_MS)}; check the tracks' at, offset, duration and gap values"
        )
    needed = end_ms / 1000.0 * sample_rate_hz * channels * RENDER_BYTES_PER_SAMPLE
    available = available_memory_bytes()
    if needed > available:
        raise AudioflowError(
            f"{what} would last {_hms(end_ms)} (h:mm:ss): mixing and mastering it takes about "
            f"{needed / 2**30:.1f} GiB of memory and this machine has {available / 2**30:.1f} GiB available; "
            "shorten it, or lower master.sample_rate_hz or master.channels"
        )
