"""A fake Evolink speaking the Seed Audio task protocol (``shared/PROVIDERS.md`` "Evolink", the vendor
page vendored as ``evolink_seed_audio_openapi.yaml`` beside this file).

* ``POST /v1/audios/generations`` checks ``Authorization: Bearer <key>`` (anything else: 401 with the
  page's ErrorResponse), validates the body against the page's ``SeedAudioRequest`` schema (400
  ``invalid_request_error`` otherwise, and when both ``audio_references`` and ``image_urls`` are
  given), and creates a task ``{"id": "task-unified-…", "status": "pending", ...}``.
* ``GET /v1/tasks/{id}`` moves a task pending → processing → completed over successive polls
  (``pending_polls`` / ``processing_polls``), then carries ``results: [<url>]`` (or
  ``result_data[].audio_url`` with ``result_shape="result_data"``), or fails with
  ``error: {code, message}`` when ``fail_when(body)`` says so (``failure_shape`` picks the UNCONFIRMED
  alternatives). An unknown or forgotten id answers 404 with the ErrorResponse shape (assumed).
* Result files (a sine WAV of ``audio_s`` seconds at the asked sample rate, or ``audio_bytes``) are
  served by a SECOND server (``fake.files``: another port, like a CDN) that needs no key, so tests can
  assert the key never reaches it. ``expire_files()`` makes the links answer 404 (links last 24 h).
* Fault plans and slow answers come from :class:`~fakes.base.FakeServer`; its ``error_response``
  here has the page's ErrorResponse bodies and a ``Retry-After`` on 429 (UNCONFIRMED at Evolink).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import jsonschema
import pytest
import referencing
import referencing.jsonschema
import yaml

from .base import FakeServer, RecordedRequest, Response, wav_bytes

__all__ = [
    "API_KEY",
    "OPENAPI_PATH",
    "EvolinkFake",
    "EvolinkFiles",
    "FakeTask",
    "evolink_fake",
    "request_fields",
    "seed_audio_request_validator",
]

OPENAPI_PATH = Path(__file__).with_name("evolink_seed_audio_openapi.yaml")
API_KEY = "sk-evolink-test-0123456789abcdef"
SUBMIT_PATH = "/v1/audios/generations"
TASK_PATH = re.compile(r"^/v1/tasks/(?P<id>[^/]+)$")
#: The page's ErrorResponse examples, by status: (code, message, type).
ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("invalid_request", "Invalid request parameters", "invalid_request_error"),
    401: ("unauthorized", "Invalid or expired token", "authentication_error"),
    402: ("insufficient_quota", "Insufficient quota. Please top up your account.", "insufficient_quota"),
    403: ("model_access_denied", "Token does not have access to model: doubao-seed-audio-1-0", "invalid_request_error"),
    404: ("task_not_found", "Task not found", "invalid_request_error"),
    429: ("rate_limit_exceeded", "Too many requests, please try again later", "rate_limit_error"),
    500: ("internal_error", "Internal server error", "api_error"),
    503: ("service_unavailable", "Service temporarily unavailable", "api_error"),
}


# -- the vendor's schema ---------------------------------------------------------------------------
def _openapi() -> dict[str, Any]:
    return yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))


def request_fields() -> set[str]:
    """The property names ``SeedAudioRequest`` lists."""
    return set(_openapi()["components"]["schemas"]["SeedAudioRequest"]["properties"])


def _decimal_multiple_of(validator: Any, divisor: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """``multipleOf`` on the decimal value JSON carries (``1.1`` is a multiple of ``0.01``; binary
    floats would say no)."""
    if not validator.is_type(instance, "number"):
        return
    if Decimal(str(instance)) % Decimal(str(divisor)) != 0:
        yield jsonschema.ValidationError(f"{instance!r} is not a multiple of {divisor}")


def _format_checker() -> jsonschema.FormatChecker:
    """jsonschema's format checker; ``uri`` falls back to "absolute, with scheme and host" when the
    optional ``rfc3987`` package is not installed."""
    checker = jsonschema.FormatChecker()
    if "uri" not in checker.checkers:

        @checker.checks("uri")
        def is_uri(value: object) -> bool:
            if not isinstance(value, str):
                return True
            parts = urlsplit(value)
            return bool(parts.scheme and parts.netloc) and not re.search(r"\s", value)

    return checker


def seed_audio_request_validator() -> jsonschema.protocols.Validator:
    """A Draft 2020-12 validator for the page's ``SeedAudioRequest`` (``$ref``s resolved within the
    vendored document), with ``format`` checked and ``multipleOf`` decided on decimals."""
    uri = "urn:evolink:seed-audio-1.0:openapi"
    resource = referencing.Resource.from_contents(_openapi(), default_specification=referencing.jsonschema.DRAFT202012)
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(uri, resource)
    cls = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"multipleOf": _decimal_multiple_of})
    schema = {"$ref": f"{uri}#/components/schemas/SeedAudioRequest"}
    return cls(schema, registry=registry, format_checker=_format_checker())


# -- the fake hosts --------------------------------------------------------------------------------
def error_body(status: int, message: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The page's ErrorResponse ``{"error": {"code", "message", "type"}}`` for ``status``."""
    default_code, default_message, kind = ERRORS.get(status, ("error", f"HTTP {status}", "api_error"))
    return {"error": {"code": code or default_code, "message": message or default_message, "type": kind}}


