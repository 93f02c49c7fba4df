"""Render locks that do not pile up.

A render lock is a ``filelock`` lock (``flock`` on ``locks/<digest>.lock``). Its holder unlinks the
file just before releasing it, so ``locks/`` holds only the locks in use. That is safe because only
the holder unlinks, and filelock (>= 4.3) refuses a lock whose file was unlinked under it (it checks
the locked inode still has a name and tries again): a waiter that opened the old file re-opens the
path and queues behind whoever created the new one. Without flock (some network file systems) this
needs filelock's soft fallback, whose release already deletes the file; that fallback is turned off
and such a file system is reported as a :class:`CacheError`.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from ..errors import CacheError

__all__ = ["StepLock"]


class StepLock:
    """The inter-process lock of one digest. ``acquire`` and ``release`` may run on different
    threads (as they do under ``asyncio.to_thread``); it is not re-entrant across holders."""

    def __init__(self, path: Path, label: str):
        import filelock  # only when a step renders: a no-op run takes no lock

        self.path = path
        self._label = label
        self._lock = filelock.FileLock(str(path), thread_local=False, fallback_to_soft=False)

    def acquire(self, timeout_s: float = -1) -> None:
        """Block until held (``timeout_s`` < 0: for ever). Raises :class:`CacheError` on timeout or
        when the lock file cannot be created (a read-only cache)."""
        import filelock

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire(timeout=timeout_s)
        except filelock.Timeout as exc:
            raise CacheError(f"timed out waiting for the lock of step {self._label}") from exc
        except NotImplementedError as exc:
            raise CacheError(f"the cache's file system cannot lock files (flock): {self.path.parent}") from exc
        except OSError as exc:
            if exc.errno == errno.ENOSYS:
                raise CacheError(f"the cache's file system cannot lock files (flock): {self.path.parent}") from exc
            raise CacheError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it (without waiting); False if someone does. Raises
        :class:`CacheError` when it cannot be taken at all (a read-only cache, no flock)."""
        import filelock

        try:
            self.acquire(timeout_s=0)
        except CacheError as exc:
            if isinstance(exc.__cause__, filelock.Timeout):
                return False
            raise
        return True

    def release(self) -> None:
        """Unlink the lock file (while still held, see the module docstring), then release."""
        if self._lock.lock_counter == 1:
            with contextlib.suppress(OSError):  # a file left behind is harmless: the next holder removes it
                os.unlink(self.path)
        self._lock.release()

    def __enter__(self) -> StepLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
