"""Chapter declarations read into typed marks; their resolution to the sample after the mix.

Fuzzed: any ``chapters:`` list (times, anchors, junk) and ``chapter:`` value is either read or a
located :class:`RecipeError` inside the file, never another exception.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audioflow.engine.chapters import resolve_chapters
from audioflow.engine.meta import StepMeta
from audioflow.errors import RecipeError, SourceLocation
from audioflow.recipe import load_recipe
from audioflow.recipe.chapters import ChapterMark

HEAD = """\
audioflow: 1
cast:
  mara: {preset: {local: joe}}
steps:
  intro: {generate: a chime, duration: 2s}
  scene:
    chapter: Scene
    dialogue:
      - mara: One.
        label: one
      - {cue: intro, chapter: {title: Chime, url: "https://example.com/c"}}
      - mara: Two.
        chapter: Second line
  bed:
    mix:
      - {track: intro, chapter: Bed chime}
mix:
  - {track: intro, chapter: Opening}
  - {track: scene}
  - {track: bed}
"""


def _load(tmp_path: Path, text: str):
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    return load_recipe(path)


def test_every_declaration_becomes_a_mark_with_its_anchor(tmp_path: Path) -> None:
    listed = "chapters:\n  - {at: '0:30', title: Half a minute}\n  - {at: scene.one, title: Line one}\n"
    recipe = _load(tmp_path, HEAD + listed)
    got = [(m.title, m.anchor, m.at_ms, m.listed) for m in recipe.chapters]
    assert got == [
        ("Opening", "@0", None, None),
        ("Scene", "scene", None, None),
        ("Chime", "scene.cue#1", None, None),
        ("Second line", "scene[2]", None, None),
        ("Bed chime", "bed@0", None, None),
        ("Half a minute", None, 30_000.0, 0),
        ("Line one", "scene[1]", None, 1),  # the label resolved to the line's number
    ]
    assert recipe.chapters[2].url == "https://example.com/c"
    assert recipe.chapters[0].location.line == HEAD.splitlines().index("  - {track: intro, chapter: Opening}") + 1


def test_chapter_titles_are_in_no_step_digest(tmp_path: Path) -> None:
    from audioflow.recipe import expand

    one = expand(_load(tmp_path, HEAD))
    two = expand(_load(tmp_path, HEAD.replace("Second line", "Renamed").replace("chapter: Scene", "chapter: X")))
    assert {k: s.params for k, s in one.steps.items()} == {k: s.params for k, s in two.steps.items()}


ANCHORS = st.sampled_from(
    ["intro", "scene", "scene[1]", "scene[2]", "scene[3]", "scene.one", "scene.two", "bed", "nope"]
)
TIMES = st.sampled_from(["0s", "1:30", "90s", "1500ms", "2.5 min", "0", "99:99", "-1s", "1e9 h", "12"])
JUNK = st.sampled_from(["", " ", "[1]", ".one", "scene[", "1:3:4", "https://x", "{}", "null", "[]", "@0"])
VALUES = st.one_of(ANCHORS, TIMES, JUNK, st.text(max_size=8))
TITLES = st.one_of(st.sampled_from(["A", " ", "", "a: b", "#x"]), st.text(max_size=6))


@settings(
    max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(entries=st.lists(st.tuples(VALUES, TITLES), max_size=5), inline=st.one_of(st.none(), TITLES, ANCHORS))
def test_any_chapter_list_is_read_or_a_located_error(tmp_path: Path, entries, inline) -> None:
    items = "".join(f"  - {{at: {json.dumps(at)}, title: {json.dumps(title)}}}\n" for at, title in entries)
    text = HEAD + (f"chapters:\n{items}" if entries else "")
    if inline is not None:
        text = text.replace("chapter: Opening", f"chapter: {json.dumps(inline)}")
    try:
        recipe = _load(tmp_path, text)
    except RecipeError as exc:
        assert exc.location is not None and 1 <= exc.location.line <= len(text.splitlines()) + 1
        return
    listed = [m for m in recipe.chapters if m.listed is not None]
    assert len(listed) == len(entries)
    times = [m.at_ms for m in listed if m.at_ms is not None]
    assert times == sorted(set(times))  # the list's times were checked in order and distinct


def _mark(title: str, line: int, *, anchor: str | None = None, at_ms: float | None = None, listed=None):
    return ChapterMark(title, SourceLocation("r.yaml", line, 3), anchor or "t", anchor, at_ms, listed=listed)


def test_resolution_snaps_to_the_output_sample_orders_and_ends() -> None:
    mix = StepMeta(10_000.0, anchors=(("@0", 0.0, 5000.0), ("scene", 1000.0, 4000.0), ("scene[2]", 2073.0, 2400.0)))
    marks = [
        _mark("Line", 3, anchor="scene[2]"),
        _mark("Open", 2, anchor="@0"),
        _mark("Scene", 4, anchor="scene"),
        _mark("Late", 5, at_ms=7000.01, listed=0),
    ]
    for rate in (44100, 48000):
        chapters = resolve_chapters(marks, mix, 9_990.0, rate)
        assert [c.title for c in chapters] == ["Open", "Scene", "Line", "Late"]
        for chapter in chapters:
            frames = chapter.start_ms * rate / 1000
            assert frames == pytest.approx(round(frames), abs=1e-6)
        assert abs(chapters[2].start_ms - 2073.0) <= 1000 / rate / 2 + 1e-9
        assert [c.end_ms for c in chapters] == [c.start_ms for c in chapters[1:]] + [9_990.0]


def test_resolution_errors_are_located_at_the_chapter() -> None:
    mix = StepMeta(5000.0, anchors=(("a", 1000.0, 2000.0), ("b", 500.0, 900.0)))
    with pytest.raises(RecipeError, match="is not in the programme") as info:
        resolve_chapters([_mark("X", 7, anchor="c")], mix, 5000.0, 44100)
    assert info.value.location.line == 7
    with pytest.raises(RecipeError, match="at or past the end"):
        resolve_chapters([_mark("X", 7, at_ms=5000.0)], mix, 5000.0, 44100)
    with pytest.raises(RecipeError, match="before the chapter above it in the list") as info:
        resolve_chapters([_mark("A", 7, anchor="a", listed=0), _mark("B", 8, anchor="b", listed=1)], mix, 5000.0, 44100)
    assert info.value.location.line == 8
    with pytest.raises(RecipeError, match="as chapter 'A' \\(line 7\\) does") as info:
        resolve_chapters([_mark("B", 9, at_ms=1000.0), _mark("A", 7, anchor="a")], mix, 5000.0, 44100)
    assert info.value.location.line == 9
    assert resolve_chapters([], mix, 5000.0, 44100) == []
