"""The shared store on S3-compatible storage: ``--cache-dir s3://bucket/prefix`` (s3fs).

Keys are those of the local store (:mod:`.records`) under ``prefix/``; only the way bytes move
differs:

* **Objects** are content-addressed and written with one conditional put (``If-None-Match: *``,
  s3fs's ``mode="create"``): a put that finds the object already there changes nothing. **Records**
  (``steps/``) are written only after their object, so a record never names a missing object.
* **Nothing is listed from a cache**: the file system is made with ``skip_instance_cache`` and
  ``use_listings_cache=False``, and every listing invalidates first; reads go to the server.
* **Journals** of paid requests (``jobs/``) and **leases** (``leases/``, :mod:`.leases`) live in the
  bucket, so a request started by a worker that died is resumed by another.
* **Artifacts are read from a local mirror** (``$XDG_CACHE_HOME/audioflow/s3/<hash of the URL>`` or
  ``mirror=``): an object is downloaded once, checked against its digest and size, and kept under
  the same key, so :class:`Artifact` paths stay local files for decoding, mixing and bouncing.
  Outputs and sidecars are written where a local run writes them.

Endpoint, region and credentials come from the usual environment (``AWS_ENDPOINT_URL``,
``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``, ``~/.aws``), read by botocore; one s3fs client is made per process and URL-free
settings (:func:`filesystem`). Errors are :class:`CacheError`; no message carries a credential.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ..errors import CacheError
from .atomic import write_atomic
from .digest import canonical_json, sha256_hex
from .leases import Lease, is_precondition_failure
from .records import Damaged, is_digest, object_key, parse_journal, parse_record, parse_state, record_key
from .store import Artifact, ArtifactStore, Finding, StepRecord

__all__ = ["S3Journal", "S3Store", "filesystem", "is_url", "local_root", "open_store"]

SCHEME = "s3://"
#: Seconds a lease lasts without renewal (renewed every third of it while a paid request is polled).
LEASE_TTL_S = 60.0
LEASE_TTL_ENV = "AUDIOFLOW_LEASE_TTL_S"
#: Seconds past its TTL after which ``cache gc`` removes an expired lease whose take has no record.
LEASE_GRACE_S = 3600.0

_CLIENTS: dict[tuple[int, str | None, str | None, str | None], Any] = {}
_CLIENTS_GUARD = threading.Lock()


def is_url(location: object) -> bool:
    """Whether ``location`` (``--cache-dir``, ``$AUDIOFLOW_CACHE_DIR``) names a bucket: ``s3://…``."""
    return isinstance(location, str) and location.startswith(SCHEME)


def open_store(location: Path | str, *, create: bool = True) -> ArtifactStore:
    """The store at ``location``: an :class:`S3Store` for ``s3://bucket/prefix``, else a local
    :class:`ArtifactStore` (``create=False`` requires it to exist). Raises :class:`CacheError`."""
    if is_url(location):
        return S3Store(str(location))
    return ArtifactStore(Path(location), create=create)


def local_root(location: Path | str) -> Path:
    """Where the artifacts of the store at ``location`` are read from on this machine: the folder
    itself, or a bucket's local mirror."""
    return _mirror_folder(str(location).rstrip("/")) if is_url(location) else Path(location)


#: What a failed S3 call raises: s3fs maps the server's answers to ``OSError``; botocore's own errors
#: (no credentials, no endpoint, a connection refused or timed out) reach us as ``BotoCoreError``.
#: Widened when s3fs is first imported (botocore comes with it).
_FAILURES: tuple[type[BaseException], ...] = (OSError,)
_SETUP_HINT = (
    "the bucket's endpoint and credentials come from AWS_ENDPOINT_URL, AWS_REGION, "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE (docs/howto/run-on-a-cluster.md)"
)


def _reason(exc: BaseException) -> str:
    """Why an S3 call failed, in a line: an ``OSError``'s text, or botocore's with how to set it up."""
    if isinstance(exc, OSError):
        return str(exc.strerror or exc)
    return f"{exc} ({_SETUP_HINT})"


