"""The per-recipe index of step records: a fast path for planning a rerun, never the truth.

A local store keeps, per recipe, one small file (``index/<recipe>.json``: the recipe's path digest,
like ``state/``) mapping each step id to the input digest it last resolved to, the fields of the
record that digest names, and the size, mtime, ctime and inode of the record file and of its object.
Planning a rerun then reads that one file instead of one record file per step. An entry is used only
when

* its input digest is the one the plan just computed (the content digest decides, as always),
* the record file still stands as it was indexed (not rewritten, replaced, touched or removed), and
* the record's object is a regular file of the recorded size — what
  :meth:`~.store.ArtifactStore.get_step` checks; where the caller asks for the content to be
  verified (the master, which is bounced), its sha256 is checked again unless the object stands
  exactly as it was when it was last verified or written (same size, mtime, ctime and inode).

Anything else — no index, an unreadable or stale one, an entry for another digest, a record or
object that changed — falls back to :meth:`~.store.ArtifactStore.get_step`, which reads the record
itself and sets damage aside. The index is written atomically after a run, only when it changed; a
store that cannot be written keeps none. A store in a bucket keeps no index.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from ..errors import CacheError
from .atomic import write_atomic
from .digest import sha256_hex
from .records import object_key, record_key
from .store import Artifact, ArtifactStore, StepRecord

__all__ = ["INDEX_AREA", "INDEX_VERSION", "RecordIndex", "file_seen", "index_file", "read_versioned"]

#: The store's side folder of per-recipe indexes (under a local store's root; never in a bucket).
INDEX_AREA = "index"
#: Raised when the index's shape changes: an index of another version is not read.
INDEX_VERSION = 2


def index_file(store: ArtifactStore, recipe_key: str, kind: str = "records") -> Path | None:
    """The file of the recipe ``recipe_key``'s index of ``kind`` (``records``, or ``bounce`` for
    :mod:`audioflow.engine.bounce_record`) in ``store``; None for a store in a bucket."""
    if store.remote:
        return None
    name = sha256_hex(recipe_key.encode())[:16]
    return store.root / INDEX_AREA / (f"{name}.json" if kind == "records" else f"{name}.{kind}.json")


def read_versioned(path: Path | None, version: int, field: str) -> dict[str, Any]:
    """``data[field]`` of the JSON file at ``path`` when it reads ``{"version": version, field: {...}}``;
    ``{}`` when there is no such file, it cannot be read or parsed, or it is of another version."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if isinstance(data, dict) and data.get("version") == version and isinstance(data.get(field), dict):
        return dict(data[field])
    return {}


def file_seen(path: str) -> list[int] | None:
    """[size, mtime ns, ctime ns, inode] of the file at ``path`` (None when it cannot be read): a
    file rewritten, replaced (atomic writes make a new inode) or touched (even with its mtime set
    back: the ctime moves) reads otherwise."""
    try:
        return _seen(os.stat(path))
    except OSError:
        return None


def _seen(found: os.stat_result) -> list[int]:
    return [found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino]


def _entry_ok(entry: Any) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 7
        and all(isinstance(entry[i], str) for i in (0, 1, 2))
        and type(entry[3]) is int
        and isinstance(entry[4], dict)
        and isinstance(entry[5], list)
        and isinstance(entry[6], list)
    )


class RecordIndex:
    """The record index of the recipe ``recipe_key`` in ``store`` (see the module docstring)."""

    def __init__(self, store: ArtifactStore, recipe_key: str):
        self.store = store
        self.path = index_file(store, recipe_key)
        self._root = str(store.root)
        self._served: dict[str, StepRecord] = {}  # the records this index gave, by step id
        steps = read_versioned(self.path, INDEX_VERSION, "steps")
        self._entries: dict[str, list[Any]] = {k: v for k, v in steps.items() if _entry_ok(v)}

    def get_step(self, step_id: str, input_digest: str, *, verify: bool = False) -> StepRecord | None:
        """The record of ``input_digest`` (the digest ``step_id`` resolves to now): from the index when
        its entry holds (see the module docstring), else from :meth:`ArtifactStore.get_step`. With
        ``verify``, an object whose stat changed since it was indexed is hashed again."""
        entry = self._entries.get(step_id)
        if entry is not None and entry[0] == input_digest:
            _, digest, ext, size, meta, record_seen, object_seen = entry
            try:
                obj_key, rec_key = object_key(digest, ext), record_key(input_digest)
            except ValueError:  # not a name the store gives: the record itself decides
                return self.store.get_step(input_digest, verify=verify)
            obj_path = f"{self._root}/{obj_key}"
            try:
                obj = os.lstat(obj_path)
            except OSError:
                obj = None
            unchanged = obj is not None and _seen(obj) == object_seen
            if (
                obj is not None
                and stat.S_ISREG(obj.st_mode)
                and obj.st_size == size
                and file_seen(f"{self._root}/{rec_key}") == record_seen
                and (not verify or unchanged or self.store._content_ok(Path(obj_path), digest))
            ):
                record = StepRecord(input_digest, Artifact(digest, self.store.root / obj_key, size), meta)
                if unchanged:  # else (hashed afresh) its entry is written again with the object as it is now
                    self._served[step_id] = record
                return record
        return self.store.get_step(input_digest, verify=verify)

    def save(self, records: Mapping[str, StepRecord], keep: Collection[str] = ()) -> None:
        """Index ``records`` (step id → the record it resolved to), with the entries read of the step
        ids in ``keep`` that ``records`` lacks (a run of some steps), when that differs from the index
        read; a store that cannot be written keeps no index (planning then reads the records)."""
        if self.path is None:
            return
        root = self.store.root
        steps = {k: v for k, v in self._entries.items() if k in keep and k not in records}
        for step_id, record in records.items():
            if self._served.get(step_id) is record:  # given by this index: its entry stands
                steps[step_id] = self._entries[step_id]
                continue
            artifact = record.artifact
            ext = artifact.path.suffix.lstrip(".")
            try:
                obj_key = object_key(artifact.digest, ext)
                record_seen = file_seen(f"{self._root}/{record_key(record.input_digest)}")
            except ValueError:
                continue
            try:
                object_seen = _seen(os.lstat(f"{self._root}/{obj_key}"))
            except OSError:
                continue
            if record_seen is None or artifact.path != root / obj_key:
                continue
            entry = [record.input_digest, artifact.digest, ext, artifact.size, record.meta, record_seen, object_seen]
            steps[step_id] = entry
        if steps == self._entries:
            return
        self._served.clear()
        data = json.dumps({"version": INDEX_VERSION, "steps": steps}, separators=(",", ":"), ensure_ascii=False)
        try:
            write_atomic(self.path, data.encode("utf-8"))
        except CacheError:
            return
        self._entries = steps
