"""Holding a paid step's lease while its request is submitted and polled (a shared store only).

:func:`leased` takes the store's lease on a take digest (:mod:`audioflow.cache.leases`) before the
scheduler looks for a journal and submits, renews it every third of its TTL while the request is
polled, and releases it once the take is stored. A worker that finds the lease held waits: when
the holder stores the take, the waiter finds it; when the holder dies, its lease expires, the
waiter takes it over, finds the journal and resumes polling instead of paying again. When a
renewal fails the lease is no longer ours: the render is cancelled and the step fails with a
:class:`CacheError` (the journal stays for whoever holds the lease now). A local store has no
leases: :func:`leased` does nothing there.

Lease calls run in threads of their own, so a renewal never queues behind the store's downloads in
the event loop's default pool (a holder alive but starved of renewals would lose its lease). And
right before a paid submission the holder calls :meth:`Held.confirm`: unless a renewal succeeded
within the last third of the TTL, it renews first and submits only if that succeeds, so a holder
whose lease ran out while it waited (for a provider slot, for a thread) does not submit beside the
worker that took it over.

The body journals its request in :attr:`Held.journal`. A holder that created the lease knows there
is neither a record of the take nor a journal (the lease rule of :mod:`audioflow.cache.leases`),
so it reads neither (:attr:`Held.fresh`); one that took a lease over reads both. Released, a lease
stays in the bucket with a TTL of 0, free at once for the next taker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from ..cache import ArtifactStore
from ..cache.leases import Lease
from ..errors import CacheError

if TYPE_CHECKING:
    from ..providers import Journal

__all__ = ["Held", "leased"]

T = TypeVar("T")
#: Threads for lease calls only (take, renew, release): never queued behind other store calls.
_LEASE_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="audioflow-lease")


async def _call(call: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(_LEASE_THREADS, call)


class Held:
    """The lease a :func:`leased` body holds (``lease`` None: no lease is needed, a local store or a
    take found meanwhile), and ``journal``, the journal of the request it guards (under a lease
    its holder created, one that knows there is none). ``confirmed_at`` is when the last successful put of it was sent
    (``time.monotonic``): the lease lasts at least its TTL from then, by the server's clock."""

    def __init__(self, lease: Lease | None, digest: str, journal: Journal):
        self.lease, self.digest, self.journal = lease, digest, journal
        self.confirmed_at = time.monotonic()
        self.lock = asyncio.Lock()  # one put at a time: the renewer's and confirm's

    @property
    def fresh(self) -> bool:
        """Whether this holder created the lease: then the take has no record and its request no
        journal (the lease rule of :mod:`audioflow.cache.leases`), and neither is looked up."""
        return self.lease is not None and self.lease.fresh

    async def renew(self) -> bool:
        """Renew now (see :meth:`Lease.renew`); False when the lease is no longer ours."""
        assert self.lease is not None
        async with self.lock:
            sent = time.monotonic()
            if not await _call(self.lease.renew):
                return False
            self.confirmed_at = sent
            return True

    async def confirm(self) -> None:
        """Call right before a paid submission: returns when the lease is surely still ours (a put
        of it succeeded within the last third of its TTL, or one does now). Raises
        :class:`CacheError` when it was lost (taken over after it expired): do not submit."""
        if self.lease is None or time.monotonic() - self.confirmed_at < self.lease.ttl_s / 3:
            return
        if not await self.renew():
            raise CacheError(
                f"lost the lease on step {self.digest[:12]} before submitting (it expired while "
                "this worker waited): not submitted; whoever holds it now renders the step"
            )


@contextlib.asynccontextmanager
async def leased(store: ArtifactStore, digest: str, *, wait_s: float = 1.0) -> AsyncIterator[Held]:
    """Hold the lease on ``digest`` for the body, which gets its :class:`Held` (see the module
    docstring). While someone else holds it, check every ``wait_s`` seconds whether the step's
    record appeared (then the body runs without a lease and finds it) or the lease can be taken.
    Raises :class:`CacheError` when the lease is lost while the body runs."""
    lease = store.lease(digest)
    if lease is None:
        yield Held(None, digest, store.journal(digest))
        return
    while True:
        taking = time.monotonic()
        if await _call(lease.try_acquire):
            break
        if await asyncio.to_thread(store.get_step, digest) is not None:
            yield Held(None, digest, store.journal(digest))
            return
        await asyncio.sleep(wait_s)
    held = Held(lease, digest, store.journal(digest, absent=lease.fresh))
    held.confirmed_at = taking
    task = asyncio.current_task()
    assert task is not None
    lost = asyncio.Event()

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease.ttl_s / 3)
            if not await held.renew():
                lost.set()
                task.cancel()
                return

    renewer = asyncio.create_task(renew())
    try:
        yield held
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
        await _call(lease.release)
