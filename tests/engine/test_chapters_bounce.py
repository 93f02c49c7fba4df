"""Chapters end to end: declared on tracks, dialogues, lines, cues and a list; resolved after the mix
to the sample; read back from every format with mutagen; the JSON chapters validated; located errors.

The fake provider speaks every line as a 300 ms sine, so with the default 350 ms gap a dialogue's
line i (0-based) runs from i × 650 ms to i × 650 + 300 ms after the dialogue's start. ``one.wav``
is 1 s of a low constant level, ``click.wav`` 100 ms.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import mutagen
import numpy as np
import pytest
from conftest import FakeProvider
from mutagen.id3 import ID3
from mutagen.mp4 import MP4
from PIL import Image

from audioflow.audio import Audio, decode_file, write_wav
from audioflow.engine import open_project
from audioflow.engine.builtin_steps import Upstream, mix_tracks
from audioflow.engine.meta import Segment, StepMeta
from audioflow.errors import RecipeError
from audioflow.recipe import load_recipe
from audioflow.steps import MixPayload, StepKind, TrackSpec

RATE = 22050
SCHEMA = json.loads((Path(__file__).parents[1] / "audio" / "schemas" / "podcast-chapters-1.2.schema.json").read_text())

RECIPE = """\
audioflow: 1
title: Chapters
cast:
  mara: {preset: {local: joe}}
  ben: {preset: {local: deep}}
steps:
  click: {file: click.wav}
  intro: {file: one.wav}
  outro: {file: one.wav}
  scene:
    chapter: The scene
    dialogue:
      - mara: One.
      - ben: Two.
        label: two
        chapter: {title: Ben speaks, url: "https://example.com/ben"}
      - {cue: click, offset: 123ms, chapter: The click}
      - mara: Three.
mix:
  - {track: intro, chapter: Opening}
  - {track: scene}
  - {track: outro, offset: 500ms}
chapters:
  - {at: "scene[3]", title: Last line, image: art/last.png}
  - {at: outro, title: Outro, image: "https://example.com/outro.jpg"}
  - {at: "3.5s", title: Late}
