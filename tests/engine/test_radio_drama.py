"""The radio-drama recipe (recipes/night-shift.yaml): isolate → clone, a scene with @ references,
generated effects — drafted offline, and rendered against the fake Segmind."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fakes.segmind import segmind_in_env
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4

from audioflow.engine import open_project

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.fixture
def drama(tmp_path: Path) -> Path:
    shutil.copytree(RECIPES, tmp_path / "recipes", ignore=shutil.ignore_patterns("out", ".audioflow"))
    return tmp_path / "recipes" / "night-shift.yaml"


@pytest.mark.slow
def test_the_radio_drama_drafts_offline(drama: Path) -> None:
    report = open_project(drama, provider="local", cache_dir=drama.parent / "cache").run()
    assert report.result.ok, [o.error for o in report.result.outcomes.values() if o.error]
    assert report.manifest is not None
    manifest = report.manifest.to_json()
    assert 25_000 < manifest["duration_ms"] < 90_000
    assert abs(manifest["loudness"]["measured_lufs"] + 16) <= 1.0
    assert manifest["loudness"]["measured_true_peak_dbtp"] <= -1.0 + 0.1
    steps = {s["id"]: s for s in manifest["steps"]}
    assert steps["mara_clean"]["approximate"]  # offline isolation
    assert steps["scene"]["approximate"]  # offline clones
    assert sorted(manifest["placeholders"]) == ["chime", "fridges", "rain", "sting"]
    assert {"cast.mara", "cast.dev"} <= set(steps)
    transcript = (drama.parent / "out" / "night-shift.mp3.srt").read_text()
    assert "Did you hear that?" in transcript and "the bell rang" in transcript
    # what a podcast host and an audiobook store receive: two outputs, tagged, with artwork and chapters
    out = drama.parent / "out"
    assert [o.path.name for o in report.outputs] == ["night-shift.mp3", "night-shift.m4b"]
    mp3, m4b = MP3(out / "night-shift.mp3"), MP4(out / "night-shift.m4b")
    assert str(mp3.tags["TALB"]) == "The Night Shift" and mp3.tags.getall("APIC")[0].mime == "image/jpeg"
    assert m4b.tags["\xa9alb"] == ["The Night Shift"] and m4b.tags["covr"]
    titles = ["Two in the morning", "Did you hear that?", "The bell"]
    chaps = sorted(mp3.tags.getall("CHAP"), key=lambda c: c.start_time)
    assert [str(c.sub_frames["TIT2"]) for c in chaps] == titles
    assert [c.title for c in m4b.chapters] == titles
    assert [round(c.start * 1000) for c in m4b.chapters] == [c.start_time for c in chaps]
    assert chaps[0].start_time == 1000  # the opening is placed at 1 s


def test_the_radio_drama_renders_on_segmind(drama: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = drama.read_text().replace("segmind: {concurrency: 4, timeout: 10min}", "segmind: {poll_interval: 10ms}")
    drama.write_text(text)
    with segmind_in_env(monkeypatch) as hosts:
        report = open_project(drama, provider="segmind", cache_dir=drama.parent / "cache").run()
        assert report.result.ok, [o.error for o in report.result.outcomes.values() if o.error]
        submits = {r.json.get("text_prompt", r.json.get("description")): (r.path, r.json) for r in hosts.api.submits()}
    assert len(submits) == 9  # isolate, 4 effects, 2 narrator lines, the scene, the closing line
    path, body = submits["a woman speaking"]
    assert path == "/v2/sam-audio-large" and body["reranking_candidates"] == 4
    scene = next(b for p, b in submits.values() if "Did you hear that?" in b.get("text_prompt", ""))
    assert scene["text_prompt"].splitlines() == [
        "@Audio1 (whispering) Dev. Did you hear that?",
        "@Audio2 Hear what? It's just the fridges.",
        "@Audio1 No. The door. Somebody came in.",
        "@Audio2 (nervous) Nobody came in, Mara. The bell would have rung.",
    ]
    assert len(scene["reference_audio_urls"]) == 2
    sting = next(b for p, b in submits.values() if "cello" in b.get("text_prompt", ""))
    assert sting["text_prompt"] == "@Audio1 gasps softly, then one low tense cello note"
    assert len(sting["reference_audio_urls"]) == 1
    narrator = next(b for p, b in submits.values() if "two in the morning" in b.get("text_prompt", ""))
    assert narrator["speaker"] == "en_male_bruce_uranus_bigtts" and "reference_audio_urls" not in narrator
    assert report.manifest is not None
    manifest = report.manifest.to_json()
    assert manifest["placeholders"] == []
    assert all(s.get("request_id") for s in manifest["steps"] if s["provider"] == "segmind")
