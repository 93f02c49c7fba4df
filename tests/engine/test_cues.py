"""Cues, pauses, line anchors and crossfades on the timeline, to the sample; cues are never speech.

The fake provider speaks every line as a 300 ms sine (amplitude 0.3) at 22.05 kHz, so with the
default 350 ms gap line i (0-based) runs from i × 650 ms to i × 650 + 300 ms. Cues are a one-sample
click (0.95, louder than any line) or constant (DC) levels, written as wav files in the test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import FakeProvider

from audioflow.audio import Audio, read_wav, write_wav
from audioflow.engine import open_project
from audioflow.engine.builtin_steps import Upstream, WrittenFile, join_dialogue
from audioflow.engine.meta import Segment, StepMeta
from audioflow.steps import CueSpec, DialoguePayload, SpokenLine, StepKind

RATE = 22050
HEAD = """\
audioflow: 1
cast:
  mara: {preset: {local: joe}}
  ben: {preset: {local: deep}}
steps:
  click: {file: click.wav}
  hum: {file: hum.wav}
  bed: {file: bed.wav}
"""


def _frame(ms: float, rate: int = RATE) -> int:
    return int(np.floor(ms * rate / 1000 + 0.5))


def _write(folder: Path, name: str, samples: np.ndarray, rate: int = RATE) -> None:
    (folder / name).write_bytes(write_wav(Audio(samples.astype(np.float32), rate)))


@pytest.fixture
def drama(tmp_path: Path):
    folder = tmp_path / "show"
    folder.mkdir()
    click = np.zeros(RATE // 10)
    click[0] = 0.95
    _write(folder, "click.wav", click)
    _write(folder, "hum.wav", np.full(RATE, 0.5))  # 1 s of DC 0.5
    _write(folder, "bed.wav", np.full(RATE * 20, 0.1))  # 20 s of DC 0.1
    fake = FakeProvider()

    def run(body: str, mix: str = "mix:\n  - {track: scene}\n"):
        path = folder / "r.yaml"
        path.write_text(HEAD + body + mix + "output: out/r.wav\n")
        report = open_project(path, providers={"local": fake}, cache_dir=tmp_path / "cache").run()
        assert report.result.ok, [o.error for o in report.result.outcomes.values() if o.error]
        return report

    run.fake = fake  # type: ignore[attr-defined]
    return run


def _artifact(report, step: str) -> tuple[Audio, StepMeta]:
    outcome = report.result.outcomes[step]
    return read_wav(outcome.record.artifact.path), outcome.meta


SCENE = """\
  scene:
    dialogue:
      - mara: One.
{cue_before}      - ben: Two.
{cue_after}      - mara: Three.
"""


@pytest.mark.parametrize(
    ("cue", "where", "expected_ms"),
    [
        ("      - {cue: click}\n", "after", 950.0),  # the end of line 2
        ("      - {cue: click, offset: 123ms}\n", "after", 1073.0),
        ("      - {cue: click, offset: -77ms}\n", "after", 873.0),
        ("      - {cue: click, at: start}\n", "before", 650.0),  # the start of line 2
        ("      - {cue: click, at: start, offset: 211ms}\n", "before", 861.0),
        ("      - {cue: click, at: start, offset: -650ms}\n", "before", 0.0),
    ],
)
def test_a_cue_lands_on_its_line_to_the_sample(drama, cue: str, where: str, expected_ms: float) -> None:
    body = SCENE.format(cue_before=cue if where == "before" else "", cue_after=cue if where == "after" else "")
    audio, meta = _artifact(drama(body), "scene")
    assert [(s.start_ms, s.end_ms) for s in meta.segments] == [(0.0, 300.0), (650.0, 950.0), (1300.0, 1600.0)]
    assert int(np.argmax(np.abs(audio.samples[:, 0]))) == _frame(expected_ms)
    assert audio.samples[_frame(expected_ms), 0] == pytest.approx(0.95, abs=0.31)


def test_cues_are_not_speech_so_a_bed_under_the_dialogue_does_not_duck_under_them(drama) -> None:
    body = SCENE.format(cue_before="", cue_after="      - {cue: hum, offset: 500ms}\n").replace(
        "    dialogue:", "    gap: 3s\n    dialogue:"
    )
    report = drama(body, "mix:\n  - {track: scene}\n  - {track: bed, under: scene, duck_db: -20}\n")
    _, scene = _artifact(report, "scene")
    assert scene.speech_ms == ((0.0, 300.0), (3300.0, 3600.0), (6600.0, 6900.0))
    assert [s.text for s in scene.segments] == ["One.", "Two.", "Three."]
    mix, meta = _artifact(report, "mix")
    assert meta.speech_ms == scene.speech_ms
    rate = mix.sample_rate_hz
    hum = mix.samples[int(4.2 * rate) : int(4.4 * rate), 0]  # the cue (DC 0.5) plays 4.1–5.1 s, far from speech
    assert hum.mean() == pytest.approx(0.5 + 0.1, abs=1e-3)  # the bed is not ducked: 0.1, not 0.01
    under_line = mix.samples[int(3.4 * rate) : int(3.5 * rate), 0]
    assert abs(under_line.mean()) < 0.02  # under a line the bed is ducked to 0.01 (the sine averages out)


def test_a_ducked_cue_is_lowered_under_the_lines(drama) -> None:
    cue = "      - {cue: hum, at: start, duration: 4s, loop: true, duck_db: -20, duck_attack: 0, duck_release: 0}\n"
    body = SCENE.format(cue_before=cue, cue_after="").replace("    dialogue:", "    gap: 1s\n    dialogue:")
    audio, meta = _artifact(drama(body), "scene")
    line2 = meta.segments[1]
    assert (line2.start_ms, line2.end_ms) == (1300.0, 1600.0)
    inside = audio.samples[_frame(1400) : _frame(1500), 0]
    gap = audio.samples[_frame(1700) : _frame(2200), 0]  # between lines, before the loop's first seam
    assert inside.mean() == pytest.approx(0.05, abs=0.01)  # -20 dB under the line (its sine averages out)
    assert gap.mean() == pytest.approx(0.5, abs=1e-3)
    assert meta.speech_ms == ((0.0, 300.0), (1300.0, 1600.0), (2600.0, 2900.0))


def test_pauses_set_silence_before_between_and_after_the_lines(drama) -> None:
    body = """\
  scene:
    dialogue:
      - pause: 1s
      - mara: One.
      - ben: Two.
      - pause: 2s
      - mara: Three.
      - pause: 1500ms
