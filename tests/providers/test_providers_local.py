"""The local provider: real Piper speech (few, short lines), voice mapping, placeholders."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace

import numpy as np
import psutil
import pytest
from payloads import make_request, model_id, render_request, voice_spec

from audioflow.audio import read_wav
from audioflow.errors import ProviderError
from audioflow.providers import LOCAL_VOICES, PROVIDERS, LocalProvider, Provider, RenderRequest, get_provider
from audioflow.providers.local import (
    MAX_SYNTHESIS_CHARS,
    PHRASE_GAP_MS,
    SENTENCE_GAP_MS,
    _bundled_model,
    resolve_local_voice,
    split_text,
)
from audioflow.steps import LOCAL_VOICE_NAMES

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
    assert names == ["joe", "bright", "deep", "crisp", "gruff", "warm", "light", "reedy"] == list(LOCAL_VOICE_NAMES)
    assert resolve_local_voice(voice_spec({"preset": {"local": "gruff"}, "cast_index": 0})) == "gruff"
    assert resolve_local_voice(voice_spec({"preset": "deep", "cast_index": 0})) == "deep"
    assert resolve_local_voice(voice_spec({"preset": {"segmind": "x"}, "cast_index": 1})) == "bright"
    assert resolve_local_voice(voice_spec({"preset": "someone_else", "cast_index": 2})) == "deep"
    assert [resolve_local_voice(voice_spec({"preset": None, "cast_index": i})) for i in range(8)] == names
    # past the last local voice: an error, never a silent repeat of the first
    with pytest.raises(ProviderError, match="voice 'voice' has no local voice of its own: there are 8"):
        resolve_local_voice(voice_spec({"preset": None, "cast_index": 8}))
    # the voice the recipe assigned over the cast wins over the cast position
    assigned = replace(voice_spec({"preset": None, "cast_index": 9}), local_voice="warm")
    assert resolve_local_voice(assigned) == "warm"


def test_unknown_local_preset_is_a_provider_error() -> None:
    with pytest.raises(ProviderError) as info:
        resolve_local_voice(voice_spec({"preset": {"local": "robot"}, "cast_index": 0}))
    assert info.value.provider == "local"
    assert (
        str(info.value)
        == "local: unknown local voice 'robot'; local voices: joe, bright, deep, crisp, gruff, warm, light, reedy"
    )
    with pytest.raises(ProviderError):
        LocalProvider().prepare(_speak("robot"))


def test_check_refuses_kinds_it_cannot_render() -> None:
    with pytest.raises(ProviderError, match="does not render mix steps"):
        LocalProvider().prepare(make_request("m", "mix", {}))


def test_model_ids_name_the_voice_and_the_placeholder() -> None:
    provider = LocalProvider()
    assert model_id(provider, make_request("g", "generate", {})) == "local/placeholder-v2"
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


# -- long lines: bounded text per Piper call ---------------------------------------------------------

WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "clerks", "count", "tins")


def _unpunctuated(count: int, seed: int = 7) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), count))


def test_split_text_bounds_a_3000_word_line_without_punctuation() -> None:
    text = _unpunctuated(3000)
    pieces = split_text(text)
    assert all(0 < len(piece) <= MAX_SYNTHESIS_CHARS for piece, _ in pieces)
    assert " ".join(piece for piece, _ in pieces) == text  # nothing lost, cut only between words
    longest_word = max(len(w) for w in WORDS)  # greedy packing leaves less than a word free per piece
    assert -(-len(text) // MAX_SYNTHESIS_CHARS) <= len(pieces) <= -(-len(text) // (MAX_SYNTHESIS_CHARS - longest_word))
    assert [pause for _, pause in pieces] == [PHRASE_GAP_MS] * (len(pieces) - 1) + [SENTENCE_GAP_MS]


def test_split_text_keeps_short_sentences_together_and_cuts_at_sentences_first() -> None:
    assert split_text("Hello there.  How are\nyou?") == [("Hello there. How are you?", SENTENCE_GAP_MS)]
    assert split_text("Hello there. How are you?") == [("Hello there. How are you?", SENTENCE_GAP_MS)]
    sentences = " ".join(f"Sentence number {i} is here." for i in range(40))
    pieces = split_text(sentences, 100)
    assert all(len(p) <= 100 and p.endswith(".") for p, _ in pieces)
    assert {pause for _, pause in pieces} == {SENTENCE_GAP_MS}
    assert " ".join(p for p, _ in pieces) == sentences


def test_split_text_cuts_a_long_sentence_at_commas_then_words_then_characters() -> None:
    assert split_text("One, two, three; four: five. Six!", 12) == [
        ("One, two,", PHRASE_GAP_MS),
        ("three; four:", PHRASE_GAP_MS),
        ("five. Six!", SENTENCE_GAP_MS),
    ]
    assert split_text("alpha beta gamma delta", 11) == [
        ("alpha beta", PHRASE_GAP_MS),
        ("gamma delta", SENTENCE_GAP_MS),
    ]
    assert split_text("x" * 25, 10) == [
        ("x" * 10, PHRASE_GAP_MS),
        ("x" * 10, PHRASE_GAP_MS),
        ("x" * 5, SENTENCE_GAP_MS),
    ]
    assert split_text("  \n ") == []


class _CountingVoice:
    """Stands in for a loaded PiperVoice: one chunk per call, 10 samples per character, and a record
    of every text it was given."""

    class config:  # as PiperVoice.config.sample_rate
        sample_rate = 22050

    def __init__(self) -> None:
        self.texts: list[str] = []

    def synthesize(self, text: str, config: object):
        self.texts.append(text)

        class Chunk:
            audio_float_array = np.full(10 * len(text), 0.1, dtype=np.float32)

        return [Chunk()]


def test_a_3000_word_line_is_spoken_in_bounded_calls_and_joined_with_pauses() -> None:
    voice = _CountingVoice()
    provider = LocalProvider(max_concurrency=1)
    provider._voices = type("Voices", (), {"get": lambda self, model, threads=1: voice})()
    text = _unpunctuated(3000)
    request = make_request("long", "speak", {**_speak("joe").payload.canonical(), "text": text})
    take = asyncio.run(render_request(provider, request))
    audio = read_wav(take.data)
    pieces = split_text(text)
    assert voice.texts == [piece for piece, _ in pieces]
    assert max(len(t) for t in voice.texts) <= MAX_SYNTHESIS_CHARS
    pauses = round(22050 * PHRASE_GAP_MS / 1000) * (len(pieces) - 1)
    assert audio.frames == 10 * sum(len(t) for t in voice.texts) + pauses


def _peak_rss_growth_mb(work) -> tuple[object, float]:
    """Run ``work()`` while sampling this process's RSS every 5 ms: (its result, peak growth in MiB)."""
    process, peak, done = psutil.Process(), [0], threading.Event()
    base = process.memory_info().rss

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss - base)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = work()
    finally:
        done.set()
        sampler.join()
    return result, peak[0] / 2**20


