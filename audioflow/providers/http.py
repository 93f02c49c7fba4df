"""The HTTP client every remote host uses: it retries the way the hosts ask, keeps keys out of every
message, and sends credentials only to the host that owns them. (The paid-job protocol on top of it,
submit → journal → poll → resume, is :mod:`.jobs`.)

Retry policy (one place, used by every adapter):

* 429, 500, 502, 503 and 504 are retried with exponential backoff and full jitter
  (``min(cap, base · 2^attempt) · U(0, 1)``, "Exponential Backoff And Jitter", AWS Architecture
  Blog 2015), waiting at least what the host asks: ``Retry-After`` (RFC 9110 §10.2.3: seconds or an
  HTTP date) or Segmind's ``x-rate-limit-reset-at-utc`` (a UTC time: ISO 8601 or epoch seconds —
  the format is UNCONFIRMED, both are accepted). fal's ``X-Fal-Retryable: false`` stops retries.
* Connection failures before the request was sent (``ConnectError``, ``ConnectTimeout``) are
  retried for every call. Other transport failures (a read timeout, a dropped connection) are
  retried only for calls marked ``idempotent``: a submit is not, since the host may have created
  (and will bill) the request without our seeing its id.
* Any other status is a :class:`ProviderError` carrying the HTTP status, the request id when
  known and the vendor's message (extracted by the adapter's ``error_message``), never the key.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import ProviderError, scrub

__all__ = [
    "RETRYABLE_STATUSES",
    "HttpClient",
    "Sleep",
    "backoff_s",
    "env_url",
    "origin_of",
    "read_key",
    "server_wait_s",
]

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
#: The longest a host's own "retry after" is honoured; beyond it the call fails (a daily quota, say).
MAX_SERVER_WAIT_S = 300.0
#: Redirects followed for one call (httpx's own default is 20; the hosts document none).
MAX_REDIRECTS = 5
#: The largest body (decoded) read from a host: a hostile or broken host that streams without end, or
#: a compression bomb, fails the call instead of filling memory. A 120 s Seed Audio take as 48 kHz
#: stereo float WAV is 46 MB; an isolate of a 10-minute recording about 230 MB.
MAX_BODY_BYTES = 512 * 1024 * 1024
#: The longest result audio decoded (``decode_bytes(max_ms=...)``): a Seed Audio take is at most 120 s,
#: an isolated stem as long as the recording sent; a longer answer (compressed silence decodes to
#: hours of float32) fails the step instead of filling memory.
MAX_RESULT_MS = 3_600_000.0

Sleep = Callable[[float], Awaitable[None]]


def env_url(name: str, default: str) -> str:
    """A base URL from environment variable ``name`` (tests and proxies set these), else ``default``;
    without a trailing slash."""
    return (os.environ.get(name) or default).rstrip("/")


#: What an API key may contain: visible ASCII (RFC 9110 §5.5 field-vchar, without spaces). A key
#: with control characters, spaces or non-ASCII would be refused by httpx as a header value with
#: the key quoted in the message, or smuggle a second header: it is refused before any use.
_KEY_CHARS = re.compile(r"^[\x21-\x7e]{4,4096}$")


def read_key(provider: str, env_name: str) -> str:
    """The API key in ``$env_name`` (surrounding whitespace ignored).

    Raises :class:`ProviderError` naming the variable — never quoting the value — when it is unset,
    or malformed (control characters, inner spaces, non-ASCII, shorter than 4 characters)."""
    key = os.environ.get(env_name, "").strip()
    if not key:
        raise ProviderError(provider, f"no API key: set {env_name} (draft offline with --provider local)")
    if not _KEY_CHARS.match(key):
        raise ProviderError(
            provider,
            f"{env_name} is malformed: an API key is 4 or more visible ASCII characters, without spaces or "
            "control characters; it was not sent anywhere (copy it again from the vendor's dashboard)",
        )
    return key


def origin_of(url: str) -> tuple[str, str, int | None]:
    """The origin of ``url`` (RFC 6454: scheme, host, port), lower-cased, default ports filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def backoff_s(attempt: int, *, base_s: float = BACKOFF_BASE_S, cap_s: float = BACKOFF_CAP_S) -> float:
    """Full-jitter exponential backoff for retry ``attempt`` (0-based), in seconds."""
    return random.uniform(0.0, min(cap_s, base_s * (2.0**attempt)))


