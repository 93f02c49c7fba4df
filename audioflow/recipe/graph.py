"""Expansion of a :class:`Recipe` into the step graph (a networkx ``DiGraph``, edges upstream →
downstream; its types and its Mermaid / DOT renderings are in :mod:`.dag`, importable from here).

A dialogue expands into one ``speak`` step per line (``scene1[1]``, ``scene1[2]`` …) and a
``dialogue`` step that joins them, so editing one line re-renders that line and what depends on it;
with ``render: scene`` it is one ``scene`` step (one Seed Audio request for the whole dialogue), or,
when the dialogue is more than one request holds (``recipe.scene_split``), scene parts ``scene1#1``,
``scene1#2`` … joined by a ``dialogue`` step ``scene1``.
A dialogue's cues (``recipe.cues``) are placed by its joining step, which depends on each cue's
sound; an inline cue is a ``generate`` step ``NAME.cue[LABEL]`` or ``NAME.cue[prompt-words]``
(:func:`~.cues.inline_cue_ids`); a scene with cues or leading/trailing
pauses has its speech (``NAME.speech``, or its parts) joined with them by ``NAME``, and its parts
are cut at cues where they can be. Mix tracks may name a line (``scene[7]``, ``scene.door``).
A cloned voice gets a ``clone`` step (``cast.mara``) that prepares its reference clip from a file or
another step's output; every step speaking with that voice depends on it. A ``generate`` longer
than one request (120 s) with ``extend: join`` becomes ``rain[1]``… plus a ``join`` step.
The recipe's ``mix`` and ``master`` are steps too.

Audio sources (a clone's reference, an isolate's input) are written as a step name, a file path
or an http(s) URL: a name of a step wins, then a URL, then a file relative to the recipe.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RecipeError, SourceLocation, did_you_mean
from ..steps import (
    CLIP_LIMITS_MS,
    LOCAL_VOICE_NAMES,
    MAX_REQUEST_MS,
    ClonePayload,
    CloneSpec,
    DialoguePayload,
    FilePayload,
    FileRef,
    GeneratePayload,
    IsolatePayload,
    JoinPayload,
    LinesPayload,
    MasterPayload,
    MixPayload,
    PiperModel,
    SceneJoinPayload,
    SpokenLine,
    StepKind,
    StepSource,
    UrlRef,
    VoiceSpec,
    file_sha256,
)
from .cues import resolve_line
from .dag import Step, StepGraph, _topological_order, to_dot, to_mermaid
from .diagnostics import Collector
from .lexicon import unhonoured_warning
from .local_voices import assign_local_voices, named_local_voice
from .model import Line, Recipe, StepSpec, Track, Voice
from .outputs import Output, mix_settings
from .scene_split import SceneSplitError, split_scene
from .stems import stem_payloads

if TYPE_CHECKING:
    pass

__all__ = ["CLONE_PREFIX", "Step", "StepGraph", "clone_step_id", "expand", "to_dot", "to_mermaid"]

CLONE_PREFIX = "cast."
JOIN_CROSSFADE_MS = 2_000.0
#: ``@name`` in a generate prompt cites a cast voice (numbered ``@Audio1..3`` per request).
CITE = re.compile(r"(?<![\w@])@([A-Za-z_][A-Za-z0-9_-]*)")


def _is_url(written: str) -> bool:
    return written.startswith(("http://", "https://"))


def _existing_file(recipe: Recipe, written: Path, location: SourceLocation, what: str) -> Path:
    """The resolved path of a local input, confined by ``recipe.paths`` (inside the recipe's folder
    or an allowed folder; a regular file). Later code reads this path, not the written one."""
    return recipe.confinement.resolve(written, location, what)


def _file_ref(path: Path, written: str | Path) -> FileRef:
    return FileRef(file_sha256(path), Path(written).name)


def clone_step_id(voice: str) -> str:
    """The id of the step that prepares cast voice ``voice``'s reference clip."""
    return f"{CLONE_PREFIX}{voice}"


