"""A provider's cluster-wide request slots as one Dask worker uses them.

The slots themselves are a ``distributed.Semaphore`` on the scheduler (``max_leases`` = the
provider's limit), so the requests in flight across the cluster never pass the limit. Taking and
giving back a lease is a round trip to the scheduler each, and between one request's end and the
next one's submission both trips lie on the way: measured at the benchmark's fake host, ~0.3 s of
idle slot per request on a loaded 2-core machine, against 2 s at the host. So a worker hands a
lease it holds straight to the next of its own steps waiting for one, and gives it back to the
scheduler only when none of them waits: a lease is still held by one request at a time, and the
scheduler still counts every lease held (and releases those of a worker that died, after its lease
timeout, as before).
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

__all__ = ["Slots"]


class Slots:
    """An async context manager: one request slot of ``semaphore`` (a ``distributed.Semaphore``)
    for the body, taken from another of this worker's steps that just ended with one when it can,
    otherwise from the scheduler. Use one object per semaphore per worker, on one event loop."""

    def __init__(self, semaphore: Any):
        self.semaphore = semaphore
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.asking = 0  # leases asked of the scheduler and not yet granted
        self.handed_on = 0  # leases that went from one step straight to the next, not via the scheduler
        self._asks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        if self.asking < len(self.waiters):  # one lease asked for each step waiting, at most
            self.asking += 1
            ask = asyncio.ensure_future(self._ask())
            self._asks.add(ask)
            ask.add_done_callback(self._asks.discard)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a lease as it was cancelled: pass it on
                await self._hand_on()
            elif waiter in self.waiters:
                self.waiters.remove(waiter)
            raise

    async def __aexit__(self, *exc: object) -> None:
        if await self._hand_on():
            self.handed_on += 1

    async def _ask(self) -> None:
        """Ask the scheduler for a lease; once granted, it goes to the first step waiting."""
        try:
            await self.semaphore.acquire()
        except BaseException as error:  # the scheduler is gone: a step waiting hears why
            self.asking -= 1
            while self.waiters:
                waiter = self.waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(error if isinstance(error, Exception) else RuntimeError(str(error)))
                    break
            if not isinstance(error, Exception):
                raise
            return
        self.asking -= 1
        await self._hand_on()

    async def _hand_on(self) -> bool:
        """Give a lease this worker holds to the first step waiting (True), or back to the scheduler."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return True
        await self.semaphore.release()
        return False
