"""The bounce: every output of the recipe written beside it (each from its own master step) with the
recipe's ``meta:`` as its tags and artwork, its transcripts (SRT, WebVTT) and its manifest — a typed
:class:`Manifest` with one serialiser (:meth:`Manifest.to_json`, shape ``schemas/manifest.schema.json``,
``manifest_version`` :data:`MANIFEST_VERSION`) holding the output's QC report (:mod:`.qc`). Tags
are written to the copy the bounce writes, never to the cached master: they are in no digest, so
changing them renders nothing again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..cache import ArtifactStore, write_atomic
from ..recipe.meta import Meta
from ..recipe.outputs import Output
from ..recipe.paths import sidecar_paths
from ..steps import MasterPayload, StemPayload, StepKind
from .bounce_record import BounceRecords, bounce_key
from .chapters import resolve_chapters
from .events import StepStatus
from .handoff import labels_text, reaper_project, write_stem
from .meta import Segment, StepMeta
from .outcomes import RunResult
from .qc import QcReport, qc_report
from .staleness import Plan
from .transcript import split_cues, to_json, to_srt, to_vtt

if TYPE_CHECKING:  # audio.chapters and audio.tags hold mutagen: imported when a file is tagged
    from ..audio.chapters import Chapter
    from ..audio.tags import Tags

__all__ = [
    "MANIFEST_VERSION",
    "Bounced",
    "LoudnessReport",
    "Manifest",
    "ManifestStep",
    "bounce",
    "bounce_output",
    "manifest_schema",
    "tags_for",
]

#: The version of the manifest's shape (``schemas/manifest.schema.json``): raised when it changes.
MANIFEST_VERSION = 1

_SCHEMA = ("schemas", "manifest.schema.json")


@cache
def manifest_schema() -> dict[str, Any]:
    """The manifest's JSON Schema (draft 2020-12): from the installed package, else from the source
    tree's ``schemas/``."""
    packaged = resources.files("audioflow").joinpath(*_SCHEMA)
    if packaged.is_file():
        text = packaged.read_text(encoding="utf-8")
    else:
        text = (Path(__file__).resolve().parents[2] / _SCHEMA[0] / _SCHEMA[1]).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


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
    """The master's loudness: targets and what was measured on the decoded output (LUFS, dBTP);
    an ACX master has ``target_rms_dbfs`` and no ``target_lufs``."""

    target_lufs: float | None
    measured_lufs: float
    target_true_peak_dbtp: float
    measured_true_peak_dbtp: float
    gain_db: float
    limited: bool
    meter: str = METER
    target_rms_dbfs: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "target_lufs": self.target_lufs,
            **({"target_rms_dbfs": self.target_rms_dbfs} if self.target_rms_dbfs is not None else {}),
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
    (``scene`` steps rendered remotely are marked ``timings_estimated``), the chapters (title,
    start and end in ms) with the name of the JSON chapters file, the output's master ``step`` and
    its ``qc`` report."""

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
    step: str = "master"
    qc: QcReport | None = None
    stems: tuple[str, ...] = ()  # the stems, then the DAW hand-off files, relative to the output's folder

    def to_json(self) -> dict[str, Any]:
        """The manifest as JSON data (what ``<output>.manifest.json`` holds)."""
        out: dict[str, Any] = {
            "manifest_version": MANIFEST_VERSION,
            "audioflow": self.audioflow,
            "title": self.title,
            "recipe": self.recipe,
            "output": self.output,
            "format": self.format,
            "step": self.step,
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
        if self.stems:
            out["stems"] = list(self.stems)
        if self.qc is not None:
            out["qc"] = self.qc.to_json()
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


def _manifest(
    plan: Plan,
    result: RunResult,
    output: Output,
    transcripts: tuple[str, ...],
    qc: QcReport,
    estimated_cues: int,
    stems: tuple[str, ...] = (),
) -> Manifest:
    recipe = plan.graph.recipe
    master = result.outcomes[output.step_id].meta
    payload = plan.graph.steps[output.step_id].payload
    assert master is not None and master.loudness is not None and isinstance(payload, MasterPayload)
    rms_target = payload.target_rms_dbfs
    loudness = LoudnessReport(
        payload.target_lufs if rms_target is None else None,
        master.loudness.lufs,
        payload.true_peak_dbtp,
        master.loudness.true_peak_dbtp,
        master.loudness.gain_db,
        master.loudness.limited,
        target_rms_dbfs=rms_target,
    )
    return Manifest(
        __version__,
        recipe.title,
        recipe.path.name,
        output.path.name,
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
        estimated_cues,
        step=output.step_id,
        qc=qc,
        stems=stems,
    )


def _with_display_names(plan: Plan, segments: tuple[Segment, ...]) -> list[Segment]:
    """Transcript segments with each speaker as the recipe shows it (a voice's ``display_name``;
    never part of a digest, so renaming a speaker renders nothing again)."""
    cast = plan.graph.recipe.cast
    return [replace(s, voice=cast[s.voice].shown_name) if s.voice in cast else s for s in segments]


def _write_stems(
    plan: Plan,
    result: RunResult,
    store: ArtifactStore,
    output: Output,
    sidecars: dict[str, Path],
    chapters: Sequence[Chapter],
) -> tuple[str, ...]:
    """The stems in ``output``'s ``stems`` folder, the Reaper project beside them and the Audacity
    labels of the lines and ``chapters`` (:mod:`.handoff`); returns their paths relative to the
    output's folder."""
    recipe = plan.graph.recipe
    assert recipe.stems is not None
    folder, written = sidecars["stems"], []
    for outcome in result.outcomes.values():
        payload = outcome.step.payload
        if isinstance(payload, StemPayload) and outcome.record is not None:
            artifact = outcome.record.artifact
            target = folder / f"{payload.name}.wav"
            written.append(write_stem(store, artifact.path, artifact.digest, target, recipe.stems.format))
    project = folder / f"{sidecars['stems'].stem}.RPP"
    write_atomic(project, reaper_project(written, recipe.meta.title).encode(), shared=True)
    master = result.outcomes[output.step_id].meta
    segments = _with_display_names(plan, master.segments if master is not None else ())
    write_atomic(sidecars["labels"], labels_text(segments, chapters).encode(), shared=True)
    base = output.path.parent
    return tuple(str(p.relative_to(base)) for p in (*(s.path for s in written), project, sidecars["labels"]))


