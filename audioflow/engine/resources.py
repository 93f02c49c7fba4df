"""Checks made before a step writes its output: will the programme fit?

A mix (or a dialogue joining its lines) knows its programme's end once its tracks are laid out,
before anything is written. :func:`check_programme` refuses, with a clear error, a programme
longer than the recipe cap (:data:`~audioflow.recipe.model.MAX_PROGRAMME_MS`, 24 h), or one whose
float32 WAV (and the master made from it) the cache's disk cannot hold: so a run says so when the
mix starts instead of failing mid-render. Memory is no limit: the dialogue, mix and master steps
stream in blocks (``audio.MixStream``, ``audio.master_to_file``), whatever the programme's length.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import AudioflowError
from ..recipe.limits import MAX_PROGRAMME_MS

__all__ = [
    "DECODE_BYTES_PER_SAMPLE",
    "DISK_BYTES_PER_SAMPLE",
    "available_disk_bytes",
    "available_memory_bytes",
    "check_programme",
    "hms_text",
    "size_text",
]

#: Disk a programme sample (one frame of one channel) takes in the cache: 4 bytes of float32 WAV for
#: the mix (or dialogue), and at most as much again for the master made from it (24-bit WAV: 3).
DISK_BYTES_PER_SAMPLE = 8


#: Memory one sample (a frame of one channel) of a decoded input takes at the decode's peak: float32
#: held twice (ffmpeg's WAV read back, then the array kept). Measured: a 1 h 48 kHz stereo FLAC
#: peaked at 2.8 GB of RSS.
DECODE_BYTES_PER_SAMPLE = 8


def available_memory_bytes() -> int:
    """Memory a process may still take without swapping, in bytes (``psutil``'s ``available``)."""
    import psutil  # here: start-up imports no psutil

    return int(psutil.virtual_memory().available)


def available_disk_bytes(folder: Path) -> int:
    """Free space on the file system holding ``folder``, in bytes (what a non-root user may write)."""
    return int(shutil.disk_usage(folder).free)


def hms_text(ms: float) -> str:
    """``ms`` as h:mm:ss."""
    seconds = round(ms / 1000.0)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def size_text(n_bytes: float) -> str:
    """``n_bytes`` in GiB from 1 GiB up, else in MiB (a nearly full disk is not "0.0 GiB")."""
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.1f} MiB"


def check_programme(
    end_ms: float,
    sample_rate_hz: int,
    channels: int,
    *,
    what: str = "the programme",
    space_at: Path | None = None,
) -> None:
    """Raise :class:`AudioflowError` when a programme ending at ``end_ms`` (ms) is over the 24 h cap,
    or, with ``space_at`` (the folder the output is written in), needs more disk at
    ``sample_rate_hz`` × ``channels`` than is free there (:data:`DISK_BYTES_PER_SAMPLE` per sample)."""
    if end_ms > MAX_PROGRAMME_MS:
        raise AudioflowError(
            f"{what} would last {hms_text(end_ms)} (h:mm:ss): audioflow renders at most "
            f"{hms_text(MAX_PROGRAMME_MS)}; check the tracks' at, offset, duration and gap values"
        )
    if space_at is None:
        return
    needed = end_ms / 1000.0 * sample_rate_hz * channels * DISK_BYTES_PER_SAMPLE
    available = available_disk_bytes(space_at)
    if needed > available:
        raise AudioflowError(
            f"{what} would last {hms_text(end_ms)} (h:mm:ss): its WAV and master take about "
            f"{size_text(needed)} in the cache and {size_text(available)} is free there; "
            "shorten it, free some space (audioflow cache gc), or lower master.sample_rate_hz or master.channels"
        )
