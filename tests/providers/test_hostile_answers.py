"""A hostile or broken host cannot fill memory: every answer is read to at most
``MAX_BODY_BYTES`` once decoded, whether it declares its length, lies about it, or is a compression
bomb; past that the call fails with a ProviderError, and the connection is closed. A result whose
audio says it lasts longer than ``MAX_RESULT_MS`` (compressed silence decodes to hours of float32)
fails the step undecoded."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator

import pytest
from fakes.base import FakeServer, RecordedRequest, Response
from fakes.fal import FakeFal
from fakes.fal import fake_fal as fake_fal  # a fixture
from payloads import make_request, render_request

from audioflow.audio import Audio, decode_bytes, encode
from audioflow.errors import AudioError, ProviderError
from audioflow.providers import fal, http
from audioflow.providers.base import ProviderSettings
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


def test_decode_bytes_refuses_audio_longer_than_asked_before_decoding_it() -> None:
    import numpy as np

    flac = encode(Audio(np.zeros((48_000 * 6, 2), dtype=np.float32), 48_000), "flac")  # 6 s of silence
    assert decode_bytes(flac, "flac", max_ms=6_000.0).duration_ms == 6_000.0
    with pytest.raises(AudioError, match=r"^it lasts 6 s, over the 2 s audioflow takes$"):
        decode_bytes(flac, "flac", max_ms=2_000.0)


def test_a_fal_result_longer_than_the_cap_fails_the_step(fake_fal: FakeFal, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fal, "MAX_RESULT_MS", 2_000.0)
    fake_fal.audio_seconds = 3.0
    voice = {"name": "n", "cast_index": 0, "preset": {"fal": "cedric_en_zh"}, "speed": 1.0, "volume": 1.0}
    voice |= {"pitch_semitones": 0.0, "gain_db": 0.0, "clone": None}
    request = make_request("line1", "speak", {"text": "Hi.", "direction": None, "voice": voice, "image": None})
    provider = fal.FalProvider(ProviderSettings(poll_interval_s=0.001, timeout_s=30.0))
    with pytest.raises(ProviderError) as info:
        asyncio.run(render_request(provider, request))
    assert "the result audio (wav) cannot be decoded: it lasts 3 s, over the 2 s audioflow takes" in str(info.value)
