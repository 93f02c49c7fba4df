"""A fake fal: the queue (``queue.fal.run``), the storage token endpoint (``rest.fal.ai``) and, on a
second server, the CDN (``v3.fal.media``) that takes uploads and serves result files.

It speaks the protocol of ``shared/PROVIDERS.md`` ("fal") closely enough for the official
``fal-client`` 1.0.3 to run against it (``QUEUE_URL_FORMAT``/``REST_URL``/``CDN_URL`` pointed here):

* ``POST /{owner}/{app}[/path]`` (``Authorization: Key <key>``) validates the input against the
  model page's schema (422 ``{"detail": [{"loc", "msg", "type"}]}``; unknown fields are refused
  when ``strict``) and answers ``{"request_id", "status_url", "response_url", "cancel_url", ...}``
  with URLs on owner/app only.
* ``GET .../requests/{id}/status[?logs=1]``: ``polls_queued`` answers IN_QUEUE (202, with
  ``queue_position``), then ``polls_in_progress`` IN_PROGRESS (202), then COMPLETED (200, with
  ``metrics``, and ``error``/``error_type`` for a job made to fail). ``logs`` is always present, a
  list when asked for and null otherwise (fal-client reads the key unconditionally).
* ``GET .../requests/{id}`` → ``{"audio": {"url", "content_type", "file_name", "file_size"}}``, the
  file served by the CDN server (a sine made in code, ``audio_seconds`` long, in the asked format).
* ``PUT .../requests/{id}/cancel`` → 202 CANCELLATION_REQUESTED, 400 ALREADY_COMPLETED or 404
  NOT_FOUND (the status codes of the last two are UNCONFIRMED). A cancelled job completes with
  ``error_type: "request_cancelled"`` (UNCONFIRMED shape).
* ``POST /storage/auth/token?storage_type=fal-cdn-v3`` (key auth) → a CDN token; the CDN's
  ``POST /files/upload`` takes the raw bytes with ``Authorization: Bearer <token>`` (the key → 401).
* Errors: ``{"detail": "<text>", "error_type": ...}`` with ``X-Fal-Error-Type`` and
  ``X-Fal-Retryable``; 429 carries ``Retry-After`` (which header fal sends is UNCONFIRMED).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from audioflow.audio import Audio, encode

from .base import FakeServer, RecordedRequest, Response, wav_bytes

__all__ = ["FAL_KEY", "SUBMIT_PATH", "FakeFal", "FalCdn", "fake_fal"]

FAL_KEY = "fal-test-key-0123456789abcdef"
SUBMIT_PATH = r"^/bytedance/seed-audio-1\.0$"
VOICES = {
    "vivi_mixed_en_zh_ja_es_id", "mindy_en_es_id_pt_zh", "kian_en_zh", "cedric_en_zh", "sophie_en_zh",
    "jean_en_zh", "magnus_en_zh", "mabel_en_zh", "nadia_en_zh", "opal_en_zh", "pearl_en_zh", "quentin_en_zh",
    "corinne_mixed_en_zh", "esther_mixed_en_zh", "lyla_mixed_en_zh", "tracy_es_zh", "sandy_es_mixed_en_zh",
    "felix_zh", "celeste_zh", "monkey_king_zh",
}  # fmt: skip
FIELDS = {"prompt", "voice", "audio_urls", "image_url", "output_format", "sample_rate", "speed", "volume", "pitch"}
FORMATS = {"wav": "audio/wav", "mp3": "audio/mpeg", "pcm": "audio/pcm", "ogg_opus": "audio/ogg"}
SAMPLE_RATES = {8000, 16000, 24000, 32000, 44100, 48000}
_MESSAGES = {
    400: ("Bad request", None),
    401: ("Invalid Key authorization header", None),
    402: ("User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.", None),
    403: ("Forbidden", None),
    404: ("Request not found", None),
    429: ("Too many requests: concurrent request limit reached", "rate_limited"),
    500: ("Internal server error", "internal_error"),
    502: ("Bad gateway", "runner_disconnected"),
    503: ("No runner available, try again later", "runner_unavailable"),
    504: ("Request timed out in the queue", "request_timeout"),
}


@dataclass
class Job:
    """One queued request: the ``body`` submitted, status ``polls`` so far, and its fate."""

    request_id: str
    app: str
    body: dict[str, Any]
    polls: int = 0
    cancelled: bool = False
    error: tuple[str, str] | None = None  # (message, error_type) for a job that fails
    audio_url: str | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)


class FalCdn(FakeServer):
    """fal's CDN: ``POST /files/upload`` (token auth) and ``GET /files/...`` (public)."""

    name = "fal-cdn"

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, tuple[bytes, str]] = {}
        self.tokens: set[str] = set()
        self._ids = itertools.count(1)

    def put(self, name: str, data: bytes, content_type: str) -> str:
        """Serve ``data`` at ``/files/<name>``; returns the absolute URL."""
        with self.lock:
            self.files[name] = (data, content_type)
        return f"{self.url}/files/{name}"

    def handle(self, req: RecordedRequest) -> Response:
        if req.method == "POST" and req.path == "/files/upload":
            scheme, _, token = req.headers.get("authorization", "").partition(" ")
            if scheme != "Bearer" or token not in self.tokens:
                return Response.json({"detail": "Invalid or missing CDN token"}, 401)
            name = f"up{next(self._ids)}-{req.headers.get('x-fal-file-name', 'upload.bin')}"
            url = self.put(name, req.body, req.headers.get("content-type", "application/octet-stream"))
            return Response.json({"access_url": url, "content_type": req.headers.get("content-type")})
        if req.method == "GET" and req.path.startswith("/files/"):
            with self.lock:
                found = self.files.get(req.path[len("/files/") :])
            if found is None:
                return Response.json({"detail": "File not found"}, 404)
            return Response.raw(found[0], found[1])
        return Response.json({"detail": "Not found"}, 404)


