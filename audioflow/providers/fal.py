"""fal (``queue.fal.run``) hosting ByteDance Seed Audio 1.0 (``bytedance/seed-audio-1.0``).

Sources: ``shared/PROVIDERS.md`` ("fal": the queue protocol, errors, storage upload, price) and
``shared/seeds/fal-seed-audio-1.0.md`` (the input fields, the 20 preset voices, the enums and ranges).
The official ``fal-client`` 1.0.3 was read for what the queue serves (``queue_position`` while
IN_QUEUE, ``logs`` otherwise) and how storage uploads go.

Protocol, as implemented here:

* ``POST {queue}/bytedance/seed-audio-1.0`` with ``Authorization: Key $FAL_KEY`` and the input JSON
  → ``{"request_id", "status_url", "response_url", "cancel_url"}`` (absolute URLs, followed as given).
* ``GET status_url?logs=1`` → ``IN_QUEUE`` / ``IN_PROGRESS`` (202), then ``COMPLETED`` (200);
  a COMPLETED answer carrying ``error`` is a failure.
* ``GET response_url`` → ``{"audio": {"url", "content_type", ...}}``; the file is downloaded at once.
* Ctrl-C while polling sends ``PUT cancel_url`` (best effort, short timeout).
* Local reference clips and images go to fal storage first (``POST {rest}/storage/auth/token``, then
  ``POST {base_url}/files/upload`` with the token, never the key). Data URIs are UNCONFIRMED for
  this model, so they are never sent.
* fal has no SAM-Audio (``isolate``) and no OpenVoice: an OpenVoice clone is rendered with Seed
  Audio's own reference clip (≤ 30 s) and a note says so.
"""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ..audio import decode_bytes
from ..errors import AudioError, ProviderError, did_you_mean
from ..steps import GeneratePayload, LinesPayload, StepKind, VoiceSpec
from .base import API_KEY_ENV, Journal, PreparedRequest, ProviderSettings, Reference, RenderRequest, Take
from .http import MAX_RESULT_MS, HttpClient, env_url, origin_of, read_key
from .jobs import JobFailed, JobGone, format_of, poll, run_job
from .seed_audio import MAX_REFERENCE_MS, OUTPUT_FORMATS, SeedAudioCall, build_call, output_format

__all__ = ["FAL_VOICES", "MODEL_SLUG", "PRICE_PER_MINUTE_USD", "FalProvider", "error_message"]

MODEL_SLUG = "bytedance/seed-audio-1.0"
#: $ per minute of output audio (fal model page, "Pricing").
PRICE_PER_MINUTE_USD = 0.075
#: The ``voice`` enum on the fal model page.
FAL_VOICES: tuple[str, ...] = (
    "vivi_mixed_en_zh_ja_es_id",
    "mindy_en_es_id_pt_zh",
    "kian_en_zh",
    "cedric_en_zh",
    "sophie_en_zh",
    "jean_en_zh",
    "magnus_en_zh",
    "mabel_en_zh",
    "nadia_en_zh",
    "opal_en_zh",
    "pearl_en_zh",
    "quentin_en_zh",
    "corinne_mixed_en_zh",
    "esther_mixed_en_zh",
    "lyla_mixed_en_zh",
    "tracy_es_zh",
    "sandy_es_mixed_en_zh",
    "felix_zh",
    "celeste_zh",
    "monkey_king_zh",
)
#: fal's ``output_format`` is Seed Audio's (``seed_audio.OUTPUT_FORMATS``); the page's default is mp3.
HOST_DEFAULT_FORMAT = "mp3"
HOST_DEFAULT_RATE_HZ = 24000
CLIP_SUFFIXES = (".wav", ".mp3", ".pcm", ".ogg", ".opus")  # page: wav/mp3/pcm/ogg_opus
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")  # page: jpeg/png/webp
DEFAULT_CONCURRENCY = 4
CANCEL_TIMEOUT_S = 5.0
#: Answers of ``PUT cancel_url`` after which nothing is left to resume (PROVIDERS.md).
_NOTHING_TO_RESUME = {"NOT_FOUND"}


