"""The radio-drama demo in the new language (recipes/riders-to-the-sea.yaml), drafted offline as the
how-to runs it: five speakers, cues anchored to lines, pauses, labels, a bed and a track at a line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from audioflow.engine import open_project
from audioflow.recipe import expand, load_recipe
from audioflow.steps import DialoguePayload

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
DEMO = "riders-to-the-sea.yaml"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    shutil.copytree(RECIPES, tmp_path / "recipes", ignore=shutil.ignore_patterns("out", ".audioflow"))
    return tmp_path / "recipes" / DEMO


def test_the_demo_is_written_in_the_new_language() -> None:
    recipe = load_recipe(RECIPES / DEMO)
    assert len(recipe.cast) >= 5
    scene = expand(recipe).steps["scene"].payload
    assert isinstance(scene, DialoguePayload)
    speakers = {line.voice for line in scene.lines}
    assert speakers == set(recipe.cast)
    assert len(scene.cues) == 4 and {cue.at for cue in scene.cues} == {"start", "end"}
    assert scene.tail_ms == 2000.0 and any(line.gap_ms == 1500.0 for line in scene.lines)  # pauses
    assert recipe.mix.tracks[-1].anchor == ".rope"


@pytest.mark.slow
def test_the_demo_drafts_offline_and_cues_stay_out_of_speech_and_transcripts(demo: Path) -> None:
    report = open_project(demo, provider="local", cache_dir=demo.parent / "cache").run()
    assert report.result.ok, [o.error for o in report.result.outcomes.values() if o.error]
    manifest = report.manifest.to_json()
    assert abs(manifest["loudness"]["measured_lufs"] + 16) <= 1.0
    assert {"sea", "fire", "gust", "scene.cue[1]", "scene.cue[2]", "scene.cue[3]"} <= set(manifest["placeholders"])
    scene = report.result.outcomes["scene"].meta
    assert scene is not None
    lines = [(s.start_ms, s.end_ms) for s in scene.segments]
    assert len(lines) == 17 and list(scene.speech_ms) == lines  # the cues add no speech
    assert scene.duration_ms == pytest.approx(lines[-1][1] + 2000.0, abs=1.0)  # the closing pause
    transcript = (demo.parent / "out" / "riders-to-the-sea.srt").read_text()
    assert "Where is she?" in transcript and "bought in Connemara" in transcript
    assert "shingle" not in transcript and "gust" not in transcript
    again = open_project(demo, provider="local", cache_dir=demo.parent / "cache").run()
    assert again.result.count("rendered") == 0
