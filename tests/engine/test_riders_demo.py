"""The radio-drama demo in the new language (recipes/riders-to-the-sea.yaml), drafted offline as the
how-to runs it: five speakers, cues anchored to lines, pauses, labels, a bed and a track at a line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fakes.segmind import KEY, segmind_hosts

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
    assert [e.kind for e in recipe.cast["nora_at_door"].effects] == ["distance"]  # a distant voice
    narrator = [line for line in scene.lines if "Maurya comes" in line.text]
    assert len(narrator) == 1 and recipe.lexicon.respell(narrator[0].text, "narrator", "segmind").say


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
    assert len(lines) == 18 and len(scene.speech_ms) == 18  # one speech interval a line: the cues add none
    for (start, end), (line_start, line_end) in zip(scene.speech_ms, lines, strict=True):
        assert line_start <= start < end <= line_end  # (the distant voice's reverb tail is not speech)
    assert scene.duration_ms == pytest.approx(lines[-1][1] + 2000.0, abs=1.0)  # the closing pause
    transcript = (demo.parent / "out" / "riders-to-the-sea.srt").read_text()
    assert "Where is she?" in transcript and "bought in Connemara" in transcript
    assert "NORA:" in transcript.upper() and "MOY-ra" not in transcript  # display names; no respelling
    assert "shingle" not in transcript and "gust" not in transcript
    again = open_project(demo, provider="local", cache_dir=demo.parent / "cache").run()
    assert again.result.count("rendered") == 0


def test_the_demo_renders_on_the_fake_segmind(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = "provider: local\nproviders:\n  segmind: {poll_interval: 10ms}\n"
    demo.write_text(demo.read_text().replace("provider: local\n", settings))
    with segmind_hosts() as hosts:
        for name, value in hosts.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SEGMIND_API_KEY", KEY)
        report = open_project(demo, provider="segmind", cache_dir=demo.parent / "cache").run()
        assert report.result.ok, [o.error for o in report.result.outcomes.values() if o.error]
        prompts = [r.json["text_prompt"] for r in hosts.api.submits()]
    assert len(prompts) == 3 + 3 + 1 + 18  # sea, fire, gust; three inline cues; the opening; every line
    assert sum("shingle" in p for p in prompts) == 1  # an inline cue is one request of its own
    assert "MOY-ra comes from the inner room." in "\n".join(prompts)  # the lexicon's respelling is sent
    transcript = (demo.parent / "out" / "riders-to-the-sea.srt").read_text()
    assert "Maurya comes from the inner room." in transcript and "MOY-ra" not in transcript
    assert report.manifest is not None and report.manifest.to_json()["placeholders"] == []
