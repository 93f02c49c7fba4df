"""A bounce that would change nothing is skipped (a no-op rerun).

After a bounce, a local store keeps one small record per recipe (``index/<recipe>.bounce.json``,
beside :mod:`~audioflow.cache.index`): for every output, the digest of everything the bounce reads
(:func:`bounce_key`: the recipe's text and path, the cover and chapter images' size and mtime,
every step's status, input digest, artifact digest, model and record file (its meta), what was
spent, audioflow's version and the bounce code's files) and the size, mtime and inode of every file it wrote (the
output, its transcripts, chapters, stems and manifest). A rerun with the same key whose files all
stand as written rebuilds the typed manifest from the same parts (the file's sha256 and size as
recorded), without reading the master or writing anything. Anything else — a changed step or
recipe, a file touched, replaced or removed, no record or a damaged one — bounces as before. A
store in a bucket keeps no record (every run bounces); a record that cannot be written is left out.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import __version__
from ..cache import ArtifactStore, sha256_hex, write_atomic
from ..cache.index import file_seen, index_file, read_versioned
from ..cache.records import record_key
from ..errors import CacheError
from ..recipe.outputs import Output
from ..recipe.paths import sidecar_paths
from .outcomes import RunResult
from .staleness import Plan, recipe_key

__all__ = ["RECORD_VERSION", "BounceRecords", "bounce_key", "written_files"]

#: Raised when the record's shape or what its key covers changes.
RECORD_VERSION = 1

#: The source files whose code decides what a bounce writes: their size and mtime are in the key,
#: so a changed bounce (a new sidecar, a tag fixed) bounces again even at the same version.
_PACKAGE = Path(__file__).resolve().parents[1]
_CODE = tuple(
    _PACKAGE / name
    for name in (
        "engine/bounce.py",
        "engine/bounce_record.py",
        "engine/transcript.py",
        "engine/qc.py",
        "engine/handoff.py",
        "engine/chapters.py",
        "audio/chapters.py",
        "audio/tags.py",
    )
)


def _stat(path: Path | str | None) -> list[Any] | None:
    """[path, size, mtime ns, ctime ns, inode] of a file, [path] when it cannot be read; None for no path."""
    if path is None:
        return None
    seen = file_seen(str(path))
    return [str(path)] if seen is None else [str(path), *seen]


def _name(path: Path) -> str:
    """``path`` made absolute (a run from another folder, or through the API, names the same files)."""
    return os.path.abspath(path)


def bounce_key(plan: Plan, result: RunResult, output: Output, store: ArtifactStore) -> str:
    """The hex sha256 of everything the bounce of ``output`` reads (see the module docstring). A
    step's meta is known by its record file in ``store`` (size, mtime, ctime, inode: records are
    written atomically, so new content is a new file)."""
    recipe = plan.graph.recipe
    root = str(store.root)
    steps = [
        [
            step_id,
            str(outcome.status),
            outcome.digest,
            None if outcome.record is None else outcome.record.artifact.digest,
            plan.steps[step_id].model if step_id in plan.steps else None,
            None if outcome.digest is None else file_seen(f"{root}/{record_key(outcome.digest)}"),
        ]
        for step_id, outcome in result.outcomes.items()
    ]
    code = [_stat(path) for path in _CODE]
    fields = {
        "version": [RECORD_VERSION, __version__],
        "code": code,
        "recipe": [recipe_key(plan.graph), sha256_hex(recipe.document.text.encode("utf-8"))],
        "output": [str(output.path.resolve()), output.step_id, output.sidecar_stem],
        "files": [_stat(p) for p in (recipe.meta.cover, *(mark.image for mark in recipe.chapters))],
        "spent_usd": result.budget.spent_usd,
        "steps": steps,
    }
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha256_hex(text.encode("utf-8"))


def written_files(path: Path, sidecar_stem: str | None, manifest: Any) -> list[Path]:
    """Every file the bounce of the output at ``path`` wrote, as its ``manifest`` lists them."""
    sidecars = sidecar_paths(path, sidecar_stem)
    files = [path, sidecars["manifest"]]
    if manifest.chapters_file:
        files.append(sidecars["chapters"])
    roles = ("srt", "vtt", "transcript_json")
    files += [sidecars[role] for role in roles if sidecars[role].name in manifest.transcripts]
    files += [path.parent / stem for stem in manifest.stems]
    return files


class BounceRecords:
    """The bounce records of one recipe in ``store`` (see the module docstring)."""

    def __init__(self, store: ArtifactStore, plan: Plan):
        self.path = index_file(store, recipe_key(plan.graph), "bounce")
        self.entries: dict[str, dict[str, Any]] = {}
        outputs = read_versioned(self.path, RECORD_VERSION, "outputs")
        self._read: dict[str, dict[str, Any]] = {k: v for k, v in outputs.items() if isinstance(v, dict)}

    def kept(self, output: Output, key: str) -> dict[str, Any] | None:
        """The record of ``output`` when its key is ``key`` and every file it wrote is as written."""
        entry = self._read.get(_name(output.path))
        if entry is None or entry.get("key") != key or not isinstance(entry.get("files"), list):
            return None
        for written in entry["files"]:
            if not isinstance(written, list) or len(written) != 5 or _stat(written[0]) != written:
                return None
        qc = entry.get("qc")
        if not (isinstance(qc, list) and len(qc) == 2 and isinstance(qc[0], str) and type(qc[1]) is int):
            return None
        return entry

    def remember(self, output: Output, key: str, manifest: Any, path: Path) -> None:
        """Record the bounce of ``output`` (to ``path``) that wrote ``manifest``."""
        if self.path is None:
            return
        files = written_files(path, output.sidecar_stem, manifest)
        self.entries[_name(output.path)] = {
            "key": key,
            "files": [_stat(_name(p)) for p in files],
            "qc": [manifest.qc.sha256, manifest.qc.size_bytes] if manifest.qc is not None else None,
            "transcripts": list(manifest.transcripts),
            "estimated_cues": manifest.estimated_cues,
            "stems": list(manifest.stems),
        }

    def save(self, outputs: Iterable[Output]) -> None:
        """Write the records of ``outputs`` when they changed; a store that cannot be written keeps none."""
        if self.path is None:
            return
        wanted = {_name(o.path) for o in outputs}
        entries = {k: v for k, v in self.entries.items() if k in wanted}
        if entries == {k: v for k, v in self._read.items() if k in wanted} and len(entries) == len(wanted):
            return
        data = json.dumps({"version": RECORD_VERSION, "outputs": entries}, sort_keys=True, separators=(",", ":"))
        with contextlib.suppress(CacheError):  # only a fast path: the next run bounces again
            write_atomic(self.path, data.encode("utf-8"))
