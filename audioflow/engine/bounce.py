"""The bounce: the mastered output written beside the recipe with the recipe's ``meta:`` as its tags
and artwork, its transcripts (SRT, WebVTT) and its QC manifest — a typed :class:`Manifest` with one
serialiser (:meth:`Manifest.to_json`). Tags are written to the copy the bounce writes, never to the
cached master: they are in no digest, so changing them renders nothing again."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import __version__
from ..audio.chapters import Chapter, podcast_json, write_tagged
from ..audio.tags import Tags, read_artwork
from ..cache import ArtifactStore, write_atomic
from ..recipe.meta import Meta
from ..recipe.paths import sidecar_paths
from ..steps import MasterPayload, StepKind
from .chapters import resolve_chapters
from .events import StepStatus
from .meta import Segment, StepMeta
from .scheduler import RunResult
from .staleness import Plan
from .transcript import to_srt, to_vtt

__all__ = ["LoudnessReport", "Manifest", "ManifestStep", "bounce", "tags_for"]

METER = "ITU-R BS.1770-4 (libebur128), true peak 4x oversampled (soxr), measured on the decoded file"


@dataclass(frozen=True)
class ManifestStep:
    """One step in the manifest: what rendered it, its digests, length (ms), and how it came to be."""

    id: str
    kind: StepKind
    provider: str | None
    model: str | None
    take: int
    input_digest: str | None
    artifact: str | None
    duration_ms: float
    cached: bool
    placeholder: bool
    approximate: bool
    notes: tuple[str, ...]
    request_id: str | None = None
    cost_usd: float = 0.0
    timings_estimated: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": str(self.kind),
            "provider": self.provider,
            "model": self.model,
            "take": self.take,
            "input_digest": self.input_digest,
            "artifact": self.artifact,
            "duration_ms": round(self.duration_ms, 1),
            "cached": self.cached,
            "placeholder": self.placeholder,
            "approximate": self.approximate,
            "notes": list(self.notes),
        }
        if self.request_id:
            out["request_id"] = self.request_id
        if self.cost_usd:
            out["cost_usd"] = round(self.cost_usd, 6)
        if self.timings_estimated:
            out["timings_estimated"] = True
        return out


@dataclass(frozen=True)
class LoudnessReport:
    """The master's loudness: targets and what was measured on the decoded output (LUFS, dBTP)."""

    target_lufs: float
    measured_lufs: float
    target_true_peak_dbtp: float
    measured_true_peak_dbtp: float
    gain_db: float
    limited: bool
    meter: str = METER

    def to_json(self) -> dict[str, Any]:
        return {
            "target_lufs": self.target_lufs,
            "measured_lufs": round(self.measured_lufs, 2),
            "target_true_peak_dbtp": self.target_true_peak_dbtp,
            "measured_true_peak_dbtp": round(self.measured_true_peak_dbtp, 2),
            "gain_db": round(self.gain_db, 2),
            "limited": self.limited,
            "meter": self.meter,
        }