"""
    audio, meta = _artifact(drama(body), "scene")
    assert [(s.start_ms, s.end_ms) for s in meta.segments] == [(1000.0, 1300.0), (1650.0, 1950.0), (3950.0, 4250.0)]
    assert audio.frames == _frame(4250.0 + 1500.0)
    assert not audio.samples[: _frame(1000.0)].any() and not audio.samples[_frame(4250.0) + 1 :].any()


def test_mix_tracks_start_at_a_line_end_start_or_span(drama) -> None:
    body = SCENE.format(cue_before="", cue_after="").replace("      - ben: Two.", "      - {ben: Two., label: two}")
    mix = """\
mix:
  - {track: scene, at: 2s}
  - {track: click, after: "scene[1]", offset: 100ms}
  - {track: hum, with: scene.two, offset: 100ms}
  - {track: bed, under: "scene[3]", gain_db: 6}
"""
    report = drama(body, mix)
    audio, _ = _artifact(report, "mix")
    rate = audio.sample_rate_hz
    tracks = report.result.outcomes["mix"].step.params["tracks"]
    assert tracks[2]["anchor_line"] == 2 and tracks[3]["anchor_line"] == 3
    step = np.diff(audio.samples[:, 0])  # a DC clip starts and stops as one jump

    def jump(from_ms: float, to_ms: float, sign: int) -> int:
        window = sign * step[_frame(from_ms, rate) : _frame(to_ms, rate)]
        return _frame(from_ms, rate) + int(np.argmax(window)) + 1

    assert jump(2000, 2500, 1) == _frame(2000 + 300 + 100, rate)  # the click: line 1's end + 100 ms
    assert jump(2500, 3000, 1) == _frame(2000 + 650 + 100, rate)  # the hum: line 2's start + 100 ms
    assert jump(3200, 3400, 1) == _frame(2000 + 1300, rate)  # the bed: line 3's span, 1300–1600 ms
    assert jump(3500, 3700, -1) == _frame(2000 + 1600, rate)


def test_a_crossfade_overlaps_two_tracks_and_fades_both(drama) -> None:
    body = SCENE.format(cue_before="", cue_after="")
    mix = "mix:\n  - {track: hum, duration: 1s}\n  - {track: hum2, crossfade: 500ms}\n"
    report = drama(body.replace("  scene:", "  hum2: {file: hum.wav}\n  scene:"), mix)
    audio, _ = _artifact(report, "mix")
    rate = audio.sample_rate_hz
    assert audio.frames == _frame(1500.0, rate)
    level = audio.samples[:, 0]
    assert level[_frame(250, rate)] == pytest.approx(0.5, abs=1e-3)
    assert level[_frame(750, rate)] == pytest.approx(0.5, abs=2e-3)  # linear fades of equal sources sum flat
    assert level[_frame(1250, rate)] == pytest.approx(0.5, abs=1e-3)
    quarter = _frame(625, rate)
    assert level[quarter] == pytest.approx(0.5 * 0.75 + 0.5 * 0.25, abs=2e-3)


def test_cue_steps_are_cached_and_moving_a_cue_re_renders_only_the_dialogue(drama) -> None:
    inline = "      - cue: {generate: a door slams, duration: 1s}\n        offset: 200ms\n"
    body = SCENE.format(cue_before="", cue_after=inline)
    first = drama(body)
    assert first.result.outcomes["scene.cue[a-door-slams]"].meta.placeholder
    assert "scene.cue[a-door-slams]" in first.manifest.to_json()["placeholders"]
    rendered = list(drama.fake.rendered)
    assert sorted(rendered) == ["scene.cue[a-door-slams]", "scene[1]", "scene[2]", "scene[3]"]
    again = drama(body)
    assert again.result.count("rendered") == 0
    moved = drama(body.replace("offset: 200ms", "offset: 400ms"))
    assert [s for s, o in moved.result.outcomes.items() if o.status == "rendered"] == ["scene", "mix", "master"]
    assert drama.fake.rendered == rendered  # no line and no cue sound rendered again


def test_a_scene_take_holding_every_line_places_cues_by_its_line_timings(tmp_path: Path) -> None:
    take = tmp_path / "take.wav"
    take.write_bytes(write_wav(Audio(np.full(RATE, 0.2, np.float32), RATE)))  # 1 s: three lines inside
    click = tmp_path / "click.wav"
    samples = np.zeros(100, np.float32)
    samples[0] = 0.95
    click.write_bytes(write_wav(Audio(samples, RATE)))
    lines = tuple(SpokenLine("mara", text) for text in ("One.", "Two two.", "Three."))
    segments = (Segment(0, 300, "mara", "One."), Segment(300, 700, "mara", "Two two."), Segment(700, 1000, "mara", "3"))
    scene_meta = StepMeta(1000.0, RATE, 1, speech_ms=((0.0, 1000.0),), segments=segments, segments_estimated=True)
    payload = DialoguePayload(350.0, lines, (CueSpec("click", 1, "end", 50.0),), lead_ms=500.0, parts=(3,))
    ups = [
        Upstream("scene.speech", StepKind.SCENE, take, scene_meta),
        Upstream("click", StepKind.FILE, click, StepMeta(100 / RATE * 1000, RATE, 1)),
    ]
    written, _, meta = join_dialogue(payload, ups, tmp_path)
    assert isinstance(written, WrittenFile)
    audio = read_wav(written.path)
    assert int(np.argmax(audio.samples[:, 0])) == _frame(500 + 700 + 50)
    assert [(s.start_ms, s.end_ms) for s in meta.segments] == [(500, 800), (800, 1200), (1200, 1500)]
    assert meta.segments_estimated and meta.speech_ms == ((500.0, 1500.0),)


def test_inserting_a_line_and_a_cue_renames_nothing_and_re_renders_only_them(drama, tmp_path: Path) -> None:
    scene = (
        "  scene:\n    dialogue:\n      - mara: One.\n      - ben: Two.\n"
        "      - cue: {generate: a door slams, duration: 1s}\n"
        "      - cue: {generate: a knock, duration: 1s}\n        at: start\n"
        "      - mara: Three.\n        label: knock\n"
        "      - cue: {generate: a knock, duration: 2s}\n"
        "      - ben: Four.\n"
    )
    first = drama(scene)
    cues = ["scene.cue[a-door-slams]", "scene.cue[knock]", "scene.cue[knock-2]"]
    assert [c.step for c in first.result.outcomes["scene"].step.payload.cues] == cues
    inserted = scene.replace(
        "      - mara: One.\n",
        "      - mara: One.\n      - cue: {generate: a cough, duration: 1s}\n      - ben: One and a half.\n",
    )
    path = tmp_path / "show" / "r.yaml"
    path.write_text(path.read_text().replace(scene, inserted))
    project = open_project(path, providers={"local": drama.fake}, cache_dir=tmp_path / "cache")
    assert [c.step for c in project.graph.steps["scene"].payload.cues] == ["scene.cue[a-cough]", *cues]
    plan = project.plan()
    for step in (*cues, "scene[1]"):
        assert plan.steps[step].digest == first.result.outcomes[step].digest
    assert sorted(plan.stale) == ["master", "mix", "scene", "scene.cue[a-cough]", "scene[2]"]
