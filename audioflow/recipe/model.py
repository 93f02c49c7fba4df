"""The validated recipe as typed values: :class:`Recipe` and its parts, each keeping its location.

:func:`build_recipe` turns a schema-valid :class:`Document` into a :class:`Recipe`, parsing units
(``"350ms"`` → 350.0 ms) and checking what the schema cannot: one kind key per step, the voices a
line names, the fields each kind needs, and that the output stays inside the recipe's folder.
The cast (:class:`Voice`, :class:`Clone`) and the recipe root are here; the steps as written
(:class:`StepSpec`, :class:`Line`, :class:`Track`) are read by :mod:`.step_specs`, every value
through a :class:`~.reader.Reader`. Their names are importable from here too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RecipeError, SourceLocation
from ..steps import CLIP_LIMITS_MS, EffectSpec, StepKind
from .chapters import ChapterMark, parse_chapters
from .cues import check_voice_names
from .diagnostics import Collector
from .effects import parse_effects
from .lexicon import Lexicon, LexiconEntry, parse_lexicon
from .limits import (
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
from .reader import Reader
from .stems import Stems, parse_stems
from .step_specs import DEFAULT_GAP_MS, KINDS, Line, StepSpec, Track, read_step, read_track

__all__ = [
    "DEFAULT_GAP_MS",
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

RESERVED_NAMES = ("mix", "master")


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


def _clone(r: Reader, path: JsonPath, spec: str | dict[str, Any]) -> Clone:
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


def _voice(r: Reader, name: str, index: int, spec: dict[str, Any], channels: int = 2) -> Voice:
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


def _providers(r: Reader, spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
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


def _cast(r: Reader, data: dict[str, Any], broken: list[JsonPath], collector: Collector) -> dict[str, Voice]:
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
    r, data = Reader(doc), doc.data
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
            steps[name] = read_step(r, name, spec, cast, channels)
    if "mix" not in data:
        collector.add(doc.error((), "missing key 'mix'", hint="the mix places steps on the programme's timeline"))
    tracks = []
    for i, item in _items(data.get("mix")):
        if not _blocked(("mix", i), broken):
            with collector.guard():
                tracks.append(read_track(r, ("mix", i), item, channels))
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


def _lexicon(r: Reader, spec: dict[str, Any]) -> tuple[LexiconEntry, ...]:
    return parse_lexicon(r.doc, ("lexicon",), spec)
