"""A cast that stays itself: local voices assigned over the whole cast (never a silent repeat),
``*_bigtts`` presets carried between Segmind and Evolink, a warning where a host receives no voice."""

from __future__ import annotations

from pathlib import Path

import pytest
from payloads import make_request

from audioflow.errors import RecipeError
from audioflow.providers.evolink import EvolinkProvider
from audioflow.providers.fal import FalProvider
from audioflow.providers.local import LocalProvider, resolve_local_voice
from audioflow.providers.segmind import SegmindProvider
from audioflow.recipe import expand, parse_recipe
from audioflow.steps import LOCAL_VOICE_NAMES, VoiceSpec


def _recipe(cast: list[str], provider: str = "local") -> str:
    lines = "".join(f"      - v{i}: Line {i}.\n" for i in range(len(cast)))
    entries = "".join(f"  v{i}: {spec}\n" for i, spec in enumerate(cast))
    return (
        f"audioflow: 1\nprovider: {provider}\ncast:\n{entries}steps:\n  talk:\n    dialogue:\n{lines}"
        "mix:\n  - {track: talk}\noutput: out/x.wav\n"
    )


def _local_voices(text: str, tmp_path: Path, provider: str | None = None) -> list[str]:
    graph = expand(parse_recipe(text, tmp_path / "r.yaml"), provider=provider)
    speaks = [s for s in graph.steps.values() if s.kind == "speak"]
    return [resolve_local_voice(s.payload.voices[0]) for s in speaks]  # type: ignore[union-attr]


def test_eight_plain_voices_get_eight_different_local_voices(tmp_path: Path) -> None:
    assert len(LOCAL_VOICE_NAMES) >= 8
    assert _local_voices(_recipe(["{speed: 1.0}"] * 8), tmp_path) == list(LOCAL_VOICE_NAMES)


def test_a_voice_named_by_one_voice_is_not_given_to_another(tmp_path: Path) -> None:
    cast = ["{speed: 1.0}", "{clone: https://example.com/a.wav}", "{speed: 1.0}", "{preset: {local: joe}}"]
    # v0 would get joe by its place, but v3 names joe: v0 gets the first voice nobody has (crisp:
    # v1, a clone from a URL, keeps bright for offline; v2 keeps deep by its place)
    assert _local_voices(_recipe(cast), tmp_path) == ["crisp", "bright", "deep", "joe"]


def test_existing_casts_keep_their_local_voices(tmp_path: Path) -> None:
    cast = ["{preset: {local: deep}}", "{speed: 1.0}", "{speed: 1.0}"]
    # as before, a voice without a local preset speaks with the voice of its place in the cast (v1:
    # bright) — unless another voice names that one: v2 no longer repeats v0's deep silently
    assert _local_voices(_recipe(cast), tmp_path) == ["deep", "bright", "joe"]


def test_a_ninth_plain_voice_rendered_locally_is_a_located_error(tmp_path: Path) -> None:
    text = _recipe(["{speed: 1.0}"] * 9)
    with pytest.raises(RecipeError) as caught:
        expand(parse_recipe(text, tmp_path / "r.yaml"))
    assert caught.value.location is not None and caught.value.location.line == 12  # the cast entry of v8
    assert "voice 'v8': the cast has more plain voices than the local provider's 8" in str(caught.value)
    assert "preset: {local: NAME}" in str(caught.value)
    expand(parse_recipe(text, tmp_path / "r.yaml"), provider="segmind")  # no local voice needed there
    shared = "{preset: {local: gruff}}"  # said so: two voices share gruff
    named = _recipe(["{speed: 1.0}"] * 4 + [shared] + ["{speed: 1.0}"] * 3 + [shared])
    assert _local_voices(named, tmp_path) == [*LOCAL_VOICE_NAMES, "gruff"]


def test_a_bigtts_preset_is_carried_between_segmind_and_evolink_only() -> None:
    voice = VoiceSpec("n", preset={"segmind": "en_male_bruce_uranus_bigtts", "fal": "cedric_en_zh"})
    assert voice.preset_on("evolink") == "en_male_bruce_uranus_bigtts"
    assert voice.preset_on("fal") == "cedric_en_zh"
    assert VoiceSpec("n", preset={"evolink": "zh_female_x_bigtts"}).preset_on("segmind") == "zh_female_x_bigtts"
    assert VoiceSpec("n", preset={"evolink": "some-other-id"}).preset_on("segmind") is None
    assert VoiceSpec("n", preset={"fal": "cedric_en_zh"}).preset_on("segmind") is None
    assert VoiceSpec("n", preset={"segmind": "a_bigtts", "evolink": "b_bigtts"}).preset_on("evolink") == "b_bigtts"


def _speak(preset: dict[str, str]) -> object:
    voice = {"name": "n", "cast_index": 0, "preset": preset, "clone": None}
    return make_request("line", "speak", {"text": "Hello.", "direction": None, "voice": voice})


def test_evolink_receives_a_segmind_bigtts_preset() -> None:
    prepared = EvolinkProvider().prepare(_speak({"segmind": "en_male_bruce_uranus_bigtts"}))  # type: ignore[arg-type]
    assert prepared.body["audio_references"] == ["en_male_bruce_uranus_bigtts"]
    assert not any(note.startswith("warning") for note in prepared.notes)


def test_a_host_that_would_receive_no_voice_warns() -> None:
    for provider in (FalProvider(), SegmindProvider()):
        prepared = provider.prepare(_speak({"local": "deep"}))  # type: ignore[arg-type]
        assert prepared.notes[0] == (
            f"warning: {provider.name} receives no voice for 'n' (its preset is for local): no reference clip and "
            f"no {provider.name} preset, so the model picks a voice — add preset: {{{provider.name}: ID}}"
        )
    carried = SegmindProvider().prepare(_speak({"evolink": "en_male_bruce_uranus_bigtts"}))  # type: ignore[arg-type]
    assert carried.body.body["speaker"] == "en_male_bruce_uranus_bigtts" and not carried.notes
    assert LocalProvider().prepare(_speak({"segmind": "x_bigtts"})).notes == ()  # type: ignore[arg-type]
