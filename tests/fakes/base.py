"""Shared plumbing for the fake hosts: an HTTP server on 127.0.0.1 in a background thread that
records every request, injects faults from a plan, and answers through a subclass's ``handle``.

A fake host subclasses :class:`FakeServer` and overrides :meth:`FakeServer.handle` (and, for
host-shaped errors, :meth:`FakeServer.error_response`)::

    class MyFake(FakeServer):
        def handle(self, req: RecordedRequest) -> Response:
            if req.method == "POST" and req.path == "/submit":
                return Response.json({"id": "r1"})
            return self.error_response(404, req)

    with MyFake() as fake:
        fake.fail_every(3, (429, 503), paths=[r"^/submit$"])  # every 3rd submit fails first
        ...  # point a client at fake.url
        assert fake.count("POST", "/submit", status=200) == 12

Stdlib only (``http.server``) plus numpy for :func:`wav_bytes`; no new dependencies.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import wave
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import numpy as np

__all__ = [
    "FakeServer",
    "Fault",
    "FaultPlan",
    "RecordedRequest",
    "Response",
    "max_overlap",
    "wav_bytes",
]


@dataclass
class RecordedRequest:
    """One request as the fake saw it. ``headers`` has lower-case names; ``json`` is the parsed
    body (None when empty or not JSON); times are ``time.monotonic()`` seconds; ``in_flight`` is
    how many requests this server was handling when this one arrived (itself included);
    ``status`` is the status answered (None when the connection was dropped); ``fault`` is True
    when a fault plan answered instead of the host logic; ``client_port`` is the sender's TCP port
    (which process sent it, through psutil's connections)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any
    t_start: float
    t_end: float | None = None
    in_flight: int = 1
    status: int | None = None
    fault: bool = False
    server: str = ""
    client_port: int = 0

    @property
    def url_path(self) -> str:
        """The path (no query)."""
        return self.path


@dataclass
class Response:
    """What the fake answers: ``status``, raw ``body`` bytes, ``headers``; ``delay_s`` sleeps before
    answering (a slow host); ``drop`` closes the connection without answering (a transport error
    after the request was sent)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: dict[str, str] | None = None, delay_s: float = 0.0
    ) -> Response:
        """A JSON response (``content-type: application/json``)."""
        merged = {"content-type": "application/json", **(headers or {})}
        return cls(status, json.dumps(data).encode(), merged, delay_s)

    @classmethod
    def raw(cls, data: bytes, content_type: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        """Raw bytes with a content type (audio files, say)."""
        return cls(status, data, {"content-type": content_type, **(headers or {})})

    #: The first name of :meth:`raw` (the fal and Evolink fakes may use it).
    bytes = raw

    @classmethod
    def dropped(cls) -> Response:
        """Close the connection without an answer."""
        return cls(status=0, drop=True)


#: A fault: given the request, a Response to answer instead of the host logic, or None to pass.
Fault = Callable[[RecordedRequest], "Response | None"]


def _matcher(paths: Iterable[str] | None, methods: Iterable[str] | None) -> Callable[[RecordedRequest], bool]:
    patterns = [re.compile(p) for p in (paths or ())]
    wanted = {m.upper() for m in (methods or ())}

    def matches(req: RecordedRequest) -> bool:
        if wanted and req.method not in wanted:
            return False
        return not patterns or any(p.search(req.path) for p in patterns)

    return matches


class FaultPlan:
    """Answer every ``n``-th matching request (the n-th, 2n-th, …) with the next of ``responses``
    (cycled), at most ``times`` times (None: no limit). ``hits`` counts matching requests, ``fired``
    the faults answered. ``responses`` items are Responses or factories ``(req) -> Response``."""

    def __init__(
        self,
        n: int,
        responses: Sequence[Response | Callable[[RecordedRequest], Response]],
        match: Callable[[RecordedRequest], bool],
        times: int | None = None,
    ):
        if n < 1 or not responses:
            raise ValueError("n must be >= 1 and responses non-empty")
        self.n, self.responses, self.match, self.times = n, list(responses), match, times
        self.hits = 0
        self.fired = 0
        self._lock = threading.Lock()

    def __call__(self, req: RecordedRequest) -> Response | None:
        with self._lock:
            if not self.match(req):
                return None
            self.hits += 1
            if self.hits % self.n or (self.times is not None and self.fired >= self.times):
                return None
            chosen = self.responses[self.fired % len(self.responses)]
            self.fired += 1
        return chosen(req) if callable(chosen) else chosen


class _Server(ThreadingHTTPServer):
    """socketserver's listen backlog is 5: a burst of new connections (a cluster's workers opening
    their pools at once, on a loaded machine whose accept loop waits for the GIL) overflowed it, and a
    client saw its request fail as a read error. A host's backlog is far larger (Linux's default
    ``somaxconn`` is 4096)."""

    request_queue_size = 1024
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid the 40 ms delayed-ACK stall
    fake: FakeServer  # set on the per-server subclass

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        self.fake._dispatch(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class FakeServer:
    """A fake host on ``127.0.0.1`` at a random port, served from a daemon thread.

    * ``requests``: every :class:`RecordedRequest`, in arrival order.
    * ``faults``: callables tried in order before :meth:`handle`; the first Response wins
      (see :meth:`fail_every`, :meth:`slow`, :meth:`add_fault`).
    * ``delay_s``: a delay added to every answer (seconds).
    * Use as a context manager, or :meth:`start` / :meth:`stop`.
    """

    name = "fake"

    def __init__(self, *, delay_s: float = 0.0):
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.delay_s = delay_s
        self.lock = threading.RLock()
        self.in_flight = 0
        self.max_in_flight = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Self:
        handler = type(f"{type(self).__name__}Handler", (_Handler,), {"fake": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- host logic (override) -----------------------------------------------------------------
    def handle(self, req: RecordedRequest) -> Response:
        """The host's answer to ``req``. Subclasses override; the base answers 404."""
        return self.error_response(404, req)

    def error_response(self, status: int, req: RecordedRequest | None = None) -> Response:
        """A host-shaped error for ``status`` (used by fault plans). Subclasses override to add the
        host's body shape and headers (a rate-limit header on 429, say)."""
        return Response.json({"error": f"fake error {status}"}, status)

    # -- faults --------------------------------------------------------------------------------
    def add_fault(self, fault: Fault) -> Fault:
        """Try ``fault`` before the host logic on every request; returns it (for ``remove_fault``)."""
        with self.lock:
            self.faults.append(fault)
        return fault

    def remove_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.remove(fault)

    def fail_every(
        self,
        n: int,
        statuses: int | Sequence[int | Response] = 503,
        *,
        paths: Iterable[str] | None = None,
        methods: Iterable[str] | None = None,
        times: int | None = None,
    ) -> FaultPlan:
        """Answer every ``n``-th request matching ``paths`` (regexes searched in the path) and
        ``methods`` with the next of ``statuses`` (cycled) before doing anything else. An int status
        becomes :meth:`error_response` (the host's shape, with e.g. its rate-limit header)."""
        items = [statuses] if isinstance(statuses, int) else list(statuses)
        responses: list[Response | Callable[[RecordedRequest], Response]] = [
            s if isinstance(s, Response) else self._error_factory(s) for s in items
        ]
        plan = FaultPlan(n, responses, _matcher(paths, methods), times)
        self.add_fault(plan)
        return plan

    def _error_factory(self, status: int) -> Callable[[RecordedRequest], Response]:
        def make(req: RecordedRequest) -> Response:
            return self.error_response(status, req)

        return make

    def slow(
        self, delay_s: float, *, paths: Iterable[str] | None = None, methods: Iterable[str] | None = None
    ) -> Fault:
        """Delay every matching request by ``delay_s`` seconds, then answer normally."""
        match = _matcher(paths, methods)

        def fault(req: RecordedRequest) -> Response | None:
            if match(req):
                time.sleep(delay_s)
            return None

        return self.add_fault(fault)

    # -- queries -------------------------------------------------------------------------------
    def calls(
        self, method: str | None = None, path: str | None = None, *, status: int | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests with this method, whose path matches regex ``path``, answered ``status``."""
        with self.lock:
            found = list(self.requests)
        return [
            r
            for r in found
            if (method is None or r.method == method.upper())
            and (path is None or re.search(path, r.path))
            and (status is None or r.status == status)
        ]

    def count(self, method: str | None = None, path: str | None = None, *, status: int | None = None) -> int:
        return len(self.calls(method, path, status=status))

    def reset(self) -> None:
        """Forget recorded requests and faults."""
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.max_in_flight = 0

    # -- plumbing ------------------------------------------------------------------------------
    def _record(self, h: BaseHTTPRequestHandler) -> RecordedRequest:
        length = int(h.headers.get("content-length") or 0)
        body = h.rfile.read(length) if length else b""
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        split = urlsplit(h.path)
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            req = RecordedRequest(
                method=h.command,
                path=split.path,
                query=parse_qs(split.query),
                headers={k.lower(): v for k, v in h.headers.items()},
                body=body,
                json=parsed,
                t_start=time.monotonic(),
                in_flight=self.in_flight,
                server=self.name,
                client_port=int(h.client_address[1]),
            )
            self.requests.append(req)
        return req

    def _answer(self, req: RecordedRequest) -> Response:
        with self.lock:
            faults = list(self.faults)
        for fault in faults:
            response = fault(req)
            if response is not None:
                req.fault = True
                return response
        try:
            return self.handle(req)
        except Exception as exc:  # a bug in the fake: answer 500 with the reason so the test shows it
            return Response.json({"error": f"fake crashed: {type(exc).__name__}: {exc}"}, 500)

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        req = self._record(h)
        try:
            response = self._answer(req)
            if self.delay_s or response.delay_s:
                time.sleep(self.delay_s + response.delay_s)
            if response.drop:
                h.close_connection = True
                return
            req.status = response.status
            h.send_response(response.status)
            for name, value in response.headers.items():
                h.send_header(name, value)
            h.send_header("content-length", str(len(response.body)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(response.body)
        finally:
            with self.lock:
                self.in_flight -= 1
                req.t_end = time.monotonic()


def max_overlap(requests: Iterable[RecordedRequest]) -> int:
    """The most of ``requests`` that were in flight at the same moment (from t_start/t_end)."""
    events: list[tuple[float, int]] = []
    for r in requests:
        events.append((r.t_start, 1))
        events.append((r.t_end if r.t_end is not None else float("inf"), -1))
    best = current = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        current += delta
        best = max(best, current)
    return best


def wav_bytes(
    seconds: float, rate_hz: int = 24000, *, freq_hz: float = 440.0, amplitude: float = 0.3, channels: int = 1
) -> bytes:
    """A 16-bit PCM WAV of a sine at ``freq_hz`` lasting ``seconds`` at ``rate_hz`` (made in code)."""
    frames = max(0, round(seconds * rate_hz))
    t = np.arange(frames) / rate_hz
    mono = (amplitude * np.sin(2 * np.pi * freq_hz * t) * 32767).astype("<i2")
    samples = np.repeat(mono[:, None], channels, axis=1) if channels > 1 else mono
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(samples.tobytes())
    return out.getvalue()
