"""The content-addressed artifact store (``.audioflow/`` beside the recipe by default).

Layout (every name below is a *key*, a POSIX path relative to the root)::

    objects/ab/<sha256>.<ext>   artifact bytes, named by their content digest
    steps/ab/<input digest>.json step record: the artifact digest and size, its metadata
    state/<recipe>.json          what each step id of a recipe last resolved to (plan's reasons, gc's roots)
    locks/<digest>.lock          held while a step renders (removed on release)
    jobs/<request digest>.json   a paid request in flight: the host's request id and poll URLs
    tmp/                         partial writes, renamed into place once complete
    quarantine/<time>/<key>      damaged files set aside, never deleted (``log.txt`` says why)

Writes are atomic (:mod:`.atomic`) and a record is written only after its object. Reads trust
nothing: a record is parsed field by field (:mod:`.records`); its object's path comes from its
digest and extension, never from the record; the object must be a regular file of the recorded
size, and its sha256 is checked where asked (``get_step(verify=True)``, :meth:`read_verified`:
what is bounced). A damaged record or object is a cache miss: it is moved to ``quarantine/`` (a
:class:`Finding` says what and why, in :attr:`ArtifactStore.findings`) so the step renders again.
A journal that cannot be read is never a miss: :meth:`JobJournal.load` raises, so nothing is paid twice.
Cache hits need no writes and no locks: a read-only store still serves a fully cached render.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CacheError
from ..steps import hash_file
from .atomic import fsync_dir, write_atomic
from .digest import canonical_json, sha256_hex
from .locks import StepLock

if TYPE_CHECKING:
    from .leases import Lease
from .records import Damaged, object_key, parse_journal, parse_record, parse_state, record_key

__all__ = ["Artifact", "ArtifactStore", "Finding", "JobJournal", "StepRecord"]

AREAS = ("objects", "steps", "state", "locks", "jobs", "tmp")


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


@dataclass(frozen=True)
class Finding:
    """A damaged file of the store: its ``key`` (``steps/ab/….json``), the ``problem``, and where it
    was ``set_aside`` (a ``quarantine/`` key), or None with ``left`` saying why it stayed in place."""

    key: str
    problem: str
    set_aside: str | None = None
    left: str | None = None

    def __str__(self) -> str:
        where = f"set aside as {self.set_aside}" if self.set_aside else f"left in place ({self.left})"
        return f"damaged in cache: {self.key}: {self.problem}; {where}"


class JobJournal:
    """The journal of one paid request (``jobs/<request digest>.json``), satisfying the providers'
    ``Journal`` protocol: ``save`` is atomic and fsynced, so once a provider has saved the host's
    request id a crash cannot lose it, and the next run resumes polling instead of paying again."""

    def __init__(self, path: Path, tmp_dir: Path):
        self.path = path
        self._tmp_dir = tmp_dir

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when no request was journalled (no file). A file that cannot
        be read or parsed raises :class:`CacheError`: it may hold a paid request, so it is never
        taken for "not submitted"."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CacheError(self._unreadable(exc.strerror or str(exc))) from exc
        try:
            return parse_journal(data)
        except Damaged as exc:
            raise CacheError(self._unreadable(str(exc))) from exc

    def _unreadable(self, why: str) -> str:
        return (
            f"the journal of a paid request, {self.path}, cannot be read ({why}); it may hold a request that "
            "was already paid for, so the step is not submitted again. Look the request up on the host (its id "
            "may still be readable in the file), then move the file out of jobs/ to submit afresh"
        )

    def save(self, state: dict[str, Any]) -> None:
        """Persist ``state`` (the host's request id, poll URLs): atomic, and durable on return (the
        file and its name in ``jobs/`` are fsynced). Raises :class:`CacheError`."""
        write_atomic(self.path, canonical_json(state), tmp_dir=self._tmp_dir, durable=True)

    def clear(self) -> None:
        """Forget the request: remove the file, durable on return (``jobs/`` is fsynced, so a crash
        cannot bring back a request the host has finished with). Raises :class:`CacheError`."""
        try:
            self.path.unlink(missing_ok=True)
            fsync_dir(self.path.parent)
        except OSError as exc:
            raise CacheError(f"cannot remove {self.path}: {exc.strerror or exc}") from exc


#: What a new cache folder's ``.gitignore`` says: everything in it, itself included (as ruff's and pytest's caches do).
GITIGNORE = "# Created by audioflow: the cache is not versioned.\n*\n"


def _ignore_in_git(root: Path) -> None:
    """Write ``root/.gitignore`` (:data:`GITIGNORE`) unless it exists; best effort: a cache that
    cannot take the file still works."""
    try:
        with open(root / ".gitignore", "x", encoding="utf-8") as out:
            out.write(GITIGNORE)
    except OSError:
        pass


class ArtifactStore:
    """A content-addressed store rooted at ``root``; ``create=False`` requires it to exist. A folder
    it creates gets a ``.gitignore`` of ``*``. Raises :class:`CacheError` on I/O failures."""

    #: Whether its calls wait on a network (a bucket): the scheduler then makes them off its event loop.
    remote = False

    def __init__(self, root: Path, *, create: bool = True):
        self.root = Path(root)
        self._findings: list[Finding] = []
        self._damaged: dict[str, Finding] = {}
        self._guard = threading.Lock()
        if not create:
            if not self.root.is_dir():
                raise CacheError(f"no cache at {self.root}")
            return
        new = not self.root.exists()
        for sub in AREAS:
            try:
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CacheError(f"cannot create the cache at {self.root}: {exc.strerror or exc}") from exc
        if new:
            _ignore_in_git(self.root)

    @property
    def location(self) -> str:
        """Where the store lives, as ``--cache-dir`` names it: its folder (a bucket: its URL)."""
        return str(self.root)

    # -- keys ------------------------------------------------------------------------------------
    def path(self, key: str) -> Path:
        """The local file of ``key`` (a key from :mod:`.records` or :meth:`keys`)."""
        return self.root / key

    def keys(self, area: str) -> list[str]:
        """Every file key under ``area`` (``objects``, ``steps``, ``state``, ``jobs``, ``locks``,
        ``tmp``), sorted; symlinks are listed, not followed."""
        base = self.root / area
        found = []
        for folder, dirs, files in os.walk(base):
            dirs.sort()
            rel = Path(folder).relative_to(self.root).as_posix()
            found += [f"{rel}/{name}" for name in files]
            found += [f"{rel}/{name}" for name in dirs if (Path(folder) / name).is_symlink()]
        return sorted(found)

    # -- damage ------------------------------------------------------------------------------------
    @property
    def findings(self) -> list[Finding]:
        """What this store object found damaged so far, in order (plan and run report these)."""
        with self._guard:
            return list(self._findings)

    def damage(self, key: str) -> Finding | None:
        """The finding about ``key`` (e.g. ``record_key(digest)``), if it was found damaged."""
        with self._guard:
            return self._damaged.get(key)

    def set_aside(self, key: str, problem: str, *, seen: os.stat_result | None = None) -> Finding:
        """Move the damaged file ``key`` to ``quarantine/<UTC time>/<key>`` (never deleted) and
        record a :class:`Finding`. With ``seen`` (the file's stat when it was judged), a file
        replaced since then (a fresh write by another run) is left alone."""
        source = self.root / key
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        dest_key = f"quarantine/{stamp}/{key}"
        left = None
        try:
            if seen is not None and not os.path.samestat(os.lstat(source), seen):
                left = "replaced by a newer write meanwhile"
            else:
                n = 1
                while (self.root / dest_key).exists():
                    n += 1
                    dest_key = f"quarantine/{stamp}-{n}/{key}"
                (self.root / dest_key).parent.mkdir(parents=True, exist_ok=True)
                os.rename(source, self.root / dest_key)
                self._log(dest_key, problem)
        except FileNotFoundError:
            left = "already moved by another run"
        except OSError as exc:
            left = f"cannot move it: {exc.strerror or exc}"
        return self.report(Finding(key, problem, None if left else dest_key, left))

    def report(self, finding: Finding, *, also: str | None = None) -> Finding:
        """Record ``finding`` (once per key) and return it; ``also`` is another key it explains
        (the record whose object was damaged)."""
        with self._guard:
            if finding.key not in self._damaged:
                self._findings.append(finding)
                self._damaged[finding.key] = finding
            if also is not None:
                self._damaged.setdefault(also, finding)
        return finding

    def _log(self, dest_key: str, problem: str) -> None:
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\t{dest_key}\t{problem}\n"
        try:
            with open(self.root / "quarantine" / "log.txt", "a", encoding="utf-8") as log:
                log.write(line)
        except OSError:
            pass  # the move is what matters; the finding still reports it

    # -- objects -------------------------------------------------------------------------------
    def _write_atomic(self, target: Path, data: bytes) -> None:
        write_atomic(target, data, tmp_dir=self.root / "tmp")

    @staticmethod
    def _object_of(data: bytes, ext: str) -> tuple[str, str]:
        """(content digest, object key) of ``data`` stored with extension ``ext``; a :class:`CacheError`
        for an extension not in ``records.OBJECT_EXTS``."""
        digest = sha256_hex(data)
        try:
            return digest, object_key(digest, ext)
        except ValueError as exc:
            raise CacheError(str(exc)) from exc

    @staticmethod
    def _record_json(artifact: Artifact, meta: dict[str, Any]) -> bytes:
        """The step record of ``artifact`` with ``meta`` (what ``records.parse_record`` reads)."""
        record = {
            "digest": artifact.digest,
            "object": object_key(artifact.digest, artifact.path.suffix.lstrip(".")),
            "size": artifact.size,
            "meta": meta,
        }
        return canonical_json(record)

    def put_bytes(self, data: bytes, ext: str) -> Artifact:
        """Store ``data`` (an encoded file with extension ``ext``, one of ``records.OBJECT_EXTS``)
        under its content digest. An existing object is kept only if its content matches; a
        damaged one is set aside and written afresh."""
        digest, key = self._object_of(data, ext)
        path = self.root / key
        try:
            seen = os.lstat(path)
        except OSError:
            seen = None
        if seen is not None:
            if stat.S_ISREG(seen.st_mode) and seen.st_size == len(data) and self._content_ok(path, digest):
                return Artifact(digest, path, len(data))
            problem = "its content does not match its digest" if stat.S_ISREG(seen.st_mode) else "not a regular file"
            self.set_aside(key, problem, seen=seen)
        self._write_atomic(path, data)
        return Artifact(digest, path, len(data))

    @property
    def tmp_dir(self) -> Path:
        """Where to write a file that :meth:`put_file` will adopt (same file system as the objects)."""
        return self.root / "tmp"

    def put_file(self, path: Path, ext: str, *, digest: str | None = None) -> Artifact:
        """Adopt the finished file at ``path`` (best written in :attr:`tmp_dir`) as an artifact with
        extension ``ext``, like :meth:`put_bytes` but never read into memory: fsynced and renamed
        into place. ``digest`` is its hex sha256 when the writer computed it on the way (else the
        file is hashed). An existing object is kept only if its content matches (a damaged one is
        set aside). The file at ``path`` is gone afterwards (moved, or deleted as a duplicate)."""
        path = Path(path)
        try:
            digest = digest or hash_file(path)
            key = object_key(digest, ext)
        except ValueError as exc:
            raise CacheError(str(exc)) from exc
        except OSError as exc:
            raise CacheError(f"cannot store {path.name}: {exc.strerror or exc}") from exc
        target = self.root / key
        try:
            size = path.stat().st_size
            seen = os.lstat(target) if os.path.lexists(target) else None
            if seen is not None:
                if stat.S_ISREG(seen.st_mode) and seen.st_size == size and self._content_ok(target, digest):
                    path.unlink()
                    return Artifact(digest, target, size)
                regular = stat.S_ISREG(seen.st_mode)
                problem = "its content does not match its digest" if regular else "not a regular file"
                self.set_aside(key, problem, seen=seen)
            if path.parent.resolve() != self.tmp_dir.resolve():  # maybe another file system: copy in first
                fd, tmp = tempfile.mkstemp(dir=self.tmp_dir, prefix=f".{target.name}.")
                os.close(fd)
                shutil.copyfile(path, tmp)
                path.unlink()
                path = Path(tmp)
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        except OSError as exc:
            raise CacheError(f"cannot store {path.name}: {exc.strerror or exc}") from exc
        return Artifact(digest, target, size)

    @staticmethod
    def _content_ok(path: Path, digest: str) -> bool:
        try:
            return hash_file(path) == digest
        except OSError:
            return False

    def read_verified(self, artifact: Artifact) -> bytes:
        """The bytes of ``artifact``, checked against its size and digest (for what is bounced).
        Raises :class:`CacheError` if they do not match, after setting the object aside."""
        key = Path(os.path.relpath(artifact.path, self.root)).as_posix()
        try:
            data = artifact.path.read_bytes()
        except OSError as exc:
            raise CacheError(f"cannot read {artifact.path}: {exc.strerror or exc}") from exc
        if len(data) != artifact.size or sha256_hex(data) != artifact.digest:
            finding = self.set_aside(key, "its content does not match its digest")
            raise CacheError(f"{finding}; run again to render it afresh")
        return data

    # -- step records --------------------------------------------------------------------------
    def get_step(self, input_digest: str, *, verify: bool = False) -> StepRecord | None:
        """The record for ``input_digest``, or None if there is none or it cannot be used: a
        damaged record, or an object that is missing, of the wrong size, or (``verify``: its
        sha256 is checked) of the wrong content. Damage is set aside (see :meth:`set_aside`)."""
        key = record_key(input_digest)
        try:
            with open(self.root / key, "rb") as handle:
                seen = os.fstat(handle.fileno())
                data = handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.set_aside(key, f"cannot be read: {exc.strerror or exc}")
            return None
        try:
            fields = parse_record(data)
        except Damaged as exc:
            self.set_aside(key, str(exc), seen=seen)
            return None
        obj_key = object_key(fields.digest, fields.ext)
        path = self.root / obj_key
        try:
            obj = os.lstat(path)
        except FileNotFoundError:
            return None  # a plain miss: the step renders and its record is written afresh
        except OSError as exc:
            self.report(self.set_aside(obj_key, f"cannot be read: {exc.strerror or exc}"), also=key)
            return None
        if not stat.S_ISREG(obj.st_mode):
            self.report(self.set_aside(obj_key, "not a regular file", seen=obj), also=key)
            return None
        if obj.st_size != fields.size:
            if self._content_ok(path, fields.digest):  # the object is sound: the record lies
                self.set_aside(key, f"'size' says {fields.size} bytes, its object has {obj.st_size}", seen=seen)
            else:
                finding = self.set_aside(obj_key, f"{obj.st_size} bytes, its record says {fields.size}", seen=obj)
                self.report(finding, also=key)
            return None
        if verify and not self._content_ok(path, fields.digest):
            self.report(self.set_aside(obj_key, "its content does not match its digest", seen=obj), also=key)
            return None
        return StepRecord(input_digest, Artifact(fields.digest, path, fields.size), fields.meta)

    def put_step(self, input_digest: str, artifact: Artifact, meta: dict[str, Any]) -> StepRecord:
        """Record that ``input_digest`` produced ``artifact``, with JSON-able ``meta``."""
        self._write_atomic(self.root / record_key(input_digest), self._record_json(artifact, meta))
        return StepRecord(input_digest, artifact, meta)

    # -- locks and journals --------------------------------------------------------------------
    def file_lock(self, input_digest: str) -> StepLock:
        """The inter-process render lock of ``input_digest`` (see :class:`~.locks.StepLock`)."""
        return StepLock(self.root / "locks" / f"{input_digest}.lock", input_digest[:12])

    @contextmanager
    def lock(self, input_digest: str, timeout_s: float = -1) -> Iterator[None]:
        """Hold the render lock of ``input_digest`` (inter-process; blocks by default)."""
        lock = self.file_lock(input_digest)
        lock.acquire(timeout_s)
        try:
            yield
        finally:
            lock.release()

    def journal(self, request_digest: str, *, absent: bool = False) -> JobJournal:
        """The journal of the paid request with digest ``request_digest`` (see :class:`JobJournal`).
        ``absent`` (a shared store's holder that created the lease knows there is none) is for
        stores with leases; a folder has none and reads its file."""
        return JobJournal(self.root / "jobs" / f"{request_digest}.json", self.root / "tmp")

    def lease(self, input_digest: str) -> Lease | None:
        """The lease on ``input_digest`` in a shared store (:mod:`.leases`); None here: a local store
        is one machine's, and its file lock (:meth:`file_lock`) already keeps its runs apart."""
        return None

    def pending_jobs(self) -> list[str]:
        """Request digests with a journal: paid requests a rerun will resume."""
        return sorted(p.stem for p in (self.root / "jobs").glob("*.json"))

    # -- per-recipe state (plan's reasons, gc's roots) -----------------------------------------
    def state_key(self, recipe_key: str) -> str:
        """The key of the state of the recipe ``recipe_key`` (its absolute path)."""
        return f"state/{sha256_hex(recipe_key.encode())[:16]}.json"

    def read_state(self, recipe_key: str) -> dict[str, Any]:
        """What each step id of the recipe ``recipe_key`` last resolved to ({} when unknown). A
        damaged state reads as {} and is reported; it is left in place (gc refuses to run while
        one is damaged) and replaced by the next run's state."""
        key = self.state_key(recipe_key)
        try:
            return parse_state((self.root / key).read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, Damaged) as exc:
            problem = str(exc) if isinstance(exc, Damaged) else f"cannot be read: {exc.strerror or exc}"
            left = "a run replaces it; `audioflow cache verify --repair` sets it aside"
            self.report(Finding(key, problem, None, left))
            return {}

    def write_state(self, recipe_key: str, state: dict[str, Any]) -> None:
        """Replace the recipe's state atomically."""
        self._write_atomic(self.root / self.state_key(recipe_key), canonical_json(state))
