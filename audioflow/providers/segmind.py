"""Segmind: Seed Audio 1.0 (``speak``, ``scene``, ``generate``), OpenVoice (``speak`` with a voice
cloned by ``openvoice``) and SAM-Audio large (``isolate``), over Segmind's v2 async API.

Protocol (``shared/PROVIDERS.md`` "Segmind"; the vendor pages ``shared/seeds/segmind-*.txt``; the
``segmind`` 1.3.0 SDK, ``segmind/v2.py`` and ``segmind/files.py``):

* Auth: header ``x-api-key``. Sent only to the API and storage hosts, never to a result file's host.
* ``POST {base}/v2/{slug}`` → ``{"request_id", "status": "QUEUED", "poll_url", "status_url",
  "response_url"}`` with absolute URLs, followed as given. The request id and URLs are journalled
  before the first poll, so a rerun resumes instead of paying again (there is no cancel).
* ``GET status_url`` → ``QUEUED`` / ``PROCESSING`` / ``COMPLETED``; ``FAILED`` comes as HTTP 422
  ``{"status": "FAILED", "error"}`` (terminal). 404: unknown or expired id (results live 1 hour).
* ``GET response_url`` → ``{"status": "COMPLETED", "metrics", "output": <url>}``; the audio is
  downloaded at once. ``output`` is taken when it is an http(s) URL, else the first http(s) URL
  anywhere in the body (the exact shape for audio models is UNCONFIRMED).
* Errors ``{"error": "<text>"}``; 406 is insufficient credits (not retried); 429 carries
  ``x-rate-limit-reset-at-utc`` (honoured by :class:`~.remote.HttpClient`).
* Local files (reference clips, images, an ``isolate`` source) are uploaded first:
  ``POST {storage}/upload-asset`` ``{"data_urls": ["data:<mime>;base64,…"]}`` → ``{"urls": […]}``
  (the SDK reads ``file_urls``: both are accepted). Whether the storage takes ``audio/wav`` is
  UNCONFIRMED (the SDK's own type table lists mp3 but not wav).

Prices: ``sam-audio-large`` ≈ $0.062 per call (its vendor page). No price is published in our sources
for ``seed-audio-1.0`` or ``openvoice``: :meth:`SegmindProvider.prepare` estimates
``settings.price_per_call_usd`` when set, else None ("price unknown"); for ``sam-audio-large`` a
declared price can raise the published one, never lower it.
A take's ``cost_usd`` is the host's own figure when the status or result ``metrics`` carry a numeric
``cost``/``cost_usd``/``price``/``credits_used`` (or the response an ``x-cost`` header, as v1 does —
all UNCONFIRMED for v2), else the estimate, else 0.0.
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
import re
from dataclasses import dataclass
from typing import Any

import httpx

from ..audio import decode_bytes
from ..errors import AudioflowError, ProviderError
from ..steps import CLIP_LIMITS_MS, GeneratePayload, IsolatePayload, LinesPayload, StepKind
from .base import API_KEY_ENV, Journal, PreparedRequest, ProviderSettings, Reference, RenderRequest, Take
from .http import MAX_RESULT_MS, HttpClient, env_url, read_key
from .jobs import JobFailed, JobGone, format_of, poll, run_job
from .seed_audio import MAX_REFERENCE_MS, build_call, output_format

__all__ = [
    "OPENVOICE_LANGUAGES",
    "SAM_PRICE_USD",
    "SegmindProvider",
    "error_message",
    "find_audio_url",
    "rate_of",
]

NAME = "segmind"
KEY_ENV = API_KEY_ENV[NAME]
SEED, OPENVOICE, SAM = "seed-audio-1.0", "openvoice", "sam-audio-large"
MAX_PROMPT_CHARS = 2048  # seed-audio-1.0 page: text_prompt "Up to 2048 characters"
SAM_PRICE_USD = 0.062  # sam-audio-large page: "~$0.062"
HOST_DEFAULT_RATE_HZ = 44100  # seed-audio-1.0 page: sample_rate default
#: The speaker ids the seed-audio page shows (10 of its 16); others must still end ``_bigtts``.
KNOWN_SPEAKERS = (
    "en_female_stokie_uranus_bigtts",
    "en_male_bruce_uranus_bigtts",
    "en_male_alex_uranus_bigtts",
    "en_female_allison_uranus_bigtts",
    "en_female_nadia_uranus_bigtts",
    "en_female_brittney_uranus_bigtts",
    "en_female_authoritative-british_uranus_bigtts",
    "en_male_david_uranus_bigtts",
    "en_female_pleasant-female_uranus_bigtts",
    "en_male_michael_uranus_bigtts",
)
SPEAKER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*_bigtts$")
#: openvoice ``language`` values (page: 11 allowed; the 11th, EN_AU, is UNCONFIRMED).
OPENVOICE_LANGUAGES = ("EN_NEWEST", "EN", "ES", "FR", "ZH", "JP", "KR", "EN_US", "EN_BR", "EN_INDIA", "EN_AU")
_LANGUAGE_ALIASES = {"JA": "JP", "KO": "KR", "EN_GB": "EN_BR", "EN_UK": "EN_BR", "EN_IN": "EN_INDIA", "ZH_CN": "ZH"}
COST_KEYS = ("cost", "cost_usd", "price", "credits_used")


def rate_of(multiplier: float) -> int:
    """Segmind's ``speech_rate``/``loudness_rate`` for a ×multiplier: round((m − 1)·100), clipped to
    −50…100 (page: "100 = 2.0x, -50 = 0.5x")."""
    return max(-50, min(100, round((multiplier - 1.0) * 100)))


def error_message(response: httpx.Response) -> str:
    """The message of a Segmind error body ``{"error": "<text>"}`` (other shapes tolerated)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text[:300] or response.reason_phrase
    else:
        value = (body.get("error") or body.get("message") or body.get("detail")) if isinstance(body, dict) else None
        text = (str(value.get("message") or value) if isinstance(value, dict) else str(value)) if value else str(body)
    if response.status_code == 406 and "credit" not in text.lower():
        text += " (insufficient credits)"
    return text[:500]