def _source(
    recipe: Recipe, written: str, location: SourceLocation, what: str
) -> tuple[StepSource | UrlRef | FileRef, tuple[str, ...], dict[str, Path]]:
    """Resolve an audio source as written: (source, deps, files)."""
    if written in recipe.steps:
        return StepSource(written), (written,), {}
    if _is_url(written):
        return UrlRef(written), (), {}
    if "://" in written:
        raise RecipeError(f"{what} {written!r}: only http(s) URLs can be fetched by a host", location)
    hint = did_you_mean(written, recipe.steps) or f"a step name, a file relative to {recipe.root}, or an https URL"
    missing = (f"{what} {written!r} is not a step, a file or a URL", hint)
    path = recipe.confinement.resolve(written, location, what, missing=missing)
    return _file_ref(path, written), (), {"source": path}


def _clone_url(recipe: Recipe, voice: Voice) -> str | None:
    """The reference clip's URL when a host fetches it (no clone step), else None."""
    clone = voice.clone
    if clone is None or clone.source in recipe.steps or not _is_url(clone.source):
        return None
    return clone.source


def _clone_step(recipe: Recipe, voice: Voice) -> Step | None:
    """The ``clone`` step preparing ``voice``'s reference (None for a URL: the host fetches it)."""
    clone = voice.clone
    if clone is None:
        return None
    source, deps, files = _source(recipe, clone.source, clone.location, "reference clip")
    if isinstance(source, UrlRef):
        return None
    low, high = CLIP_LIMITS_MS[clone.model]
    payload = ClonePayload(source, clone.start_ms, clone.duration_ms, low, high)
    return Step(clone_step_id(voice.name), StepKind.CLONE, clone.location, payload, deps, files=files, voice=voice.name)


def _image(recipe: Recipe, spec: StepSpec) -> tuple[FileRef | UrlRef | None, dict[str, Path]]:
    if spec.image is None:
        return None, {}
    location = recipe.document.locate(("steps", spec.name, "image"))
    if _is_url(spec.image):
        return UrlRef(spec.image), {}
    path = _existing_file(recipe, Path(spec.image), location, "reference image")
    return _file_ref(path, spec.image), {"image": path}


#: During :func:`expand`: cast name → its ``_voice_spec`` (a voice's spec is the same for every
#: line it speaks; a 10,000-line recipe built it 10,000 times, with the whole cast's assignment).
_VOICE_SPECS: ContextVar[dict[str, tuple[VoiceSpec, dict[str, Path]]] | None] = ContextVar("_VOICE_SPECS", default=None)


def _voice_spec(recipe: Recipe, voice: Voice) -> tuple[VoiceSpec, dict[str, Path]]:
    memo = _VOICE_SPECS.get()
    if memo is None:
        return _make_voice_spec(recipe, voice)
    if voice.name not in memo:
        memo[voice.name] = _make_voice_spec(recipe, voice)
    spec, files = memo[voice.name]
    return spec, dict(files)


def _make_voice_spec(recipe: Recipe, voice: Voice) -> tuple[VoiceSpec, dict[str, Path]]:
    clone = None
    if voice.clone is not None:
        clone = CloneSpec(voice.clone.model, voice.clone.language, _clone_url(recipe, voice), voice.clone.transcript)
    piper, files = None, {}
    if voice.model is not None:
        model = _existing_file(recipe, voice.model, voice.location, "voice model")
        beside = model.with_name(model.name + ".json")  # where Piper looks: beside the resolved model
        missing = (
            f"voice model {str(voice.model)!r} has no {beside.name} beside it",
            "Piper voices come as a .onnx file and a .onnx.json config",
        )
        config = recipe.confinement.resolve(beside, voice.location, "voice model config", missing=missing)
        piper = PiperModel(file_sha256(model), file_sha256(config), voice.speaker)
        files["model"] = model
    url_clones = {v.name for v in recipe.cast.values() if _clone_url(recipe, v) is not None}
    local_voice = assign_local_voices(recipe.cast, url_clones).get(voice.name)
    spec = VoiceSpec(
        name=voice.name,
        cast_index=voice.index,
        local_voice=local_voice,
        preset=voice.preset,
        speed=voice.speed,
        volume=voice.volume,
        pitch_semitones=voice.pitch_semitones,
        gain_db=voice.gain_db,
        clone=clone,
        piper=piper,
        effects=voice.effects,
    )
    return spec, files