def server_wait_s(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """How long the host asks us to wait, from ``Retry-After`` or ``x-rate-limit-reset-at-utc``,
    in seconds (None when it does not say, or says something unreadable)."""
    now = time.time() if now is None else now
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
                return max(0.0, when.timestamp() - now)
            except (TypeError, ValueError):
                pass
    value = headers.get("x-rate-limit-reset-at-utc")
    if value:
        value = value.strip()
        try:
            number = float(value)
            stamp = number / 1000.0 if number > 1e11 else number  # epoch milliseconds or seconds
            return max(0.0, stamp - now)
        except ValueError:
            try:
                when_dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
                if when_dt.tzinfo is None:
                    when_dt = when_dt.replace(tzinfo=UTC)
                return max(0.0, when_dt.timestamp() - now)
            except ValueError:
                return None
    return None


def _default_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            if key in body:
                value = body[key]
                if isinstance(value, dict):
                    return str(value.get("message") or value)
                return str(value)
    return str(body)[:300]


_SSL_CONTEXTS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}


def _ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CAs, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), built
    once per process: building one loads the CA bundle, ~50 ms of the event loop per request."""
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    if key not in _SSL_CONTEXTS:
        _SSL_CONTEXTS[key] = httpx.create_ssl_context()
    return _SSL_CONTEXTS[key]


class HttpClient:
    """An ``httpx.AsyncClient`` with the retry policy above, for one provider.

    ``auth_headers`` go only to URLs on the origins (scheme, host, port) of the base URLs in
    ``auth_hosts``: a result file on a CDN never sees the key, and neither does an ``http://``
    URL on an ``https://`` host. Redirects are followed here, not by httpx (at most
    :data:`MAX_REDIRECTS`): each hop's headers are decided afresh for its own URL, so a redirect
    to another origin carries no credentials (httpx itself drops only ``Authorization``, not
    Segmind's ``x-api-key``). ``error_message(response)`` extracts the vendor's message from an error body.
    ``sleep`` is injectable so tests run without waiting. Raises :class:`ProviderError`.
    """

    def __init__(
        self,
        provider: str,
        *,
        auth_headers: dict[str, str],
        auth_hosts: Iterable[str],
        secrets: Iterable[str],
        retries: int = 6,
        timeout_s: float = 60.0,
        error_message: Callable[[httpx.Response], str] = _default_message,
        sleep: Sleep = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.provider = provider
        self._auth_headers = dict(auth_headers)
        self._auth_origins = {origin_of(url) for url in auth_hosts}
        self._secrets = [s for s in secrets if s]
        self.retries = retries
        self._error_message = error_message
        self._sleep = sleep
        self._client = httpx.AsyncClient(
            timeout=timeout_s, transport=transport, follow_redirects=False, verify=_ssl_context()
        )
        self.retried = 0  # how many retries this client made (tests and notes read it)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _headers(self, url: str, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if origin_of(url) in self._auth_origins:
            headers.update(self._auth_headers)
        return headers

    async def _send(self, method: str, url: str, extra: dict[str, str] | None, **kwargs: Any) -> httpx.Response:
        """One request, following up to :data:`MAX_REDIRECTS` redirects (RFC 9110 §15.4: 303, and
        301/302 after a POST, become GET without a body; 307/308 keep both), with credentials
        decided for each hop's own origin."""
        for _ in range(MAX_REDIRECTS + 1):
            request = self._client.build_request(method, url, headers=self._headers(url, extra), **kwargs)
            response = await self._client.send(request, stream=True)
            if not (response.is_redirect and response.headers.get("location")):
                return await self._read_capped(response)
            await response.aclose()
            url = str(response.url.join(response.headers["location"]))
            if not url.startswith(("http://", "https://")):
                raise self.error(f"{method}: the host redirected to a non-http URL; not followed")
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method = "GET"
                kwargs = {k: v for k, v in kwargs.items() if k not in ("json", "content", "data", "files")}
        raise self.error(f"{method} {urlsplit(url).netloc}: more than {MAX_REDIRECTS} redirects")

    async def _read_capped(self, response: httpx.Response) -> httpx.Response:
        """``response`` with its body read, at most :data:`MAX_BODY_BYTES` once decoded (a
        ProviderError past that; the connection is closed)."""
        limit_mb = f"{MAX_BODY_BYTES / (1024 * 1024):g}"
        host = response.url.netloc.decode("ascii", "replace")
        too_big = f"{response.request.method} {host}: the answer is over {limit_mb} MiB; not read"
        chunks, total = [], 0
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES and not response.headers.get("content-encoding"):
                raise self.error(too_big, status=response.status_code)
            async for chunk in response.aiter_bytes():
                total += len(chunk)
                if total > MAX_BODY_BYTES:
                    raise self.error(too_big, status=response.status_code)
                chunks.append(chunk)
        finally:
            await response.aclose()
        headers = [(k, v) for k, v in response.headers.multi_items() if k not in ("content-encoding", "content-length")]
        return httpx.Response(response.status_code, headers=headers, content=b"".join(chunks), request=response.request)

    def error(
        self, message: str, *, status: int | None = None, request_id: str | None = None, retryable: bool = False
    ) -> ProviderError:
        """A :class:`ProviderError` for this provider with every secret scrubbed from ``message``."""
        return ProviderError(
            self.provider, scrub(message, self._secrets), status=status, request_id=request_id, retryable=retryable
        )

    def message_of(self, response: httpx.Response) -> str:
        """The vendor's message in an error ``response`` (scrubbed)."""
        try:
            text = self._error_message(response)
        except Exception:  # a body that is not what the vendor documents: fall back to the raw text
            text = response.text[:300]
        return scrub(text or response.reason_phrase or "no message", self._secrets)

    async def request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool = True,
        request_id: str | None = None,
        ok: Iterable[int] = (),
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request, retrying per the module's policy. A 2xx response, or one whose status is
        in ``ok`` (Segmind's 422 FAILED, say), is returned; anything else raises ProviderError."""
        accepted = set(ok)
        extra = kwargs.pop("headers", None)
        attempt = 0
        failure: Exception
        while True:
            try:
                response = await self._send(method, url, extra, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                failure, retry_ok = exc, True
            except httpx.TransportError as exc:
                failure, retry_ok = exc, idempotent
            else:
                if response.is_success or response.status_code in accepted:
                    return response
                status = response.status_code
                retryable = status in RETRYABLE_STATUSES and response.headers.get("x-fal-retryable", "") != "false"
                if not retryable or attempt >= self.retries:
                    raise self.error(
                        self.message_of(response), status=status, request_id=request_id, retryable=retryable
                    )
                wait = max(server_wait_s(response.headers) or 0.0, backoff_s(attempt))
                if wait > MAX_SERVER_WAIT_S:
                    raise self.error(
                        f"{self.message_of(response)} (the host asks to wait {wait:.0f} s)",
                        status=status,
                        request_id=request_id,
                        retryable=True,
                    )
                attempt += 1
                self.retried += 1
                await self._sleep(wait)
                continue
            if not retry_ok or attempt >= self.retries:
                what = type(failure).__name__
                note = (
                    ""
                    if retry_ok
                    else (
                        " (not retried: the host may have accepted and billed it before the connection failed;"
                        " check the vendor's dashboard before rerunning)"
                    )
                )
                raise self.error(f"{method} {urlsplit(url).netloc}: {what}: {failure}{note}", request_id=request_id)
            attempt += 1
            self.retried += 1
            await self._sleep(backoff_s(attempt))

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """:meth:`request`, then the body as JSON (ProviderError when it is not JSON)."""
        response = await self.request(method, url, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise self.error(
                f"{method} {urlsplit(url).path}: expected JSON, got {response.headers.get('content-type')!r}",
                status=response.status_code,
                request_id=kwargs.get("request_id"),
            ) from exc

    async def download(self, url: str, *, request_id: str | None = None) -> tuple[bytes, str]:
        """The bytes at ``url`` and their content type (GET, retried: downloads are idempotent)."""
        if not url.startswith(("http://", "https://")):
            raise self.error(f"the result is not a downloadable URL: {url[:80]!r}", request_id=request_id)
        response = await self.request("GET", url, request_id=request_id)
        return response.content, response.headers.get("content-type", "")
