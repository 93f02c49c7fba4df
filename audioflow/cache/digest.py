"""Canonical JSON and input digests.

The input digest of a step is the sha256 of the canonical JSON of everything that decides its
output: kind, canonical params, provider and model, the upstream artifacts' content digests, the
take number and :data:`FORMAT_VERSION`. Canonical JSON sorts keys, has no insignificant whitespace,
writes integral floats as integers (``1.0`` and ``1`` digest alike) and refuses NaN and infinity.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["FORMAT_VERSION", "KIND_VERSIONS", "canonical_json", "input_digest", "sha256_hex"]

#: Bump when a change to rendering makes old artifacts wrong: every digest changes with it, the raw
#: takes' too (so every paid take would be asked for and paid again: prefer :data:`KIND_VERSIONS`).
FORMAT_VERSION = 1

#: The renderer version of one kind of step, in that kind's digests only: bump it when a change makes
#: that kind's old artifacts wrong, so they re-render while every other step (and every paid take)
#: stays cached. ``master`` 2: the streamed master (libebur128 loudness, soxr true peak, the trial
#: encode, ±0.2 LU on the decoded file); ``master`` 3: AAC's fast coder, and the meta keeps the
#: overview the report draws; ``master`` 4: an m4b's M4B brand, the decoded file's true peak
#: refined (a master that only 4x oversampling kept under its ceiling renders again) and the room
#: tone at its head and tail kept in its QC figures; ``master`` 5: a DC blocker (a first-order
#: high-pass at 1 Hz) before loudness and limiting. ``mix`` 2 and ``dialogue`` 2: their meta records the
#: chapter anchors (where each track, line and cue landed). ``mix`` 3, ``dialogue`` 3, ``stem`` 1 and
#: ``clone`` 1: a clip at another rate is resampled by soxr, not scipy's resample_poly.
KIND_VERSIONS: dict[str, int] = {"master": 5, "mix": 3, "dialogue": 3, "stem": 1, "clone": 1}


#: Exact types that are their own canonical form (a subclass, an IntEnum say, takes the long way).
_PLAIN = frozenset({str, int, bool, type(None)})


def _normalise(value: Any) -> Any:
    kind = type(value)  # exact built-in types first: the ABC checks below are slow, and a plan digests every step
    if kind in _PLAIN:
        return value
    if kind is dict:  # plain leaves inline: a call per leaf was most of a plan's digesting
        return {str(k): v if type(v) in _PLAIN else _normalise(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN else _normalise(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no canonical JSON form")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):  # bytes are not a list of ints
        return [_normalise(v) for v in value]
    raise TypeError(f"{type(value).__name__} has no canonical JSON form")


def canonical_json(value: Any) -> bytes:
    """UTF-8 canonical JSON of ``value`` (dicts, lists, str, int, float, bool, None).

    Raises ``ValueError`` for NaN/infinity and ``TypeError`` for other types.
    """
    text = json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def input_digest(
    *,
    kind: str,
    params: Mapping[str, Any],
    provider: str | None,
    model: str | None,
    upstream: Sequence[str],
    take: int,
) -> str:
    """The input digest of a step (hex sha256). ``upstream`` is the ordered list of the content
    digests of the artifacts the step reads. Secrets and absolute paths never belong in ``params``."""
    fields: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "params": params,
        "provider": provider,
        "model": model,
        "upstream": list(upstream),
        "take": take,
    }
    if str(kind) in KIND_VERSIONS:
        fields["kind_version"] = KIND_VERSIONS[str(kind)]
    return sha256_hex(canonical_json(fields))
