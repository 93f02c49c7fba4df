"""Leases: a claim on a paid step's take digest in a shared store, so two workers never pay for it.

A lease is one object, ``leases/<take digest>.json``, holding its holder's name and a nonce, with
its time to live in the object's metadata. Its protocol uses only conditional writes, which the
server decides atomically:

* **take**: put with ``If-None-Match: *``. Exactly one of any number of racers succeeds.
* **take over** an expired lease: read its ETag and ``Last-Modified`` and the server's ``Date`` (the
  server's clock judges expiry, never ours); when ``Date - Last-Modified`` exceeds the lease's TTL,
  put a new lease with ``If-Match: <that ETag>``. Of several workers that saw the same expired
  lease, exactly one succeeds; the others' puts fail their precondition.
* **renew**: put a new nonce with ``If-Match: <our ETag>`` (a fresh nonce gives a fresh ETag); a
  renewal that fails means the lease is no longer ours, and the holder stops.
* **release**: put the lease again under ``If-Match: <our ETag>`` with a TTL of 0 (never someone
  else's lease): a released lease is free at once, taken over by the next worker that needs it. A
  lease that cannot be released simply expires. Holders never delete a lease object.
* **the lease rule**: a paid take's record and its request's journal (``jobs/<digest>.json``) are
  written only under its lease, and only ``gc`` deletes a lease object, and only one that guards
  neither (no record, no journal). So a **take** (the create succeeded: there was no lease object)
  proves there is neither a record nor a journal, and the new holder reads neither
  (:attr:`Lease.fresh`); a holder that **took over** a lease (expired, or released after a take was
  stored or a request failed) reads both.
* **sweep** (``cache gc`` on a bucket): a lease expired (or released) by the server's clock whose
  take has no record and whose request no journal, released or expired long ago, is deleted with
  ``If-Match`` of the ETag seen (:meth:`S3Store.sweep_leases
  <audioflow.cache.s3.S3Store.sweep_leases>`); deleting it is no more than the takeover any worker
  may make, and the lease rule holds after it.

What the holder does under the lease (look for the take again, resume a journalled request or
submit and journal a new one) and the window that remains are in ``docs/explanation/caching.md``.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import socket
import threading
from email.utils import parsedate_to_datetime
from typing import Any

from ..errors import CacheError
from .digest import canonical_json

__all__ = ["Lease", "is_precondition_failure"]

_PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})


def is_precondition_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (as s3fs raises it) says a conditional write's precondition did not hold.
    s3fs maps AWS's ``If-None-Match`` failure to ``FileExistsError``; other servers' 412 (SeaweedFS,
    MinIO) arrive as an ``OSError`` whose cause carries the code."""
    if isinstance(exc, FileExistsError):
        return True
    response = getattr(exc.__cause__, "response", None) or getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return code in _PRECONDITION_CODES or status in ("412", "409")


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    """The lease object ``key`` in ``bucket`` (through the s3fs file system ``fs``), lasting
    ``ttl_s`` seconds unrenewed. Not thread-safe: one holder uses it from one task at a time."""

    def __init__(self, fs: Any, bucket: str, key: str, ttl_s: float):
        self.fs = fs
        self.bucket = bucket
        self.key = key
        self.ttl_s = ttl_s
        self.etag: str | None = None
        #: True once taken by a create (no lease object was there, so neither a record of the take
        #: nor a journal is: the lease rule of the module docstring), False when taken over.
        self.fresh = False
        self._guard = threading.Lock()  # one conditional put at a time (a renewal beside a release)

    @property
    def held(self) -> bool:
        return self.etag is not None

    def _put(self, ttl_s: float | None = None, **condition: str) -> str | None:
        """Put a fresh lease body lasting ``ttl_s`` (default :attr:`ttl_s`) under ``condition``; its
        ETag, or None when the condition failed."""
        ttl_s = self.ttl_s if ttl_s is None else ttl_s
        body = canonical_json({"holder": _holder(), "nonce": secrets.token_hex(12), "ttl_s": ttl_s})
        try:
            response = self.fs.call_s3(
                "put_object",
                Bucket=self.bucket,
                Key=self.key,
                Body=body,
                ContentType="application/json",
                Metadata={"ttl-s": repr(float(ttl_s))},
                **condition,
            )
        except OSError as exc:
            if is_precondition_failure(exc) or isinstance(exc, FileNotFoundError):
                return None
            raise CacheError(f"cannot write the lease s3://{self.bucket}/{self.key}: {exc.strerror or exc}") from exc
        return str(response["ETag"])

    def overdue(self) -> tuple[str, float] | None:
        """The lease object's ETag and how many seconds ago its TTL ran out by the server's clock
        (negative: still alive; ``math.inf`` for a released lease, free at once), or None when
        there is no lease. Raises :class:`CacheError` when the server cannot be read."""
        try:
            head = self.fs.call_s3("head_object", Bucket=self.bucket, Key=self.key)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CacheError(f"cannot read the lease s3://{self.bucket}/{self.key}: {exc.strerror or exc}") from exc
        server_now = parsedate_to_datetime(head["ResponseMetadata"]["HTTPHeaders"]["date"])
        try:
            ttl_s = float(head.get("Metadata", {}).get("ttl-s", self.ttl_s))
        except ValueError:
            ttl_s = self.ttl_s  # a damaged lease still expires, after our own TTL
        if ttl_s <= 0:
            return str(head["ETag"]), math.inf  # released
        age_s = (server_now - head["LastModified"]).total_seconds()
        return str(head["ETag"]), age_s - ttl_s

    def remove_if(self, etag: str) -> bool:
        """Delete the lease object if it is still the one whose ETag is ``etag`` (``If-Match``), as
        ``gc`` does with a dead holder's expired lease: a lease taken over or renewed since stays.
        True when deleted (or already gone)."""
        try:
            self.fs.call_s3("delete_object", Bucket=self.bucket, Key=self.key, IfMatch=etag)
        except FileNotFoundError:
            return True
        except OSError as exc:
            if is_precondition_failure(exc):
                return False
            raise CacheError(f"cannot remove the lease s3://{self.bucket}/{self.key}: {exc.strerror or exc}") from exc
        return True

    def try_acquire(self) -> bool:
        """Take the lease if it is free or expired; False when someone else holds it (or won a race).
        Sets :attr:`fresh`: True when it was free (created), False when taken over."""
        for _ in range(3):
            etag = self._put(IfNoneMatch="*")
            if etag is not None:
                self.etag, self.fresh = etag, True
                return True
            seen = self.overdue()  # the create's 412 says it is there: one look says whether it expired
            if seen is None:
                continue  # released between our put and our look: try again
            if seen[1] <= 0:
                return False  # held, not expired
            etag = self._put(IfMatch=seen[0])
            if etag is not None:
                self.etag, self.fresh = etag, False
                return True
            return False
        return False

    def renew(self) -> bool:
        """Extend the lease (a new nonce under ``If-Match`` of ours). False when it is no longer ours
        or the server cannot confirm it: the holder must stop."""
        with self._guard:
            if self.etag is None:
                return False
            try:
                etag = self._put(IfMatch=self.etag)
            except CacheError:
                etag = None
            self.etag = etag
            return etag is not None

    def release(self) -> None:
        """Give the lease up if it is still ours: put it again with a TTL of 0, free at once for the
        next taker; never deleted (the lease rule of the module docstring). Errors are ignored (an
        unreleased lease expires after its TTL)."""
        with self._guard:
            etag, self.etag = self.etag, None
            if etag is None:
                return
            with contextlib.suppress(CacheError):
                self._put(ttl_s=0.0, IfMatch=etag)
