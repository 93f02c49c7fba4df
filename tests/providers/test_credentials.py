"""Keys never leave their host (issue 7, item 2): credentials go only to their own origin, a
redirect to another origin carries none, a malformed key is refused without being quoted, and no
output path of the CLI can show a key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes.base import RecordedRequest, Response
from fakes.segmind import KEY, SegmindHosts, segmind_in_env
from payloads import make_request, render_request

from audioflow.cli import cli
from audioflow.errors import ProviderError, scrub
from audioflow.providers.base import ProviderSettings, RenderRequest
from audioflow.providers.http import HttpClient, origin_of, read_key
from audioflow.providers.segmind import SegmindProvider

SUBMIT = r"^/v2/[^/]+$"
NADIA = "en_female_nadia_uranus_bigtts"


@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> Iterator[SegmindHosts]:
    with segmind_in_env(monkeypatch) as started:
        yield started


async def _no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


def _speak() -> RenderRequest:
    voice = {"name": "mara", "cast_index": 0, "preset": {"segmind": NADIA}, "speed": 1.0, "volume": 1.0}
    voice |= {"pitch_semitones": 0.0, "gain_db": 0.0, "clone": None}
    return make_request("line1", "speak", {"text": "Hello.", "direction": None, "voice": voice, "image": None})


def _render() -> None:
    provider = SegmindProvider(ProviderSettings(poll_interval_s=0.01, timeout_s=30.0), sleep=_no_wait)
    asyncio.run(render_request(provider, _speak()))


def _redirect_once(to: str) -> object:
    fired: list[bool] = []

    def fault(req: RecordedRequest) -> Response | None:
        if req.method == "POST" and req.path.startswith("/v2/") and not fired:
            fired.append(True)
            return Response(307, b"", {"location": to})
        return None

    return fault


def test_a_redirect_to_another_origin_carries_no_key(hosts: SegmindHosts) -> None:
    hosts.api.add_fault(_redirect_once(hosts.files.url + "/collect"))  # type: ignore[arg-type]
    with pytest.raises(ProviderError):
        _render()  # the other origin answers 404: the submit fails, which is the point
    (stolen,) = hosts.files.requests
    assert stolen.path == "/collect" and stolen.method == "POST"
    assert "x-api-key" not in stolen.headers and "authorization" not in stolen.headers
    assert KEY not in json.dumps(stolen.headers)


def test_a_redirect_within_the_origin_keeps_the_key(hosts: SegmindHosts) -> None:
    hosts.api.add_fault(_redirect_once(hosts.api.url + "/v2/seed-audio-1.0"))  # type: ignore[arg-type]
    _render()
    posts = hosts.api.calls("POST", SUBMIT)
    assert len(posts) == 2 and posts[1].headers["x-api-key"] == KEY


def test_an_http_url_on_the_https_host_gets_no_key() -> None:
    client = HttpClient("x", auth_headers={"k": "v"}, auth_hosts=["https://api.example.com"], secrets=["v"])
    assert client._headers("https://api.example.com/v2/a", None) == {"k": "v"}
    assert client._headers("https://API.example.com:443/v2/a", None) == {"k": "v"}
    assert client._headers("http://api.example.com/v2/a", None) == {}
    assert client._headers("https://api.example.com:8443/v2/a", None) == {}
    assert client._headers("https://api.example.com.evil.test/", None) == {}
    assert origin_of("HTTPS://Api.Example.com/x") == ("https", "api.example.com", 443)
    asyncio.run(client.aclose())


@pytest.mark.parametrize("bad", ["abc\x01defghij", "abc\ndef: x", "sk live key", "ключ-ключ-ключ", "abc"])
def test_a_malformed_key_is_refused_without_quoting_it(
    hosts: SegmindHosts, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("SEGMIND_API_KEY", bad)
    with pytest.raises(ProviderError) as caught:
        read_key("segmind", "SEGMIND_API_KEY")
    message = str(caught.value)
    assert "SEGMIND_API_KEY is malformed" in message or "SEGMIND_API_KEY" in message
    assert bad not in message
    with pytest.raises(ProviderError):
        _render()
    assert hosts.api.requests == [] and hosts.storage.requests == []


def test_scrub_finds_a_key_written_escaped() -> None:
    key = "sk-\x01live\nSECRET"
    for shown in (repr(key), repr(key.encode()), json.dumps(key), key):
        assert "SECRET" not in scrub(f"Illegal header value {shown}", [key])


def test_scrub_finds_a_key_a_host_echoes_percent_encoded() -> None:
    key = "0f1e2d3c-key-id:9a8b7cSECRET/+="  # fal keys are key_id:secret
    for shown in ("0f1e2d3c-key-id%3A9a8b7cSECRET%2F%2B%3D", "0f1e2d3c-key-id%3a9a8b7cSECRET%2f%2b%3d"):
        assert "SECRET" not in scrub(f"401: invalid credentials in GET /x?key={shown}", [key])


RECIPE = """\
audioflow: 1
provider: segmind
cast:
  mara: {preset: {segmind: en_female_nadia_uranus_bigtts}}
steps:
  hello: {speak: Hello there., voice: mara}
mix:
  - {track: hello}
"""


def test_the_cli_never_prints_a_key_even_in_json_or_recipe_errors(
    hosts: SegmindHosts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-live-\x01SECRET-0123456789"
    monkeypatch.setenv("SEGMIND_API_KEY", key)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["run", str(recipe), "--json"])
    assert result.exit_code == 1
    assert "SECRET" not in result.output and "SECRET" not in result.stderr
    assert "SEGMIND_API_KEY is malformed" in result.output + result.stderr
    assert hosts.api.requests == []

    monkeypatch.setenv("FAL_KEY", "fal-SECRET-abcdef")
    recipe.write_text(RECIPE.replace("{track: hello}", "{track: fal-SECRET-abcdef}"), encoding="utf-8")
    result = runner.invoke(cli, ["validate", str(recipe)])
    assert result.exit_code == 2 and "unknown step '***'" in result.stderr
