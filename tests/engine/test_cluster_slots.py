"""A worker's request slots (audioflow.engine.cluster_slots.Slots) in front of a cluster semaphore:
never more held than the semaphore grants, a lease handed on between the worker's own steps
without a round trip, none lost when a waiting step is cancelled or the scheduler fails."""

from __future__ import annotations

import asyncio

import pytest

from audioflow.engine.cluster_slots import Slots


class _Scheduler:
    """A stand-in for ``distributed.Semaphore``: ``limit`` leases, each call counted, the most held."""

    def __init__(self, limit: int, fail: BaseException | None = None):
        self.gate = asyncio.Semaphore(limit)
        self.fail = fail
        self.acquires = self.releases = self.held = self.most = 0

    async def acquire(self) -> bool:
        await asyncio.sleep(0.001)  # a round trip
        if self.fail is not None:
            raise self.fail
        await self.gate.acquire()
        self.acquires += 1
        self.held += 1
        self.most = max(self.most, self.held)
        return True

    async def release(self) -> None:
        await asyncio.sleep(0.001)
        self.held -= 1
        self.releases += 1
        self.gate.release()


def test_steps_never_hold_more_than_the_limit_and_hand_leases_on_without_asking_again() -> None:
    async def main() -> tuple[_Scheduler, int, int]:
        scheduler = _Scheduler(3)
        slots = Slots(scheduler)
        inside = most = 0

        async def step() -> None:
            nonlocal inside, most
            async with slots:
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.005)
                inside -= 1

        await asyncio.gather(*(step() for _ in range(30)))
        await asyncio.sleep(0.05)  # leases asked for steps served meanwhile come back
        return scheduler, most, slots.handed_on

    scheduler, most, handed_on = asyncio.run(main())
    assert most == 3 and scheduler.most == 3
    assert scheduler.held == 0 and scheduler.acquires == scheduler.releases
    assert handed_on == 30 - 3  # every step after the first three took a lease a step before it handed on


def test_a_waiting_step_cancelled_leaves_no_lease_behind() -> None:
    async def main() -> _Scheduler:
        scheduler = _Scheduler(1)
        slots = Slots(scheduler)
        release = asyncio.Event()

        async def holder() -> None:
            async with slots:
                await release.wait()

        first = asyncio.ensure_future(holder())
        await asyncio.sleep(0.01)
        waiting = [asyncio.ensure_future(holder()) for _ in range(3)]
        await asyncio.sleep(0.01)
        waiting[0].cancel()
        waiting[1].cancel()
        release.set()
        await first
        for task in waiting:
            with pytest.raises(asyncio.CancelledError) if task.cancelled() else _nothing():
                await task
        await asyncio.sleep(0.05)
        async with slots:  # still usable: the lease came back
            pass
        await asyncio.sleep(0.05)
        return scheduler

    scheduler = asyncio.run(main())
    assert scheduler.held == 0 and scheduler.acquires == scheduler.releases


def test_a_step_hears_when_the_scheduler_cannot_grant_a_lease() -> None:
    async def main() -> None:
        slots = Slots(_Scheduler(2, fail=OSError("scheduler gone")))
        async with slots:
            pass

    with pytest.raises(OSError, match="scheduler gone"):
        asyncio.run(main())


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
