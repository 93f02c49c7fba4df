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
            await asyncio.sleep(0.25)

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
