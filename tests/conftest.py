"""Shared fixtures: recipe files in a temporary folder, a fake provider for engine tests, and the
command line run in a temporary folder."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import Result
from hypothesis import HealthCheck, settings

from audioflow.audio import Audio, write_wav
from audioflow.errors import ProviderError
from audioflow.providers import PROVIDERS, Journal, PreparedRequest, RenderRequest, Take
from audioflow.providers.base import local_request_key
from audioflow.steps import StepKind

# Property tests draw the same examples every run (CI runs the suite once and one red test stops a
# merge: a test must not pass or fail by which examples it happened to draw), keep no example database
# between runs, and do not fail because a loaded machine generated data slowly. Set
# AUDIOFLOW_HYPOTHESIS=explore to draw new examples (a bug it finds then becomes an @example).
settings.register_profile("repeatable", derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("AUDIOFLOW_HYPOTHESIS", "repeatable"))

#: A small valid recipe: two voices, one dialogue of three lines, one generated bed, a mix, a wav output.
BASIC_RECIPE = """\
audioflow: 1
title: Test
cast:
  mara: {preset: {local: joe}}
  ben: {preset: {local: deep}}
steps:
  scene:
    dialogue:
      - mara: Hello there.
      - ben: Hi, Mara.
      - mara: Bye.
  rain: {generate: steady rain, duration: 1s}
mix:
  - {track: scene}
  - {track: rain, under: scene, gain_db: -20}
output: out/test.wav
"""


def write_recipe_file(folder: Path, text: str, name: str = "recipe.yaml") -> Path:
    """Write ``text`` as ``folder/name`` and return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def write_recipe(tmp_path: Path) -> Callable[..., Path]:
    """``write_recipe(text)`` writes ``tmp_path/recipe.yaml`` and returns its path."""

    def write(text: str, name: str = "recipe.yaml") -> Path:
        return write_recipe_file(tmp_path, text, name)

    return write


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path`` as the working folder, with no ``AUDIOFLOW_CACHE_DIR`` from the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDIOFLOW_CACHE_DIR", raising=False)
    return tmp_path


def invoke(*args: str, color: bool = False) -> Result:
    """``audioflow ARGS`` through click's ``CliRunner`` (stdout and stderr kept apart)."""
    from click.testing import CliRunner

    from audioflow.cli import cli

    return CliRunner().invoke(cli, list(args), color=color)


class FakeProvider:
    """A provider that renders a short sine per request (no Piper, no network) and records what it did.

    ``fail`` holds step ids whose render raises :class:`ProviderError`. ``max_in_flight`` is the most
    renders seen at once; ``events`` lists ("start"|"end", step_id) in order.
    """

    def __init__(
        self,
        name: str = "local",
        max_concurrency: int = 4,
        *,
        fail: Iterable[str] = (),
        delay_s: float = 0.01,
        duration_ms: float = 300.0,
        model: str = "fake-model-1",
    ):
        self.name = name
        self.local = name == "local"
        self.max_concurrency = max_concurrency
        self.fail = set(fail)
        self.delay_s = delay_s
        self.duration_ms = duration_ms
        self.model = model
        self.in_flight = 0
        self.max_in_flight = 0
        self.events: list[tuple[str, str]] = []
        self.rendered: list[str] = []
        self.checked: list[str] = []

    def ready(self) -> None:
        pass

    def prepare(self, request: RenderRequest) -> PreparedRequest:
        self.checked.append(request.step_id)
        if request.kind not in (StepKind.SPEAK, StepKind.GENERATE):
            raise ProviderError(self.name, f"cannot render {request.kind}")
        key = None if request.pending else local_request_key(request)
        return PreparedRequest(request, self.model, key, 0.0)

    async def render(self, prepared: PreparedRequest, journal: Journal | None = None) -> Take:
        request = prepared.request
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.events.append(("start", request.step_id))
        try:
            await asyncio.sleep(self.delay_s)
            if request.step_id in self.fail:
                raise ProviderError(self.name, f"refused {request.step_id}", status=500, request_id="req-1")
            self.rendered.append(request.step_id)
            return Take(
                data=write_wav(self.audio_for(request)),
                format="wav",
                placeholder=request.kind == "generate",
                notes=("placeholder: fake",) if request.kind == "generate" else (),
            )
        finally:
            self.in_flight -= 1
            self.events.append(("end", request.step_id))

    def audio_for(self, request: RenderRequest) -> Audio:
        params: dict[str, Any] = request.payload.canonical()
        seed = f"{request.step_id}|{params.get('text') or params.get('prompt')}|{request.take}"
        freq_hz = 200 + int(hashlib.sha256(seed.encode()).hexdigest()[:4], 16) % 600
        duration_ms = float(params.get("duration_ms") or self.duration_ms)
        rate = 22050
        t = np.arange(int(rate * duration_ms / 1000)) / rate
        return Audio((0.3 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32), rate)


@pytest.fixture
def fake_provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def basic_project(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """:func:`in_tmp` holding :data:`BASIC_RECIPE` as ``recipe.yaml``, whose ``local`` voices a
    :class:`FakeProvider` renders."""
    monkeypatch.setitem(PROVIDERS, "local", lambda settings=None: FakeProvider())
    (in_tmp / "recipe.yaml").write_text(BASIC_RECIPE, encoding="utf-8")
    return in_tmp


@pytest.fixture(scope="session")
def seaweed_endpoint() -> Iterator[Any]:
    """A SeaweedFS S3 server on 127.0.0.1 for the whole session (see ``tests/seaweed.py``)."""
    from seaweed import seaweed_server

    with seaweed_server() as server:
        yield server


@pytest.fixture
def s3_url(seaweed_endpoint: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh ``s3://audioflow/<prefix>`` on the session's SeaweedFS, with its credentials in the
    environment and this test's own local mirror folder."""
    import uuid

    for name, value in seaweed_endpoint.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return f"s3://audioflow/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def segmind(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The Segmind fakes (API, storage, file host) in this process's environment, a 429's reset 50 ms ahead."""
    from fakes.segmind import segmind_in_env

    with segmind_in_env(monkeypatch, reset_in_s=0.05) as hosts:
        yield hosts
