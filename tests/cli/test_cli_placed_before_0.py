"""A cue placed before its dialogue, or a track before the programme, found only once the takes
exist: a located recipe error, exit 2, and what rendered stays cached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FakeProvider, invoke

from audioflow.providers import PROVIDERS

RECIPE = """\
audioflow: 1
title: Test
cast:
  mara: {preset: {local: joe}}
  ben: {preset: {local: deep}}
steps:
  bell: {generate: a bell, duration: 1s}
  scene:
    dialogue:
      - mara: Hello there.
      - ben: Hi, Mara.
      - cue: bell
        at: start
        offset: -20s
      - mara: Bye.
mix:
  - {track: scene}
output: out/test.wav
"""


@pytest.fixture
def fake_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """`local` speaks every line as a 300 ms sine (FakeProvider): line 3 starts at 1300 ms."""
    monkeypatch.setitem(PROVIDERS, "local", lambda settings=None: FakeProvider())


def test_a_cue_before_its_dialogue_on_a_later_line_is_a_located_error(in_tmp: Path, fake_local: None) -> None:
    Path("recipe.yaml").write_text(RECIPE, encoding="utf-8")
    assert invoke("validate", "recipe.yaml").exit_code == 0  # line 3's start is known only once rendered
    failed = invoke("run", "recipe.yaml", "--cache-dir", "cache")
    assert failed.exit_code == 2, failed.stderr
    assert (
        "failed: scene: recipe.yaml:12:14: this cue would start 18700 ms before the dialogue: the start of "
        "line 3 is at 1300 ms as its takes are rendered (make its offset -1300ms or nearer 0, or put a "
        "`- pause:` before the first line)\n"
    ) in failed.stderr
    assert "Traceback" not in failed.stderr + failed.stdout
    plan = json.loads(invoke("plan", "recipe.yaml", "--cache-dir", "cache", "--json").stdout)
    status = {row["id"]: row["status"] for row in plan["steps"]}
    assert {step: status[step] for step in ("bell", "scene[1]", "scene[2]", "scene[3]")} == dict.fromkeys(
        ("bell", "scene[1]", "scene[2]", "scene[3]"), "up-to-date"
    )  # what rendered before the failure stays cached
    assert status["scene"] == "stale"
    Path("recipe.yaml").write_text(RECIPE.replace("offset: -20s", "offset: -1300ms"), encoding="utf-8")
    fixed = invoke("run", "recipe.yaml", "--cache-dir", "cache", "--json")
    assert fixed.exit_code == 0, fixed.stderr
    steps = {row["id"]: row["status"] for row in json.loads(fixed.stdout)["steps"]}
    assert steps["scene[3]"] == "cached" and steps["scene"] == "rendered"


def test_a_track_placed_before_the_programme_by_a_later_line_is_a_located_error(in_tmp: Path, fake_local: None) -> None:
    text = RECIPE.replace("        at: start\n        offset: -20s\n", "").replace(
        "  - {track: scene}\n", "  - {track: scene}\n  - track: bell\n    with: scene[3]\n    offset: -20s\n"
    )
    Path("recipe.yaml").write_text(text, encoding="utf-8")
    assert invoke("validate", "recipe.yaml").exit_code == 0
    failed = invoke("run", "recipe.yaml", "--cache-dir", "cache", "--keep-going")
    assert failed.exit_code == 2, failed.stderr
    assert (
        "failed: mix: recipe.yaml:16:12: this track would start 18700 ms before the programme: it is placed at "
        "1300 ms as the tracks it follows are rendered (a programme starts at 0: shorten the offset, or place "
        "the track later)\n"
    ) in failed.stderr
    plan = json.loads(invoke("plan", "recipe.yaml", "--cache-dir", "cache", "--json").stdout)
    status = {row["id"]: row["status"] for row in plan["steps"]}
    assert status["scene"] == "up-to-date" and status["mix"] == "stale"
