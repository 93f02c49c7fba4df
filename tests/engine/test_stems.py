"""Stems: dialogue / music / effects (or one per track), sample-aligned, as long as the programme, at
the mix rate, summing to the pre-master mix within -60 dB (ducking and track effects applied as in
the mix); cached by content (switching them on renders only the stems; the WAV format renders
nothing); the Reaper project and the Audacity labels read back with ``rpp`` and as tab-separated text."""

from __future__ import annotations

import math
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import rpp
import soundfile
from conftest import FakeProvider, write_recipe_file
from fakes.base import wav_bytes

from audioflow.engine import open_project
from audioflow.engine.bounce import manifest_schema
from audioflow.errors import RecipeError

RECIPE = """\
audioflow: 1
title: Stems test
cast:
  mara: {preset: {local: joe}, display_name: Mara}
  ben: {preset: {local: deep}}
steps:
  scene:
    dialogue:
      - mara: Hello there, is anybody in?
      - ben: Only me.
  theme: {file: theme.wav}
  rain: {generate: steady rain, duration: 3s}
mix:
  - {track: theme, duration: 1s, fade_out: 200ms}
  - {track: scene, effects: [{room: small}], chapter: Inside}
  - {track: rain, under: scene, gain_db: -6, duck_db: -12, loop: true}
master: {format: wav, sample_rate_hz: 48000}
output: out/ep.wav
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "theme.wav").write_bytes(wav_bytes(2.0, 44100, freq_hz=330.0, amplitude=0.5, channels=2))
    return tmp_path


def _run(folder: Path, stems: str | None, cache: Path, fake: FakeProvider | None = None):  # type: ignore[no-untyped-def]
    text = RECIPE + (f"stems: {stems}\n" if stems else "")
    path = write_recipe_file(folder, text)
    fake = fake or FakeProvider(duration_ms=900.0)
    report = open_project(path, providers={fake.name: fake}, cache_dir=cache).run()
    assert report.result.ok, [o.error for o in report.result.outcomes.values() if o.error]
    return report


def _mix(report) -> tuple[np.ndarray, int]:  # type: ignore[no-untyped-def]
    record = report.result.outcomes["mix"].record
    data, rate = soundfile.read(record.artifact.path, dtype="float64", always_2d=True)
    return data, rate


def _residual_db(parts: list[np.ndarray], mix: np.ndarray) -> float:
    residual = np.max(np.abs(sum(parts) - mix))
    return -math.inf if residual == 0 else 20 * math.log10(residual / np.max(np.abs(mix)))


def test_group_stems_sum_to_the_mix_and_switching_them_on_renders_only_them(folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _run(folder, None, cache)
    assert not (folder / "out" / "ep.stems").exists()
    report = _run(folder, "groups", cache)
    rendered = sorted(s for s, o in report.result.outcomes.items() if o.status == "rendered")
    assert rendered == ["stems.dialogue", "stems.effects", "stems.music"]
    assert report.result.outcomes["mix"].digest == first.result.outcomes["mix"].digest
    mix, rate = _mix(report)
    stems = {}
    for name in ("dialogue", "music", "effects"):
        info = soundfile.info(folder / "out" / "ep.stems" / f"{name}.wav")
        assert (info.frames, info.samplerate, info.channels, info.subtype) == (mix.shape[0], rate, 2, "FLOAT")
        stems[name], _ = soundfile.read(folder / "out" / "ep.stems" / f"{name}.wav", dtype="float64", always_2d=True)
    assert rate == 48000 and _residual_db(list(stems.values()), mix) <= -60.0
    # each stem holds its own tracks: the theme plays only in the first second, the rain under the scene
    assert np.max(np.abs(stems["music"][rate + 100 :])) < 1e-6 < np.max(np.abs(stems["music"][: rate // 2]))
    assert np.max(np.abs(stems["effects"][: rate // 2])) < 1e-6 < np.max(np.abs(stems["effects"]))
    manifest = report.manifest.to_json()
    jsonschema.validate(manifest, manifest_schema())
    assert manifest["stems"] == [
        "ep.stems/dialogue.wav",
        "ep.stems/music.wav",
        "ep.stems/effects.wav",
        "ep.stems/ep.RPP",
        "ep.labels.txt",
    ]


def test_the_ducked_bed_is_ducked_in_its_stem(folder: Path, tmp_path: Path) -> None:
    report = _run(folder, "tracks", tmp_path / "cache")
    out = folder / "out" / "ep.stems"
    assert sorted(p.name for p in out.glob("*.wav")) == ["rain.wav", "scene.wav", "theme.wav"]
    rain, rate = soundfile.read(out / "rain.wav", dtype="float64", always_2d=True)
    scene = report.result.outcomes["scene"].meta
    assert scene is not None and len(scene.speech_ms) == 2
    offset_s = 1.0  # the scene follows the 1 s theme; the rain lies under it, ducked 12 dB while a line is spoken

    def rms(from_s: float, to_s: float) -> float:
        return float(np.sqrt(np.mean(rain[int(from_s * rate) : int(to_s * rate)] ** 2)))

    first_start, first_end = (offset_s + ms / 1000 for ms in scene.speech_ms[0])
    after_last = offset_s + scene.speech_ms[1][1] / 1000 + 0.45  # the release is 400 ms
    assert rain.shape[0] / rate > after_last + 0.1
    ducked, open_ = rms(first_start + 0.2, first_end - 0.1), rms(after_last, rain.shape[0] / rate)
    assert ducked > 0 and 20 * math.log10(open_ / ducked) == pytest.approx(12.0, abs=1.5)
    parts = [soundfile.read(out / f"{n}.wav", dtype="float64", always_2d=True)[0] for n in ("theme", "scene", "rain")]
    assert _residual_db(parts, _mix(report)[0]) <= -60.0


def test_pcm24_stems_render_nothing_new_and_still_sum_to_the_mix(folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _run(folder, "groups", cache)
    report = _run(folder, "{by: groups, format: pcm24, music: [rain]}", cache)
    rendered = sorted(s for s, o in report.result.outcomes.items() if o.status == "rendered")
    assert rendered == ["stems.music"]  # rain moved to music: that stem and no other; the format is the bounce's
    names = sorted(p.name for p in (folder / "out" / "ep.stems").glob("*.wav"))
    assert "music.wav" in names and "dialogue.wav" in names
    parts = []
    for name in ("dialogue", "music"):
        path = folder / "out" / "ep.stems" / f"{name}.wav"
        assert soundfile.info(path).subtype == "PCM_24"
        parts.append(soundfile.read(path, dtype="float64", always_2d=True)[0])
    assert _residual_db(parts, _mix(report)[0]) <= -60.0


def test_the_reaper_project_and_the_labels_read_back(folder: Path, tmp_path: Path) -> None:
    report = _run(folder, "groups", tmp_path / "cache")
    stems_dir = folder / "out" / "ep.stems"
    project = rpp.loads((stems_dir / "ep.RPP").read_text())
    assert project.tag == "REAPER_PROJECT"
    assert project.find("SAMPLERATE")[1] == "48000"
    tracks = project.findall("TRACK")
    assert [t.find("NAME")[1] for t in tracks] == ["dialogue", "music", "effects"]
    mix, rate = _mix(report)
    for track in tracks:
        item = track.find("ITEM")
        assert float(item.find("POSITION")[1]) == 0.0
        assert float(item.find("LENGTH")[1]) == pytest.approx(mix.shape[0] / rate, abs=1e-6)
        media = stems_dir / item.find("SOURCE").find("FILE")[1]
        assert media.is_file() and soundfile.info(media).frames == mix.shape[0]
    rows = [line.split("\t") for line in (folder / "out" / "ep.labels.txt").read_text().splitlines()]
    (chapter,) = report.manifest.chapters
    assert rows[0] == [f"{chapter.start_ms / 1000:.6f}", f"{chapter.end_ms / 1000:.6f}", "Chapter: Inside"]
    assert chapter.start_ms == pytest.approx(1000.0)  # the scene follows the 1 s theme
    rows = rows[1:]
    segments = report.result.outcomes["master"].meta.segments
    assert len(rows) == len(segments) == 2
    assert rows[0][2] == "Mara: Hello there, is anybody in?" and rows[1][2] == "ben: Only me."
    for row, seg in zip(rows, segments, strict=True):
        assert float(row[0]) == pytest.approx(seg.start_ms / 1000, abs=1e-6)
        assert float(row[1]) == pytest.approx(seg.end_ms / 1000, abs=1e-6)


@pytest.mark.parametrize(
    ("stems", "message", "line"),
    [
        ("{music: [rian]}", "'rian' is no track of the mix", 19),
        ("{music: [rain], effects: [rain]}", "track 'rain' is already in the music stem", 19),
        ("{by: tracks, music: [rain]}", "`music:` places tracks in groups; `by: tracks` has none", 19),
    ],
)
def test_a_wrong_stems_block_is_a_located_recipe_error(folder: Path, stems: str, message: str, line: int) -> None:
    path = write_recipe_file(folder, RECIPE + f"stems: {stems}\n")
    with pytest.raises(RecipeError) as caught:
        open_project(path, cache_dir=folder / "cache")
    assert caught.value.message == message and caught.value.location.line == line


def test_the_stems_folder_is_refused_where_a_file_stands_or_an_input_lies(folder: Path) -> None:
    (folder / "out").mkdir()
    (folder / "out" / "ep.stems").write_text("not a folder")
    path = write_recipe_file(folder, RECIPE + "stems: groups\n")
    fake = FakeProvider()
    with pytest.raises(RecipeError, match=r"the stems folder 'out/ep\.stems' exists and is not a folder"):
        open_project(path, providers={fake.name: fake}, cache_dir=folder / "cache").run()
    (folder / "out" / "ep.stems").unlink()
    (folder / "out" / "ep.stems").mkdir()
    (folder / "out" / "ep.stems" / "theme.wav").write_bytes((folder / "theme.wav").read_bytes())
    path.write_text(RECIPE.replace("file: theme.wav", "file: out/ep.stems/theme.wav") + "stems: groups\n")
    with pytest.raises(RecipeError, match=r"the stems folder 'out/ep\.stems' holds audio file"):
        open_project(path, providers={fake.name: fake}, cache_dir=folder / "cache").run()