def find_audio_url(body: Any) -> str | None:
    """``body["output"]`` when it is an http(s) URL, else the first http(s) URL anywhere in ``body``."""
    if isinstance(body, dict) and _is_url(body.get("output")):
        return str(body["output"])
    if _is_url(body):
        return str(body)
    values = body.values() if isinstance(body, dict) else body if isinstance(body, list) else ()
    for value in values:
        found = find_audio_url(value)
        if found:
            return found
    return None


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _host_cost(*bodies: Any, headers: httpx.Headers | None = None) -> float | None:
    for body in bodies:
        metrics = body.get("metrics") if isinstance(body, dict) else None
        for key in COST_KEYS:
            value = metrics.get(key) if isinstance(metrics, dict) else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
    try:
        return float(headers["x-cost"]) if headers is not None and "x-cost" in headers else None
    except ValueError:
        return None


@dataclass(frozen=True)
class _Plan:
    """One Segmind call: ``body`` values that are :class:`Reference` are local files, uploaded at
    submit (their sha256 in :meth:`SegmindProvider.request_key`)."""

    slug: str
    body: dict[str, Any]
    fallback_format: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Result:
    request_id: str
    data: bytes
    content_type: str
    url: str
    host_cost_usd: float | None


class SegmindProvider:
    """Segmind (see the module docstring). Base URLs from ``AUDIOFLOW_SEGMIND_URL`` and
    ``AUDIOFLOW_SEGMIND_STORAGE_URL``, read at construction; the key from ``SEGMIND_API_KEY``."""

    name = NAME
    local = False

    def __init__(
        self,
        settings: ProviderSettings | None = None,
        *,
        sleep: Any = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.settings = settings or ProviderSettings()
        self.max_concurrency = self.settings.concurrency or 4
        self.base_url = env_url("AUDIOFLOW_SEGMIND_URL", "https://api.segmind.com")
        self.storage_url = env_url("AUDIOFLOW_SEGMIND_STORAGE_URL", "https://workflows-api.segmind.com")
        self._sleep = sleep
        self._transport = transport

    # -- prepare (no key, no I/O but stat) ------------------------------------------------------
    def prepare(self, request: RenderRequest) -> PreparedRequest:
        """The Segmind call: model ``segmind/<slug>``, the key ``{"model": slug, "body": …}`` with each
        local file as ``{"sha256": …}``, and the price per call: ``settings.price_per_call_usd``
        when set; else $0.062 for ``sam-audio-large``; else None (no published price for
        seed-audio-1.0 or openvoice). Raises :class:`ProviderError` for every limit (see the builders)."""
        if request.kind not in (StepKind.SPEAK, StepKind.SCENE, StepKind.GENERATE, StepKind.ISOLATE):
            raise ProviderError(NAME, f"Segmind does not render {request.kind} steps")
        slug = _slug(request)
        plan = {SAM: self._isolate_plan, OPENVOICE: self._openvoice_plan, SEED: self._seed_plan}[slug](request)
        for value in _references(plan.body):
            _check_file(value)
        key = None
        if not request.pending:
            key = {"model": plan.slug, "body": _substitute(plan.body, lambda ref: {"sha256": ref.digest()})}
        cost = self.settings.price_per_call_usd  # a declared price can raise a published one, never lower it
        if slug == SAM:
            cost = max(SAM_PRICE_USD, cost or 0.0)
        return PreparedRequest(request, f"{NAME}/{slug}", key, cost, plan.notes, plan)

    def ready(self) -> None:
        read_key(NAME, KEY_ENV)

    def _seed_plan(self, request: RenderRequest) -> _Plan:
        openvoice_notes = _openvoice_voices_in_seed(request)
        call = build_call(request, host=NAME, marker="@Audio", max_prompt_chars=MAX_PROMPT_CHARS)
        fmt = output_format(NAME, self.settings.format, self.settings.sample_rate_hz)
        body: dict[str, Any] = {"text_prompt": call.prompt, "format": fmt}
        if self.settings.sample_rate_hz != HOST_DEFAULT_RATE_HZ:
            body["sample_rate"] = self.settings.sample_rate_hz
        if call.preset:
            if not SPEAKER_ID.match(call.preset):
                raise ProviderError(
                    NAME,
                    f"unknown Segmind speaker {call.preset!r}: ids end in _bigtts, "
                    f"e.g. {', '.join(KNOWN_SPEAKERS[:4])}",
                )
            body["speaker"] = call.preset
        if call.references:
            body["reference_audio_urls"] = [_url_or_ref(ref) for ref in call.references]
        if call.image is not None:
            body["image_url"] = _url_or_ref(call.image)
        for field, value in (("speech_rate", rate_of(call.speed)), ("loudness_rate", rate_of(call.volume))):
            if value:
                body[field] = value
        if call.pitch_semitones:
            body["pitch_rate"] = call.pitch_semitones
        return _Plan(SEED, body, {"ogg_opus": "ogg"}.get(fmt, fmt), (*call.notes, *openvoice_notes))

    def _openvoice_plan(self, request: RenderRequest) -> _Plan:
        payload = request.payload
        assert isinstance(payload, LinesPayload)
        voice, line = payload.voices[0], payload.lines[0]
        if not request.references:
            raise ProviderError(
                NAME, f"voice {voice.name!r} is an openvoice clone but has no reference clip", voice=voice.name
            )
        clip = request.references[0]
        low_ms, high_ms = CLIP_LIMITS_MS[OPENVOICE]
        if clip.duration_ms is not None and not low_ms <= clip.duration_ms <= high_ms:
            raise ProviderError(
                NAME,
                f"reference clip of {clip.name!r} is {clip.duration_ms / 1000:.1f} s; openvoice takes "
                f"{low_ms / 1000:.0f}–{high_ms / 1000:.0f} s of clean single-speaker audio",
                voice=voice.name,
            )
        if not 0.5 <= voice.speed <= 2.0:
            raise ProviderError(NAME, f"speed ×{voice.speed}: openvoice takes ×0.5…×2.0", voice=voice.name)
        language = _openvoice_language(voice.clone.language if voice.clone else None, voice.name)
        notes = []
        if line.direction:
            notes.append(f"openvoice takes no direction: ({line.direction}) was not sent")
        if float(voice.volume) != 1.0 or round(float(voice.pitch_semitones)) != 0:
            notes.append("openvoice takes no volume or pitch: sent neutral")
        if payload.image is not None:
            notes.append("openvoice takes no reference image: not sent")
        # All four fields always sent: speed and text are required on the page, language made explicit.
        body = {"input_audio": _url_or_ref(clip), "text": line.model_text, "speed": voice.speed, "language": language}
        return _Plan(OPENVOICE, body, "wav", tuple(notes))

    def _isolate_plan(self, request: RenderRequest) -> _Plan:
        payload = request.payload
        assert isinstance(payload, IsolatePayload)
        describe, candidates = payload.describe.strip(), payload.candidates
        if not describe:
            raise ProviderError(NAME, "isolate needs a description of the sound to keep")
        if not isinstance(candidates, int) or isinstance(candidates, bool) or not 1 <= candidates <= 8:
            raise ProviderError(NAME, f"candidates {candidates!r}: sam-audio-large takes an integer 1…8")
        if not request.references:
            raise ProviderError(NAME, "isolate needs its source audio")
        output_format = "mp3" if self.settings.format == "mp3" else "wav"
        body = {
            "audio": _url_or_ref(request.references[0]),
            "description": describe,
            "output_format": output_format,
            "reranking_candidates": candidates,
        }
        return _Plan(SAM, body, output_format)

    # -- rendering ------------------------------------------------------------------------------
    async def render(self, prepared: PreparedRequest, journal: Journal | None = None) -> Take:
        """Upload, submit (journalled), poll, fetch and download; see the module docstring."""
        plan: _Plan = prepared.body
        key = read_key(NAME, KEY_ENV)
        http = HttpClient(
            NAME,
            auth_headers={"x-api-key": key},
            auth_hosts={self.base_url, self.storage_url},
            secrets=[key],
            retries=self.settings.retries,
            error_message=error_message,
            sleep=self._sleep,
            transport=self._transport,
        )
        try:
            result, notes = await run_job(journal, lambda: self._submit(http, plan), lambda s, _: self._finish(http, s))
        finally:
            await http.aclose()
        fmt = format_of(result.content_type, result.url, plan.fallback_format)
        try:
            await asyncio.to_thread(decode_bytes, result.data, fmt, max_ms=MAX_RESULT_MS)
        except AudioflowError as exc:
            raise ProviderError(NAME, f"the result is not audio: {exc}", request_id=result.request_id) from exc
        cost = result.host_cost_usd if result.host_cost_usd is not None else (prepared.cost_usd or 0.0)
        return Take(result.data, fmt, notes=(*plan.notes, *notes), request_id=result.request_id, cost_usd=cost)

    async def _submit(self, http: HttpClient, plan: _Plan) -> dict[str, Any]:
        refs = list(dict.fromkeys(_references(plan.body)))
        urls = await self._upload(http, refs) if refs else {}
        body = _substitute(plan.body, lambda ref: urls[ref])
        data = await http.json("POST", f"{self.base_url}/v2/{plan.slug}", json=body, idempotent=False)
        state = {k: data.get(k) for k in ("request_id", "status_url", "response_url", "poll_url")}
        if not (isinstance(data, dict) and state["request_id"] and state["status_url"] and state["response_url"]):
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise http.error(f"submit answered without request_id/status_url/response_url: {keys}", status=200)
        return {"model": plan.slug, **{k: v for k, v in state.items() if v}}

    async def _upload(self, http: HttpClient, refs: list[Reference]) -> dict[Reference, str]:
        def data_url(ref: Reference) -> str:
            assert ref.path is not None
            mime = mimetypes.guess_type(ref.path.name)[0] or "application/octet-stream"
            mime = {"audio/x-wav": "audio/wav"}.get(mime, mime)
            return f"data:{mime};base64,{base64.b64encode(ref.path.read_bytes()).decode('ascii')}"

        data_urls = await asyncio.to_thread(lambda: [data_url(ref) for ref in refs])
        body = await http.json("POST", f"{self.storage_url}/upload-asset", json={"data_urls": data_urls})
        urls = (body.get("urls") or body.get("file_urls")) if isinstance(body, dict) else None
        if not isinstance(urls, list) or len(urls) != len(refs) or not all(_is_url(u) for u in urls):
            raise http.error(f"upload-asset answered without {len(refs)} file URL(s): {str(body)[:200]}")
        return dict(zip(refs, urls, strict=True))

    async def _finish(self, http: HttpClient, state: dict[str, Any]) -> _Result:
        rid = str(state.get("request_id"))
        if not (state.get("status_url") and state.get("response_url")):
            raise JobGone("the journal holds no poll URLs", http.error("the journal holds no poll URLs"))
        status_body = await self._poll(http, state)
        response = await self._get(http, state["response_url"], rid)
        result_body = response.json()
        url = find_audio_url(result_body)
        if url is None:
            keys = sorted(result_body) if isinstance(result_body, dict) else type(result_body).__name__
            raise http.error(f"the result carries no audio URL (keys: {keys})", status=200, request_id=rid)
        data, content_type = await http.download(url, request_id=rid)
        cost = _host_cost(result_body, status_body, headers=response.headers)
        return _Result(rid, data, content_type, url, cost)

    async def _poll(self, http: HttpClient, state: dict[str, Any]) -> dict[str, Any]:
        rid, timeout_s = str(state["request_id"]), self.settings.timeout_s

        async def status() -> dict[str, Any] | None:
            body = (await self._get(http, state["status_url"], rid)).json()
            completed = isinstance(body, dict) and str(body.get("status", "")).upper() == "COMPLETED"
            return body if completed else None

        def timed_out(elapsed_s: float) -> str:
            return (
                f"request {rid} did not finish within {timeout_s:.0f} s; it may still be running at "
                "Segmind — rerun to resume it (results are kept 1 hour)"
            )

        return await poll(status, self.settings, self._sleep, (http, rid, timed_out))

    async def _get(self, http: HttpClient, url: str, rid: str) -> httpx.Response:
        """GET a status/response URL: 404 → :class:`JobGone`; 422 or FAILED → :class:`JobFailed`."""
        response = await http.request("GET", url, request_id=rid, ok=(404, 422))
        if response.status_code == 404:
            message = http.message_of(response)
            error = http.error(f"Segmind no longer knows the request: {message}", status=404, request_id=rid)
            raise JobGone(f"HTTP 404: {message}", error)
        try:
            body = response.json()
        except ValueError as exc:
            raise http.error("expected JSON", status=response.status_code, request_id=rid) from exc
        if response.status_code == 422 or (isinstance(body, dict) and body.get("status") == "FAILED"):
            raise JobFailed.of(
                http.error(f"request failed: {http.message_of(response)}", status=response.status_code, request_id=rid)
            )
        return response


def _slug(request: RenderRequest) -> str:
    payload = request.payload
    if isinstance(payload, IsolatePayload):
        return SAM
    speak = isinstance(payload, LinesPayload) and payload.kind == StepKind.SPEAK
    if speak and payload.voices[0].clone_model == OPENVOICE:
        return OPENVOICE
    return SEED


def _openvoice_language(value: str | None, voice: str) -> str:
    if not value:
        return "EN_NEWEST"
    code = value.strip().upper().replace("-", "_")
    code = _LANGUAGE_ALIASES.get(code, code)
    if code not in OPENVOICE_LANGUAGES:
        raise ProviderError(NAME, f"openvoice language {value!r}: one of {', '.join(OPENVOICE_LANGUAGES)}", voice=voice)
    return code


def _openvoice_voices_in_seed(request: RenderRequest) -> tuple[str, ...]:
    """Notes for openvoice voices in a scene or generate: those go through seed-audio (the clip as an
    ``@AudioN`` reference), whose clips are ≤ 30 s — a longer clip is refused, saying why."""
    payload = request.payload
    voices = {v.name: v for v in payload.voices} if isinstance(payload, LinesPayload | GeneratePayload) else {}
    notes = []
    for ref in request.references:
        voice = voices.get(ref.name)
        if voice is None or voice.clone_model != OPENVOICE:
            continue
        notes.append(f"voice {ref.name!r} (an openvoice clone) is rendered by seed-audio-1.0 from its clip")
        if (ref.duration_ms or 0.0) > MAX_REFERENCE_MS + 1:
            raise ProviderError(
                NAME,
                f"voice {ref.name!r} is an openvoice clone with a {(ref.duration_ms or 0.0) / 1000:.1f} s clip; in a "
                f"{request.kind} it is rendered by seed-audio-1.0, which takes clips of at most 30 s — trim it, "
                "or render the lines one by one (render: lines)",
                voice=ref.name,
            )
    return tuple(notes)


def _url_or_ref(ref: Reference | str) -> Reference | str:
    """A clip's URL when the recipe gave one, else the Reference itself (a local file to upload)."""
    if isinstance(ref, str):
        raise ProviderError(NAME, f"{ref!r} is not a clip (Segmind takes presets as speaker only)")
    if ref.url:
        return ref.url
    return ref  # a local file; without a path yet, a step's output still to be rendered


def _check_file(ref: Reference) -> None:
    if ref.path is None:  # a step's output, rendered before this request is sent
        return
    if not ref.path.is_file():
        raise ProviderError(NAME, f"{ref.name!r}: file not found: {ref.path}")


def _references(value: Any) -> list[Reference]:
    if isinstance(value, Reference):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return [ref for item in items for ref in _references(item)]


def _substitute(value: Any, replace: Any) -> Any:
    if isinstance(value, Reference):
        return replace(value)
    if isinstance(value, dict):
        return {k: _substitute(v, replace) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, replace) for v in value]
    return value
