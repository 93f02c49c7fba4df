"""Pre-flight: every check that can fail before money is spent, with recipe locations from
structured data (the step, or the cast voice a provider's error names in ``ProviderError.voice``).

* :func:`check_graph`: unknown providers, and reference clips that are files too short to clone from;
* :func:`prepare`: a step's provider request, built once (:meth:`Provider.prepare`), every host
  limit raised as a located :class:`RecipeError`;
* :func:`build_request` and :func:`take_digest`: the request a step's payload and upstream
  artifacts make, and the digest its paid take is stored under.

A provider step resolves to two digests. The *step* digest covers everything that decides the
step's artifact (including processing audioflow does afterwards: a voice's ``gain_db``, fitting a
generated sound to its length). The *take* digest covers only what decides the host's output: the
prepared request's key (the body it would send, with content digests for local files), the
provider, the model and the take number. The raw take is stored under the take digest, so changing
a gain, a trim or a mix never pays again; only a change the host would see does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..cache import StepRecord, input_digest
from ..errors import AudioflowError, ProviderError, RecipeError, SourceLocation
from ..providers import PROVIDERS, PreparedRequest, Provider, Reference, RenderRequest
from ..recipe import Step, StepGraph
from ..recipe.diagnostics import Collector
from ..recipe.graph import CLONE_PREFIX
from ..recipe.limits import MAX_PROGRAMME_MS
from ..steps import (
    ClonePayload,
    FilePayload,
    FileRef,
    GeneratePayload,
    IsolatePayload,
    LinesPayload,
    StepSource,
    UrlRef,
)
from .budget import expected_duration_s
from .meta import StepMeta
from .resources import DECODE_BYTES_PER_SAMPLE, available_memory_bytes, hms_text, size_text

__all__ = ["build_request", "check_graph", "check_requests", "prepare", "request_warnings", "take_digest"]

_durations_ms: dict[str, float] = {}


def build_request(step: Step, records: Mapping[str, StepRecord | None]) -> RenderRequest:
    """The provider request of ``step`` with its audio inputs (``Reference``s) taken from the
    upstream ``records`` (a missing record gives a pending reference: fine for checks and
    estimates, never sent)."""
    payload = step.payload
    assert isinstance(payload, LinesPayload | GeneratePayload | IsolatePayload), step.kind
    refs: list[Reference] = []
    if isinstance(payload, IsolatePayload):
        source = payload.source
        if isinstance(source, UrlRef):
            refs.append(Reference("audio", url=source.url))
        elif isinstance(source, StepSource):
            refs.append(_from_record("audio", records.get(source.step)))
        else:
            refs.append(Reference("audio", path=step.files["source"], sha256=source.sha256))
    else:
        for name in payload.references:
            clone = payload.voice(name).clone
            if clone is not None and clone.url is not None:
                refs.append(Reference(name, url=clone.url))
            else:
                refs.append(_from_record(name, records.get(f"{CLONE_PREFIX}{name}")))
    return RenderRequest(step.id, payload, step.take, dict(step.files), tuple(refs), expected_duration_s(step, records))


def _from_record(name: str, record: StepRecord | None) -> Reference:
    if record is None:
        return Reference(name)
    duration_ms = StepMeta.from_json(record.meta).duration_ms
    return Reference(name, path=record.artifact.path, sha256=record.artifact.digest, duration_ms=duration_ms)


def prepare(
    graph: StepGraph, step: Step, providers: Mapping[str, Provider], records: Mapping[str, StepRecord | None]
) -> PreparedRequest:
    """``step``'s provider request, prepared once. Raises :class:`RecipeError` located at the cast
    voice the provider names (``ProviderError.voice``), else at the step."""
    assert step.provider is not None
    try:
        return providers[step.provider].prepare(build_request(step, records))
    except AudioflowError as exc:
        voice = graph.recipe.cast.get(exc.voice) if isinstance(exc, ProviderError) and exc.voice else None
        raise RecipeError(f"step {step.id}: {exc}", voice.location if voice else step.location) from exc


def take_digest(step: Step, provider: str, prepared: PreparedRequest) -> str:
    """The digest of the raw take: what the host is sent, the provider, the model and the take."""
    assert prepared.key is not None, "a pending request has no take digest"
    return input_digest(
        kind=f"{step.kind}:take",
        params=prepared.key,
        provider=provider,
        model=prepared.model,
        upstream=[],
        take=step.take,
    )


def _check_reference(step: Step, payload: ClonePayload) -> None:
    """A clone step whose reference is a file: is there enough of it for the cloning model?"""
    source = step.files.get("source")
    if source is None or not isinstance(payload.source, FileRef):
        return
    sha = payload.source.sha256
    if sha not in _durations_ms:
        _check_input_fits(source, step.location, "reference clip", prefix=f"reference clip {source.name}: ")
        try:
            from ..audio import decode_file  # the audio stack only for a clip to measure

            _durations_ms[sha] = decode_file(source).duration_ms
        except AudioflowError as exc:
            raise RecipeError(f"reference clip {source.name}: {exc}", step.location) from exc
    usable = _durations_ms[sha] - payload.start_ms
    if payload.duration_ms is not None:
        usable = min(usable, payload.duration_ms)
    if usable < max(payload.min_ms, 1.0):
        raise RecipeError(
            f"reference clip {source.name} gives {max(usable, 0) / 1000:.1f} s of audio; "
            f"the cloning model needs at least {max(payload.min_ms, 1.0) / 1000:g} s",
            step.location,
        )


_probed: set[str] = set()


def _check_audio_file(step: Step) -> None:
    """A ``file`` or ``isolate`` step reading a local file: can it be decoded? (a header read)"""
    source, payload = step.files.get("source"), step.payload
    file = None
    if isinstance(payload, FilePayload):
        file = payload.file
    elif isinstance(payload, IsolatePayload) and isinstance(payload.source, FileRef):
        file = payload.source
    if source is None or file is None or file.sha256 in _probed:
        return
    _check_input_fits(source, step.location, "audio file")
    _probed.add(file.sha256)


def _check_input_fits(source: Path, location: SourceLocation | None, what: str, *, prefix: str = "") -> None:
    """Probe a local audio input (a header read: :func:`~audioflow.audio.io.probe_file`) and refuse
    one that cannot be decoded, or whose samples could not be held: decoding holds a file whole, as
    float32 (twice, at its peak), so a small file of hours of silence (a FLAC of 10 h is 28 MB) would
    take tens of GB. Refused: over 24 h, or more than this machine's free memory."""
    from ..audio.io import probe_file

    try:
        info = probe_file(source)
    except AudioflowError as exc:
        raise RecipeError(f"{prefix}{exc}", location) from exc
    if info.duration_ms is None or info.sample_rate_hz is None:
        return
    needed = info.duration_ms / 1000.0 * info.sample_rate_hz * min(info.channels or 2, 2) * DECODE_BYTES_PER_SAMPLE
    free = available_memory_bytes()
    if info.duration_ms > MAX_PROGRAMME_MS or needed > free:
        why = (
            "longer than a programme can be (24 h)"
            if info.duration_ms > MAX_PROGRAMME_MS
            else (f"decoding it takes about {size_text(needed)} of memory and {size_text(free)} is free")
        )
        raise RecipeError(
            f"{what} {source.name} lasts {hms_text(info.duration_ms)} (h:mm:ss): {why}",
            location,
            "cut it to the part the recipe uses, with ffmpeg -ss START -t LENGTH -i IN OUT",
        )


