"""The artifact store: content addressing, records, atomic writes, concurrent processes, locks."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import store_workers

from audioflow.cache import Artifact, ArtifactStore, sha256_hex, write_atomic
from audioflow.cache.atomic import _HOST_TAG, TEMP_MAX_AGE_S
from audioflow.errors import CacheError

DIGEST = "ab" + "c" * 62
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store")


def _files(root: Path) -> list[str]:
    """The store's files, without the .gitignore a new store writes at its root."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p != root / ".gitignore")


def test_put_bytes_addresses_by_content(store: ArtifactStore) -> None:
    data = b"some audio bytes"
    digest = sha256_hex(data)
    artifact = store.put_bytes(data, "wav")
    assert artifact == Artifact(digest, store.root / "objects" / digest[:2] / f"{digest}.wav", len(data))
    assert artifact.path.read_bytes() == data
    assert store.put_bytes(data, "wav") == artifact
    assert _files(store.root) == [f"objects/{digest[:2]}/{digest}.wav"]


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_put_bytes_sets_a_damaged_object_aside_and_writes_it_afresh(store: ArtifactStore, damage: str) -> None:
    artifact = store.put_bytes(b"0123456789", "wav")
    artifact.path.write_bytes(b"01234" if damage == "truncated" else b"0123456780")
    assert store.put_bytes(b"0123456789", "wav") == artifact
    assert artifact.path.read_bytes() == b"0123456789"
    (finding,) = store.findings
    assert finding.key == f"objects/{artifact.digest[:2]}/{artifact.digest}.wav"
    assert finding.problem == "its content does not match its digest"
    assert finding.set_aside is not None
    assert (store.root / finding.set_aside).read_bytes() == (b"01234" if damage == "truncated" else b"0123456780")


def test_put_bytes_refuses_an_extension_outside_the_allowed_set(store: ArtifactStore) -> None:
    with pytest.raises(CacheError, match="artifacts cannot have the extension 'yaml'"):
        store.put_bytes(b"x", "yaml")
    with pytest.raises(CacheError, match=re.escape("cannot have the extension '../x'")):
        store.put_bytes(b"x", "../x")


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
    store.write_state("/r.yaml", {"steps": {"a": {"input_digest": DIGEST, "take": 1}}})
    assert store.read_state("/r.yaml") == {"steps": {"a": {"input_digest": DIGEST, "take": 1}}}
    assert store.read_state("/other.yaml") == {}
    next((store.root / "state").iterdir()).write_text("[1, 2]")
    assert store.read_state("/r.yaml") == {}


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


def test_a_lock_file_is_removed_when_its_lock_is_released(store: ArtifactStore) -> None:
    with store.lock(DIGEST):
        assert [p.name for p in (store.root / "locks").iterdir()] == [f"{DIGEST}.lock"]
    assert list((store.root / "locks").iterdir()) == []
    lock = store.file_lock(DIGEST)
    lock.acquire()
    lock.release()
    assert list((store.root / "locks").iterdir()) == []


def test_removed_lock_files_still_exclude_across_processes(tmp_path: Path) -> None:
    counter = tmp_path / "counter.txt"
    counter.write_text("0")
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=store_workers.count_under_lock, args=(str(tmp_path / "s"), DIGEST, str(counter), 40))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 4
    assert counter.read_text() == "160"  # no lost update: never two holders at once
    assert list((tmp_path / "s" / "locks").iterdir()) == []


# -- temp files of killed writers -------------------------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _temp_name(target: str, pid: int, host: str = _HOST_TAG) -> str:
    return f".{target}.abc123_x.part-{host}-{pid}"


def test_a_write_removes_its_targets_temp_files_whose_writer_is_dead(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    dead = _dead_pid()
    stale = out / _temp_name("ep.mp3", dead)
    alive = out / _temp_name("ep.mp3", os.getppid())  # a live process may still be writing it
    other_target = out / _temp_name("ep.srt", dead)  # another file's temp: cleaned when that file is written
    other_host = out / _temp_name("ep.mp3", dead, host="0" * 8)  # cannot tell whether it is alive
    old = out / _temp_name("ep.mp3", os.getppid(), host="0" * 8)
    for path in (stale, alive, other_target, other_host, old):
        path.write_bytes(b"partial")
    os.utime(old, (time.time() - TEMP_MAX_AGE_S - 60,) * 2)
    write_atomic(out / "ep.mp3", b"whole", shared=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(["ep.mp3", alive.name, other_target.name, other_host.name])
    write_atomic(out / "ep.srt", b"subs")
    assert not other_target.exists()


def test_a_writer_killed_mid_write_leaves_a_temp_file_the_next_write_removes(tmp_path: Path) -> None:
    target = tmp_path / "out" / "episode.mp3"
    child = subprocess.Popen(
        [sys.executable, "-c", f"import store_workers; store_workers.write_forever({str(target)!r})"],
        cwd=Path(__file__).parent,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(Path(__file__).parent)])},
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"writing\n"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    (partial,) = (tmp_path / "out").iterdir()
    assert partial.name.startswith(".episode.mp3.") and partial.name.endswith(f".part-{_HOST_TAG}-{child.pid}")
    write_atomic(target, b"the whole output")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["episode.mp3"]
    assert target.read_bytes() == b"the whole output"
