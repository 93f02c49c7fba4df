"""The artifact store: content addressing, records, atomic writes, concurrent processes, locks."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from pathlib import Path

import pytest
import store_workers

from audioflow.cache import Artifact, ArtifactStore, sha256_hex
from audioflow.errors import CacheError

DIGEST = "ab" + "c" * 62


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store")


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_put_bytes_addresses_by_content(store: ArtifactStore) -> None:
    data = b"some audio bytes"
    digest = sha256_hex(data)
    artifact = store.put_bytes(data, "wav")
    assert artifact == Artifact(digest, store.root / "objects" / digest[:2] / f"{digest}.wav", len(data))
    assert artifact.path.read_bytes() == data
    assert store.put_bytes(data, "wav") == artifact
    assert _files(store.root) == [f"objects/{digest[:2]}/{digest}.wav"]


def test_put_bytes_repairs_a_truncated_object(store: ArtifactStore) -> None:
    artifact = store.put_bytes(b"0123456789", "wav")
    artifact.path.write_bytes(b"01234")
    assert store.put_bytes(b"0123456789", "wav") == artifact
    assert artifact.path.read_bytes() == b"0123456789"


def test_put_step_then_get_step(store: ArtifactStore) -> None:
    artifact = store.put_bytes(b"x" * 100, "wav")
    record = store.put_step(DIGEST, artifact, {"duration_ms": 12.5, "notes": ["a"]})
    assert record.artifact == artifact
    got = store.get_step(DIGEST)
    assert got is not None
    assert (got.input_digest, got.artifact, got.meta) == (DIGEST, artifact, {"duration_ms": 12.5, "notes": ["a"]})
    raw = json.loads((store.root / "steps" / "ab" / f"{DIGEST}.json").read_text())
    assert raw == {
        "digest": artifact.digest,
        "object": f"objects/{artifact.digest[:2]}/{artifact.digest}.wav",
        "size": 100,
        "meta": {"duration_ms": 12.5, "notes": ["a"]},
    }
    assert store.get_step("ff" * 32) is None


def test_a_record_is_portable_when_the_store_moves(tmp_path: Path) -> None:
    first = ArtifactStore(tmp_path / "a")
    first.put_step(DIGEST, first.put_bytes(b"data", "wav"), {})
    os.rename(tmp_path / "a", tmp_path / "b")
    record = ArtifactStore(tmp_path / "b").get_step(DIGEST)
    assert record is not None and record.artifact.path.read_bytes() == b"data"


def test_a_record_whose_object_is_missing_or_truncated_is_a_miss(store: ArtifactStore) -> None:
    artifact = store.put_bytes(b"y" * 50, "wav")
    store.put_step(DIGEST, artifact, {})
    artifact.path.write_bytes(b"y" * 49)
    assert store.get_step(DIGEST) is None
    artifact.path.unlink()
    assert store.get_step(DIGEST) is None


@pytest.mark.parametrize(
    "content", [b"", b"{not json", b"[]", b'{"digest": "x"}', b'{"digest":"x","object":"o","size":"z"}']
)
def test_a_damaged_record_is_a_miss(store: ArtifactStore, content: bytes) -> None:
    path = store.root / "steps" / "ab" / f"{DIGEST}.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert store.get_step(DIGEST) is None


@pytest.mark.parametrize("fail", ["replace", "fsync"])
def test_a_crash_while_writing_leaves_nothing_partial(store: ArtifactStore, monkeypatch, fail: str) -> None:
    good = store.put_bytes(b"earlier", "wav")
    before = _files(store.root)

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, fail, crash)
    with pytest.raises(CacheError) as info:
        store.put_bytes(b"new data", "wav")
    assert "No space left on device" in str(info.value)
    with pytest.raises(CacheError):
        store.put_step(DIGEST, good, {"x": 1})
    monkeypatch.undo()
    assert _files(store.root) == before
    assert list((store.root / "tmp").iterdir()) == []
    assert store.get_step(DIGEST) is None


def test_an_interrupt_while_writing_cleans_up_and_propagates(store: ArtifactStore, monkeypatch) -> None:
    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        store.put_bytes(b"data", "wav")
    monkeypatch.undo()
    assert _files(store.root) == []


def test_state_round_trips_and_tolerates_damage(store: ArtifactStore) -> None:
    assert store.read_state("/r.yaml") == {}
    store.write_state("/r.yaml", {"steps": {"a": {"take": 1}}})
    assert store.read_state("/r.yaml") == {"steps": {"a": {"take": 1}}}
    assert store.read_state("/other.yaml") == {}
    next((store.root / "state").iterdir()).write_text("[1, 2]")
    assert store.read_state("/r.yaml") == {}


def test_gc_keeps_only_what_kept_records_point_at(store: ArtifactStore) -> None:
    kept = store.put_bytes(b"keep", "wav")
    dropped = store.put_bytes(b"drop!", "wav")
    store.put_step("aa" * 32, kept, {})
    store.put_step("bb" * 32, dropped, {})
    removed, freed = store.gc({"aa" * 32})
    assert removed == 2
    assert freed == len(b"drop!") + (store.root / "steps" / "aa" / f"{'aa' * 32}.json").stat().st_size
    assert store.get_step("aa" * 32) is not None
    assert not dropped.path.exists()


def test_unwritable_root_is_a_cache_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(CacheError, match="cannot create the cache at"):
        ArtifactStore(tmp_path / "file" / "store")


def test_two_processes_writing_the_same_artifact_agree(tmp_path: Path) -> None:
    data = os.urandom(200_000)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        digests = pool.starmap(
            store_workers.write_same_artifact,
            [(str(tmp_path / "s"), data, DIGEST, 25), (str(tmp_path / "s"), data, DIGEST, 25)],
        )
    assert digests == [sha256_hex(data)] * 2
    store = ArtifactStore(tmp_path / "s")
    record = store.get_step(DIGEST)
    assert record is not None
    assert record.artifact.path.read_bytes() == data
    assert record.meta == {"duration_ms": 1000, "step": "scene[1]"}
    assert list((store.root / "tmp").iterdir()) == []
    assert len(list((store.root / "objects").rglob("*.wav"))) == 1


def test_the_file_lock_excludes_across_processes(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=store_workers.hold_lock, args=(str(tmp_path / "s"), DIGEST, str(log), 0.3)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    events = [line.split() for line in log.read_text().splitlines()]
    assert [e[0] for e in events] == ["start", "end", "start", "end"]
    assert float(events[1][1]) <= float(events[2][1])


def test_the_lock_times_out_with_a_cache_error(store: ArtifactStore) -> None:
    holder = store.file_lock(DIGEST)
    holder.acquire()
    try:
        outcome: list[BaseException] = []

        def other() -> None:
            try:
                with store.lock(DIGEST, timeout_s=0.05):
                    pass
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    finally:
        holder.release()
    assert len(outcome) == 1 and isinstance(outcome[0], CacheError)
    assert str(outcome[0]) == f"timed out waiting for the lock of step {DIGEST[:12]}"
