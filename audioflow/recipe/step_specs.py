"""The steps of a recipe as written: :class:`StepSpec` (one per kind), the :class:`Line` of a
dialogue and the :class:`Track` of a mix, each read from the document by :func:`read_step` and
:func:`read_track`, which check what the schema cannot (one kind key per step, the keys each kind
takes, the voices a line names, how a track is placed)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SourceLocation, did_you_mean
from ..steps import StepKind, TrackSpec
from .cues import Cue, read_dialogue, read_placement, split_line_ref, unsupported_instruction
from .effects import parse_effects
from .limits import MAX_GAP_MS, MAX_GENERATE_MS
from .loader import JsonPath
from .reader import Reader

if TYPE_CHECKING:
    from .model import Voice

__all__ = ["DEFAULT_GAP_MS", "KINDS", "Line", "StepSpec", "Track", "read_step", "read_track"]

#: The kinds a recipe step is written as (``dialogue`` expands to ``speak`` or ``scene`` steps).
KINDS = (StepKind.SPEAK, StepKind.DIALOGUE, StepKind.FILE, StepKind.GENERATE, StepKind.ISOLATE, StepKind.MIX)
DEFAULT_GAP_MS = 350.0
_KIND_KEYS = {
    "speak": {"speak", "voice", "direction", "image"},
    "dialogue": {"dialogue", "gap", "render", "image", "chapter"},
    "file": {"file"},
    "generate": {"generate", "duration", "texture", "image", "extend"},
    "isolate": {"isolate"},
    "mix": {"mix"},
}
_COMMON_KEYS = {"provider", "take"}
_DIRECTION = re.compile(r"^\s*\(([^()]{1,80})\)\s*(.*)$", re.S)
_LINE_KEYS = {"voice", "text", "direction", "gap", "take", "label", "chapter"}


@dataclass(frozen=True)
class Line:
    """One spoken line: ``text`` by cast voice ``voice``, read with ``direction`` (or None);
    ``label`` names it for cues and mix tracks (``scene.door``)."""

    voice: str
    text: str
    location: SourceLocation
    direction: str | None = None
    gap_ms: float | None = None
    take: int | None = None
    label: str | None = None


@dataclass(frozen=True)
class Track:
    """One placement in a mix as written: ``spec`` is what the mix step is given (times in ms; its
    ``after``/``with_``/``under`` name other tracks of the same mix, and its ``anchor_line`` is set at
    expansion), ``location`` and ``reference_locations`` where it and its references are written, and
    ``anchor`` (``"[7]"``, ``".door"``, from ``after: scene[7]``) the line of a dialogue track it names."""

    spec: TrackSpec
    location: SourceLocation
    reference_locations: dict[str, SourceLocation] = field(default_factory=dict)
    anchor: str | None = None


@dataclass(frozen=True)
class StepSpec:
    """A step as written. Which fields are set depends on ``kind`` (speak, dialogue, file, generate, mix)."""

    name: str
    kind: StepKind
    location: SourceLocation
    provider: str | None = None
    take: int = 1
    lines: tuple[Line, ...] = ()
    gap_ms: float = DEFAULT_GAP_MS
    cues: tuple[Cue, ...] = ()
    lead_ms: float = 0.0
    tail_ms: float = 0.0
    file: Path | None = None
    prompt: str | None = None
    duration_ms: float | None = None
    texture: str = "noise"
    tracks: tuple[Track, ...] = ()
    render: str = "lines"
    image: str | None = None
    extend: str = "loop"
    source: str | None = None
    describe: str | None = None
    candidates: int = 4


def _split_direction(text: str, direction: str | None) -> tuple[str, str | None]:
    match = _DIRECTION.match(text)
    if match:  # a line that is only a (direction) has no words left: _line refuses it
        return match.group(2).strip(), direction or match.group(1).strip()
    return text.strip(), direction


def _line(r: Reader, path: JsonPath, item: dict[str, Any], cast: dict[str, Voice]) -> Line:
    if "voice" in item or "text" in item:
        extra = sorted(set(item) - _LINE_KEYS)
        if extra:
            raise r.doc.error(
                (*path, extra[0]),
                f"unknown key {extra[0]!r} in a dialogue line",
                key=True,
                hint=did_you_mean(extra[0], _LINE_KEYS),
            )
        for needed in ("voice", "text"):
            if needed not in item:
                raise r.doc.error(path, f"a dialogue line with `{next(iter(item))}:` also needs `{needed}:`")
        voice, voice_path, text = item["voice"], (*path, "voice"), item["text"]
    else:
        names = [k for k in item if k not in _LINE_KEYS]
        if len(names) != 1:
            raise r.doc.error(
                (*path, names[-1]) if names else path,
                "a dialogue line is one `voice: text` pair",
                key=True,
                hint="write `- mara: Did you hear that?`",
            )
        voice, voice_path, text = names[0], (*path, names[0]), item[names[0]]
    if not isinstance(voice, str) or voice not in cast:
        raise r.doc.error(
            voice_path,
            f"unknown voice {voice!r}",
            key=voice_path[-1] != "voice",
            hint=did_you_mean(str(voice), cast) or f"the cast has: {', '.join(cast) or 'no voices'}",
        )
    if not isinstance(text, str) or not text.strip():
        raise r.doc.error(voice_path, "a dialogue line needs text")
    spoken, direction = _split_direction(text, item.get("direction"))
    if not spoken:
        raise r.doc.error(voice_path, "a dialogue line needs words besides its (direction)")
    if instruction := unsupported_instruction(spoken):
        raise r.doc.error(
            voice_path if voice_path[-1] != "voice" else (*path, "text"),
            f"{instruction} is an instruction audioflow does not support: it would be read aloud",
            hint="a leading (direction) sets how a line is read; write `- pause: 1s` for silence, "
            "`- cue: STEP` for a sound, or a narrator line for a stage direction",
        )
    gap = r.duration((*path, "gap"), item["gap"], signed=True, cap_ms=MAX_GAP_MS) if "gap" in item else None
    take = r.number((*path, "take"), item["take"]) if "take" in item else None
    return Line(
        voice=voice,
        text=spoken,
        location=r.doc.locate(path),
        direction=direction,
        gap_ms=gap,
        take=take,
        label=item.get("label"),
    )


def read_track(r: Reader, path: JsonPath, spec: dict[str, Any], channels: int = 2) -> Track:
    placements = [k for k in ("at", "after", "with", "under") if k in spec]
    if len(placements) > 1:
        raise r.doc.error(
            (*path, placements[1]),
            f"a track is placed once: `{placements[0]}` and `{placements[1]}` both set its start",
            key=True,
        )
    refs: dict[str, SourceLocation] = {k: r.at((*path, k)) for k in ("after", "with", "under") if k in spec}
    named, anchor = {}, None
    for key in refs:
        named[key], anchor = split_line_ref(spec[key])
    crossfade = r.duration((*path, "crossfade"), spec["crossfade"]) if "crossfade" in spec else 0.0
    if crossfade and (anchor or (placements and placements[0] != "after")):
        raise r.doc.error(
            (*path, "crossfade"),
            "a crossfade starts a track before the track it follows ends"
            + (f"; `{placements[0]}: {spec[placements[0]]}` sets its start" if placements else ""),
            key=True,
            hint="use crossfade on a track that follows the previous one, or one placed `after` a track",
        )
    at_ms = r.duration((*path, "at"), spec["at"]) if "at" in spec else None
    placement = read_placement(r, path, spec)
    first = path[-1] == 0 and not placements  # the mix's first track, placed nowhere: it starts at 0
    _check_start(r, path, at_ms if at_ms is not None else (0.0 if first else None), placement, at="at" in spec)
    placed = TrackSpec(
        spec["track"],
        at_ms=at_ms,
        after=named.get("after"),
        with_=named.get("with"),
        under=named.get("under"),
        crossfade_ms=crossfade,
        effects=parse_effects(r.doc, (*path, "effects"), spec.get("effects", []), channels=channels),
        **placement,
    )
    return Track(placed, r.at((*path, "track")), refs, anchor)


def _check_start(r: Reader, path: JsonPath, start_ms: float | None, placement: dict[str, Any], *, at: bool) -> None:
    """Refuse, located at ``offset``, a track whose start is known before rendering (``at``, or the
    mix's first track: 0) and that ``offset`` moves before the programme's start (the mix would fail)."""
    offset_ms = float(placement.get("offset_ms", 0.0))
    if start_ms is not None and start_ms + offset_ms < 0:
        starts = f"`at` starts it at {start_ms:g} ms" if at else "the mix's first track starts at 0"
        raise r.doc.error(
            (*path, "offset"),
            f"this track would start {-(start_ms + offset_ms):g} ms before the programme ({starts})",
            hint="a programme starts at 0: shorten the offset, or place the track later",
        )


def read_step(
    r: Reader, name: str, spec: dict[str, Any], cast: dict[str, Voice], channels: int = 2, path: JsonPath = ()
) -> StepSpec:
    path = path or ("steps", name)
    kinds = [k for k in KINDS if k in spec]
    if not kinds:
        raise r.doc.error(path, f"step {name!r} has no kind", key=True, hint=f"give it one of: {', '.join(KINDS)}")
    if len(kinds) > 1:
        raise r.doc.error((*path, kinds[1]), f"step {name!r} has two kinds, {kinds[0]} and {kinds[1]}", key=True)
    kind = kinds[0]
    stray = sorted(set(spec) - _KIND_KEYS[kind] - _COMMON_KEYS)
    if stray:
        raise r.doc.error((*path, stray[0]), f"{stray[0]!r} does not apply to a {kind} step", key=True)
    common: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "location": r.doc.locate(path, key=True),
        "provider": spec.get("provider"),
        "take": r.number((*path, "take"), spec["take"]) if "take" in spec else 1,
        "image": spec.get("image"),
    }
    if kind == StepKind.SPEAK:
        if "voice" not in spec:
            raise r.doc.error(path, f"speak step {name!r} needs `voice:`", key=True)
        line = _line(
            r,
            path,
            {
                "voice": spec["voice"],
                "text": spec["speak"],
                **({"direction": spec["direction"]} if "direction" in spec else {}),
            },
            cast,
        )
        return StepSpec(**common, lines=(line,))
    if kind == StepKind.DIALOGUE:
        items = read_dialogue(r, name, (*path, "dialogue"), spec["dialogue"], cast, _line, _inline_cue)
        gap = (
            r.duration((*path, "gap"), spec["gap"], signed=True, cap_ms=MAX_GAP_MS) if "gap" in spec else DEFAULT_GAP_MS
        )
        return StepSpec(
            **common,
            lines=items.lines,
            gap_ms=gap,
            render=spec.get("render", "lines"),
            cues=items.cues,
            lead_ms=items.lead_ms,
            tail_ms=items.tail_ms,
        )
    if kind == StepKind.FILE:
        return StepSpec(**common, file=Path(spec["file"]))
    if kind == StepKind.GENERATE:
        if "duration" not in spec:
            raise r.doc.error(path, f"generate step {name!r} needs `duration:` (like 20s)", key=True)
        duration = r.duration((*path, "duration"), spec["duration"])
        if not 0 < duration <= MAX_GENERATE_MS:
            raise r.doc.error((*path, "duration"), "a generated sound lasts more than 0 s and at most 1 h")
        return StepSpec(
            **common,
            prompt=spec["generate"],
            duration_ms=duration,
            texture=spec.get("texture", "noise"),
            extend=spec.get("extend", "loop"),
        )
    if kind == StepKind.ISOLATE:
        item = spec["isolate"]
        return StepSpec(
            **common,
            source=item["audio"],
            describe=item["describe"],
            candidates=r.number((*path, "isolate", "candidates"), item["candidates"]) if "candidates" in item else 4,
        )
    tracks = tuple(read_track(r, (*path, "mix", i), t, channels) for i, t in enumerate(spec["mix"]))
    return StepSpec(**common, tracks=tracks)


def _inline_cue(r: Reader, name: str, spec: dict[str, Any], path: JsonPath) -> StepSpec:
    """An inline cue's sound (``cue: {generate: …}``): a generate step called ``name``."""
    return read_step(r, name, spec, {}, path=path)