def tags_for(meta: Meta) -> Tags:
    """The tags a bounce writes for the recipe's ``meta`` (the cover read and checked again): every
    field of :class:`Tags` taken from ``meta`` by name, so the two cannot drift apart."""
    from ..audio.tags import Tags, read_artwork

    cover = read_artwork(meta.cover) if meta.cover is not None else None
    return Tags(**{f.name: getattr(meta, f.name) for f in fields(Tags) if f.name != "cover"}, cover=cover)


@dataclass(frozen=True)
class Bounced:
    """One output the bounce wrote: the recipe's :class:`~audioflow.recipe.outputs.Output`, the file,
    its manifest file and the typed manifest (with its QC report)."""

    output: Output
    path: Path
    manifest_path: Path
    manifest: Manifest

    @property
    def qc(self) -> QcReport:
        assert self.manifest.qc is not None
        return self.manifest.qc


def bounce(plan: Plan, result: RunResult, store: ArtifactStore) -> tuple[Bounced, ...]:
    """Write every output of the recipe whose master step rendered or was cached (see
    :func:`bounce_output`), in the recipe's order, each output's chapters resolved against the mix's
    anchors (``engine.chapters``) before anything is written; the outputs to write are written at
    once, a thread each. Raises what :func:`bounce_output` raises, and ``RecipeError`` at a chapter
    that cannot be placed."""
    recipe = plan.graph.recipe
    mix_meta = result.outcomes["mix"].meta or StepMeta()
    ready = []
    for output in recipe.outputs:
        outcome = result.outcomes.get(output.step_id)
        if outcome is not None and outcome.record is not None and outcome.meta is not None:
            rate_hz = outcome.meta.sample_rate_hz or output.master.sample_rate_hz
            chapters = resolve_chapters(recipe.chapters, mix_meta, outcome.meta.duration_ms, rate_hz)
            ready.append((output, chapters))
    records, out, keys = BounceRecords(store, plan), [], []
    for output, chapters in ready:  # an output whose bounce would change nothing is not written again
        key = bounce_key(plan, result, output, store) if records.path is not None else ""
        kept = records.kept(output, key) if key else None
        keys.append(key)
        out.append(_unchanged(plan, result, output, chapters, kept) if kept else None)
    todo = [i for i, done in enumerate(out) if done is None]
    if len(todo) > 1:  # each output's files are its own; most of a bounce waits on fsync and ffmpeg: at once
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(todo), thread_name_prefix="audioflow-bounce") as pool:
            written = list(pool.map(lambda i: bounce_output(plan, result, store, *ready[i]), todo))
    else:
        written = [bounce_output(plan, result, store, *ready[i]) for i in todo]
    for i, done in zip(todo, written, strict=True):
        out[i] = done
    bounced = tuple(done for done in out if done is not None)
    for (output, _), key, each in zip(ready, keys, bounced, strict=True):
        records.remember(output, key, each.manifest, each.path)
    records.save(recipe.outputs)
    return bounced


