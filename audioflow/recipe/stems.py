"""The recipe's ``stems:`` block: the pre-master mix split into layers a DAW can finish.

``stems: groups`` (or ``{by: groups}``) makes a dialogue, a music and an effects stem; ``stems: tracks``
one stem per mix track. Which group a track goes to (:func:`group_of`) is decided by what its step
holds — speech (``speak``, ``dialogue``, ``isolate``) is **dialogue**, an imported recording (``file``)
is **music**, a generated sound (``generate``) is **effects**, a nested ``mix`` is **dialogue** when it
holds speech and **effects** otherwise — unless the block names the track under another group
(``music: [sting]``). ``format`` is ``float`` (32-bit float WAV, the default: the stems sum to the mix
exactly, above 0 dBFS too) or ``pcm24`` (24-bit PCM WAV; samples beyond full scale are clipped).

:func:`parse_stems` reads a schema-valid block into :class:`Stems`; a name that is no track of the
mix, or one named in two groups, is a located :class:`~audioflow.errors.RecipeError`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import SourceLocation, did_you_mean
from ..steps import MixPayload, StemPayload, StepKind
from .limits import shown
from .loader import Document

if TYPE_CHECKING:
    from .model import StepSpec

__all__ = ["GROUPS", "STEM_FORMATS", "Stems", "group_of", "parse_stems", "stem_payloads"]

#: The stems of ``by: groups``, in the order they are written.
GROUPS = ("dialogue", "music", "effects")
#: ``format`` → soundfile subtype of the WAV written.
STEM_FORMATS = {"float": "FLOAT", "pcm24": "PCM_24"}
_SPEECH = (StepKind.SPEAK, StepKind.DIALOGUE, StepKind.ISOLATE)


@dataclass(frozen=True)
class Stems:
    """What stems to write: ``by`` ``"groups"`` or ``"tracks"``, the WAV ``format`` (a key of
    :data:`STEM_FORMATS`), and ``assigned``: track (step) name → group, as the block names them."""

    by: str
    location: SourceLocation
    format: str = "float"
    assigned: Mapping[str, str] = field(default_factory=dict)


def group_of(kind: StepKind, holds_speech: bool = False) -> str:
    """The group of a track whose step is of ``kind`` (a nested ``mix``: ``holds_speech`` decides)."""
    if kind in _SPEECH or (kind == StepKind.MIX and holds_speech):
        return "dialogue"
    return "music" if kind == StepKind.FILE else "effects"


def parse_stems(doc: Document, spec: str | dict[str, Any], tracks: Sequence[str]) -> Stems:
    """The typed ``stems:`` block (schema-valid: ``groups``, ``tracks`` or a mapping with ``by``,
    ``format`` and group lists). ``tracks`` are the mix's track (step) names. Raises
    :class:`~audioflow.errors.RecipeError` at a group list's entry that names no track, or a track
    named twice, or group lists under ``by: tracks``."""
    location = doc.locate(("stems",))
    if isinstance(spec, str):
        return Stems(spec, location)
    by = spec.get("by", "groups")
    assigned: dict[str, str] = {}
    for group in GROUPS:
        if group in spec and by == "tracks":
            raise doc.error(("stems", group), f"`{group}:` places tracks in groups; `by: tracks` has none", key=True)
        for i, name in enumerate(spec.get(group, [])):
            path = ("stems", group, i)
            if name not in tracks:
                hint = did_you_mean(name, tracks) or f"the mix's tracks: {', '.join(dict.fromkeys(tracks))}"
                raise doc.error(path, f"{shown(name)} is no track of the mix", hint=hint)
            if name in assigned:
                raise doc.error(path, f"track {name!r} is already in the {assigned[name]} stem")
            assigned[name] = group
    return Stems(by, location, spec.get("format", "float"), assigned)


def _holds_speech(name: str, steps: Mapping[str, StepSpec], seen: frozenset[str] = frozenset()) -> bool:
    spec = steps.get(name)
    if spec is None or name in seen:
        return False
    if spec.kind != StepKind.MIX:
        return spec.kind in _SPEECH
    return any(_holds_speech(t.spec.track, steps, seen | {name}) for t in spec.tracks)


def stem_payloads(stems: Stems, mix: MixPayload, steps: Mapping[str, StepSpec]) -> list[StemPayload]:
    """One :class:`StemPayload` per stem of ``mix`` (``steps``: the recipe's steps by name, for what
    each track holds): by group, in :data:`GROUPS` order, a group with no track making no stem; or
    by track, named after its step (``name-2`` for a step placed twice)."""
    if stems.by == "tracks":
        names: dict[str, int] = {}
        out = []
        for i, track in enumerate(mix.tracks):
            names[track.track] = names.get(track.track, 0) + 1
            count = names[track.track]
            out.append(StemPayload(mix, (i,), track.track if count == 1 else f"{track.track}-{count}"))
        return out
    members: dict[str, list[int]] = {group: [] for group in GROUPS}
    for i, track in enumerate(mix.tracks):
        spec = steps.get(track.track)
        kind = spec.kind if spec is not None else StepKind.GENERATE  # an inline cue's sound: generated
        group = stems.assigned.get(track.track) or group_of(kind, _holds_speech(track.track, steps))
        members[group].append(i)
    return [StemPayload(mix, tuple(indices), group) for group, indices in members.items() if indices]
