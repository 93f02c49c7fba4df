"""The local provider: real Piper speech (few, short lines), voice mapping, placeholders."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from payloads import make_request, model_id, render_request, voice_spec

from audioflow.audio import read_wav
from audioflow.errors import ProviderError
from audioflow.providers import LOCAL_VOICES, PROVIDERS, LocalProvider, Provider, RenderRequest, get_provider
from audioflow.providers.local import resolve_local_voice

TEXT = "Good morning."


def _speak(preset: str, index: int = 0) -> RenderRequest:
    voice = {"cast_index": index, "preset": {"local": preset}, "speed": 1.0, "pitch_semitones": 0.0, "gain_db": 0.0}
    return make_request(f"line-{preset}", "speak", {"text": TEXT, "direction": None, "voice": voice})


def _centroid_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples[:, 0]))
    freqs = np.fft.rfftfreq(samples.shape[0], 1 / rate)
    return float((spectrum * freqs).sum() / spectrum.sum())


@pytest.fixture(scope="module")
def rendered() -> dict[str, object]:
    provider = LocalProvider(max_concurrency=1)

    async def all_voices() -> dict[str, object]:
        return {name: await render_request(provider, _speak(name)) for name in ("joe", "deep", "bright")}

    return asyncio.run(all_voices())


@pytest.mark.slow
def test_piper_renders_float_wav_at_22050_hz(rendered: dict) -> None:
    for name, take in rendered.items():
        assert take.format == "wav" and not take.placeholder and take.notes == ()
        audio = read_wav(take.data)
        assert audio.sample_rate_hz == 22050, name
        assert audio.channels == 1
        assert audio.samples.dtype == np.float32
        assert 300 < audio.duration_ms < 3000, name
        assert float(np.abs(audio.samples).max()) > 0.05, name


@pytest.mark.slow
def test_local_voices_differ_measurably(rendered: dict) -> None:
    audio = {name: read_wav(take.data) for name, take in rendered.items()}
    centroid = {name: _centroid_hz(a.samples, a.sample_rate_hz) for name, a in audio.items()}
    assert centroid["bright"] > centroid["joe"] * 1.1
    assert centroid["deep"] < centroid["joe"] * 0.95
    assert rendered["deep"].data != rendered["bright"].data


def test_resolve_local_voice_by_preset_and_by_cast_index() -> None:
    names = list(LOCAL_VOICES)
    assert names == ["joe", "bright", "deep", "crisp", "gruff"]
    assert resolve_local_voice(voice_spec({"preset": {"local": "gruff"}, "cast_index": 0})) == "gruff"
    assert resolve_local_voice(voice_spec({"preset": "deep", "cast_index": 0})) == "deep"
    assert resolve_local_voice(voice_spec({"preset": {"segmind": "x"}, "cast_index": 1})) == "bright"
    assert resolve_local_voice(voice_spec({"preset": "someone_else", "cast_index": 2})) == "deep"
    assert [resolve_local_voice(voice_spec({"preset": None, "cast_index": i})) for i in range(7)] == [
        "joe",
        "bright",
        "deep",
        "crisp",
        "gruff",
        "joe",
        "bright",
    ]


def test_unknown_local_preset_is_a_provider_error() -> None:
    with pytest.raises(ProviderError) as info:
        resolve_local_voice(voice_spec({"preset": {"local": "robot"}, "cast_index": 0}))
    assert info.value.provider == "local"
    assert str(info.value) == "local: unknown local voice 'robot'; local voices: joe, bright, deep, crisp, gruff"
    with pytest.raises(ProviderError):
        LocalProvider().prepare(_speak("robot"))


def test_check_refuses_kinds_it_cannot_render() -> None:
    with pytest.raises(ProviderError, match="does not render mix steps"):
        LocalProvider().prepare(make_request("m", "mix", {}))


def test_model_ids_name_the_voice_and_the_placeholder() -> None:
    provider = LocalProvider()
    assert model_id(provider, make_request("g", "generate", {})) == "local/placeholder-v1"
    deep, bright = model_id(provider, _speak("deep")), model_id(provider, _speak("bright"))
    assert deep.startswith("piper@") and "/en_US-joe-medium@" in deep and ":deep:" in deep
    assert deep != bright


@pytest.mark.parametrize("duration_ms", [1000.0, 2345.0])
def test_generate_returns_a_placeholder_of_the_exact_duration(duration_ms: float) -> None:
    request = make_request(
        "rain", "generate", {"prompt": "steady rain", "duration_ms": duration_ms, "texture": "noise"}
    )
    take = asyncio.run(render_request(LocalProvider(), request))
    audio = read_wav(take.data)
    assert take.placeholder is True
    assert abs(audio.frames - duration_ms / 1000 * audio.sample_rate_hz) <= 1
    assert take.notes == (
        'no local model generates sound; a procedural noise texture stands in for "steady rain" '
        "(render with a remote provider for the real sound)",
    )
    again = asyncio.run(render_request(LocalProvider(), request))
    assert again.data == take.data


def test_registry_and_protocol() -> None:
    assert isinstance(LocalProvider(), Provider)
    assert isinstance(get_provider("local"), LocalProvider)
    assert list(PROVIDERS) == ["local", "segmind", "fal", "evolink"]
    for name in PROVIDERS:
        assert isinstance(get_provider(name), Provider)
        assert get_provider(name).name == name
    with pytest.raises(ProviderError) as info:
        get_provider("elevenlabs")
    assert str(info.value) == "elevenlabs: unknown provider; available: local, segmind, fal, evolink"
    assert LocalProvider(max_concurrency=3).max_concurrency == 3
