"""The shared store on a real S3-compatible server (SeaweedFS on 127.0.0.1): objects by conditional
put, records after objects, journals and state in the bucket, damage set aside, no listing caches."""

from __future__ import annotations

from pathlib import Path

import pytest

from audioflow.cache import S3Store, canonical_json, open_store, record_key, sha256_hex
from audioflow.cache.s3 import filesystem
from audioflow.errors import CacheError

DIGEST = "ab" + "0" * 62


def test_a_bucket_url_opens_the_shared_store_and_a_folder_the_local_one(s3_url: str, tmp_path: Path) -> None:
    assert isinstance(open_store(s3_url), S3Store)
    assert not isinstance(open_store(tmp_path / "local"), S3Store)
    assert (tmp_path / "local" / "objects").is_dir()


def test_what_one_worker_stores_another_reads_through_its_own_mirror(s3_url: str, tmp_path: Path) -> None:
    first = S3Store(s3_url, mirror=tmp_path / "m1")
    artifact = first.put_bytes(b"RIFF take bytes", "wav")
    first.put_step(DIGEST, artifact, {"duration_ms": 5})
    second = S3Store(s3_url, mirror=tmp_path / "m2")
    record = second.get_step(DIGEST, verify=True)
    assert record is not None and record.meta == {"duration_ms": 5}
    assert record.artifact.path.is_relative_to(tmp_path / "m2")
    assert record.artifact.path.read_bytes() == b"RIFF take bytes"
    assert second.read_verified(record.artifact) == b"RIFF take bytes"
    assert second.keys("steps") == [record_key(DIGEST)]
    assert second.get_step("cd" + "0" * 62) is None


def test_an_object_already_there_is_kept_by_the_conditional_put(s3_url: str, tmp_path: Path) -> None:
    store = S3Store(s3_url, mirror=tmp_path / "m")
    one = store.put_bytes(b"same", "wav")
    fs = filesystem()
    before = fs.info(store._remote(f"objects/{one.digest[:2]}/{one.digest}.wav"))["LastModified"]
    two = S3Store(s3_url, mirror=tmp_path / "other").put_bytes(b"same", "wav")
    assert one.digest == two.digest
    assert fs.info(store._remote(f"objects/{one.digest[:2]}/{one.digest}.wav"))["LastModified"] == before
    assert store.write_key("objects/x", b"1", create=True) is True
    assert store.write_key("objects/x", b"2", create=True) is False
    assert store.read_key("objects/x") == b"1"


def test_a_damaged_object_in_the_bucket_is_set_aside_and_the_step_is_a_miss(s3_url: str, tmp_path: Path) -> None:
    store = S3Store(s3_url, mirror=tmp_path / "m")
    artifact = store.put_bytes(b"good bytes", "wav")
    store.put_step(DIGEST, artifact, {})
    key = f"objects/{artifact.digest[:2]}/{artifact.digest}.wav"
    store.write_key(key, b"bad bytes!")  # same size, wrong content
    reader = S3Store(s3_url, mirror=tmp_path / "fresh")
    assert reader.get_step(DIGEST) is None
    finding = reader.damage(record_key(DIGEST))
    assert finding is not None and finding.set_aside is not None and "does not match" in finding.problem
    assert reader.read_key(key) is None
    assert reader.read_key(finding.set_aside) == b"bad bytes!"


def test_a_damaged_record_is_set_aside(s3_url: str, tmp_path: Path) -> None:
    store = S3Store(s3_url, mirror=tmp_path / "m")
    store.write_key(record_key(DIGEST), b'{"digest": "../etc/passwd"}')
    assert store.get_step(DIGEST) is None
    assert [f.key for f in store.findings] == [record_key(DIGEST)]
    assert store.read_key(record_key(DIGEST)) is None


def test_a_damaged_mirror_copy_is_fetched_again(s3_url: str, tmp_path: Path) -> None:
    store = S3Store(s3_url, mirror=tmp_path / "m")
    artifact = store.put_bytes(b"the real bytes", "wav")
    artifact.path.write_bytes(b"the fake bytes")
    assert store.read_verified(artifact) == b"the real bytes"
    assert artifact.path.read_bytes() == b"the real bytes"


