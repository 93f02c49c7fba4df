"""``audioflow cache verify``, ``gc`` and ``info``: check every file of a store, remove what no
recipe uses, and measure what recipes use.

verify hashes every object against the digest in its name and parses every record, journal and
state (:mod:`.records`). With ``repair`` a damaged object, record or state is set aside in
``quarantine/`` (never deleted); a damaged journal is only reported, never moved: it may hold a
request that was paid for, and only a person who has looked at the host can decide to submit again.

gc keeps everything reachable from a root: every step of every recipe state in ``state/`` (its
input digest, the take digest of its paid take, the artifacts of its upstream), plus the input
digests a caller adds (the steps a recipe's current plan finds). From a kept record it keeps the
record's object and the record of the raw take it was finished from (``meta.take_digest``).
Everything else in ``steps/`` and ``objects/`` goes, with stale temp files and unheld lock files;
journals and ``quarantine/`` are never touched. A state that cannot be read stops gc before it
removes anything: it cannot tell what that recipe uses. gc holds no store-wide lock: run it when
no render is using the store.

The report's take previews (``previews/ab/<artifact sha256>.<tag>.ogg`` under the store's local
root; a bucket's local mirror) are not objects: verify does not count them, and gc removes each
whose artifact it does not keep.

Both work on a bucket (:class:`~.s3.S3Store`) with the same semantics, through :class:`_BucketFiles`:
keys are listed afresh, objects are hashed as they stream from the server, damage is set aside
under the bucket's ``quarantine/``, and gc removes only the leases that guard nothing (released or
long expired, with no record of their take, or only one this gc removes, and no journal:
:meth:`~.s3.S3Store.sweep_leases`); a live lease guards a paid request and is never touched. A dry
run lists exactly what the real pass removes, those leases included.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import CacheError
from ..steps import hash_file
from .atomic import is_stale_temp
from .records import (
    Damaged,
    is_digest,
    object_key,
    parse_journal,
    parse_object_key,
    parse_record,
    parse_record_key,
    parse_state,
    record_key,
)
from .s3 import S3Store
from .store import ArtifactStore, Finding

#: The store's side folder of the report's take previews (under its local root; never in a bucket).
PREVIEWS_AREA = "previews"

__all__ = ["CacheUsage", "GcReport", "VerifyReport", "cache_usage", "collect_garbage", "verify_store"]

JOURNAL_LEFT = "a journal is never moved: it may hold a paid request; look it up on the host, then move it by hand"


@dataclass
class VerifyReport:
    """What :func:`verify_store` checked (counts, bytes hashed) and what it found damaged."""

    findings: list[Finding] = field(default_factory=list)
    records: int = 0
    objects: int = 0
    object_bytes: int = 0
    journals: int = 0
    states: int = 0

    @property
    def unrepaired(self) -> list[Finding]:
        """Findings still in place (not repaired, or a journal)."""
        return [f for f in self.findings if f.set_aside is None]


class _Files:
    """How verify and gc reach a local store's files (``seen``: the stat a file was judged by, so a
    file replaced meanwhile is never set aside or removed for another's damage)."""

    def __init__(self, store: ArtifactStore):
        self.store = store

    def keys(self, area: str) -> list[str]:
        return self.store.keys(area)

    def read(self, key: str) -> tuple[bytes, os.stat_result | None]:
        """The bytes of ``key`` and the stat they were read under. Raises ``OSError``."""
        with open(self.store.path(key), "rb") as handle:
            return handle.read(), os.fstat(handle.fileno())

    def entry(self, key: str) -> tuple[int, os.stat_result | None]:
        """(size in bytes, stat) of ``key``; raises :class:`Damaged` when it is no regular file,
        ``FileNotFoundError`` when it is missing."""
        seen = os.lstat(self.store.path(key))
        if not stat.S_ISREG(seen.st_mode):
            raise Damaged("not a regular file")
        return seen.st_size, seen

    def digest(self, key: str) -> str:
        """The sha256 of ``key``'s content, read in blocks."""
        return hash_file(self.store.path(key))

    def size(self, key: str) -> int:
        """The size of ``key`` in bytes; raises ``FileNotFoundError`` when it is gone."""
        return os.lstat(self.store.path(key)).st_size

    def remove(self, key: str) -> None:
        """Delete ``key``; raises ``FileNotFoundError`` when it is gone already."""
        os.unlink(self.store.path(key))

    def stale_temps(self) -> list[str]:
        """Temp files in ``tmp/`` whose writer is gone (see :func:`~.atomic.is_stale_temp`)."""
        return [key for key in self.store.keys("tmp") if is_stale_temp(self.store.path(key))]

    def unheld_locks(self, dry_run: bool, removing: Collection[str] = ()) -> list[tuple[str, int]]:
        """Lock files nobody holds (removed unless ``dry_run``), as (key, 0). ``removing``: the keys
        this gc pass removes (a lock file guards none)."""
        return [(k, 0) for k in self.store.keys("locks") if k.endswith(".lock") and _unheld(self.store, k, dry_run)]

    def where(self, key: str) -> str:
        return str(self.store.path(key))


