"""The validated recipe as typed values: :class:`Recipe` and its parts, each keeping its location.

:func:`build_recipe` turns a schema-valid :class:`Document` into a :class:`Recipe`, parsing units
(``"350ms"`` → 350.0 ms) and checking what the schema cannot: one kind key per step, the voices a
line names, the fields each kind needs, and that the output stays inside the recipe's folder.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RecipeError, SourceLocation, did_you_mean
from ..steps import CLIP_LIMITS_MS, EffectSpec, StepKind, TrackSpec
from ..units import parse_db, parse_duration_ms
from .chapters import ChapterMark, parse_chapters
from .cues import Cue, check_voice_names, read_dialogue, read_placement, split_line_ref, unsupported_instruction
from .diagnostics import Collector
from .effects import parse_effects
from .lexicon import Lexicon, LexiconEntry, parse_lexicon
from .limits import (
    MAX_GAP_MS,
    MAX_GENERATE_MS,
    MAX_PROGRAMME_MS,
    NUMBER_RANGES,
    POLL_INTERVAL_RANGE_MS,
    PROVIDER_SAMPLE_RATES_HZ,
    TIMEOUT_RANGE_MS,
    ms_text,
    refuse_non_finite,
    shown,
)
from .loader import Document, JsonPath
from .meta import Meta, parse_meta
from .outputs import LOUDNESS_PRESETS, Master, Output, mix_channels, parse_outputs
from .paths import Confinement
from .stems import Stems, parse_stems

__all__ = [
    "KINDS",
    "LOUDNESS_PRESETS",
    "Clone",
    "Line",
    "Master",
    "Recipe",
    "StepSpec",
    "Track",
    "Voice",
    "build_recipe",
]

#: The kinds a recipe step is written as (``dialogue`` expands to ``speak`` or ``scene`` steps).
KINDS = (StepKind.SPEAK, StepKind.DIALOGUE, StepKind.FILE, StepKind.GENERATE, StepKind.ISOLATE, StepKind.MIX)
RESERVED_NAMES = ("mix", "master")
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
class Clone:
    """A voice cloned from a reference clip. ``source`` is as written: a step name, a file path or
    an http(s) URL (``recipe.graph`` resolves which). ``start_ms``/``duration_ms`` pick the part of
    the clip to use; ``model`` is the cloning model on Segmind (``seed-audio`` or ``openvoice``);
    ``transcript`` is what that part of the clip says (offline clones match its tempo on it)."""

    source: str
    location: SourceLocation
    model: str = "seed-audio"
    language: str | None = None
    start_ms: float = 0.0
    duration_ms: float | None = None
    transcript: str | None = None


@dataclass(frozen=True)
class Voice:
    """A cast voice. ``preset`` maps provider name → that provider's voice id (a plain string preset
    applies to every provider); ``clone`` makes it from a reference clip; ``model`` is a Piper
    ``.onnx`` file for the local provider. ``speed`` and ``volume`` are multipliers.
    ``display_name`` is how transcripts and the manifest name the speaker (default: ``name``);
    ``effects`` are applied to every take of the voice; ``lexicon`` holds its own pronunciations."""

    name: str
    index: int
    location: SourceLocation
    preset: dict[str, str] | str | None = None
    model: Path | None = None
    speaker: int | None = None
    speed: float = 1.0
    pitch_semitones: float = 0.0
    gain_db: float = 0.0
    volume: float = 1.0
    clone: Clone | None = None
    display_name: str | None = None
    effects: tuple[EffectSpec, ...] = ()
    lexicon: tuple[LexiconEntry, ...] = ()

    @property
    def shown_name(self) -> str:
        """The speaker's name in transcripts and the manifest."""
        return self.display_name or self.name


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


@dataclass(frozen=True)
class Recipe:
    """A whole recipe. ``root`` is the recipe's folder: relative paths resolve against it, and
    ``confinement`` resolves every local input (inside ``root`` or a folder the user allowed);
    ``meta`` is what every output's tags say; ``outputs`` are the deliverables (``output`` and
    ``master`` are the first one's); ``stems`` what stems to write beside the first (None: none)."""

    path: Path
    root: Path
    document: Document
    title: str
    provider: str
    cast: dict[str, Voice]
    steps: dict[str, StepSpec]
    mix: StepSpec
    master: Master
    output: Path
    confinement: Confinement
    outputs: tuple[Output, ...]
    meta: Meta
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    lexicon: Lexicon = field(default_factory=Lexicon)
    stems: Stems | None = None
    chapters: tuple[ChapterMark, ...] = ()  # where each starts is resolved after the mix (engine.chapters)


