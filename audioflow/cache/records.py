"""What the store's files must look like, checked field by field whenever one is read.

The store never trusts a file it reads. A step record, a paid-request journal or a recipe state that
does not have the shape below is *damaged* (:class:`Damaged`, with a message saying how), and the
store treats it so (see :mod:`.store`). The path of an artifact is derived here, from its content
digest and an extension from :data:`OBJECT_EXTS`, never read from a record: a record whose
``object`` says ``../recipe.yaml`` or ``/etc/passwd`` is damaged, and nothing outside ``objects/``
is ever opened because of it.

Store keys are POSIX paths relative to the store's root (``steps/ab/<digest>.json``); a second
backend (S3) uses the same keys.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "META_FIELDS",
    "OBJECT_EXTS",
    "Damaged",
    "RecordFields",
    "is_digest",
    "object_key",
    "parse_journal",
    "parse_object_key",
    "parse_record",
    "parse_record_key",
    "parse_state",
    "record_key",
]

#: Extensions an artifact may have: float32/PCM WAV, a host's raw take (mp3, ogg, flac), a master.
OBJECT_EXTS = frozenset({"wav", "mp3", "ogg", "opus", "flac", "m4a", "m4b"})

_HEX64 = re.compile(r"[0-9a-f]{64}")
_OBJECT_KEY = re.compile(r"objects/([0-9a-f]{2})/([0-9a-f]{64})\.([a-z0-9]{1,8})")
_RECORD_KEY = re.compile(r"steps/([0-9a-f]{2})/([0-9a-f]{64})\.json")


class Damaged(ValueError):
    """A file of the store does not have the shape it must have; the message says how."""


def is_digest(value: object) -> bool:
    """Whether ``value`` is a hex sha256 (64 lowercase hex digits)."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def object_key(digest: str, ext: str) -> str:
    """The key of the artifact with content ``digest`` and extension ``ext``: ``objects/ab/<digest>.<ext>``.
    Raises ``ValueError`` for a digest that is not 64 hex digits or an extension not in :data:`OBJECT_EXTS`."""
    if not is_digest(digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    if ext not in OBJECT_EXTS:
        raise ValueError(f"artifacts cannot have the extension {ext!r} (allowed: {', '.join(sorted(OBJECT_EXTS))})")
    return f"objects/{digest[:2]}/{digest}.{ext}"


def parse_object_key(key: str) -> tuple[str, str]:
    """(content digest, extension) of an object key; raises :class:`Damaged` for any other name."""
    match = _OBJECT_KEY.fullmatch(key)
    if match is None or match[1] != match[2][:2] or match[3] not in OBJECT_EXTS:
        raise Damaged("not an artifact name (objects/ab/<sha256>.<ext>)")
    return match[2], match[3]


def record_key(input_digest: str) -> str:
    """The key of the step record under ``input_digest``: ``steps/ab/<digest>.json``."""
    if not is_digest(input_digest):
        raise ValueError(f"not a sha256 digest: {input_digest!r}")
    return f"steps/{input_digest[:2]}/{input_digest}.json"


def parse_record_key(key: str) -> str:
    """The input digest a record key names; raises :class:`Damaged` for any other name."""
    match = _RECORD_KEY.fullmatch(key)
    if match is None or match[1] != match[2][:2]:
        raise Damaged("not a step record name (steps/ab/<sha256>.json)")
    return match[2]


def _load_json(data: bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise Damaged(f"holds {constant}, which JSON does not allow")

    try:
        return json.loads(data, parse_constant=refuse)
    except Damaged:
        raise
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise Damaged(f"not valid JSON ({exc})") from exc


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _opt_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _spans(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v) for v in value
    )


def _segments(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, dict) and _number(v.get("start_ms")) and _number(v.get("end_ms")) and _opt_str(v.get("text"))
        for v in value
    )


_QC_COUNTS = ("sample_rate_hz", "channels", "frames")
_QC_LEVELS = (
    "integrated_lufs",
    "loudness_range_lu",
    "true_peak_dbtp",
    "sample_peak_dbfs",
    "rms_dbfs",
    "noise_floor_dbfs",
)


def _qc_figures(value: Any) -> bool:
    """A master's measured figures (``audio.qc.FileFigures.to_json``): whole counts, levels or null."""
    return (
        isinstance(value, dict)
        and all(type(value.get(k)) is int and value[k] > 0 for k in _QC_COUNTS)
        and all(k in value and (value[k] is None or _number(value[k])) for k in _QC_LEVELS)
    )


