"""The report's take previews, made once per artifact and kept in the cache's side folder.

A preview is a mono Opus encoding of a take's first :data:`PREVIEW_MAX_S` seconds at
:data:`PREVIEW_BITRATE_KBPS`. It is a pure function of the take's content and those settings, so it
is kept as ``previews/<ab>/<artifact sha256>.<settings tag>.ogg`` under the store's local root
(a bucket cache: its local mirror; previews never go to the bucket) and shared by every output's
page and every later run. Writes are atomic; a cache that cannot be written still gets its previews
(encoded for this page only). ``cache verify`` does not count them (they are not objects) and
``cache gc`` removes the preview of an artifact it removes
(:func:`audioflow.cache.maintenance.collect_garbage`).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..audio import Audio, decode_file, encode
from ..cache import StepRecord, write_atomic
from ..errors import CacheError
from .report_digest import PREVIEW_BITRATE_KBPS, PREVIEW_MAX_S, preview_name

__all__ = [
    "PREVIEW_BITRATE_KBPS",
    "PREVIEW_MAX_S",
    "preview_name",
    "previews",
]
#: Previews encoded at once (each an ffmpeg process).
_WORKERS = 4


def encode_preview(path: Path) -> bytes:
    """The Opus preview of the take at ``path`` (empty for an empty take). Raises AudioError."""
    audio = decode_file(path)
    if audio.frames == 0:
        return b""
    frames = min(audio.frames, round(PREVIEW_MAX_S * audio.sample_rate_hz))
    mono = Audio(audio.samples[:frames].mean(axis=1, keepdims=True), audio.sample_rate_hz)
    return encode(mono, "ogg", bitrate_kbps=PREVIEW_BITRATE_KBPS)


def _made(root: Path, tmp_dir: Path, record: StepRecord) -> bytes:
    """The kept preview of ``record``'s take, encoded and kept first when it is missing."""
    path = root / preview_name(record.artifact.digest)
    try:
        return path.read_bytes()
    except OSError:
        pass
    data = encode_preview(record.artifact.path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data, tmp_dir=tmp_dir)
    except (OSError, CacheError):
        pass  # a read-only cache: the page still gets it
    return data


def previews(root: Path, tmp_dir: Path, records: Mapping[str, StepRecord]) -> dict[str, bytes]:
    """Step id → the preview of its take (``records``), read from ``root``'s previews folder or
    encoded there a few at a time (each encoding is an ffmpeg process). Raises AudioError."""
    ids = list(records)
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        made = pool.map(lambda step_id: _made(root, tmp_dir, records[step_id]), ids)
        return dict(zip(ids, made, strict=True))
