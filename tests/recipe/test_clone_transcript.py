"""A clone's ``transcript``: parsed and validated like any recipe key, carried to the local
provider (its key changes), never sent to a host (a paid take's key does not change), and absent
from the canonical data of a clone without one (those digests are unchanged)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from payloads import make_request, request_key

from audioflow.audio import Audio, write_wav
from audioflow.errors import RecipeError
from audioflow.providers import LocalProvider, Reference
from audioflow.providers.fal import FalProvider
from audioflow.providers.segmind import SegmindProvider
from audioflow.recipe import expand, parse_recipe
from audioflow.steps import CloneSpec


def _recipe(clone: str) -> str:
    return (
        f"audioflow: 1\nprovider: local\ncast:\n  mara:\n    clone: {clone}\n"
        "steps:\n  hello:\n    speak: Good evening.\n    voice: mara\n"
        "mix:\n  - {track: hello}\noutput: out/x.wav\n"
    )


def _clip(tmp_path: Path) -> Path:
    t = np.arange(3 * 16000) / 16000
    path = tmp_path / "mara.wav"
    path.write_bytes(write_wav(Audio((0.2 * np.sin(2 * np.pi * 150 * t)).astype(np.float32), 16000)))
    return path


def _clone_spec(text: str, tmp_path: Path) -> CloneSpec | None:
    _clip(tmp_path)
    graph = expand(parse_recipe(text, tmp_path / "r.yaml"))
    return graph.steps["hello"].payload.voices[0].clone  # type: ignore[union-attr]


def test_a_transcript_reaches_the_clone_with_its_whitespace_folded(tmp_path: Path) -> None:
    spec = _clone_spec(_recipe('{audio: mara.wav, transcript: "  Good   evening,\\n and welcome. "}'), tmp_path)
    assert spec is not None and spec.transcript == "Good evening, and welcome."
    assert spec.canonical()["transcript"] == "Good evening, and welcome."


def test_a_clone_without_a_transcript_has_the_canonical_data_it_had(tmp_path: Path) -> None:
    spec = _clone_spec(_recipe("{audio: mara.wav}"), tmp_path)
    assert spec is not None and spec.transcript is None
    assert spec.canonical() == {"model": "seed-audio", "language": None}  # digests of clones unchanged


@pytest.mark.parametrize(("value", "message"), [("3", "transcript"), ('""', "transcript"), ("[a, b]", "transcript")])
def test_a_transcript_that_is_not_text_is_a_recipe_error(value: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=message) as caught:
        _clone_spec(_recipe(f"{{audio: mara.wav, transcript: {value}}}"), tmp_path)
    assert ":5:" in str(caught.value)  # path:line:col of the transcript


def _speak(clip: Path, transcript: str | None, preset: Any = None) -> Any:
    clone = {"model": "seed-audio", "language": None, "transcript": transcript}
    voice = {"name": "mara", "cast_index": 0, "preset": preset, "clone": clone}
    ref = Reference("mara", path=clip, sha256=hashlib.sha256(clip.read_bytes()).hexdigest(), duration_ms=3000.0)
    return make_request("hello", "speak", {"text": "Good evening.", "voice": voice}, references=(ref,))


@pytest.mark.parametrize("provider", [SegmindProvider, FalProvider], ids=["segmind", "fal"])
def test_a_transcript_never_changes_a_paid_takes_key(provider: Any, tmp_path: Path) -> None:
    clip = _clip(tmp_path)
    assert request_key(provider(), _speak(clip, None)) == request_key(provider(), _speak(clip, "Good evening."))


def test_a_transcript_changes_the_local_key(tmp_path: Path) -> None:
    clip = _clip(tmp_path)
    keys = [request_key(LocalProvider(1), _speak(clip, text)) for text in (None, "Good evening.", "Good night.")]
    assert len({repr(key) for key in keys}) == 3
