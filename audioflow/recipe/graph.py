"""Expansion of a :class:`Recipe` into the step graph (a networkx ``DiGraph``, edges upstream →
downstream) and its Mermaid / DOT renderings.

A dialogue expands into one ``speak`` step per line (``scene1[1]``, ``scene1[2]`` …) and a
``dialogue`` step that joins them, so editing one line re-renders that line and what depends on it;
with ``render: scene`` it is one ``scene`` step (one Seed Audio request for the whole dialogue).
A cloned voice gets a ``clone`` step (``cast.mara``) that prepares its reference clip from a file or
another step's output; every step speaking with that voice depends on it. A ``generate`` longer
than one request (120 s) with ``extend: join`` becomes ``rain[1]``… plus a ``join`` step.
The recipe's ``mix`` and ``master`` are steps too.

Audio sources (a clone's reference, an isolate's input) are written as a step name, a file path
or an http(s) URL: a name of a step wins, then a URL, then a file relative to the recipe.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from ..errors import RecipeError, SourceLocation
from .model import CLONE_LIMITS_MS, Line, Recipe, StepSpec, Track, Voice
from .schema import did_you_mean

__all__ = ["CLONE_PREFIX", "MAX_REQUEST_MS", "Step", "StepGraph", "clone_step_id", "expand", "to_dot", "to_mermaid"]

CLONE_PREFIX = "cast."
#: The longest sound one generation request returns (Seed Audio 1.0: 120 s per request).
MAX_REQUEST_MS = 120_000.0
JOIN_CROSSFADE_MS = 2_000.0
#: ``@name`` in a generate prompt cites a cast voice (numbered ``@Audio1..3`` per request).
CITE = re.compile(r"(?<![\w@])@([A-Za-z_][A-Za-z0-9_-]*)")

_hash_memo: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class Step:
    """One node of the DAG. ``params`` is canonical JSON data: with kind, provider, take and the
    upstream artifacts it decides the output. ``files`` are local inputs read at render time, kept
    out of the digest (their content digest is in ``params`` instead)."""

    id: str
    kind: str
    location: SourceLocation
    params: dict[str, Any]
    deps: tuple[str, ...] = ()
    provider: str | None = None
    take: int = 1
    files: dict[str, Path] = field(default_factory=dict)
    voice: str | None = None  # the cast name of a speak step: for transcripts, not the digest


@dataclass
class StepGraph:
    """The expanded recipe: ``steps`` in recipe order and the ``graph`` over their ids."""

    recipe: Recipe
    steps: dict[str, Step]
    graph: nx.DiGraph

    def order(self) -> list[str]:
        """Step ids in a topological order that keeps recipe order where the graph allows."""
        position = {step_id: i for i, step_id in enumerate(self.steps)}
        return list(nx.lexicographical_topological_sort(self.graph, key=position.__getitem__))


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, memoised on (path, size, mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_memo:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _hash_memo[key] = digest.hexdigest()
    return _hash_memo[key]


def _existing_file(recipe: Recipe, written: Path, location: SourceLocation, what: str) -> Path:
    """The resolved path of a local input, confined by ``recipe.paths`` (inside the recipe's folder
    or an allowed folder; a regular file). Later code reads this path, not the written one."""
    return recipe.confinement.resolve(written, location, what)


def clone_step_id(voice: str) -> str:
    """The id of the step that prepares cast voice ``voice``'s reference clip."""
    return f"{CLONE_PREFIX}{voice}"


def _source(
    recipe: Recipe, written: str, location: SourceLocation, what: str
) -> tuple[dict[str, Any], tuple[str, ...], dict[str, Path]]:
    """Resolve an audio source as written: (params, deps, files)."""
    if written in recipe.steps:
        return {"step": written}, (written,), {}
    if written.startswith(("http://", "https://")):
        return {"url": written}, (), {}
    if "://" in written:
        raise RecipeError(f"{what} {written!r}: only http(s) URLs can be fetched by a host", location)
    hint = did_you_mean(written, recipe.steps) or f"a step name, a file relative to {recipe.root}, or an https URL"
    missing = (f"{what} {written!r} is not a step, a file or a URL", hint)
    path = recipe.confinement.resolve(written, location, what, missing=missing)
    return {"sha256": file_sha256(path), "name": Path(written).name}, (), {"source": path}


