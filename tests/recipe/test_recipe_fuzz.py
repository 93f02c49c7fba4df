"""Fuzzing: a mutated recipe either loads, validates, builds and expands, or raises RecipeError located
inside the text. Never another exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audioflow.errors import RecipeError
from audioflow.recipe import build_recipe, expand, parse_document, validate_document

VALID = """\
audioflow: 1
title: The Night Shift
provider: local
cast:
  narrator: {preset: {local: joe}, speed: 1.1}
  mara: {preset: bright, gain_db: -2 dB, pitch_semitones: 1}
  ben:
    description: a tired clerk
steps:
  intro:
    speak: (softly) It was two in the morning.
    voice: narrator
  rain: {generate: steady rain on a window, duration: 20s, texture: noise}
  hum: {generate: fridge hum, duration: "1:30", take: 2}
  scene1:
    gap: 350ms
    dialogue:
      - mara: (whispering) Did you hear that?
      - {voice: ben, text: "Hear what?", gap: -100ms, take: 2}
      - narrator: Nobody answered.
  bed: {mix: [{track: rain}, {track: hum, with: rain, gain_db: -6}]}
mix:
  - {track: intro, at: 0s}
  - {track: scene1, after: intro, offset: 500ms}
  - {track: bed, under: scene1, gain_db: -20, loop: true, duck_db: -10, fade_out: 2s}
master: {preset: podcast, loudness_lufs: -16 LUFS, true_peak_dbtp: -1, format: mp3, bitrate: 192k}
output: out/night-shift.mp3
"""

KEYS = [
    "audioflow",
    "title",
    "provider",
    "cast",
    "steps",
    "mix",
    "master",
    "output",
    "speak",
    "voice",
    "dialogue",
    "gap",
    "generate",
    "duration",
    "texture",
    "take",
    "file",
    "track",
    "at",
    "after",
    "with",
    "under",
    "offset",
    "gain_db",
    "fade_in",
    "fade_out",
    "loop",
    "duck_db",
    "preset",
    "speed",
    "model",
    "speaker",
    "text",
    "direction",
    "format",
    "bitrate",
    "loudness_lufs",
    "true_peak_dbtp",
    "sample_rate_hz",
    "channels",
    "mara",
    "ben",
    "narrator",
    "rain",
    "scene1",
    "bed",
    "intro",
    "local",
    "gian_db",
    "<<",
]
VALUES = [
    "",
    "~",
    "null",
    "0",
    "-1",
    "1",
    "2",
    "1.5",
    "1e999",
    "-.inf",
    ".nan",
    "[]",
    "{}",
    "[a, b]",
    "{a: 1}",
    "yes",
    "true",
    "'350'",
    "350",
    "-2s",
    "0s",
    "1:30",
    "9999h",
    "350ms",
    "-16 LUFS",
    "-16 dB",
    "192k",
    "mp4",
    "wav",
    "out/x.wav",
    "../x.mp3",
    "/abs/x.mp3",
    "x.onnx",
    "voices/v.onnx",
    "assets/none.wav",
    "mara",
    "ben",
    "rain",
    "scene1",
    "bed",
    "mix",
    "master",
    "intro",
    "(sigh)",
    "(a) b",
    "!!python/none ''",
    "!!str 5",
    "!!binary aGk=",
    "&x a",
    "*x",
    "*nope",
    '"\\0"',
    '"a\\x00b"',
    "'ü'",
    "|\n    text",
    ">-\n    folded",
    "2024-01-02",
    "0x1F",
    "0o17",
    "+5",
    "- a",
    "{track: rain}",
    "[{track: nope}]",
    "{speak: hi, voice: mara}",
    "{mix: [{track: scene1}]}",
    "{generate: x}",
    "{file: x.wav}",
    "out/" + "a" * 300 + ".wav",
    "a" * 300 + ".wav",
    '"out/\\0.mp3"',
]
CHARS = "{}[]:,-&*!#|>'\"\t \n\\%@`?aZ0_."


@st.composite
def mutated_recipes(draw: st.DrawFn) -> str:
    lines = VALID.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(
            st.sampled_from(
                [
                    "del_char",
                    "dup_char",
                    "set_char",
                    "del_line",
                    "dup_line",
                    "swap_lines",
                    "set_value",
                    "add_key",
                    "indent",
                ]
            )
        )
        i = draw(st.integers(0, len(lines) - 1)) if lines else 0
        if not lines:
            lines = [""]
        line = lines[i]
        j = draw(st.integers(0, len(line))) if line else 0
        if op == "del_char" and line:
            lines[i] = line[:j] + line[j + 1 :]
        elif op == "dup_char" and line:
            lines[i] = line[:j] + line[j : j + 1] * 2 + line[j + 1 :]
        elif op == "set_char":
            lines[i] = line[:j] + draw(st.sampled_from(CHARS)) + line[j + 1 :]
        elif op == "del_line":
            del lines[i]
        elif op == "dup_line":
            lines.insert(i, line)
        elif op == "swap_lines":
            k = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[k] = lines[k], lines[i]
        elif op == "set_value" and ":" in line:
            cut = draw(st.sampled_from([n for n, c in enumerate(line) if c == ":"]))
            lines[i] = line[: cut + 1] + " " + draw(st.sampled_from(VALUES))
        elif op == "add_key":
            indent = " " * draw(st.sampled_from([0, 2, 4, 6, 8]))
            lines.insert(i, f"{indent}{draw(st.sampled_from(KEYS))}: {draw(st.sampled_from(VALUES))}")
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 3)) + line.lstrip() if draw(st.booleans()) else "  " + line
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


def _load(text: str, folder: Path) -> None:
    path = folder / "recipe.yaml"
    doc = parse_document(text, str(path))
    validate_document(doc)
    expand(build_recipe(doc, path))


def test_the_unmutated_recipe_is_valid(tmp_path: Path) -> None:
    _load(VALID, tmp_path)


@settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=mutated_recipes())
def test_mutated_recipes_fail_only_with_located_recipe_errors(text: str, tmp_path: Path) -> None:
    try:
        _load(text, tmp_path)
    except RecipeError as err:
        assert err.location is not None, str(err)
        assert err.location.path == str(tmp_path / "recipe.yaml")
        assert 1 <= err.location.line <= len(text.splitlines()) + 1, (str(err), text)
        assert err.location.col >= 1, str(err)
        assert str(err).startswith(f"{err.location}: ")
