"""Holding a paid step's lease while its request is submitted and polled (a shared store only).

:func:`leased` takes the store's lease on a take digest (:mod:`audioflow.cache.leases`) before the
scheduler looks for a journal and submits, renews it every third of its TTL while the request is
polled, and releases it once the take is stored. A worker that finds the lease held waits: when
the holder stores the take, the waiter finds it; when the holder dies, its lease expires, the
waiter takes it over, finds the journal and resumes polling instead of paying again. When a
renewal fails the lease is no longer ours: the render is cancelled and the step fails with a
:class:`CacheError` (the journal stays for whoever holds the lease now). A local store has no
leases: :func:`leased` does nothing there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from ..cache import ArtifactStore
from ..errors import CacheError

__all__ = ["leased"]


@contextlib.asynccontextmanager
async def leased(store: ArtifactStore, digest: str, *, wait_s: float = 1.0) -> AsyncIterator[None]:
    """Hold the lease on ``digest`` for the body (see the module docstring). While someone else
    holds it, check every ``wait_s`` seconds whether the step's record appeared (then the body runs
    without a lease and finds it) or the lease can be taken. Raises :class:`CacheError` when the
    lease is lost while the body runs."""
    lease = store.lease(digest)
    if lease is None:
        yield
        return
    while not await asyncio.to_thread(lease.try_acquire):
        if await asyncio.to_thread(store.get_step, digest) is not None:
            yield
            return
        await asyncio.sleep(wait_s)
    task = asyncio.current_task()
    assert task is not None
    lost = asyncio.Event()

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease.ttl_s / 3)
            if not await asyncio.to_thread(lease.renew):
                lost.set()
                task.cancel()
                return

    renewer = asyncio.create_task(renew())
    try:
        yield
    except asyncio.CancelledError:
        if not lost.is_set():
            raise
        task.uncancel()
        raise CacheError(
            f"lost the lease on step {digest[:12]} (a renewal failed): stopped polling; its journal stays for "
            "whoever holds the lease now"
        ) from None
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        await asyncio.to_thread(lease.release)