class FakeFal(FakeServer):
    """The fal queue and REST hosts on one server (see the module doc); ``cdn`` is a second server.

    Knobs: ``polls_queued``/``polls_in_progress`` (status polls per state), ``audio_seconds`` (length
    of every result, or a callable of the body), ``retry_after_s`` (429's ``Retry-After``),
    ``strict`` (refuse fields the page does not list). See :meth:`fail_jobs`, :meth:`forget`,
    and the base class's ``fail_every``/``slow``/``add_fault`` for transport-level faults.
    """

    name = "fal"

    def __init__(
        self,
        *,
        key: str = FAL_KEY,
        polls_queued: int = 1,
        polls_in_progress: int = 1,
        audio_seconds: float | Callable[[dict[str, Any]], float] = 1.0,
        retry_after_s: float = 2.0,
        strict: bool = True,
    ):
        super().__init__()
        self.key = key
        self.polls_queued, self.polls_in_progress = polls_queued, polls_in_progress
        self.audio_seconds, self.retry_after_s, self.strict = audio_seconds, retry_after_s, strict
        self.cdn = FalCdn()
        self.jobs: dict[str, Job] = {}
        self._failures: list[tuple[str, str]] = []
        self._ids = itertools.count(1)
        self._jobs_lock = threading.Lock()

    def start(self) -> FakeFal:
        self.cdn.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        self.cdn.stop()

    def __enter__(self) -> FakeFal:
        return self.start()

    # -- knobs ---------------------------------------------------------------------------------
    def fail_jobs(self, error: str, error_type: str = "generation_failed", times: int = 1) -> None:
        """The next ``times`` submitted jobs complete with ``error``/``error_type``."""
        with self._jobs_lock:
            self._failures.extend([(error, error_type)] * times)

    def forget(self, request_id: str | None = None) -> None:
        """Drop a job (all when None): its status/result/cancel then answer 404 (retention over)."""
        with self._jobs_lock:
            if request_id is None:
                self.jobs.clear()
            else:
                self.jobs.pop(request_id, None)

    @property
    def submits(self) -> list[RecordedRequest]:
        """The submit requests the host accepted (answered 200)."""
        return self.calls("POST", SUBMIT_PATH, status=200)

    # -- errors --------------------------------------------------------------------------------
    def error_response(self, status: int, req: RecordedRequest | None = None) -> Response:
        detail, error_type = _MESSAGES.get(status, (f"HTTP {status}", None))
        headers = {"x-fal-retryable": "true" if status in (429, 500, 502, 503, 504) else "false"}
        body: dict[str, Any] = {"detail": detail}
        if error_type:
            body["error_type"] = error_type
            headers["x-fal-error-type"] = error_type
        if status == 429:
            headers["retry-after"] = f"{self.retry_after_s:g}"
        return Response.json(body, status, headers)

    # -- host logic ----------------------------------------------------------------------------
    def handle(self, req: RecordedRequest) -> Response:
        if req.headers.get("authorization") != f"Key {self.key}":
            return self.error_response(401, req)
        if req.method == "POST" and req.path == "/storage/auth/token":
            return self._token(req)
        match = re.fullmatch(r"/([^/]+/[^/]+)/requests/([^/]+)(/status|/cancel)?", req.path)
        if match:
            app, request_id, tail = match.groups()
            with self._jobs_lock:
                job = self.jobs.get(request_id)
            if job is None or job.app != app:
                not_found = {"detail": "Request not found"}
                return Response.json({"status": "NOT_FOUND"} if tail == "/cancel" else not_found, 404)
            if req.method == "GET" and tail == "/status":
                return self._status(req, job)
            if req.method == "PUT" and tail == "/cancel":
                return self._cancel(job)
            if req.method == "GET" and tail is None:
                return self._result(job)
        if req.method == "POST" and req.path.count("/") >= 2:
            return self._submit(req)
        return Response.json({"detail": "Not found"}, 404)

    def _token(self, req: RecordedRequest) -> Response:
        if req.query.get("storage_type") != ["fal-cdn-v3"]:
            return Response.json({"detail": "storage_type must be fal-cdn-v3"}, 400)
        token = f"cdn-token-{next(self._ids)}"
        self.cdn.tokens.add(token)
        expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        return Response.json({"token": token, "token_type": "Bearer", "base_url": self.cdn.url, "expires_at": expires})

    def _submit(self, req: RecordedRequest) -> Response:
        body = req.json
        problems = self.validate(body)
        if problems:
            return Response.json({"detail": problems}, 422)
        app = "/".join(req.path.strip("/").split("/")[:2])  # owner/app only, as fal does
        request_id = f"req-{next(self._ids):04d}"
        with self._jobs_lock:
            error = self._failures.pop(0) if self._failures else None
            self.jobs[request_id] = Job(request_id, app, body, error=error)
        base = f"{self.url}/{app}/requests/{request_id}"
        answer: dict[str, Any] = {
            "status": "IN_QUEUE",
            "request_id": request_id,
            "response_url": base,
            "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel",
            "logs": None,
            "metrics": {},
            "queue_position": 0,
        }
        return Response.json(answer, 200, {"x-fal-request-id": request_id})

    def validate(self, body: Any) -> list[dict[str, Any]]:
        """The model page's input schema: problems as fal's 422 ``detail`` items."""
        if not isinstance(body, dict):
            return [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]
        problems = []

        def bad(name: str, msg: str, kind: str = "value_error") -> None:
            problems.append({"loc": ["body", name], "msg": msg, "type": kind})

        if not isinstance(body.get("prompt"), str) or not body["prompt"]:
            bad("prompt", "field required", "value_error.missing")
        if "voice" in body and body["voice"] not in VOICES:
            bad("voice", f"value is not a valid enumeration member; permitted: {sorted(VOICES)}", "type_error.enum")
        urls = body.get("audio_urls", [])
        if not isinstance(urls, list) or len(urls) > 3 or not all(isinstance(u, str) for u in urls):
            bad("audio_urls", "ensure this value has at most 3 items")
        elif any(not self._reachable(u) for u in urls):
            bad("audio_urls", "file could not be downloaded")
        if "image_url" in body and (urls or not self._reachable(body["image_url"])):
            bad("image_url", "image_url cannot be combined with audio references, or is unreachable")
        if "output_format" in body and body["output_format"] not in FORMATS:
            bad("output_format", "value is not a valid enumeration member", "type_error.enum")
        if "sample_rate" in body and body["sample_rate"] not in SAMPLE_RATES:
            bad("sample_rate", "value is not a valid enumeration member", "type_error.enum")
        for name in ("speed", "volume"):
            value = body.get(name, 1.0)
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0.5 <= value <= 2.0:
                bad(name, "ensure this value is between 0.5 and 2")
        pitch = body.get("pitch", 0)
        if not isinstance(pitch, int) or isinstance(pitch, bool) or not -12 <= pitch <= 12:
            bad("pitch", "value is not a valid integer between -12 and 12", "type_error.integer")
        if self.strict:
            for name in sorted(set(body) - FIELDS):
                bad(name, "extra fields not permitted", "value_error.extra")
        return problems

    def _reachable(self, url: Any) -> bool:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return False
        prefix = f"{self.cdn.url}/files/"
        return not url.startswith(prefix) or url[len(prefix) :] in self.cdn.files

    def _state(self, job: Job) -> str:
        if job.polls <= self.polls_queued and not job.cancelled:
            return "IN_QUEUE"
        if job.polls <= self.polls_queued + self.polls_in_progress and not job.cancelled:
            return "IN_PROGRESS"
        return "COMPLETED"

    def _status(self, req: RecordedRequest, job: Job) -> Response:
        with self._jobs_lock:
            job.polls += 1
            state = self._state(job)
        with_logs = req.query.get("logs", ["0"])[0].lower() in ("1", "true")
        logs = None
        if with_logs:
            stamp = datetime.now(UTC).isoformat()
            logs = [{"message": f"poll {job.polls}: {state}", "level": "INFO", "source": "user", "timestamp": stamp}]
        answer: dict[str, Any] = {"status": state, "request_id": job.request_id, "logs": logs}
        answer["response_url"] = f"{self.url}/{job.app}/requests/{job.request_id}"
        if state == "IN_QUEUE":
            answer["queue_position"] = max(0, self.polls_queued - job.polls)
            return Response.json(answer, 202)
        if state == "IN_PROGRESS":
            return Response.json(answer, 202)
        answer["metrics"] = {"inference_time": 0.5}
        if job.cancelled:
            answer.update(error="Request was cancelled", error_type="request_cancelled")
        elif job.error:
            answer.update(error=job.error[0], error_type=job.error[1])
        return Response.json(answer, 200)

    def _cancel(self, job: Job) -> Response:
        with self._jobs_lock:
            if self._state(job) == "COMPLETED":
                return Response.json({"status": "ALREADY_COMPLETED"}, 400)
            job.cancelled = True
        return Response.json({"status": "CANCELLATION_REQUESTED"}, 202)

    def _result(self, job: Job) -> Response:
        if self._state(job) != "COMPLETED":
            return Response.json({"detail": "Request is still in progress"}, 400)
        if job.cancelled or job.error:
            message, error_type = job.error or ("Request was cancelled", "request_cancelled")
            body = {"detail": message, "error_type": error_type}
            return Response.json(body, 422, {"x-fal-error-type": error_type, "x-fal-retryable": "false"})
        fmt = job.body.get("output_format", "mp3")
        if job.audio_url is None:
            data = self.audio_bytes(job.body)
            job.audio_url = self.cdn.put(f"{job.request_id}.{_suffix(fmt)}", data, FORMATS[fmt])
        data = self.cdn.files[job.audio_url.rsplit("/", 1)[1]][0]
        name = job.audio_url.rsplit("/", 1)[1]
        audio = {"url": job.audio_url, "content_type": FORMATS[fmt], "file_name": name, "file_size": len(data)}
        return Response.json({"audio": audio})

    def audio_bytes(self, body: dict[str, Any]) -> bytes:
        """The result file for ``body``: a sine ``audio_seconds`` long at the asked rate and format."""
        seconds = self.audio_seconds(body) if callable(self.audio_seconds) else self.audio_seconds
        rate_hz = int(body.get("sample_rate", 24000))
        fmt = body.get("output_format", "mp3")
        wav = wav_bytes(seconds, rate_hz)
        if fmt in ("wav", "pcm"):
            return wav if fmt == "wav" else wav[44:]
        t = np.arange(round(seconds * rate_hz)) / rate_hz
        audio = Audio((0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32), rate_hz)
        return encode(audio, "mp3" if fmt == "mp3" else "ogg")


def _suffix(fmt: str) -> str:
    return {"ogg_opus": "ogg", "pcm": "pcm"}.get(fmt, fmt)


@pytest.fixture
def fake_fal(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFal]:
    """A started :class:`FakeFal`, with ``AUDIOFLOW_FAL_QUEUE_URL``/``AUDIOFLOW_FAL_REST_URL``
    pointing at it and ``FAL_KEY`` set to :data:`FAL_KEY`."""
    with FakeFal() as fake:
        monkeypatch.setenv("AUDIOFLOW_FAL_QUEUE_URL", fake.url)
        monkeypatch.setenv("AUDIOFLOW_FAL_REST_URL", fake.url)
        monkeypatch.setenv("FAL_KEY", FAL_KEY)
        yield fake