def _no_nagle(server: FakeServer) -> None:
    """Set TCP_NODELAY on the server's connections (``StreamRequestHandler.disable_nagle_algorithm``):
    http.server writes headers and body separately, and Nagle plus delayed ACKs then add ~40 ms to
    every keep-alive answer. A no-op if the base class stops exposing its server."""
    httpd = getattr(server, "_httpd", None)
    if httpd is not None:
        httpd.RequestHandlerClass.disable_nagle_algorithm = True


class EvolinkFiles(FakeServer):
    """The result-file host (a CDN): serves ``blobs`` by path, no auth; 404 once expired."""

    name = "evolink-files"

    def __init__(self) -> None:
        super().__init__()
        self.blobs: dict[str, bytes] = {}

    def handle(self, req: RecordedRequest) -> Response:
        with self.lock:
            data = self.blobs.get(req.path)
        if req.method != "GET" or data is None:
            return Response(404, b"<Error><Code>NoSuchKey</Code></Error>", {"content-type": "application/xml"})
        return Response.raw(data, "audio/wav")


@dataclass
class FakeTask:
    """One task: the body it was created with, polls answered so far, its file path once done."""

    id: str
    body: dict[str, Any]
    created: int
    polls: int = 0
    file_path: str | None = None


class EvolinkFake(FakeServer):
    """The Evolink API (see the module docs). Knobs: ``api_key``, ``pending_polls``,
    ``processing_polls``, ``audio_s`` / ``audio_bytes``, ``fail_when`` + ``failure`` +
    ``failure_shape`` (``object`` | ``string`` | ``error_message``), ``result_shape`` (``results`` |
    ``result_data``), ``retry_after_s`` (the 429 header; None: no header), ``quota_exhausted``
    (402 on submit), :meth:`forget` / :meth:`forget_all` (404 after expiry)."""

    name = "evolink"

    def __init__(self, *, api_key: str = API_KEY, pending_polls: int = 1, processing_polls: int = 1):
        super().__init__()
        self.api_key = api_key
        self.pending_polls = pending_polls
        self.processing_polls = processing_polls
        self.audio_s = 1.0
        self.audio_bytes: bytes | None = None
        self.fail_when: Callable[[dict[str, Any]], bool] = lambda body: False
        self.failure = ("content_policy_violation", "The prompt was flagged by the content filter")
        self.failure_shape = "object"
        self.result_shape = "results"
        self.retry_after_s: float | None = 1.0
        self.quota_exhausted = False
        self.tasks: dict[str, FakeTask] = {}
        self.forgotten: set[str] = set()
        self.statuses_seen: list[tuple[str, str]] = []  # (task id, status answered), in order
        self.files = EvolinkFiles()
        self._validator = seed_audio_request_validator()
        self._ids = itertools.count(1)
        self._tasks_lock = threading.Lock()

    def start(self) -> Self:
        self.files.start()
        super().start()
        for server in (self, self.files):  # answer without Nagle's delay (40 ms per keep-alive answer)
            _no_nagle(server)
        return self

    def stop(self) -> None:
        super().stop()
        self.files.stop()

    # -- knobs -------------------------------------------------------------------------------------
    def forget(self, task_id: str) -> None:
        """Answer 404 for ``task_id`` from now on (the host's retention expired)."""
        with self._tasks_lock:
            self.forgotten.add(task_id)

    def forget_all(self) -> None:
        with self._tasks_lock:
            self.forgotten.update(self.tasks)

    def expire_files(self) -> None:
        """Make every result link answer 404 (links last 24 h)."""
        with self.files.lock:
            self.files.blobs.clear()

    def submits(self) -> list[RecordedRequest]:
        """The POSTs that created a task (answered 200)."""
        return self.calls("POST", f"^{SUBMIT_PATH}$", status=200)

    # -- protocol ----------------------------------------------------------------------------------
    def error_response(self, status: int, req: RecordedRequest | None = None) -> Response:
        headers = {}
        if status == 429 and self.retry_after_s is not None:
            headers["Retry-After"] = f"{self.retry_after_s:g}"
        return Response.json(error_body(status), status, headers)

    def handle(self, req: RecordedRequest) -> Response:
        if req.headers.get("authorization") != f"Bearer {self.api_key}":
            return self.error_response(401, req)
        if req.method == "POST" and req.path == SUBMIT_PATH:
            return self._submit(req)
        match = TASK_PATH.match(req.path)
        if req.method == "GET" and match:
            return self._status(match["id"])
        return Response.json(error_body(404, f"no route {req.method} {req.path}", "not_found"), 404)

    def _submit(self, req: RecordedRequest) -> Response:
        body = req.json
        if not isinstance(body, dict):
            return Response.json(error_body(400, "the body must be a JSON object"), 400)
        if "prompt" not in body:
            return Response.json(error_body(400, "Missing required parameter: prompt", "missing_text"), 400)
        problems = sorted(self._validator.iter_errors(body), key=lambda e: list(e.path))
        if problems:
            where = "/".join(map(str, problems[0].path)) or "body"
            return Response.json(error_body(400, f"{where}: {problems[0].message}"), 400)
        if body.get("audio_references") and body.get("image_urls"):
            return Response.json(error_body(400, "audio_references and image_urls are mutually exclusive"), 400)
        if self.quota_exhausted:
            return self.error_response(402, req)
        created = int(time.time())
        task = FakeTask(f"task-unified-{created}-{next(self._ids):08x}", body, created)
        with self._tasks_lock:
            self.tasks[task.id] = task
        return Response.json(self._task_json(task, "pending"))

    def _task_json(self, task: FakeTask, status: str) -> dict[str, Any]:
        progress = {"pending": 0, "processing": 50}.get(status, 100)
        return {
            "created": task.created,
            "id": task.id,
            "model": "doubao-seed-audio-1-0",
            "object": "audio.generation.task",
            "progress": progress,
            "status": status,
            "task_info": {"can_cancel": status == "pending", "estimated_time": 15, "audio_type": "audio_generation"},
            "type": "audio",
            "usage": {"credits_reserved": 9.6},
        }

    def _status(self, task_id: str) -> Response:
        with self._tasks_lock:
            task = self.tasks.get(task_id)
            if task is None or task_id in self.forgotten:
                return Response.json(error_body(404, f"Task not found: {task_id}"), 404)
            task.polls += 1
            polls = task.polls
        if polls <= self.pending_polls:
            status = "pending"
        elif polls <= self.pending_polls + self.processing_polls:
            status = "processing"
        else:
            status = "failed" if self.fail_when(task.body) else "completed"
        self.statuses_seen.append((task_id, status))
        data = self._task_json(task, status)
        if status == "failed":
            data.update(self._failure())
        elif status == "completed":
            data.update(self._result(task))
        return Response.json(data)

    def _failure(self) -> dict[str, Any]:
        code, message = self.failure
        if self.failure_shape == "string":
            return {"error": f"{message} ({code})"}
        if self.failure_shape == "error_message":
            return {"error_message": f"{message} ({code})"}
        return {"error": {"code": code, "message": message}}

    def _result(self, task: FakeTask) -> dict[str, Any]:
        if task.file_path is None:
            task.file_path = f"/files/audio/{task.id}.wav"
            data = self.audio_bytes or wav_bytes(self.audio_s, int(task.body.get("sample_rate", 24000)))
            with self.files.lock:
                self.files.blobs[task.file_path] = data
        url = f"{self.files.url}{task.file_path}"
        if self.result_shape == "result_data":
            return {"result_data": [{"audio_url": url}]}
        return {"results": [url]}

    def bodies(self) -> list[dict[str, Any]]:
        """Every JSON body POSTed to the submit path (answered or not)."""
        return [json.loads(r.body) for r in self.calls("POST", f"^{SUBMIT_PATH}$") if r.body]


@pytest.fixture
def evolink_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[EvolinkFake]:
    """A running :class:`EvolinkFake` with ``$AUDIOFLOW_EVOLINK_URL`` and ``$EVOLINK_API_KEY`` set
    for it (so a provider constructed inside the test talks to it)."""
    with EvolinkFake() as fake:
        monkeypatch.setenv("AUDIOFLOW_EVOLINK_URL", fake.url)
        monkeypatch.setenv("EVOLINK_API_KEY", fake.api_key)
        yield fake