def _check_cover(graph: StepGraph) -> None:
    """The ``meta.cover`` image and every local chapter image: ones hosts take
    (``audio.tags.read_artwork``), at their locations."""
    meta = graph.recipe.meta
    images = [(meta.cover, meta.cover_location, "cover image")]
    images += [(mark.image, mark.image_location, "chapter image") for mark in graph.recipe.chapters]
    for image, location, what in images:
        if image is not None:
            from ..audio.tags import read_artwork  # the audio package only when there is an image

            try:
                read_artwork(image)
            except AudioflowError as exc:
                raise RecipeError(str(exc).replace("cover image", what), location) from exc


def check_graph(graph: StepGraph, providers: Mapping[str, Provider]) -> None:
    """Unknown providers, local audio files that cannot be decoded (or are cut short), reference
    clips too short to clone from and a cover image hosts would refuse, as located recipe errors."""
    _check_cover(graph)
    for step in graph.steps.values():
        if isinstance(step.payload, ClonePayload):
            _check_reference(step, step.payload)
        _check_audio_file(step)
        if step.provider is not None and step.provider not in providers:
            doc, base = graph.recipe.document, step.id.split("[")[0]
            path = next((p for p in (("steps", base, "provider"), ("provider",)) if p in doc.locations), None)
            raise RecipeError(
                f"unknown provider {step.provider!r}",
                doc.locate(path) if path else step.location,
                f"available: {', '.join(PROVIDERS)}",
            )


def check_requests(graph: StepGraph, providers: Mapping[str, Provider]) -> list[str]:
    """Everything :func:`check_graph` checks, and every provider request prepared with no upstream
    artifacts (``validate``: no store, nothing spent). Returns the requests' warnings
    (:func:`request_warnings`). Raises :class:`RecipeError`."""
    check_graph(graph, providers)
    collector = Collector()  # every step's refusal in one pass
    warnings: list[str] = []
    for step in graph.steps.values():
        if step.provider is not None:
            with collector.guard():
                warnings += request_warnings(step, prepare(graph, step, providers, {}))
    collector.raise_any()
    return warnings


def request_warnings(step: Step, prepared: PreparedRequest) -> list[str]:
    """A prepared request's warnings (its notes that start ``warning:``, such as a host that would
    receive no voice), located at ``step``: said before anything is paid for, not only in the take's notes."""
    where = f"{step.location}: " if step.location is not None else ""
    return [f"{where}{note}" for note in prepared.notes if note.startswith("warning:")]