class _BucketFiles(_Files):
    """A bucket's objects (see the module docstring): sizes come from the listing, made afresh."""

    store: S3Store

    def __init__(self, store: S3Store):
        super().__init__(store)
        self.sizes: dict[str, int] = {}

    def keys(self, area: str) -> list[str]:
        sizes = self.store.sizes(area)
        self.sizes.update(sizes)
        return sorted(sizes)

    def read(self, key: str) -> tuple[bytes, os.stat_result | None]:
        data = self.store.read_key(key)
        if data is None:
            raise FileNotFoundError(key)
        return data, None

    def entry(self, key: str) -> tuple[int, os.stat_result | None]:
        if key not in self.sizes:
            raise FileNotFoundError(key)
        return self.sizes[key], None

    def digest(self, key: str) -> str:
        return self.store.hash_key(key)

    def size(self, key: str) -> int:
        if key not in self.sizes:
            raise FileNotFoundError(key)
        return self.sizes[key]

    def remove(self, key: str) -> None:
        self.store.remove_key(key)
        self.sizes.pop(key, None)

    def stale_temps(self) -> list[str]:
        return []  # a bucket's writes are single puts: no temp files

    def unheld_locks(self, dry_run: bool, removing: Collection[str] = ()) -> list[tuple[str, int]]:
        # a bucket's leases: only dead holders' go, and those of the records this pass removes (even dry)
        return self.store.sweep_leases(dry_run=dry_run, removing=removing)

    def where(self, key: str) -> str:
        return self.store.url_of(key)


def _files(store: ArtifactStore) -> _Files:
    return _BucketFiles(store) if isinstance(store, S3Store) else _Files(store)


class _Verifier:
    def __init__(self, store: ArtifactStore, repair: bool):
        self.store = store
        self.files = _files(store)
        self.repair = repair
        self.report = VerifyReport()
        self.bad_objects: set[str] = set()

    def flag(self, key: str, problem: str, seen: os.stat_result | None = None, *, left: str | None = None) -> None:
        if self.repair and left is None:
            finding = self.store.set_aside(key, problem, seen=seen)
        else:
            finding = Finding(key, problem, None, left or "run `audioflow cache verify --repair` to set it aside")
        self.report.findings.append(finding)

    def objects(self) -> None:
        for key in self.files.keys("objects"):
            seen = None
            try:
                digest, _ = parse_object_key(key)
                size, seen = self.files.entry(key)
                self.report.objects += 1
                self.report.object_bytes += size
                if self.files.digest(key) != digest:
                    raise Damaged("its content does not match its digest")
            except Damaged as exc:
                self.bad_objects.add(key)
                self.flag(key, str(exc), seen)
            except OSError as exc:
                self.bad_objects.add(key)
                self.flag(key, f"cannot be read: {exc.strerror or exc}")

    def records(self) -> None:
        for key in self.files.keys("steps"):
            seen = None
            try:
                parse_record_key(key)
                data, seen = self.files.read(key)
                fields = parse_record(data)
                self.report.records += 1
                obj = object_key(fields.digest, fields.ext)
                if obj in self.bad_objects:
                    raise Damaged(f"its object {obj} is damaged")
                try:
                    size, _ = self.files.entry(obj)
                except FileNotFoundError:
                    raise Damaged(f"its object {obj} is missing") from None
                if size != fields.size:
                    raise Damaged(f"'size' says {fields.size} bytes, its object has {size}")
            except Damaged as exc:
                self.flag(key, str(exc), seen)
            except OSError as exc:
                self.flag(key, f"cannot be read: {exc.strerror or exc}")

    def journals_and_states(self) -> None:
        for area, parse in (("jobs", parse_journal), ("state", parse_state)):
            for key in self.files.keys(area):
                left = JOURNAL_LEFT if area == "jobs" else None
                seen = None
                try:
                    data, seen = self.files.read(key)
                    parse(data)
                    if area == "jobs":
                        self.report.journals += 1
                    else:
                        self.report.states += 1
                except Damaged as exc:
                    self.flag(key, str(exc), seen, left=left)
                except OSError as exc:
                    self.flag(key, f"cannot be read: {exc.strerror or exc}", left=left)


