"""A hostile or broken host cannot fill memory: every answer is read to at most
``MAX_BODY_BYTES`` once decoded, whether it declares its length, lies about it, or is a compression
bomb; past that the call fails with a ProviderError, and the connection is closed."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator

import pytest
from fakes.base import FakeServer, RecordedRequest, Response

from audioflow.errors import ProviderError
from audioflow.providers import http
from audioflow.providers.http import HttpClient

LIMIT = 64 * 1024


class Flood(FakeServer):
    """``/big``: LIMIT + 1 plain bytes; ``/bomb``: 1 KB of gzip that inflates to 10 × LIMIT;
    ``/fits``: exactly LIMIT bytes."""

    def handle(self, req: RecordedRequest) -> Response:
        if req.path == "/big":
            return Response.raw(b"x" * (LIMIT + 1), "audio/wav")
        if req.path == "/bomb":
            return Response.raw(gzip.compress(b"\0" * (10 * LIMIT)), "audio/wav", headers={"content-encoding": "gzip"})
        return Response.raw(b"y" * LIMIT, "audio/wav")


@pytest.fixture
def flood(monkeypatch: pytest.MonkeyPatch) -> Iterator[Flood]:
    monkeypatch.setattr(http, "MAX_BODY_BYTES", LIMIT)
    with Flood() as server:
        yield server


def _download(url: str) -> tuple[bytes, str]:
    async def go() -> tuple[bytes, str]:
        client = HttpClient("fal", auth_headers={}, auth_hosts=[], secrets=[], retries=0)
        try:
            return await client.download(url)
        finally:
            await client.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("path", ["/big", "/bomb"])
def test_an_answer_over_the_cap_fails_the_call_instead_of_filling_memory(flood: Flood, path: str) -> None:
    with pytest.raises(ProviderError) as info:
        _download(f"{flood.url}{path}")
    assert str(info.value) == f"fal HTTP 200: GET {flood.netloc}: the answer is over 0.0625 MiB; not read"
    assert not info.value.retryable


def test_an_answer_at_the_cap_is_read_whole(flood: Flood) -> None:
    data, content_type = _download(f"{flood.url}/fits")
    assert (data, content_type) == (b"y" * LIMIT, "audio/wav")
