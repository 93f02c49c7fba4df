"""Atomic writes, and temp files a killed writer leaves behind.

Every file audioflow writes (store files, the output and its sidecars) goes to a temp file, is
flushed and fsynced, then renamed over its target (``os.replace`` is atomic on one file system): a
reader sees the whole file or none. A run killed with SIGKILL cannot remove its temp file, so the
name says whose it is: ``.<target name>.<random>.part-<host tag>-<pid>``. The next write of the same
target removes such files whose writer is dead (same host, process gone) or that are over a day
old; a live writer's temp file is never touched.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import tempfile
import time
from pathlib import Path

from ..errors import CacheError

__all__ = ["TEMP_MAX_AGE_S", "clean_stale_temps", "fsync_dir", "is_stale_temp", "write_atomic"]

#: A temp file older than this is stale whoever wrote it (no write takes a day).
TEMP_MAX_AGE_S = 24 * 3600.0

_HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TEMP_NAME = re.compile(r"\.(?P<target>.+)\.[A-Za-z0-9_]+\.part-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def is_stale_temp(path: Path, *, now_s: float | None = None) -> bool:
    """Whether ``path`` is an audioflow temp file whose writer is gone: written on this host by a
    process that no longer runs, or older than :data:`TEMP_MAX_AGE_S`."""
    match = _TEMP_NAME.fullmatch(path.name)
    if match is None:
        return False
    pid = int(match["pid"])
    if match["host"] == _HOST_TAG and pid != os.getpid() and not _pid_alive(pid):
        return True
    try:
        age_s = (now_s if now_s is not None else time.time()) - path.lstat().st_mtime
    except OSError:
        return False
    return age_s > TEMP_MAX_AGE_S


def clean_stale_temps(folder: Path, target_name: str | None = None) -> list[tuple[Path, int]]:
    """Remove stale temp files (see :func:`is_stale_temp`) in ``folder``, only those of
    ``target_name`` when given. Returns (path, size in bytes) of each file removed; a file that
    cannot be removed is left (the next write tries again)."""
    pattern = f".{_glob_escape(target_name)}.*.part-*" if target_name else ".*.part-*"
    removed = []
    try:
        candidates = sorted(folder.glob(pattern))
    except OSError:
        return []
    for path in candidates:
        if not is_stale_temp(path):
            continue
        try:
            size = path.lstat().st_size
            path.unlink()
        except OSError:
            continue
        removed.append((path, size))
    return removed


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def fsync_dir(folder: Path) -> None:
    """Flush ``folder``'s entries to disk, so that a rename or unlink in it survives a crash (a
    file's own fsync does not cover its name). Raises ``OSError``."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    target: Path, data: bytes, *, tmp_dir: Path | None = None, shared: bool = False, durable: bool = False
) -> None:
    """Write ``data`` to ``target`` so that readers see the whole file or none: a temp file in
    ``tmp_dir`` (default: ``target``'s folder, which must be on the same file system), flushed,
    fsynced, then renamed over ``target``; the temp file is removed on any failure, and stale temp
    files of the same target left by killed runs are removed first. ``shared`` gives the file the
    umask's usual permissions (mkstemp creates it 0600), for files users open; ``durable`` also
    flushes ``target``'s folder, so the rename itself survives a crash (a journal's save).
    Raises :class:`CacheError`."""
    folder = tmp_dir or target.parent
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(folder, target.name)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=f".part-{_HOST_TAG}-{os.getpid()}")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if shared:
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, target)
            if durable:
                fsync_dir(target.parent)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CacheError(f"cannot write {target}: {exc.strerror or exc}") from exc
