"""The radio-drama demo in the new language (recipes/riders-to-the-sea.yaml), as the how-to runs it:
six voices (four cloned), cues anchored to lines, pauses, labels, a lexicon entry, a distant voice, a
bed and a track at a line; the scene split into requests of at most three references each."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from fakes.segmind import segmind_in_env

from audioflow.engine import open_project
from audioflow.recipe import expand, load_recipe
from audioflow.steps import DialoguePayload, LinesPayload, StepKind

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
DEMO = "riders-to-the-sea.yaml"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    shutil.copytree(RECIPES, tmp_path / "recipes", ignore=shutil.ignore_patterns("out", ".audioflow"))
    return tmp_path / "recipes" / DEMO


def test_the_demo_is_written_in_the_new_language() -> None:
    recipe = load_recipe(RECIPES / DEMO)
    graph = expand(recipe)
    scene = graph.steps["scene"].payload
    assert isinstance(scene, DialoguePayload)
    assert len({line.voice for line in scene.lines}) == 5  # five speakers in the scene, four of them cloned
    assert len(scene.cues) == 4 and {cue.at for cue in scene.cues} == {"start", "end"}
    assert scene.tail_ms == 2000.0 and any(line.gap_ms == 1500.0 for line in scene.lines)  # pauses
    (gust,) = [track for track in recipe.mix.tracks if track.spec.track == "gust"]
    assert gust.anchor == ".rope"
    assert [e.kind for e in recipe.cast["nora_at_door"].effects] == ["distance"]  # a distant voice
    parts = [s for s in graph.steps.values() if s.kind == StepKind.SCENE]
    assert [s.id for s in parts] == ["scene#1", "scene#2", "scene#3"] and scene.parts == (10, 5, 1)
    assert all(isinstance(s.payload, LinesPayload) and len(s.payload.references) <= 3 for s in parts)
    said = [line.say for s in parts for line in s.payload.lines if "Maurya comes" in line.text]  # type: ignore[union-attr]
    assert said == ["[[ ˈmɔɪɹə ]] comes from the inner room."]  # the lexicon entry: locally, its IPA form


@pytest.mark.slow
def test_the_demo_drafts_offline_and_cues_stay_out_of_speech_and_transcripts(demo: Path) -> None:
    report = open_project(demo, provider="local", cache_dir=demo.parent / "cache").run()
    assert report.result.ok, [o.error for o in report.result.outcomes.values() if o.error]
    manifest = report.manifest.to_json()
    assert abs(manifest["loudness"]["measured_lufs"] + 16) <= 1.0
    cues = {"scene.cue[moving]", "scene.cue[stones]", "scene.cue[rope]"}
    assert {"sea", "fire", "gust", *cues} <= set(manifest["placeholders"])
    scene = report.result.outcomes["scene"].meta
    assert scene is not None and not scene.segments_estimated  # the local provider reports real line timings
    lines = [(s.start_ms, s.end_ms) for s in scene.segments]
    assert len(lines) == 16
    for start, end in scene.speech_ms:  # the cues add no speech: every speech interval is inside a line
        assert any(line_start <= start < end <= line_end for line_start, line_end in lines)
    assert scene.duration_ms == pytest.approx(lines[-1][1] + 2000.0, abs=1.0)  # the closing pause
    transcript = (demo.parent / "out" / "riders-to-the-sea.mp3.srt").read_text()
    assert "Where is she?" in transcript and "bought in Connemara" in transcript
    assert "Nora:" in transcript or "NORA" in transcript.upper()  # display names
    assert "Maurya comes" in transcript and "MOY-ra" not in transcript and "shingle" not in transcript
    again = open_project(demo, provider="local", cache_dir=demo.parent / "cache").run()
    assert again.result.count("rendered") == 0


def test_the_demo_renders_on_the_fake_segmind_one_request_per_part(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = "provider: local\nproviders:\n  segmind: {poll_interval: 10ms}\n"
    demo.write_text(demo.read_text().replace("provider: local\n", settings))
    with segmind_in_env(monkeypatch) as hosts:
        report = open_project(demo, provider="segmind", cache_dir=demo.parent / "cache").run()
        assert report.result.ok, [o.error for o in report.result.outcomes.values() if o.error]
        bodies = [r.json for r in hosts.api.submits()]
    prompts = [b["text_prompt"] for b in bodies]
    assert (
        len(prompts) == 4 + 3 + 1 + 2 + 3
    )  # sea, fire, gust, room tone; three inline cues; opening; the door; 3 parts
    parts = [b for b in bodies if "\n" in b["text_prompt"] or "Connemara" in b["text_prompt"]]
    assert len(parts) == 3
    for body in parts:
        cited = re.findall(r"^@Audio(\d)", body["text_prompt"], re.M)
        first_seen = list(dict.fromkeys(cited))
        assert first_seen == [str(i) for i in range(1, len(first_seen) + 1)]  # numbered in order of first use
        assert len(first_seen) <= 3 and len(body["reference_audio_urls"]) == len(first_seen)
    assert sorted(len(b["text_prompt"].splitlines()) for b in parts) == [1, 5, 10]
    assert "narrator: MOY-ra comes from the inner room." in "\n".join(prompts)  # the lexicon's respelling, sent
    assert sum("shingle" in p for p in prompts) == 1  # an inline cue is one request of its own
    transcript = (demo.parent / "out" / "riders-to-the-sea.mp3.srt").read_text()
    segments = json.loads((demo.parent / "out" / "riders-to-the-sea.mp3.transcript.json").read_text())["segments"]
    words = " ".join(segment["body"] for segment in segments)  # a line may span several cues
    assert "Maurya comes from the inner room." in words and "MOY-ra" not in transcript
    assert report.manifest is not None and report.manifest.to_json()["placeholders"] == []
