"""A fake Segmind: the v2 async API, the storage upload endpoint and a separate file host.

Speaks the protocol of ``shared/PROVIDERS.md`` "Segmind" and of the ``segmind`` 1.3.0 SDK
(``segmind/v2.py``, ``segmind/files.py``):

* ``POST /v2/{slug}`` (``x-api-key``; a bearer token or a wrong key → 401 ``{"error"}``) →
  ``{"request_id", "status": "QUEUED", "poll_url", "status_url", "response_url"}`` (absolute URLs).
  Bodies are validated against the fields each model's vendor page lists (400 otherwise).
* ``GET /v2/requests/{id}/status`` → QUEUED for ``queued_polls`` polls, PROCESSING for
  ``processing_polls``, then COMPLETED — or FAILED as HTTP 422 ``{"status": "FAILED", "error"}``.
* ``GET /v2/requests/{id}`` → ``{"status": "COMPLETED", "metrics", "output": <file URL>}``.
* 404 ``{"error"}`` for unknown or forgotten ids; 406 when ``credits`` reach 0; 429 (from fault plans)
  with ``x-rate-limit-reset-at-utc`` (ISO 8601 UTC ``reset_in_s`` ahead).
* Storage ``POST /upload-asset`` ``{"data_urls": [...]}`` → ``{"urls": [...]}`` (``upload_key``).
* Result and uploaded files are served by :class:`FileHost`, another port: tests assert it never
  sees the key.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .base import FakeServer, RecordedRequest, Response, wav_bytes

__all__ = ["FIELDS", "FakeJob", "FileHost", "SegmindFake", "SegmindHosts", "StorageFake", "segmind_hosts"]

KEY = "test-key"
#: The fields each model's vendor page lists (seeds/segmind-*.txt).
FIELDS = {
    "seed-audio-1.0": {
        "text_prompt",
        "format",
        "image_url",
        "loudness_rate",
        "pitch_rate",
        "reference_audio_urls",
        "sample_rate",
        "speaker",
        "speech_rate",
    },
    "openvoice": {"input_audio", "speed", "text", "language"},
    "sam-audio-large": {"audio", "description", "output_format", "reranking_candidates"},
}
REQUIRED = {"seed-audio-1.0": {"text_prompt"}, "openvoice": {"input_audio", "speed", "text"}}
REQUIRED["sam-audio-large"] = {"audio", "description"}
OPENVOICE_LANGUAGES = {"EN_NEWEST", "EN", "ES", "FR", "ZH", "JP", "KR", "EN_US", "EN_BR", "EN_INDIA", "EN_AU"}


def _auth_error(req: RecordedRequest, echo_key: bool) -> Response | None:
    """Segmind's 401 for a missing/wrong ``x-api-key`` (a bearer token is not accepted)."""
    given = req.headers.get("x-api-key")
    if given == KEY:
        return None
    shown = f" {given or req.headers.get('authorization')!r}" if echo_key else ""
    return Response.json({"error": f"Unauthorized: invalid API key{shown}"}, 401)


class FileHost(FakeServer):
    """Serves stored files by path (no auth), like a CDN: ``put`` returns the file's URL."""

    name = "segmind-files"

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, tuple[bytes, str]] = {}

    def put(self, path: str, data: bytes, content_type: str) -> str:
        with self.lock:
            self.files[path] = (data, content_type)
        return self.url + path

    def handle(self, req: RecordedRequest) -> Response:
        found = self.files.get(req.path)
        if req.method != "GET" or found is None:
            return Response.raw(b"<Error>NoSuchKey</Error>", "application/xml", 404)
        return Response.raw(found[0], found[1])


class StorageFake(FakeServer):
    """``POST /upload-asset``: data URLs in, file-host URLs out (under ``upload_key``)."""

    name = "segmind-storage"

    def __init__(self, files: FileHost) -> None:
        super().__init__()
        self.files = files
        self.upload_key = "urls"
        self.uploads: list[tuple[str, bytes]] = []  # (mime, bytes) of every data URL received

    def handle(self, req: RecordedRequest) -> Response:
        denied = _auth_error(req, False)
        if denied:
            return denied
        if req.method != "POST" or req.path != "/upload-asset":
            return Response.json({"error": "Not Found"}, 404)
        data_urls = (req.json or {}).get("data_urls")
        if not isinstance(data_urls, list) or not data_urls:
            return Response.json({"error": "data_urls must be a non-empty list"}, 400)
        urls = []
        for item in data_urls:
            match = re.fullmatch(r"data:([\w.+-]+/[\w.+-]+);base64,(.+)", str(item), re.S)
            if not match:
                return Response.json({"error": "invalid data URL"}, 400)
            data = base64.b64decode(match.group(2))
            self.uploads.append((match.group(1), data))
            urls.append(self.files.put(f"/assets/{hashlib.sha256(data).hexdigest()[:16]}", data, match.group(1)))
        return Response.json({"message": "uploaded", self.upload_key: urls})


