"""Leases on a real S3-compatible server (SeaweedFS decides conditional writes atomically): of any
number of racers exactly one takes a lease; an expired lease is taken over by exactly one; a lease
renewed in time is never taken; the old holder's renewal fails once it was taken over."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path

import store_workers

from audioflow.cache import S3Store

DIGEST = "cd" + "1" * 62


def _race(stores: list[S3Store], digest: str) -> list[bool]:
    leases = [s.lease(digest) for s in stores]
    barrier = threading.Barrier(len(leases))
    won = [False] * len(leases)

    def one(i: int) -> None:
        barrier.wait()
        won[i] = leases[i].try_acquire()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(leases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return won


def test_of_sixteen_threads_racing_for_one_lease_exactly_one_wins(s3_url: str, tmp_path: Path) -> None:
    for round_ in range(3):
        stores = [S3Store(s3_url, mirror=tmp_path / f"m{i}") for i in range(16)]
        assert sum(_race(stores, f"{round_:02d}" + "e" * 62)) == 1


def test_of_six_processes_racing_for_one_lease_exactly_one_wins(s3_url: str, tmp_path: Path) -> None:
    env = {k: os.environ[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(6) as pool:
        start_at = time.time() + 4.0  # every child is up and has its client before the race
        won = pool.starmap(store_workers.race_for_lease, [(s3_url, DIGEST, env, start_at)] * 6)
    assert sum(won) == 1


def test_a_held_lease_is_refused_and_a_released_one_is_free(s3_url: str, tmp_path: Path) -> None:
    one, two = (S3Store(s3_url, mirror=tmp_path / f"m{i}").lease(DIGEST) for i in range(2))
    assert one.try_acquire() and not two.try_acquire()
    one.release()
    assert two.try_acquire()
    assert not one.renew()  # released: no longer ours


def test_an_expired_lease_is_taken_over_by_exactly_one_and_the_old_holder_stops(s3_url: str, tmp_path: Path) -> None:
    stores = [S3Store(s3_url, mirror=tmp_path / f"m{i}", lease_ttl_s=1.0) for i in range(9)]
    holder = stores[0].lease(DIGEST)
    assert holder.try_acquire()
    time.sleep(2.5)  # past the TTL on the server's clock (whole seconds)
    assert sum(_race(stores[1:], DIGEST)) == 1
    assert not holder.renew()


def test_a_lease_renewed_in_time_is_never_taken(s3_url: str, tmp_path: Path) -> None:
    holder = S3Store(s3_url, mirror=tmp_path / "a", lease_ttl_s=2.0).lease(DIGEST)
    other = S3Store(s3_url, mirror=tmp_path / "b", lease_ttl_s=2.0).lease(DIGEST)
    assert holder.try_acquire()
    for _ in range(4):
        time.sleep(0.8)
        assert holder.renew()
        assert not other.try_acquire()
    holder.release()
    assert other.try_acquire()


def test_a_created_lease_is_fresh_one_taken_over_is_not_and_a_released_one_is_taken_at_once(
    s3_url: str, tmp_path: Path
) -> None:
    """``fresh`` tells a holder whether a record or a journal can exist (the lease rule in
    leases.py); a released lease stays in the bucket and is taken over at once, not after its TTL."""
    one, two = (S3Store(s3_url, mirror=tmp_path / f"m{i}", lease_ttl_s=60.0).lease(DIGEST) for i in range(2))
    assert one.try_acquire() and one.fresh
    assert not two.try_acquire()
    one.release()
    assert not one.renew()  # released: no longer ours
    assert S3Store(s3_url, mirror=tmp_path / "m3").read_key(f"leases/{DIGEST}.json") is not None
    assert two.try_acquire() and not two.fresh and two.renew()
    assert not one.try_acquire()  # held again


def test_gc_sweeps_only_leases_that_guard_neither_a_record_nor_a_journal(s3_url: str, tmp_path: Path) -> None:
    """However long ago they expired: a worker that created such a lease again would look for
    neither. A released lease guarding nothing goes at once; an expired one after the grace."""
    store = S3Store(s3_url, mirror=tmp_path / "m", lease_ttl_s=1.0)
    journalled, recorded, released, expired = DIGEST, "ab" * 32, "bc" * 32, "cd" * 32
    leases = {d: store.lease(d) for d in (journalled, recorded, released, expired)}
    assert all(lease.try_acquire() for lease in leases.values())
    store.journal(journalled).save({"request_id": "r-1"})
    store.put_step(recorded, store.put_bytes(b"a take", "wav"), {})
    for digest in (journalled, recorded, released):
        leases[digest].release()
    assert [key for key, _ in store.sweep_leases(grace_s=3600)] == [f"leases/{released}.json"]
    time.sleep(2.5)  # past the TTL on the server's clock
    assert store.sweep_leases(grace_s=3600) == []  # expired, but not long ago: maybe a frozen holder
    assert [key for key, _ in store.sweep_leases(grace_s=0)] == [f"leases/{expired}.json"]
    assert store.read_key(f"leases/{journalled}.json") and store.read_key(f"leases/{recorded}.json")