def test_journals_and_state_live_in_the_bucket(s3_url: str, tmp_path: Path) -> None:
    store = S3Store(s3_url, mirror=tmp_path / "m")
    journal = store.journal(DIGEST)
    assert journal.load() is None
    journal.save({"request_id": "r-1", "poll_url": "https://host/r-1"})
    other = S3Store(s3_url, mirror=tmp_path / "m2")
    assert other.journal(DIGEST).load() == {"request_id": "r-1", "poll_url": "https://host/r-1"}
    assert other.pending_jobs() == [DIGEST]
    resumed = other.journal(DIGEST)
    assert resumed.load() is not None
    resumed.clear()
    assert store.journal(DIGEST).load() is None and store.pending_jobs() == []
    store.write_key(f"jobs/{DIGEST}.json", b"{not json")
    with pytest.raises(CacheError, match="may hold a request that was already paid for"):
        store.journal(DIGEST).load()
    store.write_state("/r/recipe.yaml", {"steps": {"a": {"input_digest": DIGEST}}})
    assert other.read_state("/r/recipe.yaml") == {"steps": {"a": {"input_digest": DIGEST}}}


def test_a_journal_clears_only_the_request_it_loaded_or_saved(s3_url: str, tmp_path: Path) -> None:
    """A worker that lost its lease and then sees its request fail must not delete the journal of
    the request the new holder submitted since: that would let a third worker pay again."""
    old_holder = S3Store(s3_url, mirror=tmp_path / "a").journal(DIGEST)
    old_holder.save({"request_id": "r-1"})
    new_holder = S3Store(s3_url, mirror=tmp_path / "b").journal(DIGEST)
    assert new_holder.load() == {"request_id": "r-1"}
    new_holder.clear()  # r-1 was gone at the host: forgotten, then submitted afresh
    new_holder.save({"request_id": "r-2"})
    old_holder.clear()  # r-1 failed at the old holder: its clear must leave r-2
    assert S3Store(s3_url, mirror=tmp_path / "c").journal(DIGEST).load() == {"request_id": "r-2"}
    never_loaded = S3Store(s3_url, mirror=tmp_path / "c").journal(DIGEST)
    never_loaded.clear()  # nothing of its own to clear
    assert new_holder.load() == {"request_id": "r-2"}
    new_holder.clear()
    new_holder.clear()  # twice: nothing left, no error
    assert S3Store(s3_url, mirror=tmp_path / "d").journal(DIGEST).load() is None


def test_the_hosts_final_failure_clears_the_journal_in_the_bucket(s3_url: str, tmp_path: Path) -> None:
    import asyncio

    from audioflow.providers.jobs import JobFailed, run_job

    journal = S3Store(s3_url, mirror=tmp_path / "a").journal(DIGEST)

    async def submit() -> dict[str, str]:
        return {"request_id": "r-9"}

    async def finish(state: dict[str, str], resumed: bool) -> str:
        assert S3Store(s3_url, mirror=tmp_path / "b").journal(DIGEST).load() == state  # journalled first
        raise JobFailed("host", "FAILED: content refused")

    with pytest.raises(JobFailed, match="content refused"):
        asyncio.run(run_job(journal, submit, finish))
    assert S3Store(s3_url, mirror=tmp_path / "c").journal(DIGEST).load() is None  # gone at the server


def test_a_journal_made_absent_never_reads_the_bucket(s3_url: str, tmp_path: Path) -> None:
    """Its holder created the lease (the lease rule of leases.py): it answers None, then its own saves."""
    store = S3Store(s3_url, mirror=tmp_path / "m")
    store.journal(DIGEST).save({"request_id": "r-1"})
    journal = store.journal(DIGEST, absent=True)
    assert journal.load() is None
    journal.save({"request_id": "r-2"})
    assert journal.load() == {"request_id": "r-2"} == store.journal(DIGEST).load()


def test_listings_are_never_served_from_a_cache(s3_url: str, tmp_path: Path) -> None:
    store = S3Store(s3_url, mirror=tmp_path / "m")
    assert store.keys("steps") == []
    data = canonical_json({"digest": sha256_hex(b"x"), "object": "", "size": 1})
    S3Store(s3_url, mirror=tmp_path / "m2").write_key(record_key(DIGEST), data)
    assert store.keys("steps") == [record_key(DIGEST)]


def test_no_bucket_is_a_cache_error(tmp_path: Path) -> None:
    with pytest.raises(CacheError, match="no bucket"):
        S3Store("s3://", mirror=tmp_path / "m", fs=object())
