"""The scheduler's store calls never block its event loop: on a Dask worker that loop also carries
the worker's heartbeats and the renewals of leases and semaphores, and an S3 round trip is slow."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from conftest import BASIC_RECIPE, FakeProvider, write_recipe_file

from audioflow.cache import ArtifactStore, StepRecord
from audioflow.engine import Plan, arun_plan, open_project

STORE_CALL_S = 0.5


class SlowStore(ArtifactStore):
    """A local store whose record reads and writes take as long as a slow bucket's."""

    remote = True

    def get_step(self, input_digest: str, *, verify: bool = False) -> StepRecord | None:
        time.sleep(STORE_CALL_S)
        return super().get_step(input_digest, verify=verify)

    def put_step(self, input_digest: str, artifact: Any, meta: dict[str, Any]) -> StepRecord:
        time.sleep(STORE_CALL_S)
        return super().put_step(input_digest, artifact, meta)


async def _run_with_ticker(plan: Plan, store: ArtifactStore, providers: dict[str, Any]) -> tuple[float, bool]:
    """Run ``plan`` while a ticker in the same loop measures the longest gap between its ticks."""
    worst_s, done = 0.0, False

    async def tick() -> None:
        nonlocal worst_s
        last = time.monotonic()
        while not done:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            worst_s, last = max(worst_s, now - last), now

    ticker = asyncio.create_task(tick())
    result = await arun_plan(plan, store, providers, jobs=2)
    done = True
    await ticker
    return worst_s, result.ok


def test_slow_store_calls_leave_the_event_loop_free(tmp_path: Path) -> None:
    path = write_recipe_file(tmp_path, BASIC_RECIPE)
    fake = FakeProvider(duration_ms=200)
    project = open_project(path, providers={"local": fake}, cache_dir=tmp_path / "cache")
    plan = project.plan()
    plan = Plan(plan.graph, {k: v for k, v in plan.steps.items() if k != "master"})  # mastering is slow
    store = SlowStore(tmp_path / "cache")
    worst_s, ok = asyncio.run(_run_with_ticker(plan, store, {"local": fake}))
    assert ok
    assert worst_s < STORE_CALL_S * 0.7, f"the event loop stalled for {worst_s:.2f} s"


def test_a_step_waiting_for_a_held_file_lock_holds_no_thread(tmp_path: Path) -> None:
    """A Dask worker's steps share its loop's default pool (6 threads on 2 cores): a step waiting for
    a lock another worker holds must not sit in one of them, or that worker's own store calls (its
    renewals, its lookups) queue behind the waiters and two workers wait on each other for ever."""
    from concurrent.futures import ThreadPoolExecutor

    from audioflow.engine.budget import Budget
    from audioflow.engine.scheduler import _Run

    store = ArtifactStore(tmp_path / "cache")
    held = store.file_lock("a" * 64)  # another process's holder: flock excludes every other open file
    held.acquire()
    run = _Run({}, store, {}, {}, lambda e: None, lambda: False, Budget(), {})

    async def main() -> tuple[int, float]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(1))
        entered = asyncio.Event()

        async def waiter() -> None:
            async with run.locked("a" * 64):
                entered.set()

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0.1)
        try:
            answer = await asyncio.wait_for(asyncio.to_thread(lambda: 42), 5)  # the one thread is free
            assert not entered.is_set()
        finally:
            held.release()
        start = time.monotonic()
        await asyncio.wait_for(task, 5)
        return answer, time.monotonic() - start

    answer, waited_s = asyncio.run(main())
    assert answer == 42 and waited_s < 1
