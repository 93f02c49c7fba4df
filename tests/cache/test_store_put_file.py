"""ArtifactStore.put_file: a finished file adopted by its digest, moved, never read into memory."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from audioflow.cache import ArtifactStore
from audioflow.errors import CacheError


def test_put_file_moves_the_file_into_place_under_its_digest(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "cache")
    written = store.tmp_dir / "mix.partial"
    written.write_bytes(b"RIFF" + bytes(1000))
    digest = hashlib.sha256(written.read_bytes()).hexdigest()
    artifact = store.put_file(written, "wav")
    assert artifact.digest == digest
    assert artifact.size == 1004
    assert artifact.path == tmp_path / "cache" / "objects" / digest[:2] / f"{digest}.wav"
    assert artifact.path.read_bytes() == b"RIFF" + bytes(1000)
    assert not written.exists()
    assert artifact == store.put_bytes(b"RIFF" + bytes(1000), "wav")  # the same object as put_bytes makes


def test_put_file_trusts_a_given_digest_and_drops_a_duplicate(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "cache")
    first = store.put_bytes(b"same", "mp3")
    again = store.tmp_dir / "again"
    again.write_bytes(b"same")
    assert store.put_file(again, "mp3", digest=first.digest) == first
    assert not again.exists()


def test_put_file_copies_from_another_folder(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "cache")
    elsewhere = tmp_path / "out.flac"
    elsewhere.write_bytes(b"fLaC....")
    artifact = store.put_file(elsewhere, "flac")
    assert artifact.path.read_bytes() == b"fLaC...."
    assert not elsewhere.exists()
    assert list(store.tmp_dir.iterdir()) == []


def test_put_file_of_a_missing_file_is_a_cache_error(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "cache")
    with pytest.raises(CacheError, match=r"cannot store nothing\.wav"):
        store.put_file(tmp_path / "nothing.wav", "wav")