@dataclass
class FakeJob:
    """A submitted request. ``polls`` counts status polls; ``fail`` is the FAILED error text."""

    request_id: str
    slug: str
    body: dict[str, Any]
    polls: int = 0
    fail: str | None = None
    state: str = "QUEUED"


@dataclass
class _Options:
    queued_polls: int = 1
    processing_polls: int = 1
    reset_in_s: float = 2.0  # how far ahead x-rate-limit-reset-at-utc points on a 429
    credits: int | None = None  # None: unlimited; each accepted submit spends one
    output_s: float = 0.5
    metrics_cost: float | None = None
    echo_key: bool = False  # put the presented key in 401 bodies (to test scrubbing)
    fail_when: Callable[[str, dict[str, Any]], str | None] = field(default=lambda slug, body: None)
    output: Callable[[FakeJob], tuple[bytes, str, str]] | None = None  # (bytes, content type, suffix)
    result_body: Callable[[FakeJob, str], dict[str, Any]] | None = None


class SegmindFake(FakeServer):
    """The v2 API (see the module docstring). Options live on ``self.opt``."""

    name = "segmind-api"

    def __init__(self, files: FileHost) -> None:
        super().__init__()
        self.files = files
        self.opt = _Options()
        self.jobs: dict[str, FakeJob] = {}
        self._ids = itertools.count(1)
        self._job_lock = threading.Lock()

    def error_response(self, status: int, req: RecordedRequest | None = None) -> Response:
        if status == 429:
            reset = datetime.now(UTC) + timedelta(seconds=self.opt.reset_in_s)
            headers = {"x-rate-limit-reset-at-utc": reset.isoformat().replace("+00:00", "Z")}
            return Response.json({"error": "Rate limit exceeded"}, 429, headers)
        text = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Timeout"}
        return Response.json({"error": text.get(status, f"error {status}")}, status)

    def forget(self, request_id: str | None = None) -> None:
        """Expire one request (or all): its status and result answer 404 from now on."""
        with self._job_lock:
            if request_id is None:
                self.jobs.clear()
            else:
                self.jobs.pop(request_id, None)

    def submits(self, status: int | None = 200) -> list[RecordedRequest]:
        return self.calls("POST", r"^/v2/[^/]+$", status=status)

    def wait_in_flight(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` requests were submitted and each was polled at least twice (a
        client is polling all of them); False when ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            polled = {j.request_id for j in list(self.jobs.values()) if j.polls >= 2}
            if len(self.submits()) == count and len(polled) == count:
                return True
            time.sleep(0.05)
        return False

    def handle(self, req: RecordedRequest) -> Response:
        denied = _auth_error(req, self.opt.echo_key)
        if denied:
            return denied
        if req.method == "POST" and (m := re.fullmatch(r"/v2/([^/]+)", req.path)):
            return self._submit(m.group(1), req.json)
        if req.method == "GET" and (m := re.fullmatch(r"/v2/requests/([^/]+)(/status)?", req.path)):
            job = self.jobs.get(m.group(1))
            if job is None:
                return Response.json({"error": f"Request {m.group(1)} not found or expired"}, 404)
            return self._status(job) if m.group(2) else self._result(job)
        return Response.json({"error": "Not Found"}, 404)

    def _submit(self, slug: str, body: Any) -> Response:
        if slug not in FIELDS:
            return Response.json({"error": f"Model {slug} not found"}, 404)
        problem = validate(slug, body)
        if problem:
            return Response.json({"error": problem}, 400)
        with self._job_lock:
            if self.opt.credits is not None:
                if self.opt.credits <= 0:
                    return Response.json({"error": "Insufficient credits"}, 406)
                self.opt.credits -= 1
            rid = f"req-{next(self._ids):04d}-{hashlib.sha256(repr(body).encode()).hexdigest()[:8]}"
            self.jobs[rid] = FakeJob(rid, slug, body, fail=self.opt.fail_when(slug, body))
        base = f"{self.url}/v2/requests/{rid}"
        urls = {"poll_url": f"{base}/status", "status_url": f"{base}/status", "response_url": base}
        return Response.json({"request_id": rid, "status": "QUEUED", **urls})

    def _status(self, job: FakeJob) -> Response:
        with self._job_lock:
            job.polls += 1
            if job.polls <= self.opt.queued_polls:
                job.state = "QUEUED"
            elif job.polls <= self.opt.queued_polls + self.opt.processing_polls:
                job.state = "PROCESSING"
            else:
                job.state = "FAILED" if job.fail else "COMPLETED"
        return self._state_body(job)

    def _state_body(self, job: FakeJob) -> Response:
        metrics: dict[str, Any] = {"queue_time": 0.1}
        if job.state == "FAILED":
            return Response.json({"status": "FAILED", "request_id": job.request_id, "error": job.fail}, 422)
        if job.state == "COMPLETED":
            metrics["inference_time"] = 1.5
        return Response.json({"status": job.state, "request_id": job.request_id, "metrics": metrics})

    def _result(self, job: FakeJob) -> Response:
        if job.state != "COMPLETED":
            return self._state_body(job)
        data, content_type, suffix = self._output(job)
        url = self.files.put(f"/outputs/{job.request_id}.{suffix}", data, content_type)
        if self.opt.result_body is not None:
            return Response.json(self.opt.result_body(job, url))
        metrics: dict[str, Any] = {"inference_time": 1.5}
        if self.opt.metrics_cost is not None:
            metrics["cost"] = self.opt.metrics_cost
        return Response.json({"status": "COMPLETED", "request_id": job.request_id, "metrics": metrics, "output": url})

    def _output(self, job: FakeJob) -> tuple[bytes, str, str]:
        if self.opt.output is not None:
            return self.opt.output(job)
        rate = int(job.body.get("sample_rate") or 24000)
        return wav_bytes(self.opt.output_s, rate), "audio/wav", "wav"


def _int_in(body: dict[str, Any], name: str, low: int, high: int) -> str | None:
    value = body.get(name)
    if name in body and (not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high):
        return f"{name} must be an integer {low}..{high}, got {value!r}"
    return None


def _url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def validate(slug: str, body: Any) -> str | None:
    """What is wrong with ``body`` for ``slug`` per its vendor page, or None."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    extra, missing = set(body) - FIELDS[slug], REQUIRED[slug] - set(body)
    if extra or missing:
        return f"unknown fields {sorted(extra)}, missing {sorted(missing)}"
    if slug == "seed-audio-1.0":
        if not isinstance(body["text_prompt"], str) or len(body["text_prompt"]) > 2048:
            return "text_prompt must be a string of at most 2048 characters"
        refs = body.get("reference_audio_urls", [])
        problems = [
            _int_in(body, "speech_rate", -50, 100),
            _int_in(body, "loudness_rate", -50, 100),
            _int_in(body, "pitch_rate", -12, 12),
            None if body.get("format", "mp3") in ("wav", "mp3", "pcm", "ogg_opus") else "bad format",
            None if body.get("sample_rate", 44100) in (8000, 16000, 24000, 32000, 44100, 48000) else "bad sample_rate",
            None if isinstance(refs, list) and len(refs) <= 3 and all(map(_url, refs)) else "bad reference_audio_urls",
            "image_url cannot be combined with reference audio" if refs and "image_url" in body else None,
            None if "speaker" not in body or str(body["speaker"]).endswith("_bigtts") else "unknown speaker",
        ]
    elif slug == "openvoice":
        problems = [
            None if _url(body["input_audio"]) else "input_audio must be a URL",
            None if isinstance(body["speed"], int | float) and 0.5 <= body["speed"] <= 2 else "speed must be 0.5..2",
            None if body.get("language", "EN_NEWEST") in OPENVOICE_LANGUAGES else "bad language",
        ]
    else:
        problems = [
            None if _url(body["audio"]) or isinstance(body["audio"], str) else "audio must be a URL or base64",
            None if body.get("output_format", "wav") in ("wav", "mp3") else "output_format must be wav or mp3",
            _int_in(body, "reranking_candidates", 1, 8),
        ]
    return next((p for p in problems if p), None)


@dataclass
class SegmindHosts:
    """The three fakes together; ``env`` maps the provider's base-URL variables to them."""

    api: SegmindFake
    storage: StorageFake
    files: FileHost

    @property
    def env(self) -> dict[str, str]:
        return {"AUDIOFLOW_SEGMIND_URL": self.api.url, "AUDIOFLOW_SEGMIND_STORAGE_URL": self.storage.url}

    def all_requests(self) -> list[RecordedRequest]:
        return [*self.api.requests, *self.storage.requests, *self.files.requests]


@contextmanager
def segmind_hosts() -> Iterator[SegmindHosts]:
    """Start the file host, the storage and the API fakes; stop them on exit."""
    with FileHost() as files, StorageFake(files) as storage, SegmindFake(files) as api:
        yield SegmindHosts(api, storage, files)


@contextmanager
def segmind_in_env(monkeypatch: Any, **options: float) -> Iterator[SegmindHosts]:
    """:func:`segmind_hosts` with this process's environment pointing at them (their URLs and
    :data:`KEY` as ``SEGMIND_API_KEY``, through ``monkeypatch``) and the API fake's ``options``
    (``queued_polls``, ``processing_polls``, ``reset_in_s``) set."""
    with segmind_hosts() as hosts:
        for name, value in hosts.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SEGMIND_API_KEY", KEY)
        for name, value in options.items():
            if not hasattr(hosts.api.opt, name):
                raise TypeError(f"the Segmind fake has no option {name!r}")
            setattr(hosts.api.opt, name, value)
        yield hosts
