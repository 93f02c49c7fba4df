"""Cues, pauses and labels inside a dialogue; mix tracks placed at a line; the errors a writer gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from audioflow.errors import RecipeError, SourceLocation
from audioflow.recipe import expand, load_recipe
from audioflow.recipe.schema import load_schema
from audioflow.steps import CueSpec, DialoguePayload, StepKind

DRAMA = """\
audioflow: 1
cast:
  mara: {preset: {local: joe}}
  ben: {preset: {local: deep}}
steps:
  bell: {generate: a brass bell, duration: 2s, texture: tone}
  scene:
    dialogue:
      - pause: 1s
      - cue: bell
        at: start
        offset: -500ms
      - mara: Did you hear that?
        label: hear
      - cue: bell
        offset: 200ms
        gain_db: -6
      - ben: Hear what?
      - pause: 2s
      - cue: {generate: footsteps going away, duration: 3s}
        at: start
        duck_db: -12
      - mara: Never mind.
      - pause: 1500ms
  room: {generate: room tone, duration: 30s}
mix:
  - {track: scene}
  - {track: room, under: scene.hear, gain_db: -20, duck_db: -10}
  - {track: bell, after: "scene[3]", offset: 100ms}
"""


def _graph(write_recipe, text: str = DRAMA):
    return expand(load_recipe(write_recipe(text)))


def _error(write_recipe, text: str) -> RecipeError:
    path = write_recipe(text)
    with pytest.raises(RecipeError) as info:
        expand(load_recipe(path))
    assert info.value.exit_code == 2
    return info.value


def test_cues_pauses_and_labels_expand_into_the_dialogue_payload(write_recipe) -> None:
    graph = _graph(write_recipe)
    assert list(graph.steps) == [
        "bell",
        "scene.cue[1]",
        "scene[1]",
        "scene[2]",
        "scene[3]",
        "scene",
        "room",
        "mix",
        "master",
    ]
    scene = graph.steps["scene"]
    payload = scene.payload
    assert isinstance(payload, DialoguePayload)
    assert [line.text for line in payload.lines] == ["Did you hear that?", "Hear what?", "Never mind."]
    assert [line.gap_ms for line in payload.lines] == [None, None, 2000.0]  # the pause is line 3's gap
    assert (payload.lead_ms, payload.tail_ms) == (1000.0, 1500.0)
    assert payload.cues == (
        CueSpec("bell", 0, "start", -500.0),
        CueSpec("bell", 0, "end", 200.0, gain_db=-6.0),
        CueSpec("scene.cue[1]", 2, "start", duck_db=-12.0),
    )
    assert scene.deps == ("scene[1]", "scene[2]", "scene[3]", "bell", "scene.cue[1]")
    inline = graph.steps["scene.cue[1]"]
    assert inline.kind == StepKind.GENERATE and inline.provider == "local"
    assert inline.params["prompt"] == "footsteps going away" and inline.params["duration_ms"] == 3000.0


def test_mix_tracks_name_lines_by_number_and_label(write_recipe) -> None:
    tracks = _graph(write_recipe).steps["mix"].params["tracks"]
    assert (tracks[1]["under"], tracks[1]["anchor_line"]) == ("scene", 1)
    assert (tracks[2]["after"], tracks[2]["anchor_line"], tracks[2]["offset_ms"]) == ("scene", 3, 100.0)
    assert "anchor_line" not in tracks[0] and "crossfade_ms" not in tracks[0]  # optional keys stay out


def test_cues_and_pauses_change_the_dialogue_digest_only(write_recipe) -> None:
    plain = _graph(write_recipe, DRAMA.replace("        offset: 200ms\n", ""))
    moved = _graph(write_recipe)
    for line in ("scene[1]", "scene[2]", "scene[3]"):
        assert plain.steps[line].params == moved.steps[line].params
    assert plain.steps["scene"].params != moved.steps["scene"].params


def test_a_dialogue_without_cues_keeps_its_canonical_form(write_recipe) -> None:
    graph = _graph(
        write_recipe,
        DRAMA.split("steps:")[0] + "steps:\n  scene:\n    dialogue:\n      - mara: Hi.\nmix:\n  - {track: scene}\n",
    )
    assert graph.steps["scene"].params == {"gap_ms": 350.0, "lines": [{"voice": "mara", "text": "Hi.", "gap_ms": None}]}


def test_a_scene_with_cues_renders_its_speech_as_one_step_and_joins_the_cues(write_recipe) -> None:
    graph = _graph(write_recipe, DRAMA.replace("  scene:\n    dialogue:", "  scene:\n    render: scene\n    dialogue:"))
    assert graph.steps["scene.speech"].kind == StepKind.SCENE
    scene = graph.steps["scene"]
    assert scene.kind == StepKind.DIALOGUE and scene.deps == ("scene.speech", "bell", "scene.cue[1]")
    assert isinstance(scene.payload, DialoguePayload) and scene.payload.parts == (3,)
    bare = DRAMA.split("steps:")[0] + "steps:\n  scene:\n    render: scene\n    dialogue:\n      - mara: Hi.\n"
    assert _graph(write_recipe, bare + "mix:\n  - {track: scene}\n").steps["scene"].kind == StepKind.SCENE


ERRORS = {
    "unknown cue": (
        DRAMA.replace("      - cue: bell\n        offset", "      - cue: bel\n        offset"),
        (15, 14),
        "cue 'bel' names no step",
        "did you mean 'bell'?",
    ),
    "cue of itself": (
        DRAMA.replace("- cue: bell\n        at", "- cue: scene\n        at"),
        (10, 14),
        "a dialogue cannot cue itself",
        "name a step (a generate or file step), or write it inline",
    ),
    "unknown label": (
        DRAMA.replace("under: scene.hear", "under: scene.haer"),
        (28, 26),
        "'scene.haer': dialogue scene has no line labelled 'haer'",
        "did you mean scene.hear?",
    ),
    "line out of range": (
        DRAMA.replace('after: "scene[3]"', 'after: "scene[9]"'),
        (29, 26),
        "'scene[9]': dialogue scene has 3 lines",
        "lines are numbered from 1: scene[1] … scene[3]",
    ),
    "line of a step that is no dialogue": (
        DRAMA.replace('after: "scene[3]"', 'after: "room[3]"'),
        (29, 26),
        "'room[3]': room is a generate step; only the lines of a dialogue can be named",
        "write `room` to name the whole step",
    ),
    "line of a track not placed yet": (
        DRAMA.replace("  - {track: scene}\n", "").replace("under: scene.hear", "at: 0"),
        (28, 26),
        "`after: scene[3]` names no earlier track of this mix",
        "refer to a track placed earlier in this mix",
    ),
    "bracketed instruction": (
        DRAMA.replace("Hear what?", "Hear [laughs] what?"),
        (18, 14),
        "[laughs] is an instruction audioflow does not support: it would be read aloud",
        "a leading (direction) sets how a line is read; write `- pause: 1s` for silence, "
        "`- cue: STEP` for a sound, or a narrator line for a stage direction",
    ),
    "SSML break": (
        DRAMA.replace("Never mind.", "'Never <break time=\"1s\"/> mind.'"),
        (23, 15),
        '<break time="1s"/> is an instruction audioflow does not support: it would be read aloud',
        "a leading (direction) sets how a line is read; write `- pause: 1s` for silence, "
        "`- cue: STEP` for a sound, or a narrator line for a stage direction",
    ),
    "cue at the end with no line above": (
        DRAMA.replace("        at: start\n        offset: -500ms\n", ""),
        (10, 9),
        "this cue comes before any line: there is no line above it to end",
        "write `at: start` to place it at the start of the line below",
    ),
    "cue at the start with no line below": (
        DRAMA.replace("      - pause: 1500ms\n", "      - cue: bell\n        at: start\n"),
        (24, 14),
        "`at: start` places a cue at the start of the line below it, and there is none",
        "write `at: end` to place it at the end of the line above",
    ),
    "cue before the dialogue starts": (
        DRAMA.replace("offset: -500ms", "offset: -1500ms"),
        (10, 14),
        "this cue would start 500 ms before the dialogue",
        "make its offset smaller, or put a `- pause:` before the first line",
    ),
    "gap after a pause": (
        DRAMA.replace("      - mara: Never mind.", "      - {mara: Never mind., gap: 1s}"),
        (23, 29),
        "this line follows a pause, which sets the silence before it",
        "drop `gap:` or fold it into the pause",
    ),
    "label twice": (
        DRAMA.replace("      - ben: Hear what?", "      - {ben: Hear what?, label: hear}"),
        (18, 34),
        "label 'hear' is already on the line at {path}:14:16",
        None,
    ),
    "bad label": (
        DRAMA.replace("label: hear", "label: 9hear"),
        (14, 16),
        "'9hear' is not a valid label",
        "a label is letters, digits, _ and -, starting with a letter or _, like door",
    ),
    "bad line reference": (
        DRAMA.replace('after: "scene[3]"', 'after: "scene[x]"'),
        (29, 26),
        "'scene[x]' is not a valid after",
        "name an earlier track of this mix, or a line of a dialogue track: scene[7] (1-based) or scene.LABEL",
    ),
    "unknown cue key": (
        DRAMA.replace("        gain_db: -6\n", "        gain: -6\n"),
        (17, 9),
        "unknown key 'gain'",
        "did you mean 'gain_db'?",
    ),
    "at neither start nor end": (
        DRAMA.replace("at: start\n        offset", "at: middle\n        offset"),
        (11, 13),
        "'middle' is not one of: end, start",
        None,
    ),
    "a pause with more keys": (
        DRAMA.replace("- pause: 2s", "- {pause: 2s, gap: 1s}"),
        (19, 21),
        "unknown key 'gap'",
        "expected one of: pause",
    ),
    "a voice called cue": (
        DRAMA.replace("  ben: {preset", "  cue: {preset"),
        (4, 3),
        "'cue' is a word of the dialogue (`- cue: …`), so no voice can be called that",
        "choose another name",
    ),
    "crossfade with a placement": (
        DRAMA.replace('after: "scene[3]", offset: 100ms', "at: 2s, crossfade: 1s"),
        (29, 27),
        "a crossfade starts a track before the track it follows ends; `at: 2s` sets its start",
        "use crossfade on a track that follows the previous one, or one placed `after` a track",
    ),
    "inline cue with an image": (
        DRAMA.replace("duration: 3s}", "duration: 3s, image: a.png}"),
        (20, 61),
        "unknown key 'image'",
        "expected one of: generate, duration, texture, provider, take",
    ),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_cue_and_line_errors_are_located_and_name_the_line(case: str, write_recipe) -> None:
    text, (line, col), message, hint = ERRORS[case]
    error = _error(write_recipe, text)
    path = write_recipe(text)
    assert (error.message, error.hint) == (message.replace("{path}", str(path)), hint)
    assert error.location == SourceLocation(str(path), line, col)


def test_the_schema_describes_every_new_key() -> None:
    defs = load_schema()["$defs"]
    for name in ("cue", "pause"):
        for key, spec in defs[name]["properties"].items():
            assert spec.get("description") or spec.get("$ref") == "#/$defs/gainDb", (name, key)
    assert set(defs["cue"]["properties"]) == {
        "cue",
        "at",
        "offset",
        "duration",
        "gain_db",
        "fade_in",
        "fade_out",
        "loop",
        "duck_db",
        "duck_attack",
        "duck_release",
        "chapter",
    }
    assert defs["line"]["properties"]["label"]["description"]
    assert defs["track"]["properties"]["crossfade"]["description"]
    assert "scene[7]" in defs["track"]["properties"]["after"]["description"]


def test_a_scene_line_reference_in_a_sub_mix(write_recipe, tmp_path: Path) -> None:
    sub = "  sub:\n    mix:\n      - {track: scene}\n      - {track: bell, with: scene.hear}\n"
    text = DRAMA.replace("  room: {generate", sub + "  room: {generate")
    tracks = _graph(write_recipe, text).steps["sub"].params["tracks"]
    assert (tracks[1]["with"], tracks[1]["anchor_line"]) == ("scene", 1)
