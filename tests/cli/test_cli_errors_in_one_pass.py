"""Errors a writer can act on: ``validate`` reports every independent error in one pass (capped,
ordered by position), and common YAML traps in a line get a hint to quote the text."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from audioflow.cli import cli
from audioflow.errors import RecipeError, RecipeErrors
from audioflow.recipe import expand, load_recipe

RUNNER = CliRunner()

MANY = """\
audioflow: 1
cast:
  mara: {preset: {local: joe}, sped: 1.1}
  ben: {preset: {local: deep}}
steps:
  scene:
    gap: 350
    dialogue:
      - mara: Hello there.
      - ben: Hi, Mara.
      - bob: Bye.
  rain: {generate: steady rain, duration: 1s, texture: hiss}
  door: {file: sounds/door.wav}
  hello: {speak: Hi, voice: nobody}
mix:
  - {track: scene}
  - {track: rainn, under: scene}
master: {loudness_lufs: -3}
"""


def _validate(path: Path) -> tuple[int, list[str]]:
    result = RUNNER.invoke(cli, ["validate", str(path)])
    assert result.stdout == "" or result.exit_code == 0
    return result.exit_code, result.stderr.splitlines()


def test_validate_reports_every_independent_error_in_file_order(write_recipe) -> None:
    path = write_recipe(MANY)
    code, lines = _validate(path)
    assert code == 2
    assert lines == [
        f"{path}:3:32: unknown key 'sped' (did you mean 'speed'?)",
        f"{path}:7:10: 350 is not a duration: write it with a unit, like 350ms or 2s",
        f"{path}:12:56: 'hiss' is not one of: noise, tone",
        f"{path}:14:29: unknown voice 'nobody' (the cast has: mara, ben)",
        f"{path}:18:25: invalid value -3: integrated loudness target (ITU-R BS.1770), default -16 LUFS.",
    ]  # the schema's and the model's errors together; a step the schema refuses is not built (its 'bob' shows later)


def test_a_fixed_schema_lets_the_next_errors_show_all_at_once(write_recipe) -> None:
    fixed = (
        MANY.replace(", sped: 1.1", "")
        .replace("gap: 350", "gap: 350ms")
        .replace(", texture: hiss", "")
        .replace("-3}", "-16}")
        .replace("voice: nobody", "voice: mara")
    )
    code, lines = _validate(write_recipe(fixed))
    assert code == 2
    assert [line.split(": ", 1)[1] for line in lines] == [
        "unknown voice 'bob' (the cast has: mara, ben)",
    ]
    code, lines = _validate(write_recipe(fixed.replace("- bob: Bye.", "- ben: Bye.")))
    assert [line.split(":", 2)[1] for line in lines] == ["13", "17"]  # the missing file and the unknown track
    assert "audio file 'sounds/door.wav' not found" in lines[0]
    assert "unknown step 'rainn' (did you mean 'rain'?)" in lines[1]


def test_each_mix_track_reports_its_own_error(write_recipe) -> None:
    tracks = "  - {track: scene}\n  - {track: rainn, under: scene}\n  - {track: dor, after: scene}\n"
    tracks += "  - {track: door, after: rain}\n"
    text = MANY.split("mix:")[0].replace(", sped: 1.1", "").replace("gap: 350", "gap: 350ms")
    text = text.replace(", texture: hiss", "").replace("voice: nobody", "voice: mara").replace("- bob:", "- ben:")
    path = write_recipe(text.replace("{file: sounds/door.wav}", "{generate: a door, duration: 1s}") + "mix:\n" + tracks)
    code, lines = _validate(path)
    assert code == 2
    assert lines == [  # one error per track, each independent of the others (was: the first alone)
        f"{path}:17:13: unknown step 'rainn' (did you mean 'rain'?)",
        f"{path}:18:13: unknown step 'dor' (did you mean 'door'?)",
        f"{path}:19:26: `after: rain` names no earlier track of this mix (did you mean 'rainn'?)",
    ]


def test_many_errors_are_capped_with_a_count(write_recipe) -> None:
    steps = "".join(f"  s{i}: {{speak: hi, voice: nobody{i}}}\n" for i in range(30))
    path = write_recipe(f"audioflow: 1\nsteps:\n{steps}mix:\n  - {{track: s0}}\n")
    with pytest.raises(RecipeErrors) as info:
        load_recipe(path)
    assert len(info.value.errors) == 30
    assert info.value.location is not None and info.value.location.line == 3  # the first error's
    code, lines = _validate(path)
    assert code == 2 and len(lines) == 21
    assert lines[0] == f"{path}:3:26: unknown voice 'nobody0' (the cast has: no voices)"
    assert lines[-1] == "... and 10 more errors"
    assert [int(line.split(":")[1]) for line in lines[:-1]] == list(range(3, 23))


def test_one_error_is_raised_as_itself(write_recipe) -> None:
    with pytest.raises(RecipeError) as info:
        expand(load_recipe(write_recipe(MANY.replace("    gap: 350\n", "").split("  rain:")[0] + "mix: []\n")))
    assert not isinstance(info.value, RecipeErrors) or len(info.value.errors) > 1


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        (
            "- mara: Wait: what is that?",
            "a ': ' inside text starts a mapping: quote the text: `- mara: \"Wait: what is that?\"`",
        ),
        (
            "- mara: 'Tis a pity, isn't it.",
            "a value starting with ' is quoted text up to the next ': double-quote the text: "
            "`- mara: \"'Tis a pity, isn't it.\"`",
        ),
        (
            "- mara: {whispering, to herself} Hello there",
            "a value starting with { is a YAML mapping, not text: write a direction as "
            "`- mara: (whispering, to herself) Hello there`, or quote it",
        ),
        (
            "- mara: [whispering] Hello there",
            "a value starting with [ is a YAML list, not text; a [stage direction] is not read aloud either: write "
            "`- mara: (whispering) Hello there`, or make it a narrator line, a `- pause:` or a `- cue:`",
        ),
        (
            "- mara: [whispering]",
            "a [...] is a YAML list, not text, and a [stage direction] is not read aloud either: write a direction "
            "as (aside) before the words, or make it a narrator line, a `- pause:` or a `- cue:`",
        ),
        (
            "- mara: {whispering, to herself}",
            "a {…} is a YAML mapping, not text: write a direction as (softly, aside) before the words, or quote it",
        ),
    ],
)
def test_yaml_traps_in_a_line_get_a_hint_to_quote_the_text(write_recipe, line: str, hint: str) -> None:
    head = "audioflow: 1\ncast: {mara: {}}\nsteps:\n  scene:\n    dialogue:\n"
    path = write_recipe(f"{head}      {line}\nmix: [{{track: scene}}]\n")
    code, lines = _validate(path)
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"{path}:6:") and lines[0].endswith(f"({hint})")


def test_prose_with_commas_in_a_flow_mapping_line_gets_a_hint(write_recipe) -> None:
    head = "audioflow: 1\ncast: {mara: {}}\nsteps:\n  scene:\n    dialogue:\n"
    path = write_recipe(f"{head}      - {{mara: Well, I never, said she}}\nmix: [{{track: scene}}]\n")
    code, lines = _validate(path)
    hint = (
        "inside {…} a comma ends the text and what follows is read as another key: quote the text "
        '(`- {mara: "Well, I never"}`) or write the line as `- mara: Well, I never`'
    )
    assert code == 2
    assert lines == [  # was: "expected string, got nothing", twice, with no hint
        f"{path}:6:29: expected string, got nothing ({hint})",
        f"{path}:6:39: expected string, got nothing ({hint})",
    ]


def test_an_unclosed_leading_apostrophe_gets_both_readings(write_recipe) -> None:
    path = write_recipe("audioflow: 1\ncast: {mara: {}}\nsteps:\n  s: {speak: 'Tis the season, voice: mara}\nmix: []\n")
    code, lines = _validate(path)
    assert code == 2
    assert "(close it with '; inside the quotes write ' as ''" in lines[0]
