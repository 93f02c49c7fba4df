"""Evolink: ByteDance Seed Audio 1.0 as ``doubao-seed-audio-1-0``, an asynchronous task API.

Protocol (``shared/PROVIDERS.md`` "Evolink" and the vendor page ``shared/seeds/evolink-seed-audio-1.0.md``,
vendored as ``tests/fakes/evolink_seed_audio_openapi.yaml``):

* Auth ``Authorization: Bearer $EVOLINK_API_KEY``; base URL ``$AUDIOFLOW_EVOLINK_URL`` or
  ``https://api.evolink.ai``.
* ``POST /v1/audios/generations`` with a ``SeedAudioRequest`` body → a task ``{"id": "task-unified-…",
  "status": "pending", "progress": 0, "task_info": {...}, "usage": {"credits_reserved": ...}}``.
* ``GET /v1/tasks/{id}`` → ``status`` pending | processing | completed | failed, ``progress`` 0–100.
  Completed carries ``results: [<url>]`` (other Evolink models use ``result_data[].audio_url``: both
  are accepted); failed carries ``error: {code, message}`` (shape UNCONFIRMED: a string ``error`` or
  ``error_message`` is accepted too). Result links last 24 hours, so the audio is downloaded at once.
* Errors ``{"error": {"code", "message", "type"}}``: 400, 401, 402 ``insufficient_quota``, 403, 429,
  500. Whether a 429 carries ``Retry-After`` is UNCONFIRMED; :class:`~.remote.HttpClient` honours it
  when present. An unknown task id is assumed to answer 404 with the same error shape.
* ``callback_url`` must be a public HTTPS URL, so audioflow polls instead and never sends it.
* Evolink's file upload takes images only (and its endpoint is not in our sources), so every reference
  clip and image must be a URL the user hosts; :meth:`EvolinkProvider.prepare` refuses local files.
* Price: about $0.0012 per second of output (PROVIDERS.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx

from ..audio import decode_bytes
from ..errors import AudioflowError, ProviderError
from ..steps import GeneratePayload, LinesPayload, StepKind
from .base import API_KEY_ENV, Journal, PreparedRequest, ProviderSettings, Reference, RenderRequest, Take
from .http import MAX_RESULT_MS, HttpClient, env_url, read_key
from .jobs import JobFailed, JobGone, format_of, poll, run_job
from .seed_audio import SeedAudioCall, build_call, output_format

__all__ = ["DEFAULT_URL", "KEY_ENV", "MODEL", "PRICE_PER_S_USD", "URL_ENV", "EvolinkProvider", "error_message"]

NAME = "evolink"
MODEL = "doubao-seed-audio-1-0"
DEFAULT_URL = "https://api.evolink.ai"
URL_ENV = "AUDIOFLOW_EVOLINK_URL"
KEY_ENV = API_KEY_ENV[NAME]
#: PROVIDERS.md "Evolink": about $0.0012 per second of output.
PRICE_PER_S_USD = 0.0012
#: ``SeedAudioRequest.prompt.maxLength`` on the vendor page.
MAX_PROMPT_CHARS = 1500
DEFAULT_CONCURRENCY = 4
#: Evolink's ``format`` is Seed Audio's (``seed_audio.OUTPUT_FORMATS``); the page's default is wav.
HOST_DEFAULT_FORMAT = "wav"
HOST_DEFAULT_SAMPLE_RATE_HZ = 24000
#: Task states (vendor page, ``SeedAudioResponse.status``); cancelled is named by the callback docs.
DONE = "completed"
FAILED = frozenset({"failed", "cancelled", "canceled", "error"})
NO_LOCAL_AUDIO = (
    "Evolink cannot take a local audio file: host the clip and give its URL (clone: https://…), "
    "or render this step on segmind or fal"
)
NO_LOCAL_IMAGE = (
    "Evolink cannot take a local image here (its upload endpoint is not documented in our sources): "
    "host the image and give its URL (image: https://…), or render this step on segmind or fal"
)


def _describe(error: Any) -> str | None:
    """``message (code)`` from an error object ``{code, message, type}``, or a plain-string error."""
    if isinstance(error, dict):
        message = str(error.get("message") or error.get("type") or "no message")
        code = error.get("code")
        return f"{message} ({code})" if code else message
    if isinstance(error, str) and error:
        return error
    return None


def error_message(response: httpx.Response) -> str:
    """The vendor's message in an Evolink error body ``{"error": {"code", "message", "type"}}``, as
    ``message (code)``; a plain-string ``error`` or ``message`` is accepted too."""
    body = response.json()
    if not isinstance(body, dict):
        return response.text[:300]
    return _describe(body.get("error")) or _describe(body.get("message")) or response.text[:300]


def _task_failure(task: dict[str, Any]) -> str:
    """The reason a failed task gives: ``error: {code, message}``, or (UNCONFIRMED shapes) a string
    ``error`` or ``error_message``."""
    return _describe(task.get("error")) or _describe(task.get("error_message")) or "no reason given"


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _result_url(task: dict[str, Any]) -> str | None:
    """The audio URL of a completed task: ``results: [<url>]``, or ``result_data[].audio_url``
    (other Evolink models); items that are objects with ``url``/``audio_url`` are accepted too."""
    for key in ("results", "result_data"):
        items = task.get(key)
        for item in items if isinstance(items, list) else [items]:
            if _is_url(item):
                return str(item)
            if isinstance(item, dict):
                for field in ("audio_url", "url"):
                    if _is_url(item.get(field)):
                        return str(item[field])
    return None


def _reference_item(ref: Reference | str) -> str | None:
    """An ``audio_references`` item: a preset voice id or a clip's URL (local clips are refused by
    :meth:`EvolinkProvider.prepare` before the body is built)."""
    return ref if isinstance(ref, str) else ref.url


class EvolinkProvider:
    """Seed Audio 1.0 on Evolink: ``speak``, ``scene`` and ``generate`` steps (see the module docs)."""

    name = NAME
    local = False

    def __init__(
        self,
        settings: ProviderSettings | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.settings = settings or ProviderSettings()
        self.max_concurrency = self.settings.concurrency or DEFAULT_CONCURRENCY
        self.base_url = env_url(URL_ENV, DEFAULT_URL)
        self._sleep = sleep
        self._transport = transport
        self._slots: asyncio.Semaphore | None = None

    # -- prepare (no I/O, no key) ------------------------------------------------------------------
    def prepare(self, request: RenderRequest) -> PreparedRequest:
        """The Evolink call: model ``evolink/doubao-seed-audio-1-0``, the key ``{"provider", "model",
        "body"}`` (the body as it would be sent), expected seconds × $0.0012 (PROVIDERS.md) or the
        configured price per call. Refuses what Evolink cannot render before anything is spent:
        other kinds, OpenVoice clones, local clips and images (reference items must be URLs), Seed
        Audio's limits (``build_call``: 3 references, 1500 characters, 30 s clips, image xor audio,
        rates), and a format or sample rate outside the page's enums."""
        if request.kind not in (StepKind.SPEAK, StepKind.SCENE, StepKind.GENERATE):
            raise ProviderError(NAME, f"Evolink does not render {request.kind} steps (isolate is on segmind)")
        call = build_call(request, host=NAME, marker="@audio", max_prompt_chars=MAX_PROMPT_CHARS, id_references=True)
        fmt = output_format(NAME, self.settings.format, self.settings.sample_rate_hz)
        payload = request.payload
        for voice in payload.voices if isinstance(payload, LinesPayload | GeneratePayload) else ():
            if voice.clone_model not in (None, "seed-audio"):
                raise ProviderError(
                    NAME,
                    f"voice {voice.name!r}: the {voice.clone_model} clone model is on segmind, not Evolink",
                    voice=voice.name,
                )
        for ref in call.references:
            if isinstance(ref, Reference) and not ref.url:
                raise ProviderError(NAME, f"voice {ref.name!r}: {NO_LOCAL_AUDIO}", voice=ref.name)
            if isinstance(ref, Reference) and not _is_url(ref.url):
                raise ProviderError(NAME, f"voice {ref.name!r}: the clip's URL must be http(s): {ref.url!r}")
        if call.image is not None and not _is_url(call.image.url):
            raise ProviderError(NAME, NO_LOCAL_IMAGE)
        body = self._body(call, fmt)
        key = None if request.pending else {"provider": NAME, "model": MODEL, "body": body}
        return PreparedRequest(
            request, f"evolink/{MODEL}", key, self._price_usd(request.expected_duration_s), call.notes, body
        )

    def _body(self, call: SeedAudioCall, fmt: str) -> dict[str, Any]:
        """The ``SeedAudioRequest`` body: only the page's fields, host defaults and neutral values
        omitted; rates rounded to the page's two decimals (``multipleOf: 0.01``)."""
        body: dict[str, Any] = {"model": MODEL, "prompt": call.prompt}
        references = list(call.references) or ([call.preset] if call.preset else [])
        if references:
            body["audio_references"] = [_reference_item(ref) for ref in references]
        if call.image is not None:
            body["image_urls"] = [call.image.url]
        if fmt != HOST_DEFAULT_FORMAT:
            body["format"] = fmt
        if self.settings.sample_rate_hz != HOST_DEFAULT_SAMPLE_RATE_HZ:
            body["sample_rate"] = int(self.settings.sample_rate_hz)
        if round(call.speed, 2) != 1.0:
            body["speech_rate"] = round(call.speed, 2)
        if round(call.volume, 2) != 1.0:
            body["loudness_rate"] = round(call.volume, 2)
        if call.pitch_semitones:
            body["pitch_rate"] = int(call.pitch_semitones)
        return body

    def _price_usd(self, duration_s: float) -> float:
        """The published price of ``duration_s`` of output; a recipe's ``price_per_call_usd`` can
        raise it, never lower it (a recipe from a stranger must not switch a budget off)."""
        published = max(0.0, duration_s) * PRICE_PER_S_USD
        return max(published, float(self.settings.price_per_call_usd or 0.0))

    def ready(self) -> None:
        """Raise :class:`ProviderError` when ``$EVOLINK_API_KEY`` is not set."""
        read_key(NAME, KEY_ENV)

    # -- render --------------------------------------------------------------------------------------
    def _client(self, key: str) -> HttpClient:
        hosts = {self.base_url}
        return HttpClient(
            NAME,
            auth_headers={"Authorization": f"Bearer {key}"},
            auth_hosts=hosts,
            secrets=[key],
            retries=self.settings.retries,
            error_message=error_message,
            sleep=self._sleep,
            transport=self._transport,
        )

    async def render(self, prepared: PreparedRequest, journal: Journal | None = None) -> Take:
        """Submit (once: the task id is journalled before the first poll), poll, download at once."""
        body: dict[str, Any] = prepared.body
        client = self._client(read_key(NAME, KEY_ENV))
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrency)
        try:
            async with self._slots:
                take, notes = await run_job(
                    journal, lambda: self._submit(client, body), lambda state, _: self._finish(client, state)
                )
        finally:
            await client.aclose()
        return Take(
            take.data,
            take.format,
            notes=(*prepared.notes, *notes, *take.notes),
            request_id=take.request_id,
            cost_usd=take.cost_usd,
        )

    async def _submit(self, client: HttpClient, body: dict[str, Any]) -> dict[str, Any]:
        """POST the paid request (not retried after a transport failure once sent); the state to
        journal: the task id and its status URL (Evolink returns no URLs: the page's path is used)."""
        task = await client.json("POST", f"{self.base_url}/v1/audios/generations", json=body, idempotent=False)
        task_id = task.get("id") if isinstance(task, dict) else None
        if not task_id:
            raise client.error(f"the submit answered no task id: {str(task)[:200]}")
        return {"request_id": str(task_id), "status_url": f"{self.base_url}/v1/tasks/{quote(str(task_id), safe='')}"}

    def _gone(self, client: HttpClient, detail: str, *, status: int, task_id: str) -> JobGone:
        error = client.error(f"the result is gone at the host: {detail}", status=status, request_id=task_id)
        return JobGone(detail, error)

    async def _finish(self, client: HttpClient, state: dict[str, Any]) -> Take:
        """Poll the task until it completes, then download the audio; a take with the estimated cost."""
        task_id = str(state["request_id"])
        url = await self._poll(client, task_id, str(state["status_url"]))
        response = await client.request("GET", url, request_id=task_id, ok=(403, 404, 410))
        if response.status_code in (403, 404, 410):
            detail = f"task {task_id}: its result link answered HTTP {response.status_code} (links last 24 h)"
            raise self._gone(client, detail, status=response.status_code, task_id=task_id)
        fmt_name = output_format(NAME, self.settings.format, self.settings.sample_rate_hz)
        fallback = "ogg" if fmt_name == "ogg_opus" else fmt_name
        fmt = format_of(response.headers.get("content-type", ""), url, fallback)
        try:
            duration_s = decode_bytes(response.content, fmt, max_ms=MAX_RESULT_MS).duration_ms / 1000.0
        except AudioflowError as exc:
            raise client.error(f"the result is not audio audioflow can decode ({exc})", request_id=task_id) from exc
        return Take(response.content, fmt, request_id=task_id, cost_usd=self._price_usd(duration_s))

    async def _task(self, client: HttpClient, task_id: str, status_url: str) -> dict[str, Any]:
        """One status poll: the task object. Raises :class:`JobGone` on 404 (an unknown or expired task)."""
        response = await client.request("GET", status_url, request_id=task_id, ok=(404,))
        if response.status_code == 404:
            detail = f"task {task_id}: HTTP 404: {client.message_of(response)}"
            raise self._gone(client, detail, status=404, task_id=task_id)
        try:
            task = response.json()
        except ValueError as exc:
            raise client.error("the task status is not JSON", status=response.status_code, request_id=task_id) from exc
        if not isinstance(task, dict):
            raise client.error(f"the task status is not an object: {str(task)[:200]}", request_id=task_id)
        return task

    async def _poll(self, client: HttpClient, task_id: str, status_url: str) -> str:
        """The result URL of a completed task. Raises :class:`JobGone` on 404 (unknown or expired
        task), :class:`JobFailed` on a failed task, ProviderError after ``settings.timeout_s``."""
        last: dict[str, Any] = {}

        async def status() -> str | None:
            task = await self._task(client, task_id, status_url)
            last.clear()
            last.update(task)
            state = str(task.get("status", "")).lower()
            if state == DONE:
                url = _result_url(task)
                if url is None:
                    raise client.error(
                        f"the task completed without an audio URL: {str(task)[:200]}", request_id=task_id
                    )
                return url
            if state in FAILED:
                raise JobFailed.of(client.error(f"the task {state}: {_task_failure(task)}", request_id=task_id))
            return None

        def timed_out(elapsed_s: float) -> str:
            return (
                f"no result after {self.settings.timeout_s:.0f} s (task {last.get('status') or 'unknown'}, "
                f"{last.get('progress', '?')}%); a rerun resumes this task without paying again"
            )

        return await poll(status, self.settings, self._sleep, (client, task_id, timed_out))