output: out/ep.FORMAT
"""

#: (start_ms, title): intro 0–1000, the scene from 1000 (lines at 1000, 1650, 2300; the click at
#: 1950 + 123), the outro from 2600 + 500 = 3100 to 4100.
EXPECTED = [
    (0.0, "Opening"),
    (1000.0, "The scene"),
    (1650.0, "Ben speaks"),
    (2073.0, "The click"),
    (2300.0, "Last line"),
    (3100.0, "Outro"),
    (3500.0, "Late"),
]
END_MS = 4100.0


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "show"
    (folder / "art").mkdir(parents=True)
    (folder / "one.wav").write_bytes(write_wav(Audio(np.full((RATE, 1), 0.05, dtype=np.float32), RATE)))
    (folder / "click.wav").write_bytes(write_wav(Audio(np.full((RATE // 10, 1), 0.2, dtype=np.float32), RATE)))
    Image.new("RGB", (1400, 1400), (200, 10, 10)).save(folder / "art" / "last.png")
    return folder


def _run(tmp_path: Path, text: str, fmt: str = "mp3", fake: FakeProvider | None = None):
    folder = tmp_path / "show" if (tmp_path / "show").exists() else _folder(tmp_path)
    path = folder / "r.yaml"
    path.write_text(text.replace("FORMAT", fmt), encoding="utf-8")
    return open_project(path, providers={"local": fake or FakeProvider()}, cache_dir=tmp_path / "cache").run()


def _close(got_ms: list[float], rate_hz: int) -> None:
    """Every start within one sample (and 1 ms) of where its anchor landed."""
    for got, (want, _) in zip(got_ms, EXPECTED, strict=True):
        assert abs(got - want) <= max(1000.0 / rate_hz, 1.0), (got, want)


@pytest.mark.parametrize("fmt", ["mp3", "m4b", "m4a", "flac", "opus"])
def test_chapters_land_on_their_anchors_in_every_format(tmp_path: Path, fmt: str) -> None:
    report = _run(tmp_path, RECIPE, fmt)
    rate = 48000 if fmt == "opus" else 44100
    chapters = report.manifest.chapters
    assert [c.title for c in chapters] == [title for _, title in EXPECTED]
    assert all(c.start_ms * rate / 1000 == pytest.approx(round(c.start_ms * rate / 1000), abs=1e-6) for c in chapters)
    _close([c.start_ms for c in chapters], rate)
    assert [c.end_ms for c in chapters] == [c.start_ms for c in chapters[1:]] + [pytest.approx(END_MS, abs=30)]
    output = report.output
    if fmt == "mp3":
        id3 = ID3(output)
        chaps = sorted(id3.getall("CHAP"), key=lambda c: c.start_time)
        _close([float(c.start_time) for c in chaps], 1000)
        assert [c.sub_frames["TIT2"].text[0] for c in chaps] == [title for _, title in EXPECTED]
        assert chaps[2].sub_frames.getall("WXXX")[0].url == "https://example.com/ben"
        art = (output.parents[1] / "art" / "last.png").read_bytes()
        assert chaps[4].sub_frames.getall("APIC")[0].data == art
        assert id3.getall("CTOC")[0].child_element_ids == [c.element_id for c in chaps]
        assert str(id3["TIT2"]) == "Chapters"  # the tags are there too
    elif fmt in ("m4a", "m4b"):
        mp4 = MP4(output)
        assert mp4.chapters is not None
        _close([c.start * 1000 for c in mp4.chapters], 1000)
        assert [c.title for c in mp4.chapters] == [title for _, title in EXPECTED]
        assert mp4.tags is not None and mp4.tags["\xa9nam"] == ["Chapters"]
    else:
        tags = mutagen.File(output).tags
        starts = [tags[f"CHAPTER{i:03d}"][0] for i in range(1, 8)]
        _close([_vorbis_ms(s) for s in starts], 1000)
        assert tags["CHAPTER003NAME"] == ["Ben speaks"] and tags["CHAPTER003URL"] == ["https://example.com/ben"]
    doc = json.loads(output.with_name("ep.chapters.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["version"] == "1.2.0" and doc["fileName"] == output.name
    _close([c["startTime"] * 1000 for c in doc["chapters"]], 1000)
    assert doc["chapters"][5]["img"] == "https://example.com/outro.jpg" and "img" not in doc["chapters"][4]
    manifest = json.loads(report.manifest_path.read_text())
    assert [c["title"] for c in manifest["chapters"]] == [title for _, title in EXPECTED]
    assert manifest["chapters_file"] == "ep.chapters.json"


def _vorbis_ms(text: str) -> float:
    hours, minutes, seconds = text.split(":")
    return (int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000


def test_a_wav_has_no_chapters_inside_but_the_json_beside_it(tmp_path: Path) -> None:
    report = _run(tmp_path, RECIPE, "wav")
    tags = mutagen.File(report.output).tags  # the wav's id3 chunk: tags, no chapters
    assert str(tags["TIT2"]) == "Chapters" and not tags.getall("CHAP") and not tags.getall("CTOC")
    assert len(json.loads(report.output.with_name("ep.chapters.json").read_text())["chapters"]) == 7


def test_renaming_or_moving_a_chapter_renders_nothing_again(tmp_path: Path) -> None:
    fake = FakeProvider()
    _run(tmp_path, RECIPE, fake=fake)
    text = RECIPE.replace("title: Late", "title: Later").replace('at: "3.5s"', 'at: "3.7s"')
    again = _run(
        tmp_path, text.replace("chapter: The scene", "chapter: {title: Scene, url: 'https://x.org'}"), fake=fake
    )
    assert again.result.count("rendered") == 0
    titles = [c.title for c in again.manifest.chapters]
    assert titles[1] == "Scene" and titles[-1] == "Later"
    assert again.manifest.chapters[-1].start_ms == pytest.approx(3700.0, abs=0.05)


def test_chapters_inside_a_mix_step_and_a_scene_take(tmp_path: Path) -> None:
    text = RECIPE.replace(
        "mix:\n  - {track: intro, chapter: Opening}\n  - {track: scene}",
        "  part:\n    mix:\n      - {track: intro, chapter: Opening}\n      - {track: scene}\nmix:\n  - {track: part}",
    )
    report = _run(tmp_path, text)
    assert [c.title for c in report.manifest.chapters] == [title for _, title in EXPECTED]
    _close([c.start_ms for c in report.manifest.chapters], 44100)


def test_a_scene_take_records_its_lines_from_its_segments(tmp_path: Path) -> None:
    take = tmp_path / "take.wav"
    take.write_bytes(write_wav(Audio(np.full((RATE, 1), 0.2, np.float32), RATE)))  # 1 s: two lines inside
    segments = (Segment(0, 400, "mara", "One."), Segment(600, 1000, "ben", "Two."))
    scene = Upstream("scene", StepKind.SCENE, take, StepMeta(1000.0, RATE, 1, segments=segments))
    intro = Upstream("intro", StepKind.FILE, take, StepMeta(1000.0, RATE, 1))
    payload = MixPayload(44100, 2, (TrackSpec("intro"), TrackSpec("scene", offset_ms=250.0)))
    _, _, meta = mix_tracks(payload, {"intro": intro, "scene": scene}, tmp_path)
    assert meta.anchors == (
        ("@0", 0.0, 1000.0),
        ("intro", 0.0, 1000.0),
        ("@1", 1250.0, 2250.0),
        ("scene", 1250.0, 2250.0),
        ("scene[1]", 1250.0, 1650.0),
        ("scene[2]", 1850.0, 2250.0),
    )
    assert StepMeta.from_json(meta.to_json()).anchors == meta.anchors  # kept in the step record


def _validate_error(tmp_path: Path, text: str) -> RecipeError:
    folder = _folder(tmp_path) if not (tmp_path / "show").exists() else tmp_path / "show"
    path = folder / "r.yaml"
    path.write_text(text.replace("FORMAT", "mp3"), encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert info.value.exit_code == 2
    return info.value


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('at: "scene[3]"', 'at: "secne[3]"', "there is no step 'secne'"),
        ('at: "scene[3]"', 'at: "scene.tow"', "did you mean scene.two?"),
        ('at: "scene[3]"', 'at: "scene[9]"', "dialogue scene has 3 lines"),
        ('at: "3.5s"', 'at: "3.5 parsecs"', "invalid value '3.5 parsecs'"),
        ("image: art/last.png", "image: ../outside.png", "outside"),
        ("image: art/last.png", "image: http://example.com/a.png", "only an https URL or a local file"),
        ("  outro: {file: one.wav}", "  outro: {file: one.wav, chapter: X}", "'chapter' does not apply to a file step"),
    ],
)
def test_bad_chapters_are_located_errors_at_validate(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = RECIPE.replace(old, new)
    error = _validate_error(tmp_path, text)
    assert message in str(error) + (error.hint or "")
    assert error.location is not None and error.location.line == _line_of(text, new.strip())


def test_list_times_out_of_order_or_repeated_are_refused_at_validate(tmp_path: Path) -> None:
    listed = "chapters:\n  - {at: '1:00', title: A}\n  - {at: 30s, title: B}\n  - {at: 30s, title: C}\n"
    base = RECIPE[: RECIPE.index("chapters:")] + "output: out/ep.mp3\n"
    error = _validate_error(tmp_path, base + listed)
    text = str(error)
    assert "comes before the chapter above it" in text and f":{_line_of(base + listed, 'title: B}')}:" in text
    assert "starts at the same time as the chapter above it" in text  # both, in one pass
    assert f":{_line_of(base + listed, 'title: C}')}:" in text


@pytest.mark.parametrize(
    ("old", "new", "message", "line_of"),
    [
        ('at: "3.5s"', 'at: "9s"', "at or past the end of the programme (4.100 s)", 'at: "9s"'),
        ('at: "scene[3]"', 'at: "2.073s"', "starts at 2.073 s, as chapter 'The click'", 'at: "2.073s"'),
        ('at: "scene[3]"', 'at: "scene[1]"', "", ""),  # 1.000 s: on the scene's own chapter
        ("  - {at: outro, title: Outro", "  - {at: intro, title: Outro", "before the chapter above it", "at: intro"),
        ("  - {track: outro, offset: 500ms}", "  - {track: click}", "outro is not in the programme", "at: outro"),
    ],
)
def test_chapters_that_cannot_be_placed_after_the_mix_are_located(
    tmp_path: Path, old: str, new: str, message: str, line_of: str
) -> None:
    text = RECIPE.replace(old, new)
    with pytest.raises(RecipeError) as info:
        _run(tmp_path, text)
    error = info.value
    if not message:  # scene[1] and the scene's own chapter start together
        assert "starts at 1.000 s, as chapter 'The scene'" in str(error)
        assert error.location.line == _line_of(text, 'at: "scene[1]"')
        return
    assert message in str(error)
    assert error.location.line == _line_of(text, line_of)
    assert not (tmp_path / "show" / "out" / "ep.mp3").exists()  # checked before anything is written


def test_a_chapter_image_hosts_would_refuse_is_caught_at_validate(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from audioflow.cli import cli

    folder = _folder(tmp_path)
    Image.new("RGB", (300, 300), 0).save(folder / "art" / "last.png")
    (folder / "r.yaml").write_text(RECIPE.replace("FORMAT", "mp3"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(folder / "r.yaml")])
    assert result.exit_code == 2
    line = _line_of(RECIPE, "image: art/last.png")
    assert f"r.yaml:{line}:" in result.output and "chapter image is 300×300 px" in result.output


@pytest.mark.parametrize(("fmt", "tolerance_frames"), [("wav", 0), ("flac", 0), ("mp3", 0), ("m4b", 2), ("opus", 2)])
def test_the_audio_starts_where_the_chapter_says(tmp_path: Path, fmt: str, tolerance_frames: int) -> None:
    """A tone after 1.5 s of silence, 123 ms late: its first sample in the decoded output is the
    chapter's start: to the sample (measured 0 frames off in every format: the encoders' delay is
    trimmed on decoding); AAC and Opus are given 2 frames for their transforms' smearing."""
    folder = tmp_path / "show"
    folder.mkdir()
    (folder / "quiet.wav").write_bytes(write_wav(Audio(np.zeros((RATE * 3 // 2, 1), np.float32), RATE)))
    tone = 0.3 * np.cos(2 * np.pi * 440 * np.arange(RATE) / RATE)
    (folder / "tone.wav").write_bytes(write_wav(Audio(tone[:, None].astype(np.float32), RATE)))
    text = (
        "audioflow: 1\nsteps:\n  quiet: {file: quiet.wav}\n  tone: {file: tone.wav}\n"
        "mix:\n  - {track: quiet}\n  - {track: tone, offset: 123ms, chapter: Tone}\n  - {track: quiet}\n"
        f"output: out/r.{fmt}\n"
    )
    (folder / "r.yaml").write_text(text, encoding="utf-8")
    report = open_project(folder / "r.yaml", providers={"local": FakeProvider()}, cache_dir=tmp_path / "c").run()
    (chapter,) = report.manifest.chapters
    decoded = decode_file(report.output)
    level = np.abs(decoded.samples[:, 0])
    onset = int(np.argmax(level > 0.5 * level.max()))  # above a lossy codec's pre-echo
    expected = chapter.start_ms * decoded.sample_rate_hz / 1000
    assert expected == pytest.approx(round(expected), abs=1e-6)
    assert chapter.start_ms == pytest.approx(1623.0, abs=1000 / decoded.sample_rate_hz)
    assert abs(onset - expected) <= tolerance_frames, (onset, expected)