def verify_store(store: ArtifactStore, *, repair: bool = False) -> VerifyReport:
    """Check every object (sha256 against its name), record, journal and state of ``store``.
    With ``repair``, set damaged ones aside (journals excepted). Raises :class:`CacheError` only
    when the store cannot be listed."""
    verifier = _Verifier(store, repair)
    try:
        verifier.objects()
        verifier.records()
        verifier.journals_and_states()
    except OSError as exc:
        where = store.url if isinstance(store, S3Store) else store.root
        raise CacheError(f"cannot read the cache at {where}: {exc.strerror or exc}") from exc
    return verifier.report


@dataclass
class GcReport:
    """What :func:`collect_garbage` removed (or would remove: ``dry_run``): (key, bytes) pairs."""

    removed: list[tuple[str, int]]
    dry_run: bool
    kept_records: int
    kept_objects: int

    @property
    def freed_bytes(self) -> int:
        return sum(size for _, size in self.removed)


def _roots(files: _Files) -> tuple[set[str], set[str]]:
    """(input digests, object digests) named by every recipe state; a damaged state raises."""
    inputs: set[str] = set()
    contents: set[str] = set()
    for key in files.keys("state"):
        try:
            state = parse_state(files.read(key)[0])
        except (Damaged, OSError) as exc:
            why = str(exc) if isinstance(exc, Damaged) else (exc.strerror or str(exc))
            raise CacheError(
                f"{files.where(key)} cannot be read ({why}): gc cannot tell what that recipe uses, so it removes "
                "nothing. Run that recipe again (its state is rewritten) or set the file aside with "
                "`audioflow cache verify --repair`, then run gc again"
            ) from exc
        for entry in state.get("steps", {}).values():
            inputs.add(entry["input_digest"])
            if entry.get("take_digest"):
                inputs.add(entry["take_digest"])
            contents.update(entry.get("upstream", []))
    return inputs, contents


def _reachable(files: _Files, roots: Iterable[str]) -> tuple[set[str], set[str]]:
    """(record keys, object digests) reachable from the input digests ``roots``."""
    records: set[str] = set()
    contents: set[str] = set()
    queue = [d for d in roots if is_digest(d)]
    while queue:
        key = record_key(queue.pop())
        if key in records:
            continue
        records.add(key)
        try:
            fields = parse_record(files.read(key)[0])
        except (Damaged, OSError):
            continue  # kept as it is: verify reports it
        contents.add(fields.digest)
        take: Any = fields.meta.get("take_digest")
        if is_digest(take):
            queue.append(take)
    return records, contents


