"""Provider requests for tests: typed payloads from the canonical dict form tests write by hand, and
the old one-call helpers (check, model id, key, estimate, render) in terms of ``Provider.prepare``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from audioflow.providers import Journal, Provider, Reference, RenderRequest, Take
from audioflow.steps import (
    ClonePayload,
    CloneSpec,
    FileRef,
    GeneratePayload,
    IsolatePayload,
    LinesPayload,
    MixPayload,
    PiperModel,
    SpokenLine,
    StepKind,
    StepSource,
    UrlRef,
    VoiceSpec,
)


def voice_spec(data: Mapping[str, Any], name: str = "voice") -> VoiceSpec:
    """A :class:`VoiceSpec` from a voice's canonical dict (missing keys take their defaults)."""
    clone = data.get("clone")
    if clone is True:
        clone = {}
    piper = None
    if data.get("model_sha256"):
        piper = PiperModel(data["model_sha256"], data.get("config_sha256", ""), data.get("speaker"))
    return VoiceSpec(
        name=data.get("name", name),
        cast_index=int(data.get("cast_index", 0)),
        preset=data.get("preset"),
        speed=float(data.get("speed", 1.0)),
        volume=float(1.0 if data.get("volume") is None else data["volume"]),
        pitch_semitones=float(data.get("pitch_semitones", 0.0)),
        gain_db=float(data.get("gain_db", 0.0)),
        clone=CloneSpec(
            clone.get("model", "seed-audio"), clone.get("language"), clone.get("url"), clone.get("transcript")
        )
        if isinstance(clone, Mapping)
        else None,
        piper=piper,
    )


def _image(data: Mapping[str, Any] | None) -> FileRef | UrlRef | None:
    if not data:
        return None
    return UrlRef(data["url"]) if "url" in data else FileRef(data.get("sha256", ""), data.get("name", "image"))


def payload(kind: str, params: Mapping[str, Any], references: tuple[Reference, ...] = ()) -> Any:
    """The typed payload of ``kind`` from canonical ``params`` (as ``recipe.graph`` would emit it)."""
    refs = tuple(params.get("references") or (r.name for r in references if r.name != "audio"))
    if kind == "speak":
        voice = voice_spec(params.get("voice", {}))
        line = SpokenLine(voice.name, params.get("text", ""), params.get("direction"))
        return LinesPayload(StepKind.SPEAK, (line,), (voice,), 0.0, _image(params.get("image")), refs)
    voices = tuple(voice_spec(v, n) for n, v in (params.get("voices") or {}).items())
    if kind == "scene":
        lines = tuple(
            SpokenLine(x["voice"], x["text"], x.get("direction"), x.get("gap_ms")) for x in params.get("lines", [])
        )
        return LinesPayload(
            StepKind.SCENE, lines, voices, float(params.get("gap_ms", 0.0)), _image(params.get("image")), refs
        )
    if kind == "generate":
        return GeneratePayload(
            params.get("prompt", ""),
            float(params.get("duration_ms", 0.0)),
            params.get("texture", "noise"),
            voices,
            _image(params.get("image")),
            refs,
        )
    if kind == "isolate":
        return IsolatePayload(params.get("describe", ""), params.get("candidates", 1), StepSource("source"))
    if kind == "mix":  # kinds no provider renders
        return MixPayload(48000, 2, ())
    assert kind == "clone", kind
    return ClonePayload(StepSource("source"), 0.0, None, 0.0, 30_000.0)


@dataclass(frozen=True)
class JournalledRequest(RenderRequest):
    """A request that carries the journal its test renders it with."""

    journal: Journal | None = None


def make_request(step_id: str, kind: str, params: Mapping[str, Any], **kw: Any) -> JournalledRequest:
    """A :class:`RenderRequest` of ``kind`` with canonical ``params`` (``files``, ``references``,
    ``take``, ``expected_duration_s``, ``journal`` as keywords)."""
    references = tuple(kw.pop("references", ()))
    return JournalledRequest(step_id, payload(kind, params, references), references=references, **kw)


def model_id(provider: Provider, req: RenderRequest) -> str:
    return provider.prepare(req).model


def request_key(provider: Provider, req: RenderRequest) -> dict[str, Any] | None:
    return provider.prepare(req).key


def estimate(provider: Provider, req: RenderRequest, seconds: float) -> float | None:
    return provider.prepare(replace(req, expected_duration_s=seconds)).cost_usd


async def render_request(provider: Provider, req: RenderRequest, journal: Journal | None = None) -> Take:
    """Prepare ``req`` and render it (as the engine does), with ``journal`` or the request's own."""
    if journal is None and isinstance(req, JournalledRequest):
        journal = req.journal
    return await provider.render(provider.prepare(req), journal)