@pytest.mark.slow
def test_real_piper_speaks_a_long_unpunctuated_line_in_pieces(record_property) -> None:
    provider = LocalProvider(max_concurrency=1)
    asyncio.run(render_request(provider, _speak("joe")))  # load the voice first: its size is not the line's
    texts: list[str] = []
    real = provider._voices.get(_bundled_model())

    class Recording:
        config = real.config

        def synthesize(self, text: str, config: object):
            texts.append(text)
            return real.synthesize(text, config)

    provider._voices = type("Voices", (), {"get": lambda self, model, threads=1: Recording()})()
    text = _unpunctuated(150)
    request = make_request("long", "speak", {**_speak("joe").payload.canonical(), "text": text})
    take, growth_mb = _peak_rss_growth_mb(lambda: asyncio.run(render_request(provider, request)))
    record_property("peak_rss_growth_mib", round(growth_mb, 1))
    print(f"\npeak RSS growth speaking {len(text)} characters in {len(texts)} calls: {growth_mb:.0f} MiB")
    assert texts == [piece for piece, _ in split_text(text)] and len(texts) >= 2
    assert max(len(t) for t in texts) <= MAX_SYNTHESIS_CHARS
    seconds = read_wav(take.data).duration_ms / 1000  # type: ignore[attr-defined]
    assert 0.15 * 150 < seconds < 0.6 * 150  # about 0.28 s a word for this voice
