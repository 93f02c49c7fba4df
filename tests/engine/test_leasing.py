"""The scheduler's hold on a lease (engine/leasing.py), with a scripted lease: wait while another
worker holds it, use the take that appears meanwhile, and stop the render when a renewal fails."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from audioflow.cache import ArtifactStore
from audioflow.engine.leasing import leased
from audioflow.errors import CacheError

DIGEST = "ef" + "2" * 62


@dataclass
class ScriptedLease:
    acquire: list[bool]
    renewals: list[bool]
    ttl_s: float = 0.3
    calls: list[str] = field(default_factory=list)
    fresh: bool = True

    def try_acquire(self) -> bool:
        self.calls.append("acquire")
        return self.acquire.pop(0)

    def renew(self) -> bool:
        self.calls.append("renew")
        return self.renewals.pop(0)

    def release(self) -> None:
        self.calls.append("release")


class LeasedStore(ArtifactStore):
    def __init__(self, root: Path, lease: ScriptedLease, record_after: int | None = None):
        super().__init__(root)
        self._lease = lease
        self.looks = 0
        self.record_after = record_after

    def lease(self, input_digest: str) -> Any:
        return self._lease

    def get_step(self, input_digest: str, *, verify: bool = False) -> Any:
        self.looks += 1
        return "record" if self.record_after is not None and self.looks >= self.record_after else None


def test_a_held_lease_is_waited_for_then_taken_renewed_and_released(tmp_path: Path) -> None:
    lease = ScriptedLease(acquire=[False, False, True], renewals=[True, True, True, True])
    store = LeasedStore(tmp_path, lease)

    async def body() -> None:
        async with leased(store, DIGEST, wait_s=0.01):
            # held until the renewer (every ttl_s / 3 = 0.1 s, in a lease thread) has renewed: a fixed
            # 0.25 s hold left only 0.15 s for that thread to run on a loaded machine
            for _ in range(3000):
                if "renew" in lease.calls:
                    break
                await asyncio.sleep(0.01)

    asyncio.run(body())
    assert lease.calls[:3] == ["acquire"] * 3 and lease.calls[-1] == "release"
    assert "renew" in lease.calls


def test_a_take_stored_by_the_holder_meanwhile_ends_the_wait_without_a_lease(tmp_path: Path) -> None:
    lease = ScriptedLease(acquire=[False, False, False], renewals=[])
    store = LeasedStore(tmp_path, lease, record_after=2)
    ran = []

    async def body() -> None:
        async with leased(store, DIGEST, wait_s=0.01):
            ran.append(True)

    asyncio.run(body())
    assert ran == [True] and lease.calls == ["acquire", "acquire"]


def test_a_failed_renewal_stops_the_render_with_a_cache_error(tmp_path: Path) -> None:
    lease = ScriptedLease(acquire=[True], renewals=[True, False])
    store = LeasedStore(tmp_path, lease)
    polled = []

    async def body() -> None:
        async with leased(store, DIGEST):
            for _ in range(100):
                polled.append(1)
                await asyncio.sleep(0.02)

    with pytest.raises(CacheError, match="lost the lease"):
        asyncio.run(body())
    assert 5 < len(polled) < 100  # stopped after the second renewal (~0.2 s), not at the end
    assert lease.calls == ["acquire", "renew", "renew", "release"]


def test_a_holder_whose_lease_ran_out_while_it_was_frozen_does_not_submit(s3_url: str, tmp_path: Path) -> None:
    """The starved-holder window: a holder frozen past its TTL (no renewal ran) while another machine
    took the lease over must not submit when it wakes; :meth:`Held.confirm` finds the lease lost."""
    import time

    from audioflow.cache import S3Store

    here = S3Store(s3_url, mirror=tmp_path / "here", lease_ttl_s=1.0)
    there = S3Store(s3_url, mirror=tmp_path / "there", lease_ttl_s=1.0).lease(DIGEST)
    submitted: list[str] = []

    async def holder() -> None:
        async with leased(here, DIGEST) as held:
            await held.confirm()  # just taken: nothing to check
            time.sleep(2.5)  # frozen (the event loop too): past the TTL on the server's clock
            assert there.try_acquire()  # another machine takes the expired lease over
            await held.confirm()
            submitted.append("paid")

    with pytest.raises(CacheError, match="lost the lease on step ef2222222222 before submitting"):
        asyncio.run(holder())
    assert submitted == [] and there.renew()  # the new holder's lease is untouched


def test_confirm_renews_only_when_the_last_renewal_is_older_than_a_third_of_the_ttl(tmp_path: Path) -> None:
    lease = ScriptedLease([True], [True, True, True, True], ttl_s=3.0)

    async def main() -> None:
        async with leased(LeasedStore(tmp_path, lease), DIGEST) as held:
            await held.confirm()
            assert lease.calls == ["acquire"]
            held.confirmed_at -= 1.5  # as if the renewer had fallen behind
            await held.confirm()
            assert lease.calls == ["acquire", "renew"]

    asyncio.run(main())


def test_a_holder_that_created_the_lease_reads_no_journal_and_one_that_took_it_over_resumes(
    s3_url: str, tmp_path: Path
) -> None:
    """The lease rule: journals and take records live only under their lease object, which holders
    never delete. A holder whose request failed after its journal was saved releases its lease (a
    TTL of 0); the next taker takes it over at once and finds the journal. A holder that created
    the lease reads no journal (nor record), even one left there against the rule."""
    import time

    from audioflow.cache import S3Store

    stores = [S3Store(s3_url, mirror=tmp_path / f"m{i}", lease_ttl_s=30.0) for i in range(3)]
    found: list[Any] = []

    async def fails_after_journalling() -> None:
        async with leased(stores[0], DIGEST) as held:
            assert held.fresh and held.journal.load() is None
            await asyncio.to_thread(held.journal.save, {"request_id": "r-1"})
            raise RuntimeError("the poll failed")

    async def resumes() -> None:
        async with leased(stores[1], DIGEST, wait_s=0.2) as held:
            assert held.lease is not None and not held.fresh  # taken over: it may guard a journal
            found.append(await asyncio.to_thread(held.journal.load))
            await asyncio.to_thread(held.journal.clear)

    with pytest.raises(RuntimeError):
        asyncio.run(fails_after_journalling())
    lease_key = f"leases/{DIGEST}.json"
    assert stores[2].read_key(lease_key) is not None  # released, not deleted: it guards r-1
    begin = time.monotonic()
    asyncio.run(resumes())
    # not the 30 s TTL; a few S3 round trips, which a loaded 2-core machine can stretch to seconds
    assert found == [{"request_id": "r-1"}] and time.monotonic() - begin < 20
    assert stores[2].read_key(lease_key) is not None and stores[2].journal(DIGEST).load() is None
    # Against the rule (by hand): the lease object gone, a journal left. A creator does not read it.
    stores[2].remove_key(lease_key)
    stores[2].journal(DIGEST).save({"request_id": "stray"})

    async def creates() -> None:
        async with leased(stores[2], DIGEST) as held:
            assert held.fresh
            found.append(held.journal.load())

    asyncio.run(creates())
    assert found[-1] is None
