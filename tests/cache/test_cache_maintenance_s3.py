"""verify and gc on a bucket (SeaweedFS started by the tests, 127.0.0.1): the local store's semantics,
with damage set aside under the bucket's quarantine/, journals and live leases never touched, and the
expired leases of dead holders swept."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from audioflow.cache import S3Store, collect_garbage, record_key, verify_store
from audioflow.errors import CacheError

D = {name: name[0] * 64 for name in ("aa", "bb", "cc", "dd", "ee")}  # input digests by name


def _put(store: S3Store, digest: str, data: bytes, **meta: object) -> str:
    artifact = store.put_bytes(data, "wav")
    store.put_step(digest, artifact, dict(meta))
    return f"objects/{artifact.digest[:2]}/{artifact.digest}.wav"


@pytest.fixture
def bucket(s3_url: str, tmp_path: Path) -> S3Store:
    return S3Store(s3_url, mirror=tmp_path / "mirror")


def test_verify_a_bucket_hashes_every_object_and_repair_sets_damage_aside_in_the_bucket(
    bucket: S3Store, tmp_path: Path
) -> None:
    obj = _put(bucket, D["aa"], b"one" * 10)
    _put(bucket, D["bb"], b"two" * 10)
    bucket.journal("f" * 64).save({"request_id": "req-1"})
    bucket.write_state("/r.yaml", {"steps": {"x": {"input_digest": D["aa"]}}})
    report = verify_store(bucket)
    assert report.findings == []
    assert (report.objects, report.object_bytes, report.records, report.journals, report.states) == (2, 60, 2, 1, 1)

    bucket.write_key(obj, b"ONE" * 10)  # same size, other bytes: only a hash finds it
    bucket.write_key(f"jobs/{'e' * 64}.json", b"{trunc")
    checker = S3Store(bucket.url, mirror=tmp_path / "other")  # another machine: nothing in its mirror
    found = verify_store(checker)
    assert [(f.key, f.set_aside) for f in found.findings] == [
        (obj, None),
        (record_key(D["aa"]), None),
        (f"jobs/{'e' * 64}.json", None),
    ]
    assert checker.read_key(obj) == b"ONE" * 10  # reported only
    repaired = verify_store(checker, repair=True)
    assert [f.set_aside is not None for f in repaired.findings] == [True, True, False]  # the journal stays
    assert repaired.findings[0].set_aside.startswith("quarantine/")  # type: ignore[union-attr]
    assert checker.read_key(repaired.findings[0].set_aside) == b"ONE" * 10  # type: ignore[arg-type]
    assert checker.read_key(obj) is None and checker.read_key(record_key(D["aa"])) is None
    assert checker.read_key(f"jobs/{'e' * 64}.json") == b"{trunc"
    assert [f.key for f in verify_store(checker).findings] == [f"jobs/{'e' * 64}.json"]
    assert checker.get_step(D["bb"]) is not None


def _season(store: S3Store) -> dict[str, str]:
    """A recipe state whose step aa was finished from the paid take bb; cc and dd are in no state."""
    objects = {
        "up": _put(store, D["ee"], b"upstream clip" * 5),
        "aa": _put(store, D["aa"], b"finished line" * 5, take_digest=D["bb"]),
        "bb": _put(store, D["bb"], b"raw paid take" * 5, provider="segmind", cost_usd=0.03),
        "cc": _put(store, D["cc"], b"an old take" * 5, provider="segmind", cost_usd=0.03),
        "dd": _put(store, D["dd"], b"an old line" * 5, take_digest=D["cc"]),
    }
    up_digest = objects["up"].split("/")[2].split(".")[0]
    store.write_state(
        "/r.yaml",
        {"steps": {"line": {"input_digest": D["aa"], "upstream": [up_digest]}, "clip": {"input_digest": D["ee"]}}},
    )
    return objects


def test_gc_on_a_bucket_keeps_states_paid_takes_journals_and_live_leases(bucket: S3Store) -> None:
    objects = _season(bucket)
    bucket.journal("f" * 64).save({"request_id": "req-9"})
    lease = bucket.lease("c" * 64)
    assert lease.try_acquire()
    bucket.write_key("quarantine/x/evidence.json", b"{")
    dry = collect_garbage(bucket, dry_run=True)
    doomed = sorted([record_key(D["cc"]), record_key(D["dd"]), objects["cc"], objects["dd"]])
    assert sorted(key for key, _ in dry.removed) == doomed
    assert dict(dry.removed)[objects["cc"]] == len(b"an old take" * 5)
    assert all(bucket.read_key(key) is not None for key in doomed)  # a dry run removes nothing
    report = collect_garbage(bucket)
    assert sorted(key for key, _ in report.removed) == doomed and report.freed_bytes == dry.freed_bytes
    assert (report.kept_records, report.kept_objects) == (3, 3)
    assert all(bucket.read_key(key) is None for key in doomed)
    for digest in (D["aa"], D["bb"], D["ee"]):
        assert bucket.get_step(digest) is not None
    assert bucket.journal("f" * 64).load() == {"request_id": "req-9"}
    assert bucket.read_key(f"leases/{'c' * 64}.json") is not None and lease.renew()  # still held, still ours
    assert bucket.read_key("quarantine/x/evidence.json") == b"{"
    assert collect_garbage(bucket).removed == []


def test_gc_on_a_bucket_removes_nothing_while_a_state_is_damaged(bucket: S3Store) -> None:
    objects = _season(bucket)
    bucket.write_key(bucket.state_key("/other.yaml"), b"[]")
    with pytest.raises(CacheError, match="gc cannot tell what that recipe uses") as caught:
        collect_garbage(bucket)
    assert bucket.url in str(caught.value)
    assert bucket.read_key(objects["cc"]) is not None


def test_gc_on_a_bucket_removes_the_expired_leases_of_dead_holders_and_only_those(s3_url: str, tmp_path: Path) -> None:
    """A dead holder's lease, expired by the server's clock, goes once its take is recorded (or it
    expired long ago); a live lease, a recent unrecorded one and one renewed since it was seen stay."""
    short = S3Store(s3_url, mirror=tmp_path / "short", lease_ttl_s=1.0)
    _season(short)
    done = short.lease(D["bb"])  # its take is recorded: the holder died after storing it
    pending = short.lease("9" * 64)  # no record: a holder that died mid-request (its journal resumes)
    live = S3Store(s3_url, mirror=tmp_path / "long", lease_ttl_s=60.0).lease(D["aa"])
    assert done.try_acquire() and pending.try_acquire() and live.try_acquire()
    time.sleep(2.5)  # past the short TTL on the server's clock (whole seconds)
    key = f"leases/{D['bb']}.json"
    dry = collect_garbage(short, dry_run=True)
    assert [k for k, _ in dry.removed if k.startswith("leases/")] == [key]
    assert short.read_key(key) is not None  # a dry run removes nothing
    report = collect_garbage(short)
    assert [k for k, _ in report.removed if k.startswith("leases/")] == [key]
    assert short.read_key(key) is None
    assert short.read_key(f"leases/{'9' * 64}.json") is not None and live.renew()

    seen = short.lease("9" * 64).overdue()
    assert seen is not None and seen[1] > 0
    assert pending.renew()  # its holder wakes up and renews after the sweep looked
    assert not short.lease("9" * 64).remove_if(seen[0])  # If-Match: the renewed lease stays
    time.sleep(2.5)
    assert short.sweep_leases(grace_s=3600) == []  # expired, unrecorded, but not long ago
    assert [k for k, _ in short.sweep_leases(grace_s=0.5)] == [f"leases/{'9' * 64}.json"]
    assert short.read_key(f"leases/{'9' * 64}.json") is None and not pending.renew()
    assert live.renew()
