"""The content-addressed artifact store (``.audioflow/`` beside the recipe by default).

Layout::

    objects/ab/<sha256>.<ext>   artifact bytes, named by their content digest
    steps/ab/<input digest>.json step record: the artifact digest, its metadata (duration, placeholder…)
    state/<recipe>.json          what each step id of a recipe last resolved to (for plan's reasons)
    locks/<input digest>.lock    held while a step renders, so two runs never render it twice
    jobs/<request digest>.json   a paid request in flight: the host's request id and poll URLs
    tmp/                         partial writes, renamed into place once complete

Every write goes to ``tmp/``, is flushed and fsynced, then renamed (``os.replace`` is atomic on one
file system): a reader sees a whole file or none. A step record is written only after its artifact,
so a record never points at a missing or partial object; :meth:`ArtifactStore.get_step` still checks
that the object exists with the recorded size.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock

from ..errors import CacheError
from .digest import canonical_json, sha256_hex

__all__ = ["Artifact", "ArtifactStore", "JobJournal", "StepRecord", "write_atomic"]


@dataclass(frozen=True)
class Artifact:
    """A stored artifact: content ``digest`` (hex sha256), file ``path``, ``size`` in bytes."""

    digest: str
    path: Path
    size: int


@dataclass(frozen=True)
class StepRecord:
    """What a step with a given input digest produced: its artifact and its metadata."""

    input_digest: str
    artifact: Artifact
    meta: dict[str, Any]


def write_atomic(target: Path, data: bytes, *, tmp_dir: Path | None = None, shared: bool = False) -> None:
    """Write ``data`` to ``target`` so that readers see the whole file or none: a temp file in
    ``tmp_dir`` (default: ``target``'s folder, which must be on the same file system), flushed,
    fsynced, then renamed over ``target``; the temp file is removed on any failure. ``shared``
    gives the file the umask's usual permissions (mkstemp creates it 0600), for files users open.
    Raises :class:`CacheError`."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir or target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if shared:
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CacheError(f"cannot write {target}: {exc.strerror or exc}") from exc


class JobJournal:
    """The journal of one paid request (``jobs/<request digest>.json``), satisfying the providers'
    ``Journal`` protocol: ``save`` is atomic and fsynced, so once a provider has saved the host's
    request id a crash cannot lose it, and the next run resumes polling instead of paying again."""

    def __init__(self, path: Path, tmp_dir: Path):
        self.path = path
        self._tmp_dir = tmp_dir

    def load(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def save(self, state: dict[str, Any]) -> None:
        write_atomic(self.path, canonical_json(state), tmp_dir=self._tmp_dir)

    def clear(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot remove {self.path}: {exc.strerror or exc}") from exc


class ArtifactStore:
    """A content-addressed store rooted at ``root``. Raises :class:`CacheError` on I/O failures."""

    def __init__(self, root: Path):
        self.root = Path(root)
        for sub in ("objects", "steps", "state", "locks", "jobs", "tmp"):
            try:
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CacheError(f"cannot create the cache at {self.root}: {exc.strerror or exc}") from exc

    # -- atomic writes -------------------------------------------------------------------------
    def _write_atomic(self, target: Path, data: bytes) -> None:
        write_atomic(target, data, tmp_dir=self.root / "tmp")

    # -- objects -------------------------------------------------------------------------------
    def _object_path(self, digest: str, ext: str) -> Path:
        return self.root / "objects" / digest[:2] / f"{digest}.{ext}"

    def put_bytes(self, data: bytes, ext: str) -> Artifact:
        """Store ``data`` (an encoded file with extension ``ext``) under its content digest."""
        digest = sha256_hex(data)
        path = self._object_path(digest, ext)
        if not (path.is_file() and path.stat().st_size == len(data)):
            self._write_atomic(path, data)
        return Artifact(digest, path, len(data))

    @property
    def tmp_dir(self) -> Path:
        """Where to write a file that :meth:`put_file` will adopt (same file system as the objects)."""
        return self.root / "tmp"

    def put_file(self, path: Path, ext: str, *, digest: str | None = None) -> Artifact:
        """Adopt the finished file at ``path`` (best written in :attr:`tmp_dir`) as an artifact with
        extension ``ext``: fsynced and renamed into place, never read into memory. ``digest`` is its
        hex sha256 if the writer computed it on the way (else it is computed by reading the file).
        The file at ``path`` is gone afterwards (moved, or deleted when the object already exists)."""
        path = Path(path)
        try:
            if digest is None:
                with open(path, "rb") as handle:
                    digest = hashlib.file_digest(handle, "sha256").hexdigest()
            size = path.stat().st_size
            target = self._object_path(digest, ext)
            if target.is_file() and target.stat().st_size == size:
                path.unlink()
                return Artifact(digest, target, size)
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.parent.resolve() != self.tmp_dir.resolve():  # maybe another file system: copy first
                fd, tmp = tempfile.mkstemp(dir=self.tmp_dir, prefix=f".{target.name}.")
                os.close(fd)
                shutil.copyfile(path, tmp)
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())
                path.unlink()
                path = Path(tmp)
            os.replace(path, target)
        except OSError as exc:
            raise CacheError(f"cannot store {path.name}: {exc.strerror or exc}") from exc
        return Artifact(digest, target, size)

    # -- step records --------------------------------------------------------------------------
    def _record_path(self, input_digest: str) -> Path:
        return self.root / "steps" / input_digest[:2] / f"{input_digest}.json"

    def get_step(self, input_digest: str) -> StepRecord | None:
        """The record for ``input_digest``, or None if absent or if its object is gone or damaged."""
        path = self._record_path(input_digest)
        try:
            record = json.loads(path.read_bytes())
            artifact = Artifact(record["digest"], self.root / record["object"], int(record["size"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return None  # an unreadable record is a cache miss, never a crash
        try:
            if artifact.path.stat().st_size != artifact.size:
                return None
        except OSError:
            return None
        return StepRecord(input_digest, artifact, dict(record.get("meta", {})))

    def put_step(self, input_digest: str, artifact: Artifact, meta: dict[str, Any]) -> StepRecord:
        """Record that ``input_digest`` produced ``artifact``, with JSON-able ``meta``."""
        record = {
            "digest": artifact.digest,
            "object": str(artifact.path.relative_to(self.root)),
            "size": artifact.size,
            "meta": meta,
        }
        self._write_atomic(self._record_path(input_digest), canonical_json(record))
        return StepRecord(input_digest, artifact, meta)

    def file_lock(self, input_digest: str) -> filelock.BaseFileLock:
        """The inter-process render lock of ``input_digest``; acquire and release may happen on
        different threads (``thread_local=False``), as they do under asyncio.to_thread."""
        return filelock.FileLock(str(self.root / "locks" / f"{input_digest}.lock"), thread_local=False)

    @contextmanager
    def lock(self, input_digest: str, timeout_s: float = -1) -> Iterator[None]:
        """Hold the render lock of ``input_digest`` (inter-process; blocks by default)."""
        lock = self.file_lock(input_digest)
        lock.timeout = timeout_s
        try:
            with lock:
                yield
        except filelock.Timeout as exc:
            raise CacheError(f"timed out waiting for the lock of step {input_digest[:12]}") from exc

    def journal(self, request_digest: str) -> JobJournal:
        """The journal of the paid request with digest ``request_digest`` (see :class:`JobJournal`)."""
        return JobJournal(self.root / "jobs" / f"{request_digest}.json", self.root / "tmp")

    def pending_jobs(self) -> list[str]:
        """Request digests with a journal: paid requests a rerun will resume."""
        return sorted(p.stem for p in (self.root / "jobs").glob("*.json"))

    # -- per-recipe state (for plan's reasons) -------------------------------------------------
    def _state_path(self, recipe_key: str) -> Path:
        return self.root / "state" / f"{sha256_hex(recipe_key.encode())[:16]}.json"

    def read_state(self, recipe_key: str) -> dict[str, Any]:
        """What each step id of the recipe ``recipe_key`` last resolved to ({} when unknown)."""
        try:
            state = json.loads(self._state_path(recipe_key).read_bytes())
            return state if isinstance(state, dict) else {}
        except (OSError, ValueError):
            return {}

    def write_state(self, recipe_key: str, state: dict[str, Any]) -> None:
        """Replace the recipe's state atomically."""
        self._write_atomic(self._state_path(recipe_key), canonical_json(state))

    # -- maintenance ---------------------------------------------------------------------------
    def gc(self, keep_inputs: set[str]) -> tuple[int, int]:
        """Delete step records not in ``keep_inputs`` and objects no kept record points at.

        Returns (files removed, bytes freed). Holds no locks: run it when no render is running.
        """
        kept_objects: set[Path] = set()
        removed = freed = 0
        for record_path in (self.root / "steps").glob("*/*.json"):
            if record_path.stem in keep_inputs and (record := self.get_step(record_path.stem)):
                kept_objects.add(record.artifact.path)
                continue
            freed += record_path.stat().st_size
            record_path.unlink(missing_ok=True)
            removed += 1
        for obj in (self.root / "objects").glob("*/*"):
            if obj not in kept_objects:
                freed += obj.stat().st_size
                obj.unlink(missing_ok=True)
                removed += 1
        return removed, freed