def _clone_step(recipe: Recipe, voice: Voice) -> Step | None:
    """The ``clone`` step preparing ``voice``'s reference (None for a URL: the host fetches it)."""
    clone = voice.clone
    if clone is None:
        return None
    source, deps, files = _source(recipe, clone.source, clone.location, "reference clip")
    if "url" in source:
        return None
    low, high = CLONE_LIMITS_MS[clone.model]
    params = {
        "source": source,
        "start_ms": clone.start_ms,
        "duration_ms": clone.duration_ms,
        "min_ms": low,
        "max_ms": high,
    }
    return Step(clone_step_id(voice.name), "clone", clone.location, params, deps, files=files, voice=voice.name)


def _image(recipe: Recipe, spec: StepSpec) -> tuple[dict[str, Any] | None, dict[str, Path]]:
    if spec.image is None:
        return None, {}
    location = recipe.document.locate(("steps", spec.name, "image"))
    if spec.image.startswith(("http://", "https://")):
        return {"url": spec.image}, {}
    path = _existing_file(recipe, Path(spec.image), location, "reference image")
    return {"sha256": file_sha256(path), "name": Path(spec.image).name}, {"image": path}


def _voice_params(recipe: Recipe, voice: Voice) -> tuple[dict[str, Any], dict[str, Path]]:
    params: dict[str, Any] = {
        "name": voice.name,
        "cast_index": voice.index,
        "preset": voice.preset,
        "speed": voice.speed,
        "volume": voice.volume,
        "pitch_semitones": voice.pitch_semitones,
        "gain_db": voice.gain_db,
        "clone": None,
    }
    if voice.clone is not None:
        params["clone"] = {"model": voice.clone.model, "language": voice.clone.language}
        if voice.clone.source.startswith(("http://", "https://")) and voice.clone.source not in recipe.steps:
            params["clone"]["url"] = voice.clone.source
    files: dict[str, Path] = {}
    if voice.model is not None:
        model = _existing_file(recipe, voice.model, voice.location, "voice model")
        beside = model.with_name(model.name + ".json")  # where Piper looks: beside the resolved model
        missing = (
            f"voice model {str(voice.model)!r} has no {beside.name} beside it",
            "Piper voices come as a .onnx file and a .onnx.json config",
        )
        config = recipe.confinement.resolve(beside, voice.location, "voice model config", missing=missing)
        params["model_sha256"] = file_sha256(model)
        params["config_sha256"] = file_sha256(config)
        params["speaker"] = voice.speaker
        files["model"] = model
    return params, files


