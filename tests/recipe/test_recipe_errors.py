"""Schema and model errors: exact messages, hints and locations (line:col, 1-based)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BASIC_RECIPE

from audioflow.errors import RecipeError, SourceLocation
from audioflow.recipe import expand, load_recipe

BAD_RECIPES = {
    "unknown key with hint": (
        BASIC_RECIPE.replace("gain_db: -20", "gian_db: -20"),
        "15:33: unknown key 'gian_db' (did you mean 'gain_db'?)",
    ),
    "unknown top-level key": (
        BASIC_RECIPE.replace("title: Test", "titel: Test"),
        "2:1: unknown key 'titel' (did you mean 'title'?)",
    ),
    "missing audioflow": (BASIC_RECIPE.replace("audioflow: 1\n", ""), "1:1: missing key 'audioflow'"),
    "wrong version": (
        BASIC_RECIPE.replace("audioflow: 1", "audioflow: 2"),
        "1:12: unsupported recipe version 2 (this audioflow reads `audioflow: 1`)",
    ),
    "wrong type": (BASIC_RECIPE.replace("title: Test", "title: [a, b]"), "2:8: expected string, got a list"),
    "bad enum": (
        BASIC_RECIPE + "master: {format: mp4}\n",
        "17:18: 'mp4' is not one of: mp3, m4a, m4b, wav, ogg, opus, flac (did you mean 'mp3'?)",
    ),
    "duration written as a string without a unit": (
        BASIC_RECIPE.replace("  scene:\n", "  scene:\n    gap: '350'\n"),
        "8:10: '350' has no unit: write it like 350ms or 350s",
    ),
    "duration without a unit": (
        BASIC_RECIPE.replace("  scene:\n", "  scene:\n    gap: 350\n"),
        "8:10: 350 is not a duration: write it with a unit, like 350ms or 2s",
    ),
    "unknown voice in a dialogue line": (
        BASIC_RECIPE.replace("- ben: Hi", "- bne: Hi"),
        "10:9: unknown voice 'bne' (did you mean 'ben'?)",
    ),
    "unknown voice in long form": (
        BASIC_RECIPE.replace("- ben: Hi, Mara.", "- {voice: zed, text: Hi}"),
        "10:17: unknown voice 'zed' (the cast has: mara, ben)",
    ),
    "unknown voice of a speak step": (
        BASIC_RECIPE.replace("{generate: steady rain, duration: 1s}", "{speak: Hi, voice: marra}"),
        "12:28: unknown voice 'marra' (did you mean 'mara'?)",
    ),
    "unknown step in a mix track": (
        BASIC_RECIPE.replace("track: rain", "track: rian"),
        "15:13: unknown step 'rian' (did you mean 'rain'?)",
    ),
    "after names a later track": (
        BASIC_RECIPE.replace("{track: scene}", "{track: scene, after: rain}"),
        "14:27: `after: rain` names no earlier track of this mix (refer to a track placed earlier in this mix)",
    ),
    "the first track moved before the programme": (  # the mix would fail after everything rendered
        BASIC_RECIPE.replace("{track: scene}", "{track: scene, offset: -2s}"),
        "14:28: this track would start 2000 ms before the programme (the mix's first track starts at 0)"
        " (a programme starts at 0: shorten the offset, or place the track later)",
    ),
    "a track at a time moved before the programme": (
        BASIC_RECIPE.replace("{track: rain, under: scene,", "{track: rain, at: 1s, offset: -1.5s,"),
        "15:35: this track would start 500 ms before the programme (`at` starts it at 1000 ms)"
        " (a programme starts at 0: shorten the offset, or place the track later)",
    ),
    "two placements": (
        BASIC_RECIPE.replace("{track: rain, under: scene,", "{track: rain, under: scene, at: 1s,"),
        "15:19: a track is placed once: `at` and `under` both set its start",
    ),
    "two kinds": (
        BASIC_RECIPE.replace(
            "{generate: steady rain, duration: 1s}", "{generate: steady rain, duration: 1s, file: x.wav}"
        ),
        "12:10: step 'rain' has two kinds, file and generate",
    ),
    "no kind": (
        BASIC_RECIPE.replace("{generate: steady rain, duration: 1s}", "{take: 2}"),
        "12:3: step 'rain' has no kind (give it one of: speak, dialogue, file, generate, isolate, mix)",
    ),
    "key of another kind": (
        BASIC_RECIPE.replace("{generate: steady rain, duration: 1s}", "{generate: rain, duration: 1s, voice: ben}"),
        "12:40: 'voice' does not apply to a generate step",
    ),
    "speak without voice": (
        BASIC_RECIPE.replace("{generate: steady rain, duration: 1s}", "{speak: hello}"),
        "12:3: speak step 'rain' needs `voice:`",
    ),
    "generate without duration": (
        BASIC_RECIPE.replace("{generate: steady rain, duration: 1s}", "{generate: steady rain}"),
        "12:3: generate step 'rain' needs `duration:` (like 20s)",
    ),
    "generate of zero length": (
        BASIC_RECIPE.replace("duration: 1s}", "duration: 0s}"),
        "12:43: a generated sound lasts more than 0 s and at most 1 h",
    ),
    "output above the folder": (
        BASIC_RECIPE.replace("out/test.wav", "../x.mp3"),
        "16:9: output '../x.mp3' is outside the recipe's folder (write a relative path like out/episode.mp3)",
    ),
    "output that climbs back out": (
        BASIC_RECIPE.replace("out/test.wav", "out/../../x.mp3"),
        "16:9: output 'out/../../x.mp3' is outside the recipe's folder (write a relative path like out/episode.mp3)",
    ),
    "absolute output": (
        BASIC_RECIPE.replace("out/test.wav", "/tmp/x.mp3"),
        "16:9: output '/tmp/x.mp3' is outside the recipe's folder (write a relative path like out/episode.mp3)",
    ),
    "output without a known extension": (
        BASIC_RECIPE.replace("out/test.wav", "out/test.aiff"),
        "16:9: cannot tell the format from 'test.aiff' "
        "(use .mp3, .m4a, .m4b, .wav, .ogg, .opus or .flac, or set master.format)",
    ),
    "reserved step name mix": (
        BASIC_RECIPE.replace("  rain:", "  mix:").replace("track: rain", "track: scene"),
        "12:3: 'mix' is the name of the recipe's own mix step (choose another name)",
    ),
    "reserved step name master": (
        BASIC_RECIPE.replace("  rain:", "  master:").replace("track: rain", "track: scene"),
        "12:3: 'master' is the name of the recipe's own master step (choose another name)",
    ),
    "missing mix": (
        BASIC_RECIPE.split("mix:")[0],
        "1:1: missing key 'mix' (the mix places steps on the programme's timeline)",
    ),
    "bad step name": (
        BASIC_RECIPE.replace("  rain:", "  9rain:").replace("track: rain", "track: 9rain"),
        "12:3: '9rain' is not a valid name (names start with a letter or _ and use letters, digits, _ and -)\n"
        "{path}:15:13: '9rain' is not a valid name (names start with a letter or _ and use letters, digits, _ and -)",
    ),
    "unit of another quantity": (
        BASIC_RECIPE + "master: {loudness_lufs: -16 dB}\n",
        "17:25: invalid value '-16 dB': integrated loudness target (ITU-R BS.1770), default -16 LUFS.",
    ),
    "dialogue line with two voices": (
        BASIC_RECIPE.replace("- mara: Bye.", "- {mara: Bye., ben: Bye.}"),
        "11:22: a dialogue line is one `voice: text` pair (write `- mara: Did you hear that?`)",
    ),
    "dialogue line with only a direction": (
        BASIC_RECIPE.replace("- mara: Bye.", "- mara: (sighs)"),
        "11:15: a dialogue line needs words besides its (direction)",
    ),
    "output with a NUL byte": (
        BASIC_RECIPE.replace("out/test.wav", '"out/a\\0.wav"'),
        "16:9: this string holds the control character U+0000 (remove the escape that makes it: \\0, \\a, \\e, \\x1b…)",
    ),
    "file name too long for the file system": (
        BASIC_RECIPE.replace("{generate: steady rain, duration: 1s}", "{file: " + "a" * 300 + ".wav}"),
        "12:3: audio file '" + "a" * 300 + ".wav' not found (paths are relative to the recipe's folder {root})",
    ),
    "not a mapping": ("- a\n- b\n", "1:1: a recipe is a mapping of keys, got a list (start with `audioflow: 1`)"),
}


@pytest.mark.parametrize("case", list(BAD_RECIPES))
def test_bad_recipe_reports_exact_message_and_location(case: str, write_recipe) -> None:
    text, expected = BAD_RECIPES[case]
    path = write_recipe(text)
    with pytest.raises(RecipeError) as info:
        expand(load_recipe(path))
    assert str(info.value) == f"{path}:{expected}".replace("{root}", str(path.parent)).replace("{path}", str(path))
    line, col = (int(n) for n in expected.split(":")[:2])
    assert info.value.location == SourceLocation(str(path), line, col)
    assert info.value.exit_code == 2


def test_unknown_voice_is_located_at_the_line_key(write_recipe) -> None:
    path = write_recipe(BASIC_RECIPE.replace("- mara: Bye.", "- mra: Bye."))
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    err = info.value
    assert (err.message, err.hint) == ("unknown voice 'mra'", "did you mean 'mara'?")
    assert err.location == SourceLocation(str(path), 11, 9)
    assert path.read_text().splitlines()[10][8:11] == "mra"


def test_missing_file_step_is_reported_at_the_step(write_recipe, tmp_path: Path) -> None:
    path = write_recipe(BASIC_RECIPE.replace("{generate: steady rain, duration: 1s}", "{file: assets/none.wav}"))
    with pytest.raises(RecipeError) as info:
        expand(load_recipe(path))
    assert info.value.message == "audio file 'assets/none.wav' not found"
    assert info.value.hint == f"paths are relative to the recipe's folder {tmp_path}"
    assert info.value.location == SourceLocation(str(path), 12, 3)


def test_a_missing_file_of_a_recipe_in_the_current_folder_names_the_folder_in_words(
    write_recipe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_recipe(BASIC_RECIPE.replace("{generate: steady rain, duration: 1s}", "{file: assets/none.wav}"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RecipeError) as info:
        expand(load_recipe(Path("recipe.yaml")))
    assert info.value.hint == "paths are relative to the recipe's folder (the current folder)"  # not "folder ."


def test_cycle_between_sub_mixes_is_located(write_recipe) -> None:
    text = BASIC_RECIPE.replace(
        "  rain: {generate: steady rain, duration: 1s}\n",
        "  rain: {generate: steady rain, duration: 1s}\n  a: {mix: [{track: b}]}\n  b: {mix: [{track: a}]}\n",
    )
    path = write_recipe(text)
    with pytest.raises(RecipeError) as info:
        expand(load_recipe(path))
    assert info.value.message == "steps depend on each other in a cycle: a → b → a"
    assert info.value.location == SourceLocation(str(path), 14, 21)


def test_mix_cannot_contain_itself(write_recipe) -> None:
    path = write_recipe(BASIC_RECIPE.replace("  rain: {", "  sub: {mix: [{track: sub}]}\n  rain: {"))
    with pytest.raises(RecipeError) as info:
        expand(load_recipe(path))
    assert str(info.value) == f"{path}:12:23: a mix cannot contain itself"


def test_output_inside_the_folder_is_accepted(write_recipe, tmp_path: Path) -> None:
    recipe = load_recipe(write_recipe(BASIC_RECIPE.replace("out/test.wav", "out/../final/x.flac")))
    assert recipe.output == tmp_path / "out/../final/x.flac"
    assert recipe.master.format == "flac"