def _clone_deps(recipe: Recipe, voices: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(deps on clone steps, names of the voices with a reference clip) for ``voices`` in order."""
    deps, refs = [], []
    for name in dict.fromkeys(voices):
        voice = recipe.cast[name]
        if voice.clone is None:
            continue
        refs.append(name)
        if _clone_url(recipe, voice) is None:
            deps.append(clone_step_id(name))
    return tuple(deps), tuple(refs)


def _spoken(line: Line, recipe: Recipe | None = None, provider: str = "") -> SpokenLine:
    """A line as the step carries it: with the lexicon's respelling for ``provider`` (``say``) when
    ``recipe`` is given and its lexicon changes the line."""
    say = recipe.lexicon.respell(line.text, line.voice, provider).say if recipe is not None else None
    return SpokenLine(line.voice, line.text, line.direction, line.gap_ms, say)


def _speak(recipe: Recipe, spec: StepSpec, step_id: str, line: Line, provider: str) -> Step:
    voice, files = _voice_spec(recipe, recipe.cast[line.voice])
    image, image_files = _image(recipe, spec)
    deps, refs = _clone_deps(recipe, [line.voice])
    _check_local_voices(recipe, [voice], provider, (line,))
    payload = LinesPayload(StepKind.SPEAK, (_spoken(line, recipe, provider),), (voice,), 0.0, image, refs)
    files = {**files, **image_files}
    return Step(
        step_id, StepKind.SPEAK, line.location, payload, deps, provider, line.take or spec.take, files, line.voice
    )


def _scene_part(
    recipe: Recipe, spec: StepSpec, step_id: str, span: tuple[int, int], provider: str, whole: bool
) -> Step:
    """One scene request: the lines ``span`` (0-based, end exclusive) of ``spec``; ``whole`` when
    it is the whole dialogue (located at the step, else at its first line). Its take is the largest
    ``take:`` of its lines, else the step's."""
    chosen = spec.lines[span[0] : span[1]]
    names = [line.voice for line in chosen]
    voices, files = [], {}
    for name in dict.fromkeys(names):
        voice, voice_files = _voice_spec(recipe, recipe.cast[name])
        voices.append(voice)
        files.update({f"{key}:{name}": path for key, path in voice_files.items()})
    _check_local_voices(recipe, voices, provider, chosen)
    image, image_files = _image(recipe, spec)
    deps, refs = _clone_deps(recipe, names)
    for voice in voices:
        if voice.effects:
            cast_voice = recipe.cast[voice.name]
            raise RecipeError(
                f"voice {voice.name!r} has effects, which a whole-scene take (render: scene) cannot apply to one voice",
                recipe.document.locate(("cast", cast_voice.name, "effects"), key=True),
                f"render dialogue {spec.name!r} line by line (render: lines), or put the effects on its mix track",
            )
    lines = tuple(_spoken(line, recipe, provider) for line in chosen)
    payload = LinesPayload(StepKind.SCENE, lines, tuple(voices), spec.gap_ms, image, refs)
    take = max((line.take for line in chosen if line.take is not None), default=spec.take)
    location = spec.location if whole else chosen[0].location
    files = {**files, **image_files}
    lines_shown = None if whole else (span[0] + 1, span[1])
    return Step(step_id, StepKind.SCENE, location, payload, deps, provider, take, files, lines=lines_shown)


def _scene(recipe: Recipe, spec: StepSpec, provider: str) -> list[Step]:
    """A ``render: scene`` dialogue: one ``scene`` step, or its parts (``NAME#1``…) and the
    ``dialogue`` step ``NAME`` joining them (see ``recipe.scene_split``)."""
    lines = [_spoken(line) for line in spec.lines]
    voices = [_voice_spec(recipe, recipe.cast[name])[0] for name in dict.fromkeys(x.voice for x in lines)]
    try:
        cues_before = {cue.spec.line + 1 if cue.spec.at == "end" else cue.spec.line for cue in spec.cues}
        spans = split_scene(lines, voices, spec.gap_ms, cues_before=cues_before)
    except SceneSplitError as exc:
        raise RecipeError(
            f"step {spec.name}, line {exc.line + 1}: {exc}",
            spec.lines[exc.line].location,
            "split the line in two, or render the dialogue line by line (render: lines)",
        ) from None
    if len(spans) == 1:
        return [_scene_part(recipe, spec, spec.name, spans[0], provider, whole=True)]
    parts = [_scene_part(recipe, spec, f"{spec.name}#{k}", span, provider, False) for k, span in enumerate(spans, 1)]
    gaps = tuple(spec.gap_ms if (own := lines[a].gap_ms) is None else own for a, _ in spans[1:])
    join = Step(spec.name, StepKind.DIALOGUE, spec.location, SceneJoinPayload(gaps), tuple(p.id for p in parts))
    return [*parts, join]


def _check_local_voices(recipe: Recipe, voices: list[VoiceSpec], provider: str, lines: tuple[Line, ...]) -> None:
    """A voice rendered by the local provider that the cast left without a local voice: a located error."""
    if provider != "local":
        return
    for voice in voices:
        if voice.local_voice is None and voice.piper is None and (voice.clone is None or voice.clone.url):
            if named_local_voice(recipe.cast[voice.name]) is not None:
                continue
            line = next(x for x in lines if x.voice == voice.name)
            raise RecipeError(
                f"voice {voice.name!r}: the cast has more plain voices than the local provider's "
                f"{len(LOCAL_VOICE_NAMES)} ({', '.join(LOCAL_VOICE_NAMES)}), and two would sound alike",
                recipe.cast[voice.name].location,
                f"give {voice.name} a Piper voice (model: voices/NAME.onnx) or name a local voice "
                f"(preset: {{local: NAME}}) two voices may share; first spoken at line {line.location.line}",
            )


def _generate(recipe: Recipe, spec: StepSpec, provider: str) -> list[Step]:
    assert spec.prompt is not None and spec.duration_ms is not None
    cited = list(dict.fromkeys(CITE.findall(spec.prompt)))
    for name in cited:
        if name not in recipe.cast:
            hint = did_you_mean(name, recipe.cast) or f"the cast has: {', '.join(recipe.cast) or 'no voices'}"
            raise RecipeError(
                f"@{name} cites no cast voice", recipe.document.locate(("steps", spec.name, "generate")), hint
            )
    voices = tuple(_voice_spec(recipe, recipe.cast[name])[0] for name in cited)
    image, files = _image(recipe, spec)
    deps, refs = _clone_deps(recipe, cited)
    payload = GeneratePayload(spec.prompt, spec.duration_ms, spec.texture, voices, image, refs)
    if spec.extend != "join" or spec.duration_ms <= MAX_REQUEST_MS:
        return [Step(spec.name, StepKind.GENERATE, spec.location, payload, deps, provider, spec.take, files)]
    count = math.ceil(spec.duration_ms / MAX_REQUEST_MS)
    part_ms = (spec.duration_ms + (count - 1) * JOIN_CROSSFADE_MS) / count
    parts = [
        Step(
            f"{spec.name}[{i}]",
            StepKind.GENERATE,
            spec.location,
            GeneratePayload(spec.prompt, part_ms, spec.texture, voices, image, refs),
            deps,
            provider,
            spec.take * 100 + i if spec.take > 1 else i,
            files,
        )
        for i in range(1, count + 1)
    ]
    join = JoinPayload(JOIN_CROSSFADE_MS, spec.duration_ms)
    return [*parts, Step(spec.name, StepKind.JOIN, spec.location, join, tuple(p.id for p in parts))]


def _isolate(recipe: Recipe, spec: StepSpec, provider: str) -> Step:
    assert spec.source is not None and spec.describe is not None
    location = recipe.document.locate(("steps", spec.name, "isolate", "audio"))
    source, deps, files = _source(recipe, spec.source, location, "audio to isolate from")
    payload = IsolatePayload(spec.describe, spec.candidates, source)
    return Step(spec.name, StepKind.ISOLATE, spec.location, payload, deps, provider, spec.take, files)


def _mix_payload(recipe: Recipe, tracks: tuple[Track, ...]) -> MixPayload:
    rate_hz, channels = mix_settings(recipe.outputs)
    anchors = _anchor_lines(recipe, tracks)
    placed = tuple(replace(t.spec, anchor_line=a) for t, a in zip(tracks, anchors, strict=True))
    return MixPayload(rate_hz, channels, placed)


def _master_step(output: Output) -> Step:
    """The master step of one output (``master`` for the first, ``master:<file name>`` for the others),
    made from the recipe's one mix."""
    master = output.master
    payload = MasterPayload(
        master.target_lufs,
        master.true_peak_dbtp,
        master.format,
        master.bitrate_kbps,
        master.sample_rate_hz,
        master.channels,
        master.bit_depth,
        master.target_rms_dbfs,
    )
    return Step(output.step_id, StepKind.MASTER, output.location, payload, ("mix",))


def _anchor_lines(recipe: Recipe, tracks: tuple[Track, ...]) -> list[int | None]:
    """The 1-based line each track's ``after``/``with``/``under`` names (``scene[7]``, ``scene.door``),
    or None. Raises :class:`RecipeError` naming the line, with near labels."""
    out: list[int | None] = []
    for track in tracks:
        placed = track.spec
        ref = placed.after or placed.with_ or placed.under
        if track.anchor is None or ref is None:
            out.append(None)
            continue
        key = "after" if placed.after else "with" if placed.with_ else "under"
        written = f"{ref}{track.anchor}"
        out.append(resolve_line(recipe.steps[ref], track.anchor, written, track.reference_locations[key]) + 1)
    return out


def _check_tracks(spec: StepSpec, known: set[str]) -> None:
    """Every track names a step, and its ``after``/``with``/``under`` an earlier track. Each track is
    checked on its own (a misnamed track still counts as placed for the tracks after it), so every
    independent error is reported. Raises :class:`RecipeError` (several: ``RecipeErrors``)."""
    placed_steps: set[str] = set()
    collector = Collector()
    for track in spec.tracks:
        with collector.guard():
            _check_track(spec, track, known, placed_steps)
        placed_steps.add(track.spec.track)
    collector.raise_any()


def _check_track(spec: StepSpec, track: Track, known: set[str], placed_steps: set[str]) -> None:
    placed, step = track.spec, track.spec.track
    if step not in known or step == spec.name:
        hint = did_you_mean(step, sorted(known - {spec.name}))
        what = "a mix cannot contain itself" if step == spec.name else f"unknown step {step!r}"
        raise RecipeError(what, track.location, hint)
    for key, ref in (("after", placed.after), ("with", placed.with_), ("under", placed.under)):
        if ref is not None and ref not in placed_steps:
            hint = did_you_mean(ref, placed_steps) or "refer to a track placed earlier in this mix"
            written = f"{ref}{track.anchor or ''}"
            raise RecipeError(
                f"`{key}: {written}` names no earlier track of this mix", track.reference_locations[key], hint
            )


def _cue_sounds(recipe: Recipe, spec: StepSpec, provider: str | None) -> list[Step]:
    """The steps of a dialogue's inline cues (generated sounds); every other cue must name a step."""
    out: list[Step] = []
    for cue in spec.cues:
        if cue.inline is not None:
            out += _generate(recipe, cue.inline, provider or cue.inline.provider or recipe.provider)
        elif (sound := cue.spec.step) not in recipe.steps or sound == spec.name:
            what = "a dialogue cannot cue itself" if sound == spec.name else f"cue {sound!r} names no step"
            hint = did_you_mean(sound, sorted(set(recipe.steps) - {spec.name}))
            raise RecipeError(what, cue.location, hint or "name a step (a generate or file step), or write it inline")
    return out


def _dialogue(recipe: Recipe, spec: StepSpec, provider: str, override: str | None) -> list[Step]:
    """A dialogue: its inline cue sounds, its speech (a step per line, or one ``scene`` step), and the
    step that joins the speech with its pauses and cues. A scene with neither cues nor leading or
    trailing pauses is the ``scene`` step alone (as before cues existed)."""
    cue_steps = _cue_sounds(recipe, spec, override)
    cues = tuple(c.spec for c in spec.cues)
    spoken = tuple(_spoken(line) for line in spec.lines)
    if spec.render == "scene":
        scene = _scene(recipe, spec, provider)
        if not cues and not spec.lead_ms and not spec.tail_ms:
            return [*cue_steps, *scene]
        # the cues are placed by a dialogue step over the scene's speech: its one take, or its parts
        speech = [replace(scene[0], id=f"{spec.name}.speech")] if len(scene) == 1 else scene[:-1]
        parts: tuple[int, ...] | None = tuple(len(s.payload.lines) for s in speech)  # type: ignore[union-attr]
    else:
        speech = [
            _speak(recipe, spec, f"{spec.name}[{i}]", line, provider) for i, line in enumerate(spec.lines, start=1)
        ]
        parts = None
    payload = DialoguePayload(spec.gap_ms, spoken, cues, spec.lead_ms, spec.tail_ms, parts)
    deps = (*(s.id for s in speech), *payload.cue_steps)
    where = tuple(c.location for c in spec.cues)
    return [*cue_steps, *speech, Step(spec.name, StepKind.DIALOGUE, spec.location, payload, deps, placements=where)]


def _expand_step(recipe: Recipe, spec: StepSpec, provider: str, override: str | None = None) -> list[Step]:
    kind = StepKind(spec.kind)
    if kind == StepKind.SPEAK:
        return [_speak(recipe, spec, spec.name, spec.lines[0], provider)]
    if kind == StepKind.DIALOGUE:
        return _dialogue(recipe, spec, provider, override)
    if kind == StepKind.FILE:
        assert spec.file is not None
        source = _existing_file(recipe, spec.file, spec.location, "audio file")
        payload_file = FilePayload(_file_ref(source, spec.file))
        return [Step(spec.name, StepKind.FILE, spec.location, payload_file, files={"source": source})]
    if kind == StepKind.GENERATE:
        return _generate(recipe, spec, provider)
    if kind == StepKind.ISOLATE:
        return [_isolate(recipe, spec, provider)]
    deps = tuple(dict.fromkeys(t.spec.track for t in spec.tracks))
    where = tuple(t.location for t in spec.tracks)
    return [Step(spec.name, StepKind.MIX, spec.location, _mix_payload(recipe, spec.tracks), deps, placements=where)]


def _check_inputs(recipe: Recipe, inputs: Mapping[str, tuple[Path, str]]) -> None:
    """Every name in ``inputs`` is a ``file`` step of the recipe."""
    files = [name for name, spec in recipe.steps.items() if spec.kind == StepKind.FILE]
    for name in inputs:
        if name not in files:
            hint = did_you_mean(name, files) or f"the recipe's file steps: {', '.join(files) or 'none'}"
            raise RecipeError(f"inputs: {name!r} is not a file step of the recipe", hint=hint)


def expand(
    recipe: Recipe, *, provider: str | None = None, inputs: Mapping[str, tuple[Path, str]] | None = None
) -> StepGraph:
    """Expand ``recipe`` into its :class:`StepGraph`. ``provider`` overrides every step's provider
    (``run --provider``). ``inputs`` gives ``file`` steps their audio through the Python API: step
    name → (the file to read, its sha256), used instead of the file the recipe names (the caller's
    own file, so it is not confined to the recipe's folder). Raises :class:`RecipeError` for unknown
    names, cycles and missing files."""
    token = _VOICE_SPECS.set({})
    try:
        steps = _expand_steps(recipe, provider, inputs)
    finally:
        _VOICE_SPECS.reset(token)
    if _topological_order(steps) is not None:
        return StepGraph(recipe, steps, _lexicon_warnings(recipe, steps))
    import networkx as nx  # only to name the cycle

    cycle = nx.find_cycle(StepGraph(recipe, steps).graph)
    names = [edge[0] for edge in cycle]
    first = steps[cycle[0][1]]
    owner = recipe.steps.get(first.id)
    track = next((t for t in owner.tracks if t.spec.track == cycle[0][0]), None) if owner else None
    raise RecipeError(
        f"steps depend on each other in a cycle: {' → '.join([*names, names[0]])}",
        track.location if track else first.location,
        "a voice cannot be cloned from a step that speaks with it"
        if any(n.startswith(CLONE_PREFIX) for n in names)
        else None,
    )


def _expand_steps(
    recipe: Recipe, provider: str | None, inputs: Mapping[str, tuple[Path, str]] | None
) -> dict[str, Step]:
    """Every step of ``recipe`` by id, in recipe order (see :func:`expand`)."""
    known = set(recipe.steps)
    _check_inputs(recipe, inputs or {})
    steps: dict[str, Step] = {}
    collector = Collector()  # every step's errors in one pass
    for voice in recipe.cast.values():
        with collector.guard():
            clone = _clone_step(recipe, voice)
            if clone is not None:
                steps[clone.id] = clone
    for spec in (*recipe.steps.values(), recipe.mix):
        with collector.guard():
            if spec.kind == StepKind.MIX:
                _check_tracks(spec, known)
            given = (inputs or {}).get(spec.name)
            if given is not None:
                path, sha256 = given
                assert spec.file is not None
                file_step = FilePayload(FileRef(sha256, spec.file.name))
                steps[spec.name] = Step(spec.name, StepKind.FILE, spec.location, file_step, files={"source": path})
                continue
            for step in _expand_step(recipe, spec, provider or spec.provider or recipe.provider, provider):
                steps[step.id] = step
    collector.raise_any()
    for output in recipe.outputs:
        steps[output.step_id] = _master_step(output)
    if recipe.stems is not None:  # beside the master, from the mix's own inputs: the mix renders nothing new
        mix = steps["mix"]
        assert isinstance(mix.payload, MixPayload)
        for stem in stem_payloads(recipe.stems, mix.payload, recipe.steps):
            step_id = f"stems.{stem.name}"
            steps[step_id] = Step(
                step_id, StepKind.STEM, recipe.stems.location, stem, mix.deps, placements=mix.placements
            )
    return steps


def _lexicon_warnings(recipe: Recipe, steps: dict[str, Step]) -> tuple[str, ...]:
    """A located warning for each lexicon entry a step's provider cannot honour on its lines."""
    found: dict[tuple[str, str], tuple[Any, list[str]]] = {}
    for step in steps.values():
        payload = step.payload
        if not isinstance(payload, LinesPayload) or step.provider is None:
            continue
        for line in payload.lines:
            for entry in recipe.lexicon.respell(line.text, line.voice, step.provider).unhonoured:
                found.setdefault((entry.word, step.provider), (entry, []))[1].append(step.id)
    warnings = []
    for (_, provider), (entry, step_ids) in found.items():
        location, message = unhonoured_warning(entry, provider, dict.fromkeys(step_ids))
        warnings.append(f"{location}: warning: {message}")
    return tuple(warnings)
