"""verify (hash everything, report, set aside) and gc (keep what recipes' states reach, never a
referenced paid take, never a journal), on a local store and on a bucket (SeaweedFS started by the
tests, 127.0.0.1): the same semantics, with a bucket's damage set aside under its quarantine/, its
live leases never touched, and the expired leases of dead holders swept."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from audioflow.cache import ArtifactStore, S3Store, collect_garbage, record_key, verify_store
from audioflow.errors import CacheError

D = {name: name[0] * 64 for name in ("aa", "bb", "cc", "dd", "ee")}  # input digests by name


def _put(store: ArtifactStore, digest: str, data: bytes, **meta: object) -> str:
    artifact = store.put_bytes(data, "wav")
    store.put_step(digest, artifact, dict(meta))
    return f"objects/{artifact.digest[:2]}/{artifact.digest}.wav"


def _read(store: ArtifactStore, key: str) -> bytes | None:
    """The bytes under ``key`` (None: there is none), read where the store keeps them."""
    if isinstance(store, S3Store):
        return store.read_key(key)
    path = store.path(key)
    return path.read_bytes() if path.is_file() else None


def _write(store: ArtifactStore, key: str, data: bytes) -> None:
    """Write ``data`` under ``key`` as damage would: behind the store's back."""
    if isinstance(store, S3Store):
        store.write_key(key, data)
        return
    store.path(key).parent.mkdir(parents=True, exist_ok=True)
    store.path(key).write_bytes(data)


def _remove(store: ArtifactStore, key: str) -> None:
    if isinstance(store, S3Store):
        store.remove_key(key)
    else:
        store.path(key).unlink()


def _where(store: ArtifactStore, key: str) -> str:
    """How messages name ``key``: its file, or its URL in the bucket."""
    return store.url_of(key) if isinstance(store, S3Store) else str(store.path(key))


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))