@dataclass(frozen=True)
class Manifest:
    """The QC manifest of a bounce: the output, its format, length (ms) and rate (Hz), loudness,
    placeholder steps, what was rendered or cached, what was spent (USD), every step, transcripts,
    the speakers (cast name → display name), how many transcript cues have estimated timings
    (``scene`` steps rendered remotely are marked ``timings_estimated``), and the chapters (title,
    start and end in ms) with the name of the JSON chapters file."""

    audioflow: str
    title: str
    recipe: str
    output: str
    format: str
    duration_ms: float
    sample_rate_hz: int | None
    loudness: LoudnessReport
    placeholders: tuple[str, ...]
    rendered: int
    cached: int
    spent_usd: float
    steps: tuple[ManifestStep, ...]
    transcripts: tuple[str, ...] = ()
    speakers: tuple[tuple[str, str], ...] = ()  # (cast name, display name) of every cast voice
    estimated_cues: int = 0
    chapters: tuple[Chapter, ...] = ()  # in time order; ``chapters_file`` the JSON chapters beside the output
    chapters_file: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The manifest as JSON data (what ``<output>.manifest.json`` holds)."""
        out: dict[str, Any] = {
            "audioflow": self.audioflow,
            "title": self.title,
            "recipe": self.recipe,
            "output": self.output,
            "format": self.format,
            "duration_ms": round(self.duration_ms, 1),
            "sample_rate_hz": self.sample_rate_hz,
            "loudness": self.loudness.to_json(),
            "placeholders": list(self.placeholders),
            "rendered": self.rendered,
            "cached": self.cached,
            "spent_usd": round(self.spent_usd, 6),
            "steps": [step.to_json() for step in self.steps],
        }
        if self.transcripts:
            out["transcripts"] = list(self.transcripts)
        if self.speakers:
            out["speakers"] = dict(self.speakers)
        if self.estimated_cues:
            out["transcript_cues_estimated"] = self.estimated_cues
        if self.chapters:
            out["chapters"] = [chapter.to_json() for chapter in self.chapters]
        if self.chapters_file:
            out["chapters_file"] = self.chapters_file
        return out


def _steps(plan: Plan, result: RunResult) -> tuple[ManifestStep, ...]:
    steps = []
    for step_id, outcome in result.outcomes.items():
        meta = outcome.meta or StepMeta()
        step = outcome.step
        steps.append(
            ManifestStep(
                step_id,
                step.kind,
                step.provider,
                plan.steps[step_id].model,
                step.take,
                outcome.digest,
                outcome.record.artifact.digest if outcome.record else None,
                meta.duration_ms,
                outcome.status == StepStatus.CACHED,
                meta.placeholder,
                meta.approximate,
                meta.notes,
                meta.request_id,
                meta.cost_usd,
                step.kind == StepKind.SCENE and meta.segments_estimated,
            )
        )
    return tuple(steps)


def _manifest(plan: Plan, result: RunResult, output: Path, transcripts: tuple[str, ...]) -> Manifest:
    recipe = plan.graph.recipe
    master = result.outcomes["master"].meta
    payload = plan.graph.steps["master"].payload
    assert master is not None and master.loudness is not None and isinstance(payload, MasterPayload)
    loudness = LoudnessReport(
        payload.target_lufs,
        master.loudness.lufs,
        payload.true_peak_dbtp,
        master.loudness.true_peak_dbtp,
        master.loudness.gain_db,
        master.loudness.limited,
    )
    return Manifest(
        __version__,
        recipe.title,
        recipe.path.name,
        output.name,
        payload.format,
        master.duration_ms,
        master.sample_rate_hz,
        loudness,
        master.placeholders,
        result.count(StepStatus.RENDERED),
        result.count(StepStatus.CACHED),
        result.budget.spent_usd,
        _steps(plan, result),
        transcripts,
        tuple((name, voice.shown_name) for name, voice in recipe.cast.items()),
        sum(1 for segment in master.segments if segment.estimated),
    )


def _with_display_names(plan: Plan, segments: tuple[Segment, ...]) -> list[Segment]:
    """Transcript segments with each speaker as the recipe shows it (a voice's ``display_name``;
    never part of a digest, so renaming a speaker renders nothing again)."""
    cast = plan.graph.recipe.cast
    return [replace(s, voice=cast[s.voice].shown_name) if s.voice in cast else s for s in segments]


def tags_for(meta: Meta) -> Tags:
    """The tags a bounce writes for the recipe's ``meta`` (the cover read and checked again)."""
    cover = read_artwork(meta.cover) if meta.cover is not None else None
    return Tags(
        meta.title,
        meta.show,
        meta.author,
        meta.episode,
        meta.season,
        meta.date,
        meta.description,
        meta.language,
        meta.copyright,
        meta.explicit,
        cover,
    )


def bounce(plan: Plan, result: RunResult, store: ArtifactStore) -> tuple[Path, Path, Manifest]:
    """Write the master (its sha256 checked as it is read from ``store``) to the recipe's output, its
    transcripts beside it (when anything is spoken) and the manifest, at the sidecar paths
    ``validate`` checked, the output tagged from the recipe's ``meta:`` (:func:`tags_for`) with its
    chapters (``engine.chapters``, resolved against the mix's anchors before anything is written;
    the Podcasting 2.0 JSON chapters beside it). Returns (output, manifest path, manifest). Raises
    ``CacheError`` on I/O failure, ``AudioError`` when the cover or the file cannot be read for
    tagging, ``RecipeError`` at a chapter that cannot be placed."""
    recipe = plan.graph.recipe
    output = recipe.output
    master = result.outcomes["master"]
    assert master.record is not None and master.meta is not None
    audio = store.read_verified(master.record.artifact)
    rate_hz = master.meta.sample_rate_hz or recipe.master.sample_rate_hz
    mix_meta = result.outcomes["mix"].meta or StepMeta()
    chapters = resolve_chapters(recipe.chapters, mix_meta, master.meta.duration_ms, rate_hz)  # before any write
    tagged = write_tagged(audio, recipe.master.format, tags_for(recipe.meta), chapters)
    write_atomic(output, tagged, shared=True)
    sidecars = sidecar_paths(output)
    if chapters:
        document = podcast_json(chapters, title=recipe.meta.title, file_name=output.name)
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        write_atomic(sidecars["chapters"], text.encode(), shared=True)
    transcripts: tuple[str, ...] = ()
    if master.meta.segments:
        segments = _with_display_names(plan, master.meta.segments)
        write_atomic(sidecars["srt"], to_srt(segments).encode(), shared=True)
        write_atomic(sidecars["vtt"], to_vtt(segments).encode(), shared=True)
        transcripts = (sidecars["srt"].name, sidecars["vtt"].name)
    manifest = replace(
        _manifest(plan, result, output, transcripts),
        chapters=tuple(chapters),
        chapters_file=sidecars["chapters"].name if chapters else None,
    )
    manifest_path = sidecars["manifest"]
    text = json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n"
    write_atomic(manifest_path, text.encode(), shared=True)
    return output, manifest_path, manifest