def _unheld(store: ArtifactStore, key: str, dry_run: bool) -> bool:
    """Whether nobody holds the lock file ``key``; unless ``dry_run``, it is removed when so."""
    if not dry_run:
        lock = store.file_lock(os.path.basename(key).removesuffix(".lock"))
        if not lock.try_acquire():
            return False
        lock.release()  # unlinks the file
        return True
    try:
        fd = os.open(store.path(key), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _stale_previews(store: ArtifactStore, kept: set[str], dry_run: bool) -> list[tuple[str, int]]:
    """(key, bytes) of every preview whose artifact is not ``kept``; removed unless ``dry_run``."""
    removed = []
    for path in sorted((store.root / PREVIEWS_AREA).glob("*/*.ogg")):
        if path.name.split(".", 1)[0] in kept:
            continue
        try:
            size = path.stat().st_size
            if not dry_run:
                path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise CacheError(f"cannot remove {path}: {exc.strerror or exc}") from exc
        removed.append((path.relative_to(store.root).as_posix(), size))
    return removed


def collect_garbage(store: ArtifactStore, *, keep_inputs: Iterable[str] = (), dry_run: bool = False) -> GcReport:
    """Remove what no recipe uses (see the module docstring); ``keep_inputs`` adds input digests
    to keep. With ``dry_run`` nothing is removed. Raises :class:`CacheError` for a damaged state."""
    files = _files(store)
    inputs, contents = _roots(files)
    records, reached = _reachable(files, inputs | set(keep_inputs))
    contents |= reached
    doomed: list[str] = []
    for key in files.keys("steps"):
        try:
            parse_record_key(key)
        except Damaged:
            continue  # not a record: verify reports it
        if key not in records:
            doomed.append(key)
    for key in files.keys("objects"):
        try:
            digest, _ = parse_object_key(key)
        except Damaged:
            continue
        if digest not in contents:
            doomed.append(key)
    doomed += files.stale_temps()
    removed: list[tuple[str, int]] = []
    for key in doomed:
        try:
            size = files.size(key)
            if not dry_run:
                files.remove(key)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise CacheError(f"cannot remove {files.where(key)}: {exc.strerror or exc}") from exc
        removed.append((key, size))
    removed += files.unheld_locks(dry_run, {key for key, _ in removed})
    removed += _stale_previews(store, contents, dry_run)
    return GcReport(removed, dry_run, len(records), len(contents))


@dataclass(frozen=True)
class CacheUsage:
    """What :func:`cache_usage` measured (bytes as stored, ``lstat`` sizes): every file under the
    root (``files``, ``bytes``: objects, records, journals, states, quarantine, locks, temp files);
    the objects and records; what the given input digests keep alive (``used_*``: their records,
    objects and the paid takes they were finished from); and what gc would keep (``kept_bytes``:
    that plus every recipe state's last run; ``None`` when a state cannot be read)."""

    files: int
    bytes: int
    objects: int
    object_bytes: int
    records: int
    journals: int
    states: int
    used_objects: int
    used_bytes: int
    kept_bytes: int | None


def _sizes(store: ArtifactStore) -> dict[str, int]:
    """Every regular file under the store's root (key → bytes), not following links; on a bucket,
    every object under its prefix (one listing; the local mirror is not the store)."""
    if isinstance(store, S3Store):
        return store.sizes()
    sizes: dict[str, int] = {}
    for folder, _, files in os.walk(store.root):
        for name in files:
            path = os.path.join(folder, name)
            try:
                sizes[os.path.relpath(path, store.root)] = os.lstat(path).st_size
            except FileNotFoundError:  # removed meanwhile (a temp file renamed)
                continue
    return sizes


def _reached_bytes(sizes: dict[str, int], records: set[str], contents: set[str]) -> tuple[int, int]:
    """(objects, bytes) of ``contents``' objects plus ``records`` that are in ``sizes``."""
    objects = {key: size for key, size in sizes.items() if key.startswith("objects/")}
    hit = [size for key, size in objects.items() if _object_digest(key) in contents]
    return len(hit), sum(hit) + sum(sizes.get(key, 0) for key in records)


def _object_digest(key: str) -> str | None:
    """The digest of an object key, or None for a file in ``objects/`` that is not one."""
    try:
        return parse_object_key(key)[0]
    except Damaged:
        return None


def cache_usage(store: ArtifactStore, *, keep_inputs: Iterable[str] = ()) -> CacheUsage:
    """Measure the store (see :class:`CacheUsage`); ``keep_inputs`` are the input digests whose use
    is asked for (the steps the given recipes' plans find). Reads records, never objects."""
    sizes = _sizes(store)
    files = _files(store)
    used_records, used_contents = _reachable(files, keep_inputs)
    used_objects, used_bytes = _reached_bytes(sizes, used_records, used_contents)
    try:
        inputs, contents = _roots(files)
    except CacheError:
        kept_bytes = None
    else:
        records, reached = _reachable(files, inputs | set(keep_inputs))
        kept_bytes = _reached_bytes(sizes, records, contents | reached)[1]
    objects = [size for key, size in sizes.items() if key.startswith("objects/")]
    return CacheUsage(
        files=len(sizes),
        bytes=sum(sizes.values()),
        objects=len(objects),
        object_bytes=sum(objects),
        records=sum(1 for key in sizes if key.startswith("steps/")),
        journals=sum(1 for key in sizes if key.startswith("jobs/")),
        states=sum(1 for key in sizes if key.startswith("state/")),
        used_objects=used_objects,
        used_bytes=used_bytes,
        kept_bytes=kept_bytes,
    )
