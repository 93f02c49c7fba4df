"""A store that trusts nothing it reads: hostile and damaged records, damaged objects, unreadable
journals and states. Every case is a miss (or a clear error), reported, and set aside, never deleted."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audioflow.cache import ArtifactStore, sha256_hex
from audioflow.cache.records import META_FIELDS
from audioflow.errors import CacheError

DIGEST = "ab" + "c" * 62


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store")


def _record_path(store: ArtifactStore, digest: str = DIGEST) -> Path:
    return store.root / "steps" / digest[:2] / f"{digest}.json"


def _write_record(store: ArtifactStore, content: bytes | dict) -> Path:
    path = _record_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


def _good(store: ArtifactStore, data: bytes = b"audio" * 20) -> dict:
    artifact = store.put_bytes(data, "wav")
    store.put_step(DIGEST, artifact, {"duration_ms": 10.0})
    return json.loads(_record_path(store).read_text())


def _quarantined(store: ArtifactStore) -> list[str]:
    root = store.root / "quarantine"
    moved = [p for p in root.rglob("*") if p.is_file() and p.parent != root]
    return sorted(str(p.relative_to(root)).split("/", 1)[1] for p in moved)


def test_a_record_pointing_outside_the_store_is_never_read(store: ArtifactStore, tmp_path: Path) -> None:
    recipe = tmp_path / "earnest.yaml"
    recipe.write_bytes(b"audioflow: 1\ntitle: secret\n")
    digest = sha256_hex(recipe.read_bytes())
    for target in ("../../earnest.yaml", str(recipe), "/etc/passwd", f"objects/{digest[:2]}/../../../earnest.yaml"):
        store = ArtifactStore(tmp_path / f"store{len(target)}")
        path = _write_record(store, {"digest": digest, "object": target, "size": recipe.stat().st_size, "meta": {}})
        assert store.get_step(DIGEST) is None
        (finding,) = store.findings
        assert finding.key == f"steps/ab/{DIGEST}.json"
        assert finding.problem.startswith(f"'object' is {target!r}, not an artifact name (objects/ab/<sha256>.<ext>)")
        assert not path.exists() and (store.root / finding.set_aside).is_file()  # type: ignore[operator]
    assert recipe.read_bytes() == b"audioflow: 1\ntitle: secret\n"


def test_the_object_path_comes_from_the_digest_not_from_the_record(store: ArtifactStore) -> None:
    record = _good(store)
    other = store.put_bytes(b"other bytes", "wav")
    record["object"] = f"objects/{other.digest[:2]}/{other.digest}.wav"  # a real object, but not this digest's
    _write_record(store, record)
    assert store.get_step(DIGEST) is None
    assert store.findings[0].problem == "'object' names another digest than 'digest'"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"meta": "abc"}, "'meta' is not an object"),
        ({"size": "100"}, "'size' is not a whole number of bytes"),
        ({"size": True}, "'size' is not a whole number of bytes"),
        ({"size": -1}, "'size' is not a whole number of bytes"),
        ({"digest": "abc"}, "'digest' is not a sha256 digest"),
        ({"digest": "AB" * 32}, "'digest' is not a sha256 digest"),
        ({"digest": None}, "'digest' is not a sha256 digest"),
        ({"object": 7}, "'object' is not a string"),
        ({"meta": {"duration_ms": "12"}}, "'meta.duration_ms' is not a finite number"),
        ({"meta": {"notes": "a note"}}, "'meta.notes' is not a list of strings"),
        ({"meta": {"take_digest": "../x"}}, "'meta.take_digest' is not a sha256 digest"),
        ({"meta": {"segments": [{"start_ms": 0}]}}, "'meta.segments' is not a list of timed segments"),
        ({"meta": {"placeholder": "yes"}}, "'meta.placeholder' is not true or false"),
    ],
)
def test_a_record_with_wrong_types_is_damaged(store: ArtifactStore, change: dict, problem: str) -> None:
    _write_record(store, {**_good(store), **change})
    assert store.get_step(DIGEST) is None
    (finding,) = store.findings
    assert (finding.key, finding.problem) == (f"steps/ab/{DIGEST}.json", problem)
    assert _quarantined(store) == [f"steps/ab/{DIGEST}.json"]
    assert store.damage(f"steps/ab/{DIGEST}.json") == finding
    log = (store.root / "quarantine" / "log.txt").read_text()
    assert log.endswith(f"\t{finding.set_aside}\t{problem}\n")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'{"digest": NaN}', "holds NaN, which JSON does not allow"),
        (b"[" * 100_000, "not valid JSON"),
    ],
)
def test_an_unparseable_record_is_damaged(store: ArtifactStore, content: bytes, problem: str) -> None:
    _write_record(store, content)
    assert store.get_step(DIGEST) is None
    assert store.findings[0].problem.startswith(problem)
    assert _quarantined(store) == [f"steps/ab/{DIGEST}.json"]


def test_an_old_record_without_meta_still_reads(store: ArtifactStore) -> None:
    record = _good(store)
    del record["meta"]
    _write_record(store, record)
    got = store.get_step(DIGEST)
    assert got is not None and got.meta == {}


def test_a_missing_object_is_a_plain_miss(store: ArtifactStore) -> None:
    _good(store)
    next((store.root / "objects").rglob("*.wav")).unlink()
    assert store.get_step(DIGEST) is None
    assert store.findings == []
    assert _record_path(store).is_file()


def test_a_truncated_object_is_set_aside_and_its_record_kept(store: ArtifactStore) -> None:
    _good(store)
    obj = next((store.root / "objects").rglob("*.wav"))
    obj.write_bytes(b"audio")
    assert store.get_step(DIGEST) is None
    (finding,) = store.findings
    assert finding.problem == "5 bytes, its record says 100"
    assert store.damage(f"steps/ab/{DIGEST}.json") == finding  # plan finds why the step is stale
    assert _quarantined(store) == [str(obj.relative_to(store.root))]
    assert _record_path(store).is_file()  # the re-render replaces it


def test_a_record_whose_size_lies_is_set_aside_and_its_object_kept(store: ArtifactStore) -> None:
    record = _good(store)
    _write_record(store, {**record, "size": 99})
    assert store.get_step(DIGEST) is None
    assert store.findings[0].problem == "'size' says 99 bytes, its object has 100"
    assert _quarantined(store) == [f"steps/ab/{DIGEST}.json"]
    assert (store.root / record["object"]).is_file()


def test_an_object_that_is_a_symlink_is_damaged(store: ArtifactStore, tmp_path: Path) -> None:
    record = _good(store)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"s" * 100)
    obj = store.root / record["object"]
    obj.unlink()
    obj.symlink_to(secret)
    assert store.get_step(DIGEST) is None
    assert store.findings[0].problem == "not a regular file"
    assert secret.read_bytes() == b"s" * 100


def test_flipped_bytes_pass_the_size_check_but_not_verify(store: ArtifactStore) -> None:
    record = _good(store)
    obj = store.root / record["object"]
    data = bytearray(obj.read_bytes())
    data[50] ^= 0xFF
    obj.write_bytes(bytes(data))
    assert store.get_step(DIGEST) is not None  # size only, by default: cheap
    assert store.get_step(DIGEST, verify=True) is None
    assert store.findings[0].problem == "its content does not match its digest"
    assert not obj.exists()


def test_read_verified_refuses_flipped_bytes(store: ArtifactStore) -> None:
    artifact = store.put_bytes(b"master bytes", "mp3")
    artifact.path.write_bytes(b"master bytez")
    with pytest.raises(CacheError) as info:
        store.read_verified(artifact)
    key = f"objects/{artifact.digest[:2]}/{artifact.digest}.mp3"
    assert str(info.value).startswith(f"damaged in cache: {key}: its content does not match its digest; set aside as ")
    assert str(info.value).endswith("; run again to render it afresh")
    assert store.read_verified(store.put_bytes(b"master bytes", "mp3")) == b"master bytes"


def test_damage_that_cannot_be_moved_is_reported_and_left(store: ArtifactStore, monkeypatch) -> None:
    _write_record(store, b"{broken")

    def refuse(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "rename", refuse)
    assert store.get_step(DIGEST) is None
    (finding,) = store.findings
    assert (finding.set_aside, finding.left) == (None, "cannot move it: Permission denied")
    assert str(finding).endswith("; left in place (cannot move it: Permission denied)")
    assert _record_path(store).is_file()


def test_a_file_replaced_since_it_was_judged_is_not_moved(store: ArtifactStore) -> None:
    path = _write_record(store, b"{broken")
    seen = os.lstat(path)
    _good(store)  # another run writes a fresh record meanwhile (a new inode, by rename)
    finding = store.set_aside(f"steps/ab/{DIGEST}.json", "not valid JSON", seen=seen)
    assert (finding.set_aside, finding.left) == (None, "replaced by a newer write meanwhile")
    assert store.get_step(DIGEST) is not None


# -- journals: never read as "not submitted" ------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "not valid JSON"),
        (b'{"request_id": "req-1"', "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b"{}", "it holds no request id"),
        (b'{"request_id": ""}', "it holds no request id"),
    ],
)
def test_an_unreadable_journal_raises_instead_of_reading_as_not_submitted(
    store: ArtifactStore, content: bytes, why: str
) -> None:
    journal = store.journal("d" * 64)
    journal.path.write_bytes(content)
    with pytest.raises(CacheError) as info:
        journal.load()
    assert str(info.value).startswith(f"the journal of a paid request, {journal.path}, cannot be read ({why}")
    assert "so the step is not submitted again" in str(info.value)
    assert "move the file out of jobs/ to submit afresh" in str(info.value)
    assert journal.path.read_bytes() == content  # evidence stays where it is


def test_a_journal_that_is_a_folder_raises(store: ArtifactStore) -> None:
    journal = store.journal("d" * 64)
    journal.path.mkdir()
    with pytest.raises(CacheError, match="cannot be read"):
        journal.load()


def test_a_journal_round_trips_and_absent_means_not_submitted(store: ArtifactStore) -> None:
    journal = store.journal("d" * 64)
    assert journal.load() is None
    journal.save({"request_id": "req-7", "status_url": "http://127.0.0.1/s"})
    assert journal.load() == {"request_id": "req-7", "status_url": "http://127.0.0.1/s"}
    journal.clear()
    assert journal.load() is None


def test_a_journals_save_and_clear_are_durable_its_folder_fsynced(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    journal = store.journal("d" * 64)
    journal.save({"request_id": "req-7"})
    jobs = str(journal.path.parent)
    assert synced[-1] == jobs  # the rename into jobs/ is on disk, after the file's own fsync
    assert any(s.startswith(str(store.root / "tmp")) for s in synced[:-1])
    synced.clear()
    journal.clear()
    assert synced == [jobs] and not journal.path.exists()  # the unlink is on disk before clear returns


def test_a_damaged_state_reads_as_empty_is_reported_and_left(store: ArtifactStore) -> None:
    store.write_state("/r.yaml", {"steps": {"a": {"input_digest": DIGEST}}})
    path = store.root / store.state_key("/r.yaml")
    path.write_text('{"steps": {"a": {"input_digest": "nope"}}}')
    assert store.read_state("/r.yaml") == {}
    (finding,) = store.findings
    assert (finding.key, finding.problem) == (store.state_key("/r.yaml"), "step 'a' has no input digest")
    assert path.is_file()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_FIELD = st.sampled_from(["digest", "object", "size", "meta"])
_META = st.dictionaries(st.sampled_from(sorted(META_FIELDS)), _JSON, max_size=4)


@settings(max_examples=150, deadline=None)
@given(
    st.binary(max_size=200).map(lambda b: ("raw", b))
    | st.dictionaries(_FIELD, _JSON, max_size=4).map(lambda d: ("fields", d))
    | _META.map(lambda m: ("meta", m))
)
def test_no_record_content_crashes_a_read_or_escapes_the_store(case: tuple[str, object]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = ArtifactStore(Path(folder) / "store")
        good = _good(store)
        kind, value = case
        if kind == "raw":
            _write_record(store, value)  # type: ignore[arg-type]
        else:
            _write_record(store, {**good, **value} if kind == "fields" else {**good, "meta": value})  # type: ignore[dict-item]
        record = store.get_step(DIGEST)
        if record is None:
            assert len(store.findings) == 1
        else:
            assert record.artifact.path.parent.parent == store.root / "objects"
            assert record.artifact.path.read_bytes() == b"audio" * 20
