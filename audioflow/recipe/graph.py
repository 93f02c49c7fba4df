"""Expansion of a :class:`Recipe` into the step graph (a networkx ``DiGraph``, edges upstream →
downstream) and its Mermaid / DOT renderings.

A dialogue expands into one ``speak`` step per line (``scene1[1]``, ``scene1[2]`` …) and a
``dialogue`` step that joins them, so editing one line re-renders that line and what depends on it.
The recipe's ``mix`` and ``master`` are steps too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from ..errors import RecipeError, SourceLocation
from .model import Line, Recipe, StepSpec, Track, Voice
from .schema import did_you_mean

__all__ = ["Step", "StepGraph", "expand", "to_dot", "to_mermaid"]

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
    path = written if written.is_absolute() else recipe.root / written
    try:
        found = path.is_file()
    except OSError:  # a name too long for the file system, and the like: not a file we can read
        found = False
    if not found:
        raise RecipeError(
            f"{what} {str(written)!r} not found", location, f"paths are relative to the recipe's folder {recipe.root}"
        )
    return path


def _voice_params(recipe: Recipe, voice: Voice) -> tuple[dict[str, Any], dict[str, Path]]:
    params: dict[str, Any] = {
        "cast_index": voice.index,
        "preset": voice.preset,
        "speed": voice.speed,
        "pitch_semitones": voice.pitch_semitones,
        "gain_db": voice.gain_db,
    }
    files: dict[str, Path] = {}
    if voice.model is not None:
        model = _existing_file(recipe, voice.model, voice.location, "voice model")
        config = model.with_name(model.name + ".json")
        if not config.is_file():
            raise RecipeError(
                f"voice model {str(voice.model)!r} has no {config.name} beside it",
                voice.location,
                "Piper voices come as a .onnx file and a .onnx.json config",
            )
        params["model_sha256"] = file_sha256(model)
        params["config_sha256"] = file_sha256(config)
        params["speaker"] = voice.speaker
        files["model"] = model
    return params, files


def _speak(recipe: Recipe, step_id: str, line: Line, provider: str, take: int) -> Step:
    voice_params, files = _voice_params(recipe, recipe.cast[line.voice])
    params = {"text": line.text, "direction": line.direction, "voice": voice_params}
    return Step(step_id, "speak", line.location, params, (), provider, line.take or take, files, line.voice)


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
        return [_speak(recipe, spec.name, spec.lines[0], provider, spec.take)]
    if spec.kind == "dialogue":
        lines = [
            _speak(recipe, f"{spec.name}[{i}]", line, provider, spec.take) for i, line in enumerate(spec.lines, start=1)
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
        params = {"prompt": spec.prompt, "duration_ms": spec.duration_ms, "texture": spec.texture}
        return [Step(spec.name, "generate", spec.location, params, (), provider, spec.take)]
    deps = tuple(dict.fromkeys(t.step for t in spec.tracks))
    return [Step(spec.name, "mix", spec.location, _mix_params(recipe, spec.tracks), deps)]


def expand(recipe: Recipe, *, provider: str | None = None) -> StepGraph:
    """Expand ``recipe`` into its :class:`StepGraph`. ``provider`` overrides every step's provider
    (``run --provider``). Raises :class:`RecipeError` for unknown names, cycles and missing files."""
    known = set(recipe.steps)
    steps: dict[str, Step] = {}
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
    track = next(t for t in recipe.steps[first.id].tracks if t.step == cycle[0][0])
    raise RecipeError(f"steps depend on each other in a cycle: {' → '.join([*names, names[0]])}", track.location)


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