@pytest.fixture(params=["local", "bucket"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    """A fresh local store, then a fresh bucket (each test runs on both)."""
    if request.param == "local":
        return ArtifactStore(tmp_path / "store")
    return S3Store(request.getfixturevalue("s3_url"), mirror=tmp_path / "mirror")


@pytest.fixture
def local_store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store")


@pytest.fixture
def bucket(s3_url: str, tmp_path: Path) -> S3Store:
    return S3Store(s3_url, mirror=tmp_path / "mirror")


def _sound(store: ArtifactStore) -> str:
    """Two objects with their records, a journal and a state; the key of the first object."""
    obj = _put(store, D["aa"], b"one" * 10)
    _put(store, D["bb"], b"two" * 10)
    store.journal("f" * 64).save({"request_id": "req-1"})
    store.write_state("/r.yaml", {"steps": {"x": {"input_digest": D["aa"]}}})
    return obj


def test_verify_a_sound_store(store: ArtifactStore) -> None:
    _sound(store)
    report = verify_store(store)
    assert report.findings == []
    assert (report.objects, report.object_bytes, report.records, report.journals, report.states) == (2, 60, 2, 1, 1)


def test_verify_a_bucket_hashes_every_object_and_repair_sets_damage_aside_in_the_bucket(
    bucket: S3Store, tmp_path: Path
) -> None:
    obj = _sound(bucket)
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


def test_verify_reports_flipped_bytes_and_repair_sets_them_aside(local_store: ArtifactStore) -> None:
    store = local_store
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


def test_verify_finds_every_kind_of_damage(local_store: ArtifactStore) -> None:
    store = local_store
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


def test_gc_keeps_states_paid_takes_journals_quarantine_and_live_leases(store: ArtifactStore) -> None:
    objects = _season(store)
    store.journal("f" * 64).save({"request_id": "req-9"})
    lease = store.lease("c" * 64)  # a bucket's (a local store's runs hold file locks instead)
    assert (lease is not None) == isinstance(store, S3Store)
    assert lease is None or lease.try_acquire()
    _write(store, "quarantine/x/evidence.json", b"{")
    dry = collect_garbage(store, dry_run=True)
    doomed = sorted([record_key(D["cc"]), record_key(D["dd"]), objects["cc"], objects["dd"]])
    assert sorted(key for key, _ in dry.removed) == doomed
    assert dict(dry.removed)[objects["cc"]] == len(b"an old take" * 5)
    assert all(_read(store, key) is not None for key in doomed)  # a dry run removes nothing
    report = collect_garbage(store)
    assert sorted(key for key, _ in report.removed) == doomed
    assert report.freed_bytes == dry.freed_bytes
    assert (report.kept_records, report.kept_objects) == (3, 3)
    assert all(_read(store, key) is None for key in doomed)
    for digest in (D["aa"], D["bb"], D["ee"]):
        assert store.get_step(digest) is not None
    assert store.journal("f" * 64).load() == {"request_id": "req-9"}
    if lease is not None:
        assert _read(store, f"leases/{'c' * 64}.json") is not None and lease.renew()  # still held, still ours
    assert _read(store, "quarantine/x/evidence.json") == b"{"
    assert collect_garbage(store).removed == []


def test_gc_keeps_a_paid_take_the_state_names_even_when_its_step_record_is_gone(store: ArtifactStore) -> None:
    objects = _season(store)
    _remove(store, record_key(D["aa"]))  # e.g. set aside as damaged: the state still names the take
    state = store.read_state("/r.yaml")
    state["steps"]["line"]["take_digest"] = D["bb"]
    store.write_state("/r.yaml", state)
    collect_garbage(store)
    assert store.get_step(D["bb"]) is not None and _read(store, objects["bb"]) is not None


def test_gc_keeps_extra_roots(store: ArtifactStore) -> None:
    objects = _season(store)
    report = collect_garbage(store, keep_inputs={D["dd"]})
    assert report.removed == []
    assert _read(store, objects["cc"]) is not None  # dd's paid take


@pytest.mark.parametrize(
    ("recipe", "damaged", "why"),
    [
        ("/r.yaml", b'{"steps": ', "not valid JSON"),
        ("/other.yaml", b"[]", "not an object with a 'steps' object"),
    ],
    ids=["truncated", "not-an-object"],
)
def test_gc_removes_nothing_while_a_state_is_damaged(
    store: ArtifactStore, recipe: str, damaged: bytes, why: str
) -> None:
    objects = _season(store)
    key = store.state_key(recipe)
    _write(store, key, damaged)
    with pytest.raises(CacheError) as info:
        collect_garbage(store)
    assert str(info.value).startswith(f"{_where(store, key)} cannot be read ({why}")
    assert store.location in str(info.value)
    assert "gc cannot tell what that recipe uses, so it removes nothing" in str(info.value)
    assert all(_read(store, key) is not None for key in objects.values())


def test_gc_removes_stale_temp_files_and_unheld_lock_files(local_store: ArtifactStore) -> None:
    store = local_store
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


def test_gc_on_a_bucket_removes_the_expired_leases_of_dead_holders_and_only_those(s3_url: str, tmp_path: Path) -> None:
    """A dead holder's lease, expired by the server's clock, goes once it guards nothing: its take
    has no record (one gc removes in the same pass counts) and its request no journal; a live lease,
    a recorded one, a recent unrecorded one and one renewed since it was seen stay."""
    short = S3Store(s3_url, mirror=tmp_path / "short", lease_ttl_s=1.0)
    _season(short)
    done = short.lease(D["bb"])  # its take is recorded and kept: the holder died after storing it
    old = short.lease(D["cc"])  # its take is recorded, but no recipe uses it: gc removes both
    pending = short.lease("9" * 64)  # no record: a holder that died mid-request (its journal resumes)
    live = S3Store(s3_url, mirror=tmp_path / "long", lease_ttl_s=60.0).lease(D["aa"])
    assert done.try_acquire() and old.try_acquire() and pending.try_acquire() and live.try_acquire()
    old.release()
    time.sleep(2.5)  # past the short TTL on the server's clock (whole seconds)
    key = f"leases/{D['cc']}.json"
    dry = collect_garbage(short, dry_run=True)
    assert [k for k, _ in dry.removed if k.startswith("leases/")] == [key]  # with the record it guards
    assert short.read_key(key) is not None and short.read_key(record_key(D["cc"])) is not None  # nothing removed
    report = collect_garbage(short)
    assert report.removed == dry.removed and report.freed_bytes == dry.freed_bytes  # exactly what it listed
    assert [k for k, _ in report.removed if k.startswith("leases/")] == [key]
    assert short.read_key(key) is None and short.read_key(f"leases/{D['bb']}.json") is not None
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