def _anchors(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, list) and len(v) == 3 and isinstance(v[0], str) and _number(v[1]) and _number(v[2]) for v in value
    )


#: The metadata fields audioflow reads back, and the JSON type each must have when present (other
#: fields are kept as they are). A record whose metadata breaks this is damaged, not a crash later.
META_FIELDS: dict[str, tuple[str, Any]] = {
    "duration_ms": ("a finite number", _number),
    "sample_rate_hz": ("a whole number", lambda v: type(v) is int and v > 0),
    "channels": ("a whole number", lambda v: type(v) is int and v > 0),
    "placeholder": ("true or false", lambda v: isinstance(v, bool)),
    "approximate": ("true or false", lambda v: isinstance(v, bool)),
    "limited": ("true or false", lambda v: isinstance(v, bool)),
    "segments_estimated": ("true or false", lambda v: isinstance(v, bool)),
    "notes": ("a list of strings", _strings),
    "placeholders": ("a list of strings", _strings),
    "provider": ("a string or null", _opt_str),
    "model": ("a string or null", _opt_str),
    "request_id": ("a string or null", _opt_str),
    "step": ("a string", lambda v: isinstance(v, str)),
    "cost_usd": ("a finite number or null", lambda v: v is None or _number(v)),
    "lufs": ("a finite number", _number),
    "true_peak_dbtp": ("a finite number", _number),
    "gain_db": ("a finite number", _number),
    "take_digest": ("a sha256 digest", is_digest),
    "speech_ms": ("a list of [start, end] pairs", _spans),
    "segments": ("a list of timed segments", _segments),
    "qc_figures": ("an object of QC figures", lambda v: _qc_figures(v)),
    "anchors": ("a list of [key, start, end] triples", _anchors),
}


@dataclass(frozen=True)
class RecordFields:
    """A parsed step record: its artifact's content ``digest``, ``ext``, ``size`` in bytes, and ``meta``."""

    digest: str
    ext: str
    size: int
    meta: dict[str, Any]


def parse_record(data: bytes) -> RecordFields:
    """Parse a step record (``{"digest", "object", "size", "meta"}``). ``object`` must be exactly the
    key its digest gives (its extension picks the file type); raises :class:`Damaged` otherwise."""
    doc = _load_json(data)
    if not isinstance(doc, dict):
        raise Damaged("not a JSON object")
    digest = doc.get("digest")
    if not is_digest(digest):
        raise Damaged("'digest' is not a sha256 digest")
    size = doc.get("size")
    if type(size) is not int or size < 0:
        raise Damaged("'size' is not a whole number of bytes")
    obj = doc.get("object")
    if not isinstance(obj, str):
        raise Damaged("'object' is not a string")
    try:
        named, ext = parse_object_key(obj)
    except Damaged as exc:
        raise Damaged(f"'object' is {obj[:80]!r}, {exc}") from None
    if named != digest:
        raise Damaged("'object' names another digest than 'digest'")
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise Damaged("'meta' is not an object")
    for name, (kind, ok) in META_FIELDS.items():
        if name in meta and not ok(meta[name]):
            raise Damaged(f"'meta.{name}' is not {kind}")
    return RecordFields(digest, ext, size, meta)


def parse_journal(data: bytes) -> dict[str, Any]:
    """Parse a paid-request journal: an object with at least the host's ``request_id``."""
    doc = _load_json(data)
    if not isinstance(doc, dict):
        raise Damaged("not a JSON object")
    rid = doc.get("request_id")
    if not (isinstance(rid, str) and rid) and type(rid) is not int:
        raise Damaged("it holds no request id")
    return doc


def parse_state(data: bytes) -> dict[str, Any]:
    """Parse a recipe's state: ``{"steps": {step id: {"input_digest": …, "take_digest"?: …}}}``."""
    doc = _load_json(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("steps", {}), dict):
        raise Damaged("not an object with a 'steps' object")
    for step_id, entry in doc.get("steps", {}).items():
        if not isinstance(entry, dict) or not is_digest(entry.get("input_digest")):
            raise Damaged(f"step {step_id[:60]!r} has no input digest")
        if entry.get("take_digest") is not None and not is_digest(entry["take_digest"]):
            raise Damaged(f"step {step_id[:60]!r} has a take digest that is not a sha256 digest")
        upstream = entry.get("upstream", [])
        if not (isinstance(upstream, list) and all(is_digest(d) for d in upstream)):
            raise Damaged(f"step {step_id[:60]!r} has upstream digests that are not sha256 digests")
    return doc
