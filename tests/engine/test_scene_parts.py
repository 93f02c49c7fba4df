"""A ``render: scene`` cast of five cloned voices on the fake Segmind: one request per scene part, each
citing at most three clips as ``@Audio1..3`` in order of first appearance; one line edit re-renders
one part; a line's take retakes its part; estimated timings flagged in the manifest and transcripts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import write_recipe_file
from fakes.base import wav_bytes
from fakes.segmind import segmind_in_env

from audioflow.engine import open_project
from audioflow.engine.transcript import ESTIMATED_NOTE

CAST = ("ann", "bob", "cat", "dan", "eve")
LINES = [
    ("ann", "The bell. Did you hear the bell?"),
    ("bob", "I heard nothing at all."),
    ("cat", "Nor I. Go back to sleep."),
    ("ann", "There it is again."),
    ("dan", "Somebody is at the door."),
    ("eve", "At this hour? Nobody calls at this hour."),
    ("dan", "Then who is knocking?"),
]


def _recipe(lines: list[tuple[str, str]] = LINES, extra: dict[int, str] | None = None) -> str:
    cast = "".join(f"  {name}: {{clone: voices/{name}.wav}}\n" for name in CAST)
    rows = "".join(
        f"      - {{{voice}: {text!r}{(', ' + (extra or {}).get(i, '')) if i in (extra or {}) else ''}}}\n"
        for i, (voice, text) in enumerate(lines)
    )
    return f"""\
audioflow: 1
title: Knocking
provider: segmind
providers:
  segmind: {{concurrency: 4, poll_interval: 10ms}}
cast:
{cast}steps:
  scene:
    render: scene
    dialogue:
{rows}mix:
  - {{track: scene}}
master: {{format: wav}}
output: out/knocking.wav
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "voices").mkdir()
    for i, name in enumerate(CAST):
        (tmp_path / "voices" / f"{name}.wav").write_bytes(wav_bytes(3.0, freq_hz=150.0 + 40 * i))
    return tmp_path


@pytest.fixture
def segmind(monkeypatch: pytest.MonkeyPatch):
    with segmind_in_env(monkeypatch, queued_polls=0, processing_polls=0) as hosts:
        yield hosts


def _scene_prompts(segmind) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.json["text_prompt"] for r in segmind.api.submits() if "text_prompt" in r.json]


def test_five_cloned_voices_are_sent_as_one_request_per_part(segmind, folder: Path) -> None:
    path = write_recipe_file(folder, _recipe())
    project = open_project(path, cache_dir=folder / "cache")
    parts = [s for s in project.graph.steps.values() if s.kind == "scene"]
    assert [p.id for p in parts] == ["scene#1", "scene#2"]
    report = project.run()
    assert report.result.ok, [o.error for o in report.result.outcomes.values() if o.error]
    submits = [r.json for r in segmind.api.submits() if "text_prompt" in r.json]
    assert len(submits) == len(parts)  # exactly one request per part
    first_line = {part.payload.lines[0].text: n for n, part in enumerate(parts)}  # type: ignore[union-attr]
    submits.sort(key=lambda body: first_line[body["text_prompt"].splitlines()[0].split(" ", 1)[1]])  # sent at once
    sent_lines = []
    for body, part in zip(submits, parts, strict=True):
        rows = body["text_prompt"].splitlines()
        markers = [re.match(r"@Audio(\d) ", row).group(1) for row in rows]  # type: ignore[union-attr]
        first_seen = list(dict.fromkeys(markers))
        assert first_seen == [str(n) for n in range(1, len(first_seen) + 1)] and len(first_seen) <= 3
        assert len(body["reference_audio_urls"]) == len(first_seen)
        voices = [line.voice for line in part.payload.lines]  # type: ignore[union-attr]
        assert [first_seen.index(m) for m in markers] == [list(dict.fromkeys(voices)).index(v) for v in voices]
        sent_lines += [row.split(" ", 1)[1] for row in rows]
    assert sent_lines == [text for _, text in LINES]  # every line once, in order
    manifest = report.manifest.to_json()  # type: ignore[union-attr]
    steps = {s["id"]: s for s in manifest["steps"]}
    assert steps["scene#1"]["timings_estimated"] and steps["scene#2"]["timings_estimated"]
    assert "timings_estimated" not in steps["scene"]
    assert manifest["transcript_cues_estimated"] == len(LINES)
    vtt = (folder / "out" / "knocking.vtt").read_text()
    assert vtt.count(ESTIMATED_NOTE) == 1 and "<v ann>The bell. Did you hear the bell?" in vtt
    assert "ann (~): The bell." in (folder / "out" / "knocking.srt").read_text()


def test_one_line_edit_re_renders_one_part_and_a_line_take_retakes_its_part(segmind, folder: Path) -> None:
    path = write_recipe_file(folder, _recipe())
    assert open_project(path, cache_dir=folder / "cache").run().result.ok
    assert len(_scene_prompts(segmind)) == 2
    edited = list(LINES)
    edited[4] = ("dan", "Somebody is at the gate.")
    path.write_text(_recipe(edited))
    report = open_project(path, cache_dir=folder / "cache").run()
    assert report.result.ok
    statuses = {k: str(o.status) for k, o in report.result.outcomes.items()}
    assert statuses["scene#1"] == "cached" and statuses["scene#2"] == "rendered"
    prompts = _scene_prompts(segmind)
    assert len(prompts) == 3 and "Somebody is at the gate." in prompts[-1]
    path.write_text(_recipe(edited, extra={1: "take: 2"}))
    report = open_project(path, cache_dir=folder / "cache").run()
    statuses = {k: str(o.status) for k, o in report.result.outcomes.items()}
    assert statuses["scene#1"] == "rendered" and statuses["scene#2"] == "cached"
    assert len(_scene_prompts(segmind)) == 4