def _unchanged(
    plan: Plan, result: RunResult, output: Output, chapters: Sequence[Chapter], kept: dict[str, Any]
) -> Bounced | None:
    """The bounce of ``output`` as its record (:mod:`.bounce_record`) says the files beside it stand:
    the same manifest, built from the same parts, nothing read from the store or written."""
    master = result.outcomes[output.step_id].meta
    if master is None or master.qc_figures is None:
        return None
    sha256, size = kept["qc"]
    qc = qc_report(output.path, output.master, master.qc_figures, written=(sha256, size))
    transcripts = tuple(str(name) for name in kept.get("transcripts") or ())
    stems = tuple(str(name) for name in kept.get("stems") or ())
    cues = kept.get("estimated_cues")
    estimated = cues if type(cues) is int else 0
    manifest = _finished_manifest(plan, result, output, chapters, transcripts, qc, estimated, stems)
    return Bounced(output, output.path, sidecar_paths(output.path, output.sidecar_stem)["manifest"], manifest)


def _finished_manifest(
    plan: Plan,
    result: RunResult,
    output: Output,
    chapters: Sequence[Chapter],
    transcripts: tuple[str, ...],
    qc: QcReport,
    estimated_cues: int,
    stems: tuple[str, ...],
) -> Manifest:
    """The manifest of ``output``'s bounce, with its chapters (see :func:`bounce_output`)."""
    chapters_file = sidecar_paths(output.path, output.sidecar_stem)["chapters"].name if chapters else None
    return replace(
        _manifest(plan, result, output, transcripts, qc, estimated_cues, stems),
        chapters=tuple(chapters),
        chapters_file=chapters_file,
    )


def bounce_output(
    plan: Plan, result: RunResult, store: ArtifactStore, output: Output, chapters: Sequence[Chapter]
) -> Bounced:
    """Write ``output``'s master (its sha256 checked as it is read from ``store``) to its path, its
    transcripts beside it (SRT, WebVTT, Podcasting 2.0 JSON, in readable cues, when anything is spoken),
    beside the first output the stems and the DAW hand-off when the recipe has ``stems:``
    (:mod:`.handoff`), and its manifest with the QC report of the file
    as written, at the sidecar paths ``validate`` checked, the file tagged from the recipe's
    ``meta:`` (:func:`tags_for`) with its ``chapters`` (times at the output's rate; the Podcasting
    2.0 JSON chapters beside it). Raises ``CacheError`` on I/O failure, ``AudioError`` when the
    cover or the file cannot be read for tagging or measuring."""
    recipe = plan.graph.recipe
    master = result.outcomes[output.step_id]
    assert master.record is not None and master.meta is not None
    audio = store.read_verified(master.record.artifact)
    from ..audio.chapters import podcast_json, write_tagged

    tagged = write_tagged(audio, output.master.format, tags_for(recipe.meta), chapters)
    write_atomic(output.path, tagged, shared=True)
    sidecars = sidecar_paths(output.path, output.sidecar_stem)
    if chapters:
        document = podcast_json(chapters, title=recipe.meta.title, file_name=output.path.name)
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        write_atomic(sidecars["chapters"], text.encode(), shared=True)
    transcripts: tuple[str, ...] = ()
    cues = split_cues(_with_display_names(plan, master.meta.segments))
    if cues:
        for role, text in (("srt", to_srt(cues)), ("vtt", to_vtt(cues)), ("transcript_json", to_json(cues))):
            write_atomic(sidecars[role], text.encode(), shared=True)
            transcripts += (sidecars[role].name,)
    first = output == recipe.outputs[0]  # the stems come from the one mix: written beside the first output
    stems = _write_stems(plan, result, store, output, sidecars, chapters) if recipe.stems and first else ()
    qc = qc_report(output.path, output.master, master.meta.qc_figures)
    estimated = sum(1 for cue in cues if cue.estimated)
    manifest = _finished_manifest(plan, result, output, chapters, transcripts, qc, estimated, stems)
    manifest_path = sidecars["manifest"]
    text = json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n"
    write_atomic(manifest_path, text.encode(), shared=True)
    return Bounced(output, output.path, manifest_path, manifest)
