"""verify (hash everything, report, set aside) and gc (keep what recipes' states reach, never a
referenced paid take, never a journal)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from audioflow.cache import ArtifactStore, collect_garbage, record_key, verify_store
from audioflow.errors import CacheError

D = {name: name[0] * 64 for name in ("aa", "bb", "cc", "dd", "ee")}  # input digests by name


def _put(store: ArtifactStore, digest: str, data: bytes, **meta: object) -> str:
    artifact = store.put_bytes(data, "wav")
    store.put_step(digest, artifact, dict(meta))
    return f"objects/{artifact.digest[:2]}/{artifact.digest}.wav"


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store")


def test_verify_a_sound_store(store: ArtifactStore) -> None:
    _put(store, D["aa"], b"one" * 10)
    _put(store, D["bb"], b"two" * 10)
    store.journal("f" * 64).save({"request_id": "req-1"})
    store.write_state("/r.yaml", {"steps": {"x": {"input_digest": D["aa"]}}})
    report = verify_store(store)
    assert report.findings == []
    assert (report.objects, report.object_bytes, report.records, report.journals, report.states) == (2, 60, 2, 1, 1)


def test_verify_reports_flipped_bytes_and_repair_sets_them_aside(store: ArtifactStore) -> None:
    obj = _put(store, D["aa"], b"one" * 10)
    _put(store, D["bb"], b"one" * 10)  # a second record of the same object
    _put(store, D["cc"], b"fine" * 10)
    _flip(store.path(obj))
    report = verify_store(store)
    assert [(f.key, f.problem) for f in report.findings] == [
        (obj, "its content does not match its digest"),
        (record_key(D["aa"]), f"its object {obj} is damaged"),
        (record_key(D["bb"]), f"its object {obj} is damaged"),
    ]
    assert len(report.unrepaired) == 3 and store.path(obj).is_file()  # reported only
    repaired = verify_store(store, repair=True)
    assert [f.set_aside is not None for f in repaired.findings] == [True] * 3
    assert repaired.unrepaired == []
    assert not store.path(obj).exists() and not store.path(record_key(D["aa"])).exists()
    assert (store.root / repaired.findings[0].set_aside).is_file()  # type: ignore[operator]
    assert verify_store(store).findings == []
    assert store.get_step(D["cc"]) is not None


def test_verify_finds_every_kind_of_damage(store: ArtifactStore) -> None:
    gone = _put(store, D["aa"], b"gone" * 10)
    store.path(gone).unlink()
    store.path(record_key(D["bb"])).parent.mkdir(parents=True, exist_ok=True)
    store.path(record_key(D["bb"])).write_text('{"meta": "abc"}')
    (store.root / "objects" / "zz").mkdir()
    (store.root / "objects" / "zz" / "notes.txt").write_text("x")
    (store.root / "jobs" / f"{'e' * 64}.json").write_text("{trunc")
    (store.root / "state" / "0123456789abcdef.json").write_text("[]")
    report = verify_store(store, repair=True)
    found = {f.key: (f.problem, f.set_aside is not None) for f in report.findings}
    assert found == {
        "objects/zz/notes.txt": ("not an artifact name (objects/ab/<sha256>.<ext>)", True),
        record_key(D["aa"]): (f"its object {gone} is missing", True),
        record_key(D["bb"]): ("'digest' is not a sha256 digest", True),
        f"jobs/{'e' * 64}.json": (found[f"jobs/{'e' * 64}.json"][0], False),  # never moved
        "state/0123456789abcdef.json": ("not an object with a 'steps' object", True),
    }
    assert found[f"jobs/{'e' * 64}.json"][0].startswith("not valid JSON")
    (journal,) = report.unrepaired
    assert journal.left == (
        "a journal is never moved: it may hold a paid request; look it up on the host, then move it by hand"
    )
    assert (store.root / "jobs" / f"{'e' * 64}.json").read_text() == "{trunc"


# -- gc ---------------------------------------------------------------------------------------------


def _season(store: ArtifactStore) -> dict[str, str]:
    """A recipe state whose step aa was finished from the paid take bb; cc and dd are not in any state."""
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


def test_gc_keeps_what_states_reach_and_the_paid_takes_they_reference(store: ArtifactStore) -> None:
    objects = _season(store)
    store.journal("f" * 64).save({"request_id": "req-9"})
    (store.root / "quarantine" / "x").mkdir(parents=True)
    (store.root / "quarantine" / "x" / "evidence.json").write_text("{")
    dry = collect_garbage(store, dry_run=True)
    doomed = sorted([record_key(D["cc"]), record_key(D["dd"]), objects["cc"], objects["dd"]])
    assert sorted(key for key, _ in dry.removed) == doomed
    assert dict(dry.removed)[objects["cc"]] == len(b"an old take" * 5)
    assert all(store.path(key).exists() for key in doomed)  # a dry run removes nothing
    report = collect_garbage(store)
    assert sorted(key for key, _ in report.removed) == doomed
    assert report.freed_bytes == dry.freed_bytes
    assert (report.kept_records, report.kept_objects) == (3, 3)
    assert not any(store.path(key).exists() for key in doomed)
    assert store.get_step(D["aa"]) is not None and store.get_step(D["bb"]) is not None
    assert store.get_step(D["ee"]) is not None
    assert store.journal("f" * 64).load() == {"request_id": "req-9"}
    assert (store.root / "quarantine" / "x" / "evidence.json").is_file()
    assert collect_garbage(store).removed == []


def test_gc_keeps_a_paid_take_the_state_names_even_when_its_step_record_is_gone(store: ArtifactStore) -> None:
    objects = _season(store)
    store.path(record_key(D["aa"])).unlink()  # e.g. set aside as damaged: the state still names the take
    state = json.loads(store.path(store.state_key("/r.yaml")).read_text())
    state["steps"]["line"]["take_digest"] = D["bb"]
    store.write_state("/r.yaml", state)
    collect_garbage(store)
    assert store.get_step(D["bb"]) is not None and store.path(objects["bb"]).is_file()


def test_gc_keeps_extra_roots(store: ArtifactStore) -> None:
    objects = _season(store)
    report = collect_garbage(store, keep_inputs={D["dd"]})
    assert report.removed == []
    assert store.path(objects["cc"]).is_file()  # dd's paid take


def test_gc_removes_nothing_while_a_state_is_damaged(store: ArtifactStore) -> None:
    objects = _season(store)
    path = store.path(store.state_key("/r.yaml"))
    path.write_text('{"steps": ')
    with pytest.raises(CacheError) as info:
        collect_garbage(store)
    assert str(info.value).startswith(f"{path} cannot be read (not valid JSON")
    assert "gc cannot tell what that recipe uses, so it removes nothing" in str(info.value)
    assert all(store.path(key).is_file() for key in objects.values())


def test_gc_removes_stale_temp_files_and_unheld_lock_files(store: ArtifactStore) -> None:
    _season(store)
    stale = store.root / "tmp" / ".x.wav.abcdefgh.part-00000000-1"
    stale.write_bytes(b"partial")
    os.utime(stale, (0, 0))  # from a killed run long ago
    fresh = store.root / "tmp" / "unrelated.txt"
    fresh.write_bytes(b"?")
    (store.root / "locks" / f"{'1' * 64}.lock").touch()  # left by an older audioflow
    held = store.file_lock("2" * 64)
    held.acquire()
    try:
        dry = collect_garbage(store, keep_inputs={D["dd"]}, dry_run=True)
        assert sorted(key for key, _ in dry.removed) == ["locks/" + "1" * 64 + ".lock", "tmp/" + stale.name]
        assert (store.root / "locks" / f"{'1' * 64}.lock").exists()
        report = collect_garbage(store, keep_inputs={D["dd"]})
        assert sorted(key for key, _ in report.removed) == sorted(key for key, _ in dry.removed)
        assert sorted(p.name for p in (store.root / "locks").iterdir()) == [f"{'2' * 64}.lock"]
        assert [p.name for p in (store.root / "tmp").iterdir()] == ["unrelated.txt"]
    finally:
        held.release()