def filesystem() -> Any:
    """This process's s3fs file system for the environment's endpoint, region and profile (made
    once per process: workers share it between tasks). No instance or listing caches."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
    profile = os.environ.get("AWS_PROFILE") or None
    key = (os.getpid(), endpoint, region, profile)
    with _CLIENTS_GUARD:
        if key not in _CLIENTS:
            try:
                import s3fs
                from botocore.exceptions import BotoCoreError
            except ImportError as exc:  # pragma: no cover - s3fs is a dependency
                raise CacheError("an s3:// cache needs s3fs: pip install s3fs") from exc
            global _FAILURES
            _FAILURES = (OSError, BotoCoreError)
            client_kwargs = {"region_name": region} if region else {}
            _CLIENTS[key] = s3fs.S3FileSystem(
                skip_instance_cache=True,
                use_listings_cache=False,
                endpoint_url=endpoint,
                profile=profile,
                client_kwargs=client_kwargs,
            )
        return _CLIENTS[key]


def _lease_ttl_s() -> float:
    text = os.environ.get(LEASE_TTL_ENV, "")
    try:
        ttl_s = float(text) if text else LEASE_TTL_S
    except ValueError:
        raise CacheError(f"{LEASE_TTL_ENV}={text!r} is not a number of seconds") from None
    if not (math.isfinite(ttl_s) and ttl_s >= 1.0):
        raise CacheError(f"{LEASE_TTL_ENV}={text!r}: a lease lasts at least 1 second")
    return ttl_s


def _mirror_folder(url: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "audioflow" / "s3" / hashlib.sha256(url.encode()).hexdigest()[:16]


class S3Journal:
    """The journal of one paid request in the bucket (``jobs/<request digest>.json``), satisfying the
    providers' ``Journal`` protocol. ``save`` returns once the server has the object: a worker that
    dies after it leaves a request any other worker resumes. The journal remembers the ETag of the
    state it loaded or saved, and ``clear`` deletes only that state (``If-Match``): a worker that
    lost its lease and then sees its request fail never deletes the journal of the request the new
    holder submitted since. One journal object serves one holder under its lease (the scheduler's
    look, then the provider's): it reads the bucket once and then answers from what it read or saved.
    Made with ``absent`` (its holder created the lease, so by the lease rule of :mod:`.leases` there
    is none) it never reads the bucket."""

    def __init__(self, store: S3Store, key: str, *, absent: bool = False):
        self._store = store
        self.key = key
        self.etag: str | None = None
        self._known: tuple[dict[str, Any] | None] | None = (None,) if absent else None  # (state,) once known

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None. An unreadable journal raises :class:`CacheError`: it may hold a
        paid request, so it is never taken for "not submitted"."""
        if self._known is not None:
            return dict(self._known[0]) if self._known[0] is not None else None
        found = self._store.read_tagged(self.key)
        if found is None:
            self.etag = None
            self._known = (None,)
            return None
        data, etag = found
        try:
            state = parse_journal(data)
        except Damaged as exc:
            raise CacheError(
                f"the journal of a paid request, {self._store.url_of(self.key)}, cannot be read ({exc}); it may hold "
                "a request that was already paid for, so the step is not submitted again. Look the request up on "
                "the host, then move the object out of jobs/ to submit afresh"
            ) from exc
        self.etag = etag
        self._known = (dict(state),)
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Put ``state``; returns once the server has it. Raises :class:`CacheError`."""
        self.etag = self._store.put_tagged(self.key, canonical_json(state))
        self._known = (dict(state),)

    def clear(self) -> None:
        """Delete the state this journal loaded or saved, only if it is still there unchanged (one
        conditional delete: done once the server answers). Another state (another holder's
        request) is left; with nothing loaded or saved there is nothing of ours to clear.
        Raises :class:`CacheError` when the server cannot be reached."""
        etag, self.etag = self.etag, None
        self._known = None  # another holder's state may be there: the next load reads the bucket
        if etag is not None:
            self._store.remove_if_unchanged(self.key, etag)


class S3Store(ArtifactStore):
    """The store at ``url`` (``s3://bucket/prefix``), read through a local ``mirror`` folder (see the
    module docstring). ``lease_ttl_s`` is how long a paid step's lease lasts unrenewed (default
    ``$AUDIOFLOW_LEASE_TTL_S``, else :data:`LEASE_TTL_S`)."""

    remote = True

    def __init__(self, url: str, *, mirror: Path | None = None, lease_ttl_s: float | None = None, fs: Any = None):
        bucket, _, prefix = url.removeprefix(SCHEME).partition("/")
        if not bucket:
            raise CacheError(f"{url}: no bucket named (s3://bucket/prefix)")
        self.url = url.rstrip("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.lease_ttl_s = lease_ttl_s if lease_ttl_s is not None else _lease_ttl_s()
        self.fs = fs if fs is not None else filesystem()
        super().__init__(mirror if mirror is not None else _mirror_folder(self.url))

    @property
    def location(self) -> str:
        return self.url

    # -- remote keys ---------------------------------------------------------------------------
    def _remote(self, key: str) -> str:
        return f"{self.bucket}/{self.prefix}/{key}" if self.prefix else f"{self.bucket}/{key}"

    def bucket_key(self, key: str) -> str:
        """The S3 object key (inside the bucket) of store key ``key``."""
        return f"{self.prefix}/{key}" if self.prefix else key

    def url_of(self, key: str) -> str:
        return f"{self.url}/{key}"

    def _failed(self, verb: str, key: str, exc: BaseException) -> CacheError:
        return CacheError(f"cannot {verb} {self.url_of(key)}: {_reason(exc)}")

    def read_key(self, key: str) -> bytes | None:
        """The bytes of ``key`` from the server, or None when there is no such object. One GET: s3fs's
        concurrent read would first ask the object's size (a HEAD, and on a miss a listing too)."""
        try:
            return bytes(self.fs.cat_file(self._remote(key), max_concurrency=1))
        except FileNotFoundError:
            return None
        except _FAILURES as exc:
            raise self._failed("read", key, exc) from exc

    def write_key(self, key: str, data: bytes, *, create: bool = False) -> bool:
        """Put ``data`` at ``key``; with ``create``, only if absent (``If-None-Match: *``). Returns
        False when ``create`` found an object there already."""
        try:
            self.fs.pipe_file(self._remote(key), data, mode="create" if create else "overwrite")
        except _FAILURES as exc:
            if create and is_precondition_failure(exc):
                return False
            raise self._failed("write", key, exc) from exc
        return True

    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        """The bytes of ``key`` and their ETag, from one GET; None when there is no such object."""
        import fsspec.asyn

        async def get() -> tuple[bytes, str]:
            response = await self.fs._call_s3("get_object", Bucket=self.bucket, Key=self.bucket_key(key))
            body = response["Body"]
            try:
                return bytes(await body.read()), str(response["ETag"])
            finally:
                body.close()

        try:
            return fsspec.asyn.sync(self.fs.loop, get)
        except FileNotFoundError:
            return None
        except _FAILURES as exc:
            raise self._failed("read", key, exc) from exc

    def put_tagged(self, key: str, data: bytes) -> str:
        """Put ``data`` at ``key`` (one PUT); its ETag."""
        try:
            response = self.fs.call_s3("put_object", Bucket=self.bucket, Key=self.bucket_key(key), Body=data)
        except _FAILURES as exc:
            raise self._failed("write", key, exc) from exc
        return str(response["ETag"])

    def remove_if_unchanged(self, key: str, etag: str) -> bool:
        """Delete ``key`` if its ETag is still ``etag`` (``If-Match``). False when another write
        replaced it (left in place); True when deleted or already gone."""
        try:
            self.fs.call_s3("delete_object", Bucket=self.bucket, Key=self.bucket_key(key), IfMatch=etag)
        except FileNotFoundError:
            return True
        except _FAILURES as exc:
            if not is_precondition_failure(exc):
                raise self._failed("remove", key, exc) from exc
            return self.read_key(key) is None  # a 412 for an object already gone (SeaweedFS) is done too
        return True

    def remove_key(self, key: str) -> None:
        try:
            self.fs.rm_file(self._remote(key))
        except FileNotFoundError:
            pass
        except _FAILURES as exc:
            raise self._failed("remove", key, exc) from exc

    def keys(self, area: str) -> list[str]:
        """Every key under ``area`` on the server, sorted (listed afresh, never from a cache)."""
        base = self._remote(area)
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        except _FAILURES as exc:
            raise self._failed("list", area, exc) from exc
        strip = len(self._remote(""))
        keys = (str(name)[strip:] for name in found)
        return sorted(k for k in keys if k.startswith(f"{area}/") and not k.endswith("/"))  # no folder markers

    def sizes(self, area: str = "") -> dict[str, int]:
        """Every key under ``area`` (default: the whole store) on the server with its size in bytes
        (one listing, made afresh)."""
        base = self._remote(area) if area else self._remote("").rstrip("/")
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return {}
        except _FAILURES as exc:
            raise self._failed("list", area, exc) from exc
        strip = len(self._remote(""))
        out = {}
        for name, info in found.items():
            key = str(name)[strip:]
            inside = key.startswith(f"{area}/") if area else bool(key)
            if inside and not key.endswith("/") and info.get("type") != "directory":
                out[key] = int(info.get("size") or 0)
        return out

    def hash_key(self, key: str, block_bytes: int = 8 << 20) -> str:
        """The sha256 of object ``key``, hashed as it streams from the server (never held whole).
        Raises ``FileNotFoundError`` when it is gone, :class:`CacheError` when it cannot be read."""
        digest = hashlib.sha256()
        try:
            with self.fs.open(self._remote(key), "rb", block_size=block_bytes, cache_type="none") as handle:
                while block := handle.read(block_bytes):
                    digest.update(block)
        except FileNotFoundError:
            raise
        except _FAILURES as exc:
            raise self._failed("read", key, exc) from exc
        return digest.hexdigest()

    # -- damage ------------------------------------------------------------------------------
    def set_aside(self, key: str, problem: str, *, seen: os.stat_result | None = None) -> Finding:
        """Copy the damaged object ``key`` to ``quarantine/<UTC time>/<key>`` in the bucket, then
        remove it (never deleted outright); its mirror copy, if any, goes."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        dest_key = f"quarantine/{stamp}-{os.getpid()}/{key}"
        (self.root / key).unlink(missing_ok=True)
        try:
            self.fs.copy(self._remote(key), self._remote(dest_key))
            self.fs.rm_file(self._remote(key))
        except FileNotFoundError:
            return self.report(Finding(key, problem, None, "already moved by another run"))
        except _FAILURES as exc:
            return self.report(Finding(key, problem, None, f"cannot move it: {_reason(exc)}"))
        return self.report(Finding(key, problem, dest_key))

    # -- objects ---------------------------------------------------------------------------------
    def put_bytes(self, data: bytes, ext: str) -> Artifact:
        """Store ``data`` under its content digest: one conditional put (an object already there is
        kept: same key, same content), and a copy in the mirror."""
        digest, key = self._object_of(data, ext)
        self.write_key(key, data, create=True)
        local = self.root / key
        if not local.is_file() or local.stat().st_size != len(data):
            write_atomic(local, data, tmp_dir=self.root / "tmp")
        return Artifact(digest, local, len(data))

    def put_file(self, path: Path, ext: str, *, digest: str | None = None) -> Artifact:
        """Adopt the finished file at ``path`` (see :meth:`ArtifactStore.put_file`) into the mirror,
        then upload it from there by one conditional put (an object already there is kept: same key,
        same content); never read into memory whole."""
        artifact = super().put_file(path, ext, digest=digest)
        key = object_key(artifact.digest, ext)
        try:
            self.fs.put_file(str(artifact.path), self._remote(key), mode="create")
        except _FAILURES as exc:
            if not is_precondition_failure(exc):
                raise self._failed("write", key, exc) from exc
        return artifact

    def _fetch(self, key: str, digest: str, size: int) -> bool | None:
        """Download object ``key`` into the mirror, checked: True when it is there and sound, None
        when the server has no such object, False when it is damaged (set aside)."""
        data = self.read_key(key)
        if data is None:
            return None
        if len(data) != size or sha256_hex(data) != digest:
            problem = (
                f"{len(data)} bytes, its record says {size}"
                if len(data) != size
                else "its content does not match its digest"
            )
            self.set_aside(key, problem)
            return False
        write_atomic(self.root / key, data, tmp_dir=self.root / "tmp")
        return True

    def fetch_object(self, artifact: Artifact) -> Artifact | None:
        """``artifact`` (as a record of this store names it: content digest, size, extension) in the
        mirror: downloaded and checked when missing there (one GET; its record is not read again).
        None when the bucket has no such object or holds a damaged one (set aside)."""
        key = object_key(artifact.digest, artifact.path.suffix.lstrip("."))
        local = self.root / key
        here = Artifact(artifact.digest, local, artifact.size)
        if local.is_file() and local.stat().st_size == artifact.size:
            return here
        return here if self._fetch(key, artifact.digest, artifact.size) else None

    def read_verified(self, artifact: Artifact) -> bytes:
        """The bytes of ``artifact``, checked; a damaged mirror copy is fetched again once."""
        for _ in range(2):
            try:
                data = artifact.path.read_bytes()
            except FileNotFoundError:
                data = b""
            except OSError as exc:
                raise CacheError(f"cannot read {artifact.path}: {exc.strerror or exc}") from exc
            if len(data) == artifact.size and sha256_hex(data) == artifact.digest:
                return data
            key = Path(os.path.relpath(artifact.path, self.root)).as_posix()
            artifact.path.unlink(missing_ok=True)
            if not self._fetch(key, artifact.digest, artifact.size):
                break
        raise CacheError(f"the artifact {artifact.digest[:12]} in {self.url} is damaged; run again to render it afresh")

    # -- step records --------------------------------------------------------------------------
    def get_step(self, input_digest: str, *, verify: bool = False) -> StepRecord | None:
        """The record for ``input_digest`` from the server, its object in the mirror (downloaded and
        checked when missing; re-hashed with ``verify``), or None (a miss; damage is set aside)."""
        key = record_key(input_digest)
        data = self.read_key(key)
        if data is None:
            return None
        try:
            fields = parse_record(data)
        except Damaged as exc:
            self.set_aside(key, str(exc))
            return None
        obj_key = object_key(fields.digest, fields.ext)
        local = self.root / obj_key
        present = local.is_file() and local.stat().st_size == fields.size
        if present and verify and not self._content_ok(local, fields.digest):
            local.unlink(missing_ok=True)
            present = False
        if not present:
            fetched = self._fetch(obj_key, fields.digest, fields.size)
            if not fetched:
                if fetched is False:
                    finding = self.damage(obj_key)
                    if finding is not None:
                        self.report(finding, also=key)
                return None
        return StepRecord(input_digest, Artifact(fields.digest, local, fields.size), fields.meta)

    def put_step(self, input_digest: str, artifact: Artifact, meta: dict[str, Any]) -> StepRecord:
        """Record (on the server, after its object) that ``input_digest`` produced ``artifact``."""
        self.write_key(record_key(input_digest), self._record_json(artifact, meta))
        return StepRecord(input_digest, artifact, meta)

    # -- journals, leases, state -------------------------------------------------------------
    def journal(self, request_digest: str, *, absent: bool = False) -> S3Journal:  # type: ignore[override]
        """The journal of the paid request ``request_digest``, in the bucket; ``absent`` when its
        holder created the lease on it (then there is none: the lease rule of :mod:`.leases`)."""
        return S3Journal(self, f"jobs/{request_digest}.json", absent=absent)

    def pending_jobs(self) -> list[str]:
        return sorted(k.removeprefix("jobs/").removesuffix(".json") for k in self.keys("jobs"))

    def lease(self, input_digest: str) -> Lease:
        """The lease on ``input_digest`` (see :mod:`.leases`), not yet taken."""
        return Lease(self.fs, self.bucket, self.bucket_key(f"leases/{input_digest}.json"), self.lease_ttl_s)

    def sweep_leases(
        self, *, dry_run: bool = False, grace_s: float = LEASE_GRACE_S, removing: Collection[str] = ()
    ) -> list[tuple[str, int]]:
        """Remove the leases that guard nothing (the lease rule of :mod:`.leases`): released, or
        expired by the server's clock more than ``grace_s`` seconds ago, and their take has no
        record and their request no journal. Each goes by a delete under ``If-Match`` of the ETag
        seen, so a lease taken over or renewed meanwhile stays; live leases are never touched.
        ``removing`` are keys the caller's pass removes (gc: records no recipe uses), counted as
        gone already, so that a dry run lists the leases of those records as the real pass removes
        them. Returns (key, bytes) of each removed (with ``dry_run``: that would be). Raises
        :class:`CacheError` when the bucket cannot be read."""
        removed = []
        for key, size in sorted(self.sizes("leases").items()):
            digest = key.removeprefix("leases/").removesuffix(".json")
            if not is_digest(digest):
                continue  # not a lease audioflow wrote
            lease = self.lease(digest)
            seen = lease.overdue()
            if seen is None or seen[1] <= grace_s:
                continue  # gone meanwhile, alive, or maybe a holder frozen for a while
            record = record_key(digest)
            guards_record = record not in removing and self.read_key(record) is not None
            if guards_record or self.read_key(self.journal(digest).key) is not None:
                continue  # it guards a record or a journal: a worker that created it would look for neither
            if dry_run or lease.remove_if(seen[0]):
                removed.append((key, size))
        return removed

    def read_state(self, recipe_key: str) -> dict[str, Any]:
        key = self.state_key(recipe_key)
        data = self.read_key(key)
        if data is None:
            return {}
        try:
            return parse_state(data)
        except Damaged as exc:
            self.report(Finding(key, str(exc), None, "a run replaces it"))
            return {}

    def write_state(self, recipe_key: str, state: dict[str, Any]) -> None:
        self.write_key(self.state_key(recipe_key), canonical_json(state))