def error_message(response: httpx.Response) -> str:
    """fal's message in an error response: a 422 ``{"detail": [{"loc", "msg", "type"}]}`` becomes
    ``loc.path: msg; ...``; ``{"detail": "<text>", "error_type"}`` (or header ``X-Fal-Error-Type``)
    becomes ``<text> (<error_type>)`` (PROVIDERS.md, fal "Errors")."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error_type = response.headers.get("x-fal-error-type")
    if isinstance(body, dict):
        detail = body.get("detail", body.get("error", body.get("message")))
        error_type = body.get("error_type") or error_type
        if isinstance(detail, list):
            parts = []
            for item in detail:
                if isinstance(item, dict):
                    loc = ".".join(str(x) for x in item.get("loc", ()) if x != "body")
                    parts.append(f"{loc}: {item.get('msg', item)}" if loc else str(item.get("msg", item)))
                else:
                    parts.append(str(item))
            text = "; ".join(parts)
        else:
            text = str(detail) if detail is not None else str(body)[:300]
    else:
        text = response.text[:300] or response.reason_phrase
    return f"{text} ({error_type})" if error_type and error_type not in text else text


def _suggest(value: str) -> str:
    hint = did_you_mean(value, FAL_VOICES)
    return f" ({hint})" if hint else ""


class FalProvider:
    """Seed Audio 1.0 on fal's queue. Renders ``speak``, ``scene`` and ``generate`` steps.

    ``settings`` gives concurrency (default 4), the poll interval and timeout, retries, the
    format (wav, mp3 or ogg) and sample rate asked of fal; ``sleep`` and ``transport`` are
    injectable for tests. Base URLs come from ``AUDIOFLOW_FAL_QUEUE_URL`` and
    ``AUDIOFLOW_FAL_REST_URL`` (read here), the key from ``FAL_KEY`` (read when rendering).
    """

    name = "fal"
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
        self.queue_url = env_url("AUDIOFLOW_FAL_QUEUE_URL", "https://queue.fal.run")
        self.rest_url = env_url("AUDIOFLOW_FAL_REST_URL", "https://rest.fal.ai")
        self._sleep = sleep
        self._transport = transport

    # -- prepare (no key, no I/O beyond stat) ----------------------------------------------------
    def prepare(self, request: RenderRequest) -> PreparedRequest:
        """The fal call for ``request``: model ``fal/bytedance/seed-audio-1.0`` (OpenVoice clones are
        rendered by Seed Audio too), the key (the slug and the body to be sent, local files as
        ``{"sha256": ...}``: never a path, an upload URL or the key), $0.075 per minute of expected
        output (or ``price_per_call_usd``). Raises :class:`ProviderError` for what fal cannot render:
        ``isolate``, an unknown voice id, Seed Audio's limits (``build_call``), a clip or image fal
        does not take, a format or rate off the page's enums."""
        fmt = output_format(self.name, self.settings.format, self.settings.sample_rate_hz)
        call = self._call(request)
        for ref in call.references:
            if isinstance(ref, Reference):  # always (id_references=False): clips only
                self._check_file(ref, "reference clip", CLIP_SUFFIXES)
        if call.image is not None:
            self._check_file(call.image, "reference image", IMAGE_SUFFIXES)
        key = None if request.pending else {"model": MODEL_SLUG, "body": self._body(call, fmt, _key_of)}
        return PreparedRequest(
            request,
            f"fal/{MODEL_SLUG}",
            key,
            self._price_usd(request.expected_duration_s),
            (*call.notes, *self._notes(request)),
            (call, fmt),
        )

    def _call(self, request: RenderRequest) -> SeedAudioCall:
        if request.kind == StepKind.ISOLATE:
            raise ProviderError(
                self.name,
                "fal does not host SAM-Audio: render isolate steps on segmind "
                "(steps.<name>.provider: segmind) or locally",
            )
        for voice in _voices(request):
            self._check_voice(request, voice)
        call = build_call(request, host=self.name, marker="@Audio", max_prompt_chars=None)
        if call.preset is not None and call.preset not in FAL_VOICES:
            raise ProviderError(
                self.name,
                f"unknown fal voice {call.preset!r}{_suggest(call.preset)}; fal voices: {', '.join(FAL_VOICES)}",
                voice=_voices(request)[0].name if request.kind == StepKind.SPEAK else None,
            )
        return call

    def _check_voice(self, request: RenderRequest, voice: VoiceSpec) -> None:
        wrong = voice.preset_on(self.name) if not isinstance(voice.preset, str) else None
        if wrong and wrong not in FAL_VOICES:
            raise ProviderError(
                self.name, f"voice {voice.name!r}: unknown fal voice {wrong!r}{_suggest(wrong)}", voice=voice.name
            )
        if voice.clone_model == "openvoice":
            clip = request.reference(voice.name)
            if clip is not None and clip.duration_ms is not None and clip.duration_ms > MAX_REFERENCE_MS + 1:
                raise ProviderError(
                    self.name,
                    f"voice {voice.name!r} clones with OpenVoice, which fal does not host; fal clones with Seed "
                    f"Audio, whose reference clip is at most {MAX_REFERENCE_MS / 1000:.0f} s (this one is "
                    f"{clip.duration_ms / 1000:.1f} s): trim the clip or render on segmind",
                    voice=voice.name,
                )

    def _check_file(self, ref: Reference, what: str, suffixes: tuple[str, ...]) -> None:
        if ref.url or ref.path is None:  # a URL, or a step's output rendered before this request is sent
            return
        if not ref.path.is_file():
            raise ProviderError(self.name, f"{what} of {ref.name!r} is neither a URL nor an existing file: {ref.path}")
        if ref.path.suffix.lower() not in suffixes:
            raise ProviderError(
                self.name, f"{what} {ref.path.name}: fal takes {'/'.join(s[1:] for s in suffixes)} files"
            )

    def ready(self) -> None:
        """Raise :class:`ProviderError` when ``FAL_KEY`` is not set."""
        read_key(self.name, API_KEY_ENV["fal"])

    def _body(self, call: SeedAudioCall, output_format: str, locate: Callable[[Reference], Any]) -> dict[str, Any]:
        """The input JSON (only fields on the model page; host defaults and neutral values are
        omitted). ``locate(ref)`` gives a reference's URL (or a digest, for the request key)."""
        body: dict[str, Any] = {"prompt": call.prompt}
        if call.preset is not None:
            body["voice"] = call.preset
        if call.references:
            body["audio_urls"] = [locate(ref) for ref in call.references if isinstance(ref, Reference)]
        if call.image is not None:
            body["image_url"] = locate(call.image)
        if output_format != HOST_DEFAULT_FORMAT:
            body["output_format"] = output_format
        if self.settings.sample_rate_hz != HOST_DEFAULT_RATE_HZ:
            body["sample_rate"] = self.settings.sample_rate_hz
        if call.speed != 1.0:
            body["speed"] = float(call.speed)
        if call.volume != 1.0:
            body["volume"] = float(call.volume)
        if call.pitch_semitones != 0:
            body["pitch"] = int(call.pitch_semitones)
        return body

    def _price_usd(self, duration_s: float) -> float:
        """The published price of ``duration_s`` of output; a recipe's ``price_per_call_usd`` can
        raise it, never lower it (a recipe from a stranger must not switch a budget off)."""
        published = max(0.0, duration_s) / 60.0 * PRICE_PER_MINUTE_USD
        return max(published, self.settings.price_per_call_usd or 0.0)

    def _notes(self, request: RenderRequest) -> list[str]:
        return [
            f"voice {voice.name!r} asks for an OpenVoice clone; fal has no OpenVoice: "
            "cloned with Seed Audio's reference clip instead"
            for voice in _voices(request)
            if voice.clone_model == "openvoice"
        ]

    # -- render --------------------------------------------------------------------------------
    def _client(self, key: str, *, retries: int | None = None, timeout_s: float = 60.0) -> HttpClient:
        hosts = {self.queue_url, self.rest_url}
        return HttpClient(
            self.name,
            auth_headers={"Authorization": f"Key {key}"},
            auth_hosts=hosts,
            secrets=[key],
            retries=self.settings.retries if retries is None else retries,
            timeout_s=timeout_s,
            error_message=error_message,
            sleep=self._sleep,
            transport=self._transport,
        )

    async def render(self, prepared: PreparedRequest, journal: Journal | None = None) -> Take:
        """Upload local inputs, submit (journalled), poll, fetch and download at once."""
        call: SeedAudioCall = prepared.body[0]
        fmt: str = prepared.body[1]
        key = read_key(self.name, API_KEY_ENV["fal"])
        client = self._client(key)
        seen: list[str] = []

        async def finish(state: dict[str, Any], resumed: bool) -> Take:
            seen[:] = [] if resumed else ["IN_QUEUE"]
            await self._poll(client, state, seen)
            return await self._fetch(client, state)

        async def cancel(state: dict[str, Any]) -> bool:
            return await self._cancel(key, state, queued=seen[-1:] == ["IN_QUEUE"])

        try:
            take, run_notes = await run_job(
                journal, lambda: self._submit(client, key, call, fmt), finish, cancel=cancel
            )
        finally:
            await client.aclose()
        notes = (*prepared.notes, *take.notes, *run_notes)
        return Take(take.data, take.format, notes=notes, request_id=take.request_id, cost_usd=take.cost_usd)

    async def _upload(self, client: HttpClient, key: str, refs: list[Reference]) -> dict[int, str]:
        """fal storage: a CDN token (key auth), then each file's bytes (token auth) → access_url."""
        token = await client.json("POST", f"{self.rest_url}/storage/auth/token?storage_type=fal-cdn-v3", json={})
        if not isinstance(token, dict) or not token.get("token") or not token.get("base_url"):
            raise client.error(f"fal storage gave no upload token: {str(token)[:200]}")
        base_url = str(token["base_url"]).rstrip("/")
        cdn = HttpClient(
            self.name,
            auth_headers={"Authorization": f"{token.get('token_type') or 'Bearer'} {token['token']}"},
            auth_hosts=[base_url],
            secrets=[key, str(token["token"])],
            retries=self.settings.retries,
            error_message=error_message,
            sleep=self._sleep,
            transport=self._transport,
        )
        urls: dict[int, str] = {}
        try:
            for ref in refs:
                assert ref.path is not None  # check(): a reference without a URL is a local file
                content_type = mimetypes.guess_type(ref.path.name)[0] or "application/octet-stream"
                name = ref.path.name.encode("ascii", "replace").decode().replace("?", "_")
                headers = {"Content-Type": content_type, "X-Fal-File-Name": name}
                answer = await cdn.json(
                    "POST", f"{base_url}/files/upload", content=ref.path.read_bytes(), headers=headers
                )
                if not isinstance(answer, dict) or not answer.get("access_url"):
                    raise cdn.error(f"the upload of {ref.path.name} gave no access_url: {str(answer)[:200]}")
                urls[id(ref)] = str(answer["access_url"])
        finally:
            await cdn.aclose()
        return urls

    async def _submit(self, client: HttpClient, key: str, call: SeedAudioCall, fmt: str) -> dict[str, Any]:
        refs = [r for r in (*call.references, call.image) if isinstance(r, Reference) and not r.url]
        uploaded = await self._upload(client, key, refs) if refs else {}
        body = self._body(call, fmt, lambda ref: ref.url or uploaded[id(ref)])
        answer = await client.json("POST", f"{self.queue_url}/{MODEL_SLUG}", json=body, idempotent=False)
        request_id = str(answer.get("request_id") or "")
        if not request_id:
            raise client.error(f"the submit answer has no request_id: {str(answer)[:200]}")
        # Fallbacks follow fal-client's own layout (owner/app only) should an answer omit a URL.
        base = f"{self.queue_url}/{MODEL_SLUG}/requests/{request_id}"
        return {
            "request_id": request_id,
            "status_url": answer.get("status_url") or f"{base}/status",
            "response_url": answer.get("response_url") or base,
            "cancel_url": answer.get("cancel_url") or f"{base}/cancel",
        }

    async def _poll(self, client: HttpClient, state: dict[str, Any], seen: list[str]) -> None:
        """Poll ``status_url`` until COMPLETED (appending each status to ``seen``); raise for a
        failure (:class:`JobFailed`), an expiry (404 or cancelled: :class:`JobGone`) or the timeout."""
        request_id = str(state["request_id"])

        async def status() -> bool | None:
            response = await client.request(
                "GET", state["status_url"], params={"logs": "1"}, request_id=request_id, ok=(404,)
            )
            if response.status_code == 404:
                error = client.error(client.message_of(response), status=404, request_id=request_id)
                raise JobGone(f"status of {request_id}: {client.message_of(response)}", error)
            answer = _json_or_empty(response)
            seen.append(str(answer.get("status", "")).upper())
            # COMPLETED with ``error`` is a failure; FAILED/ERROR/CANCELLED are undocumented (UNCONFIRMED)
            if (seen[-1] == "COMPLETED" and answer.get("error")) or seen[-1] in ("FAILED", "ERROR", "CANCELLED"):
                self._failed(client, answer, request_id, http_status=response.status_code)
            return True if seen[-1] == "COMPLETED" else None

        def timed_out(elapsed_s: float) -> str:
            return (
                f"still {seen[-1] if seen and seen[-1] else 'pending'} after {elapsed_s:.0f} s "
                f"(timeout {self.settings.timeout_s:.0f} s); rerun to resume this request without paying again"
            )

        await poll(status, self.settings, self._sleep, (client, request_id, timed_out))

    @staticmethod
    def _failed(client: HttpClient, answer: dict[str, Any], request_id: str, *, http_status: int) -> None:
        """Raise the host's final answer: :class:`JobGone` for a cancelled request (a resumed one is
        submitted again), else :class:`JobFailed`."""
        error = str(answer.get("error") or answer.get("detail") or answer.get("status"))
        error_type = answer.get("error_type")
        detail = f"{error} ({error_type})" if error_type else error
        failure = client.error(f"the request failed: {detail}", status=http_status, request_id=request_id)
        if "cancel" in f"{error} {error_type}".lower():
            raise JobGone(f"it was cancelled: {error}", failure)
        raise JobFailed.of(failure)

    async def _cancel(self, key: str, state: dict[str, Any], *, queued: bool) -> bool:
        """Best-effort ``PUT cancel_url`` on Ctrl-C (one try, ``CANCEL_TIMEOUT_S``); whether nothing
        can bill any more (then the journal is forgotten).

        The PUT is sent with a blocking client: on Ctrl-C ``asyncio.run`` cancels every task, so
        an awaited request could itself be cancelled before it leaves (a test injecting an async
        transport gets the async path)."""
        try:
            if self._transport is None:
                response = _put_now(state["cancel_url"], key, self.queue_url)
            else:
                quick = self._client(key, retries=0, timeout_s=CANCEL_TIMEOUT_S)
                try:
                    put = asyncio.ensure_future(quick.request("PUT", state["cancel_url"], ok=(400, 404, 409)))
                    response = await asyncio.wait_for(asyncio.shield(put), CANCEL_TIMEOUT_S)
                finally:
                    await quick.aclose()
            answer = _json_or_empty(response)
        except (TimeoutError, asyncio.CancelledError, ProviderError, httpx.HTTPError):
            return False
        outcome = str(answer.get("status", "")).upper()
        # A queued request is removed (nothing billed); an IN_PROGRESS one only gets a signal and
        # may still finish and bill, and an ALREADY_COMPLETED one is paid: keep those journalled
        # so a rerun fetches the result (a cancelled one then resubmits, see _failed).
        return outcome in _NOTHING_TO_RESUME or (outcome == "CANCELLATION_REQUESTED" and queued)

    async def _fetch(self, client: HttpClient, state: dict[str, Any]) -> Take:
        """GET response_url, download the audio at once, price it by its decoded duration."""
        request_id = str(state["request_id"])
        response = await client.request("GET", state["response_url"], request_id=request_id, ok=(404,))
        if response.status_code == 404:
            error = client.error(client.message_of(response), status=404, request_id=request_id)
            raise JobGone(f"result of {request_id}: {client.message_of(response)}", error)
        result = _json_or_empty(response)
        audio = result.get("audio")
        url = audio.get("url") if isinstance(audio, dict) else audio
        if not isinstance(url, str) or not url:
            raise client.error(f"the result has no audio URL: {str(result)[:200]}", request_id=request_id)
        data, content_type = await client.download(url, request_id=request_id)
        declared = audio.get("content_type", "") if isinstance(audio, dict) else ""
        expected = "ogg" if OUTPUT_FORMATS[self.settings.format.lower()] == "ogg_opus" else self.settings.format
        fmt = format_of(content_type, url, format_of(str(declared), "", expected))
        try:
            duration_ms = (await asyncio.to_thread(decode_bytes, data, fmt, max_ms=MAX_RESULT_MS)).duration_ms
        except AudioError as exc:
            raise client.error(f"the result audio ({fmt}) cannot be decoded: {exc}", request_id=request_id) from exc
        return Take(data, fmt, request_id=request_id, cost_usd=self._price_usd(duration_ms / 1000.0))


def _voices(request: RenderRequest) -> tuple[VoiceSpec, ...]:
    payload = request.payload
    return payload.voices if isinstance(payload, LinesPayload | GeneratePayload) else ()


def _key_of(ref: Reference) -> Any:
    """A reference in a request key: its URL, or its content digest (never a path or upload URL)."""
    return ref.url if ref.url else {"sha256": ref.digest()}


def _put_now(url: str, key: str, queue_url: str) -> httpx.Response:
    """``PUT url`` synchronously (the key only when ``url`` is on the queue host)."""
    same_host = origin_of(url) == origin_of(queue_url)
    headers = {"Authorization": f"Key {key}"} if same_host else {}
    with httpx.Client(timeout=CANCEL_TIMEOUT_S, follow_redirects=False) as client:
        return client.put(url, headers=headers)


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