def _clone_deps(recipe: Recipe, voices: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """(deps on clone steps, names of the voices with a reference clip) for ``voices`` in order."""
    deps, refs = [], []
    for name in dict.fromkeys(voices):
        clone = recipe.cast[name].clone
        if clone is None:
            continue
        refs.append(name)
        if not (clone.source.startswith(("http://", "https://")) and clone.source not in recipe.steps):
            deps.append(clone_step_id(name))
    return tuple(deps), refs


def _speak(recipe: Recipe, spec: StepSpec, step_id: str, line: Line, provider: str) -> Step:
    voice_params, files = _voice_params(recipe, recipe.cast[line.voice])
    image, image_files = _image(recipe, spec)
    deps, refs = _clone_deps(recipe, [line.voice])
    params = {"text": line.text, "direction": line.direction, "voice": voice_params, "image": image, "references": refs}
    files = {**files, **image_files}
    return Step(step_id, "speak", line.location, params, deps, provider, line.take or spec.take, files, line.voice)


def _scene(recipe: Recipe, spec: StepSpec, provider: str) -> Step:
    names = [line.voice for line in spec.lines]
    voices, files = {}, {}
    for name in dict.fromkeys(names):
        voices[name], voice_files = _voice_params(recipe, recipe.cast[name])
        files.update({f"{key}:{name}": path for key, path in voice_files.items()})
    image, image_files = _image(recipe, spec)
    deps, refs = _clone_deps(recipe, names)
    params = {
        "gap_ms": spec.gap_ms,
        "lines": [
            {"voice": line.voice, "text": line.text, "direction": line.direction, "gap_ms": line.gap_ms}
            for line in spec.lines
        ],
        "voices": voices,
        "image": image,
        "references": refs,
    }
    return Step(spec.name, "scene", spec.location, params, deps, provider, spec.take, {**files, **image_files})


def _generate(recipe: Recipe, spec: StepSpec, provider: str) -> list[Step]:
    assert spec.prompt is not None and spec.duration_ms is not None
    cited = list(dict.fromkeys(CITE.findall(spec.prompt)))
    for name in cited:
        if name not in recipe.cast:
            hint = did_you_mean(name, recipe.cast) or f"the cast has: {', '.join(recipe.cast) or 'no voices'}"
            raise RecipeError(
                f"@{name} cites no cast voice", recipe.document.locate(("steps", spec.name, "generate")), hint
            )
    voices = {name: _voice_params(recipe, recipe.cast[name])[0] for name in cited}
    image, files = _image(recipe, spec)
    deps, refs = _clone_deps(recipe, cited)
    params = {
        "prompt": spec.prompt,
        "duration_ms": spec.duration_ms,
        "texture": spec.texture,
        "voices": voices,
        "image": image,
        "references": refs,
    }
    if spec.extend != "join" or spec.duration_ms <= MAX_REQUEST_MS:
        return [Step(spec.name, "generate", spec.location, params, deps, provider, spec.take, files)]
    count = math.ceil(spec.duration_ms / MAX_REQUEST_MS)
    part_ms = (spec.duration_ms + (count - 1) * JOIN_CROSSFADE_MS) / count
    parts = [
        Step(
            f"{spec.name}[{i}]",
            "generate",
            spec.location,
            {**params, "duration_ms": part_ms},
            deps,
            provider,
            spec.take * 100 + i if spec.take > 1 else i,
            files,
        )
        for i in range(1, count + 1)
    ]
    join = {"crossfade_ms": JOIN_CROSSFADE_MS, "duration_ms": spec.duration_ms}
    return [*parts, Step(spec.name, "join", spec.location, join, tuple(p.id for p in parts))]


def _isolate(recipe: Recipe, spec: StepSpec, provider: str) -> Step:
    assert spec.source is not None
    location = recipe.document.locate(("steps", spec.name, "isolate", "audio"))
    source, deps, files = _source(recipe, spec.source, location, "audio to isolate from")
    params = {"describe": spec.describe, "candidates": spec.candidates, "source": source}
    return Step(spec.name, "isolate", spec.location, params, deps, provider, spec.take, files)


def _mix_params(recipe: Recipe, tracks: tuple[Track, ...]) -> dict[str, Any]:
    master = recipe.master
    return {
        "sample_rate_hz": master.sample_rate_hz,
        "channels": master.channels,
        "tracks": [
            {
                "track": t.step,
                "at_ms": t.at_ms,
                "after": t.after,
                "with": t.with_,
                "under": t.under,
                "offset_ms": t.offset_ms,
                "duration_ms": t.duration_ms,
                "gain_db": t.gain_db,
                "fade_in_ms": t.fade_in_ms,
                "fade_out_ms": t.fade_out_ms,
                "loop": t.loop,
                "duck_db": t.duck_db,
                "duck_attack_ms": t.duck_attack_ms,
                "duck_release_ms": t.duck_release_ms,
            }
            for t in tracks
        ],
    }


def _check_tracks(spec: StepSpec, known: set[str]) -> None:
    placed: set[str] = set()
    for track in spec.tracks:
        if track.step not in known or track.step == spec.name:
            hint = did_you_mean(track.step, sorted(known - {spec.name}))
            what = "a mix cannot contain itself" if track.step == spec.name else f"unknown step {track.step!r}"
            raise RecipeError(what, track.location, hint)
        for key, ref in (("after", track.after), ("with", track.with_), ("under", track.under)):
            if ref is not None and ref not in placed:
                hint = did_you_mean(ref, placed) or "refer to a track placed earlier in this mix"
                raise RecipeError(
                    f"`{key}: {ref}` names no earlier track of this mix", track.reference_locations[key], hint
                )
        placed.add(track.step)


def _expand_step(recipe: Recipe, spec: StepSpec, provider: str) -> list[Step]:
    if spec.kind == "speak":
        return [_speak(recipe, spec, spec.name, spec.lines[0], provider)]
    if spec.kind == "dialogue" and spec.render == "scene":
        return [_scene(recipe, spec, provider)]
    if spec.kind == "dialogue":
        lines = [
            _speak(recipe, spec, f"{spec.name}[{i}]", line, provider) for i, line in enumerate(spec.lines, start=1)
        ]
        params = {
            "gap_ms": spec.gap_ms,
            "lines": [{"voice": line.voice, "text": line.text, "gap_ms": line.gap_ms} for line in spec.lines],
        }
        return [*lines, Step(spec.name, "dialogue", spec.location, params, tuple(s.id for s in lines))]
    if spec.kind == "file":
        assert spec.file is not None
        source = _existing_file(recipe, spec.file, spec.location, "audio file")
        return [
            Step(
                spec.name,
                "file",
                spec.location,
                {"sha256": file_sha256(source), "name": spec.file.name},
                files={"source": source},
            )
        ]
    if spec.kind == "generate":
        return _generate(recipe, spec, provider)
    if spec.kind == "isolate":
        return [_isolate(recipe, spec, provider)]
    deps = tuple(dict.fromkeys(t.step for t in spec.tracks))
    return [Step(spec.name, "mix", spec.location, _mix_params(recipe, spec.tracks), deps)]


def expand(recipe: Recipe, *, provider: str | None = None) -> StepGraph:
    """Expand ``recipe`` into its :class:`StepGraph`. ``provider`` overrides every step's provider
    (``run --provider``). Raises :class:`RecipeError` for unknown names, cycles and missing files."""
    known = set(recipe.steps)
    steps: dict[str, Step] = {}
    for voice in recipe.cast.values():
        clone = _clone_step(recipe, voice)
        if clone is not None:
            steps[clone.id] = clone
    for spec in (*recipe.steps.values(), recipe.mix):
        if spec.kind == "mix":
            _check_tracks(spec, known)
        for step in _expand_step(recipe, spec, provider or spec.provider or recipe.provider):
            steps[step.id] = step
    master = recipe.master
    steps["master"] = Step(
        "master",
        "master",
        master.location,
        {
            "target_lufs": master.target_lufs,
            "true_peak_dbtp": master.true_peak_dbtp,
            "format": master.format,
            "bitrate_kbps": master.bitrate_kbps,
            "sample_rate_hz": master.sample_rate_hz,
            "channels": master.channels,
        },
        ("mix",),
    )
    graph = nx.DiGraph()
    graph.add_nodes_from(steps)
    graph.add_edges_from((dep, step.id) for step in steps.values() for dep in step.deps)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return StepGraph(recipe, steps, graph)
    names = [edge[0] for edge in cycle]
    first = steps[cycle[0][1]]
    owner = recipe.steps.get(first.id)
    track = next((t for t in owner.tracks if t.step == cycle[0][0]), None) if owner else None
    raise RecipeError(
        f"steps depend on each other in a cycle: {' → '.join([*names, names[0]])}",
        track.location if track else first.location,
        "a voice cannot be cloned from a step that speaks with it"
        if any(n.startswith(CLONE_PREFIX) for n in names)
        else None,
    )


def _label(step: Step) -> str:
    return f"{step.id}<br/>{step.kind}" + (f" · {step.provider}" if step.provider else "")


def to_mermaid(graph: StepGraph) -> str:
    """The DAG as a Mermaid ``flowchart LR``."""
    ids = {step_id: f"s{i}" for i, step_id in enumerate(graph.steps)}
    lines = ["flowchart LR"]
    lines += [f'    {ids[s.id]}["{_label(s)}"]' for s in graph.steps.values()]
    lines += [f"    {ids[a]} --> {ids[b]}" for a, b in graph.graph.edges]
    return "\n".join(lines) + "\n"


def to_dot(graph: StepGraph) -> str:
    """The DAG in Graphviz DOT."""
    lines = ["digraph audioflow {", "    rankdir=LR;", "    node [shape=box];"]
    for s in graph.steps.values():
        label = _label(s).replace("<br/>", "\\n").replace('"', '\\"')
        lines.append(f'    "{s.id}" [label="{label}"];')
    lines += [f'    "{a}" -> "{b}";' for a, b in graph.graph.edges]
    return "\n".join([*lines, "}"]) + "\n"