class _Reader:
    """Helpers that parse a value at a path and raise a located error when it is wrong."""

    def __init__(self, doc: Document):
        self.doc = doc

    def at(self, path: JsonPath) -> SourceLocation:
        return self.doc.locate(path)

    def unit(self, path: JsonPath, value: Any, parse: Callable[[Any], float]) -> float:
        try:
            return parse(value)
        except ValueError as exc:
            raise self.doc.error(path, str(exc)) from None

    def duration(self, path: JsonPath, value: Any, *, signed: bool = False, cap_ms: float = MAX_PROGRAMME_MS) -> float:
        """A duration in ms, at most ``cap_ms`` (either way when ``signed``)."""
        ms = self.unit(path, value, lambda v: parse_duration_ms(v, allow_negative=signed))
        if abs(ms) > cap_ms:
            cap = ms_text(cap_ms)
            bounds = f"between -{cap} and {cap}" if signed else f"at most {cap}"
            raise self.doc.error(path, f"{shown(value)} is out of range: must be {bounds}")
        return ms

    def number(self, path: JsonPath, value: Any, name: str | None = None) -> Any:
        """A plain number in the range :data:`NUMBER_RANGES` gives ``name`` (default: the last key
        of ``path``): an ``int`` for whole-number settings, else a ``float``; finite either way."""
        low, high, integer = NUMBER_RANGES[name or str(path[-1])]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.doc.error(path, f"expected a number, got {shown(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.doc.error(path, f"{shown(value)} is not a finite number")
        if integer and value != int(value):
            raise self.doc.error(path, f"{shown(value)} is not a whole number")
        if not low <= value <= high:
            raise self.doc.error(path, f"{shown(value)} is out of range: must be {low:g} to {high:g}")
        return int(value) if integer else float(value)

    def level(self, path: JsonPath, value: Any, name: str) -> float:
        """A gain in dB (``-20``, ``"-20 dB"``) in the range :data:`NUMBER_RANGES` gives ``name``."""
        gain_db = self.unit(path, value, parse_db)
        low, high, _ = NUMBER_RANGES[name]
        if not low <= gain_db <= high:
            raise self.doc.error(path, f"{shown(value)} is out of range: must be {low:g} to {high:g} dB")
        return gain_db

    def choice(self, path: JsonPath, value: Any, allowed: tuple[int, ...]) -> int:
        """One of ``allowed`` (sample rates, channel counts), as an ``int``."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in allowed:
            raise self.doc.error(path, f"{shown(value)} is not one of: {', '.join(map(str, allowed))}")
        return int(value)


def _split_direction(text: str, direction: str | None) -> tuple[str, str | None]:
    match = _DIRECTION.match(text)
    if match:  # a line that is only a (direction) has no words left: _line refuses it
        return match.group(2).strip(), direction or match.group(1).strip()
    return text.strip(), direction


def _clone(r: _Reader, path: JsonPath, spec: str | dict[str, Any]) -> Clone:
    if isinstance(spec, str):
        return Clone(source=spec, location=r.at(path))
    model = spec.get("model", "seed-audio")
    clone = Clone(
        source=spec["audio"],
        location=r.at((*path, "audio")),
        model=model,
        language=spec.get("language"),
        start_ms=r.duration((*path, "start"), spec["start"]) if "start" in spec else 0.0,
        duration_ms=r.duration((*path, "duration"), spec["duration"]) if "duration" in spec else None,
        transcript=" ".join(str(spec["transcript"]).split()) or None if "transcript" in spec else None,
    )
    low, high = CLIP_LIMITS_MS[model]
    if clone.duration_ms is not None and not low <= clone.duration_ms <= high:
        raise r.doc.error(
            (*path, "duration"),
            f"a {model} reference lasts {low / 1000:g}–{high / 1000:g} s, not {clone.duration_ms / 1000:g} s",
        )
    if clone.language and model != "openvoice":
        raise r.doc.error((*path, "language"), "`language` applies to openvoice clones", key=True)
    return clone


def _voice(r: _Reader, name: str, index: int, spec: dict[str, Any], channels: int = 2) -> Voice:
    path: JsonPath = ("cast", name)
    model = Path(spec["model"]) if "model" in spec else None
    if "clone" in spec and "model" in spec:
        raise r.doc.error((*path, "model"), "a voice is a clone or a Piper model, not both", key=True)
    return Voice(
        name=name,
        index=index,
        location=r.doc.locate(path, key=True),
        preset=spec.get("preset"),
        model=model,
        speaker=r.number((*path, "speaker"), spec["speaker"]) if "speaker" in spec else None,
        speed=r.number((*path, "speed"), spec.get("speed", 1.0)),
        pitch_semitones=r.number((*path, "pitch_semitones"), spec.get("pitch_semitones", 0.0)),
        gain_db=r.level((*path, "gain_db"), spec.get("gain_db", 0), "gain_db"),
        volume=r.number((*path, "volume"), spec.get("volume", 1.0)),
        clone=_clone(r, (*path, "clone"), spec["clone"]) if "clone" in spec else None,
        display_name=spec.get("display_name"),
        effects=parse_effects(r.doc, (*path, "effects"), spec.get("effects", []), channels=channels),
        lexicon=parse_lexicon(r.doc, (*path, "lexicon"), spec.get("lexicon", {}), voice=name),
    )


def _line(r: _Reader, path: JsonPath, item: dict[str, Any], cast: dict[str, Voice]) -> Line:
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


def _track(r: _Reader, path: JsonPath, spec: dict[str, Any], channels: int = 2) -> Track:
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
    placed = TrackSpec(
        spec["track"],
        at_ms=r.duration((*path, "at"), spec["at"]) if "at" in spec else None,
        after=named.get("after"),
        with_=named.get("with"),
        under=named.get("under"),
        crossfade_ms=crossfade,
        effects=parse_effects(r.doc, (*path, "effects"), spec.get("effects", []), channels=channels),
        **read_placement(r, path, spec),
    )
    return Track(placed, r.at((*path, "track")), refs, anchor)


def _step(
    r: _Reader, name: str, spec: dict[str, Any], cast: dict[str, Voice], channels: int = 2, path: JsonPath = ()
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
    tracks = tuple(_track(r, (*path, "mix", i), t, channels) for i, t in enumerate(spec["mix"]))
    return StepSpec(**common, tracks=tracks)


def _inline_cue(r: _Reader, name: str, spec: dict[str, Any], path: JsonPath) -> StepSpec:
    """An inline cue's sound (``cue: {generate: …}``): a generate step called ``name``."""
    return _step(r, name, spec, {}, path=path)


def _providers(r: _Reader, spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Provider settings with units parsed: ``poll_interval_s``, ``timeout_s`` and the rest as written."""
    out: dict[str, dict[str, Any]] = {}
    for name, item in spec.items():
        path: JsonPath = ("providers", name)
        settings = {k: v for k, v in item.items() if k not in ("poll_interval", "timeout")}
        for key in ("concurrency", "retries", "price_per_call_usd"):
            if key in item:
                settings[key] = r.number((*path, key), item[key])
        if "sample_rate_hz" in item:
            settings["sample_rate_hz"] = r.choice(
                (*path, "sample_rate_hz"), item["sample_rate_hz"], PROVIDER_SAMPLE_RATES_HZ
            )
        for key, (low_ms, high_ms) in (("poll_interval", POLL_INTERVAL_RANGE_MS), ("timeout", TIMEOUT_RANGE_MS)):
            if key in item:
                ms = r.duration((*path, key), item[key], cap_ms=high_ms)
                if ms < low_ms:
                    raise r.doc.error(
                        (*path, key), f"{shown(item[key])} is out of range: must be at least {ms_text(low_ms)}"
                    )
                settings[f"{key}_s"] = ms / 1000.0
        out[name] = settings
    return out


def _blocked(unit: JsonPath, broken: list[JsonPath]) -> bool:
    """Whether a schema error at one of ``broken`` lies inside ``unit`` or encloses it."""
    return any(b[: len(unit)] == unit or unit[: len(b)] == b for b in broken)


def _items(value: Any) -> list[tuple[Any, Any]]:
    return list(value.items()) if isinstance(value, dict) else list(enumerate(value)) if isinstance(value, list) else []


def _cast(r: _Reader, data: dict[str, Any], broken: list[JsonPath], collector: Collector) -> dict[str, Voice]:
    """Every cast voice; one that is broken (its error collected) stands in by name, so lines that
    name it report nothing more."""
    channels = mix_channels(data)
    cast: dict[str, Voice] = {}
    for i, (name, spec) in enumerate(_items(data.get("cast"))):
        cast[name] = Voice(name, i, r.doc.locate(("cast", name), key=True))
        if not _blocked(("cast", name), broken):
            with collector.guard():
                cast[name] = _voice(r, name, i, spec, channels)
    return cast


def build_recipe(
    doc: Document,
    path: Path,
    *,
    allow_dirs: Iterable[Path | str] = (),
    schema_errors: Iterable[tuple[JsonPath, RecipeError]] = (),
) -> Recipe:
    """Build the typed :class:`Recipe` from a document. Local inputs may come from the recipe's
    folder, ``allow_dirs`` and ``$AUDIOFLOW_ALLOW_DIRS`` (see ``recipe.paths``). ``schema_errors``
    are the (path, error) pairs :func:`~.schema.schema_errors` found: the parts they are about are
    not built, and the errors of every independent part (voice, step, track, master…) are raised
    together with them. Raises :class:`RecipeError` (:class:`~audioflow.errors.RecipeErrors` for several)."""
    r, data = _Reader(doc), doc.data
    collector, broken = Collector(), []
    for where, error in schema_errors:
        collector.add(error)
        broken.append(where)
    if () in broken or not isinstance(data, dict):  # the whole document is wrong (no steps…): nothing to build
        collector.raise_any()
    refuse_non_finite(doc, data)
    root = path.parent
    if isinstance(data.get("cast"), dict):
        with collector.guard():
            check_voice_names(r, data["cast"])
    cast = _cast(r, data, broken, collector)
    channels = mix_channels(data)
    steps: dict[str, StepSpec] = {}
    for name, spec in _items(data.get("steps")):
        if _blocked(("steps", name), broken):
            continue
        with collector.guard():
            if name in RESERVED_NAMES:
                raise doc.error(
                    ("steps", name),
                    f"{name!r} is the name of the recipe's own {name} step",
                    key=True,
                    hint="choose another name",
                )
            steps[name] = _step(r, name, spec, cast, channels)
    if "mix" not in data:
        collector.add(doc.error((), "missing key 'mix'", hint="the mix places steps on the programme's timeline"))
    tracks = []
    for i, item in _items(data.get("mix")):
        if not _blocked(("mix", i), broken):
            with collector.guard():
                tracks.append(_track(r, ("mix", i), item, channels))
    mix = StepSpec(name="mix", kind=StepKind.MIX, location=doc.locate(("mix",), key=True), tracks=tuple(tracks))
    parts: dict[str, Any] = {}
    with collector.guard():
        if not any(_blocked((key,), broken) for key in ("output", "outputs", "master")):
            parts["outputs"] = parse_outputs(doc, data, root, path.stem)
    for key, build in (("providers", _providers), ("lexicon", _lexicon)):
        if not _blocked((key,), broken):
            with collector.guard():
                parts[key] = build(r, data.get(key, {}))
    confinement = Confinement.for_recipe(path, allow_dirs)
    title = data.get("title", path.stem)
    if not _blocked(("meta",), broken):
        with collector.guard():
            parts["meta"] = parse_meta(doc, data.get("meta", {}), title, confinement)
    if "stems" in data and not _blocked(("stems",), broken):
        with collector.guard():
            parts["stems"] = parse_stems(doc, data["stems"], [t.spec.track for t in tracks])
    chapters = parse_chapters(doc, steps, confinement, collector, lambda where: _blocked(where, broken))
    collector.raise_any()
    return Recipe(
        path=path,
        root=root,
        document=doc,
        title=title,
        provider=data.get("provider", "local"),
        cast=cast,
        steps=steps,
        mix=mix,
        confinement=confinement,
        meta=parts["meta"],
        lexicon=Lexicon(parts["lexicon"], {name: v.lexicon for name, v in cast.items() if v.lexicon}),
        master=parts["outputs"][0].master,
        output=parts["outputs"][0].path,
        outputs=parts["outputs"],
        providers=parts["providers"],
        stems=parts.get("stems"),
        chapters=chapters,
    )


def _lexicon(r: _Reader, spec: dict[str, Any]) -> tuple[LexiconEntry, ...]:
    return parse_lexicon(r.doc, ("lexicon",), spec)
