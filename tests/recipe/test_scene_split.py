"""``render: scene`` split into scene parts: every part one request within every host's limits, lines
in order, cuts preferred at long gaps, one line edit changing one part, line takes retaking their part."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audioflow.engine.facade import make_providers
from audioflow.engine.preflight import build_request
from audioflow.errors import RecipeError
from audioflow.providers.evolink import EvolinkProvider
from audioflow.providers.fal import FalProvider
from audioflow.providers.segmind import SegmindProvider
from audioflow.recipe import expand, parse_recipe
from audioflow.recipe.scene_split import LONG_GAP_MS, line_speech_ms, split_scene
from audioflow.steps import SCENE_LIMITS, LinesPayload, SceneJoinPayload, SpokenLine, StepKind, VoiceSpec

WORDS = [
    "the",
    "door",
    "bell",
    "rang",
    "and",
    "nobody",
    "came",
    "in",
    "from",
    "rain",
    "night",
    "shop",
    "light",
    "quiet",
    "cold",
]


def _cast_entry(i: int, kind: str) -> str:
    if kind == "clone":
        return f"  v{i}: {{clone: 'https://example.com/v{i}.wav'}}\n"
    if kind == "preset":
        return f"  v{i}: {{preset: {{segmind: en_male_v{i}_uranus_bigtts}}}}\n"
    return f"  v{i}: {{speed: 1.0}}\n"


def _recipe(cast: list[str], lines: list[tuple[int, str, str | None]], extra: str = "") -> str:
    """A recipe with cast voices ``v0…`` of the given kinds and one ``render: scene`` dialogue."""
    rows = []
    for voice, text, gap in lines:
        rows.append(f"      - {{v{voice}: {text!r}" + (f", gap: {gap}" if gap else "") + "}\n")
    return (
        "audioflow: 1\ncast:\n"
        + "".join(_cast_entry(i, kind) for i, kind in enumerate(cast))
        + "steps:\n  talk:\n    render: scene\n"
        + extra
        + "    dialogue:\n"
        + "".join(rows)
        + "mix:\n  - {track: talk}\noutput: out/x.wav\n"
    )


def _parts(graph) -> list:  # type: ignore[no-untyped-def]
    return [s for s in graph.steps.values() if s.kind == StepKind.SCENE]


lines_strategy = st.lists(
    st.tuples(
        st.integers(0, 7),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=40).map(" ".join),
        st.sampled_from([None, None, None, "2s", "-200ms", "100ms"]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cast=st.lists(st.sampled_from(["clone", "preset", "plain"]), min_size=8, max_size=8), lines=lines_strategy)
def test_every_part_is_one_request_within_every_host_limit(tmp_path: Path, cast: list[str], lines: list) -> None:
    text = _recipe(cast, lines)
    spoken = [t for _, t, _ in lines]
    for provider in (SegmindProvider(), FalProvider(), EvolinkProvider()):
        graph = expand(parse_recipe(text, tmp_path / "r.yaml"), provider=provider.name)
        parts = _parts(graph)
        # lines in order, every line in exactly one part
        assert [line.text for part in parts for line in part.payload.lines] == spoken
        for part in parts:
            payload = part.payload
            assert isinstance(payload, LinesPayload)
            # the host's own checks (3 references, prompt length, clips) pass: one request each
            prepared = provider.prepare(build_request(part, {}))
            assert prepared.key is not None
            referenced = {v.name for v in payload.voices if v.referenced}
            assert len(referenced) <= SCENE_LIMITS.max_references
            estimate_ms = sum(line_speech_ms(line) for line in payload.lines)
            assert estimate_ms <= SCENE_LIMITS.max_ms
        if len(parts) > 1:
            join = graph.steps["talk"]
            assert isinstance(join.payload, SceneJoinPayload) and join.deps == tuple(p.id for p in parts)
            assert [p.id for p in parts] == [f"talk#{k}" for k in range(1, len(parts) + 1)]
        else:
            assert parts[0].id == "talk"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cast=st.lists(st.sampled_from(["clone", "preset", "plain"]), min_size=8, max_size=8),
    lines=lines_strategy.filter(lambda x: len(x) > 1),
    data=st.data(),
)
def test_editing_one_line_changes_only_the_part_that_holds_it(
    tmp_path: Path, cast: list[str], lines: list, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(lines) - 1))
    voice, words, gap = lines[index]
    edited = list(lines)
    edited[index] = (voice, words[::-1] if words[::-1] != words else words.upper() + "!", gap)
    edited[index] = (voice, edited[index][1][: len(words)].ljust(len(words), "x"), gap)  # the same length
    if edited[index][1] == words:
        return
    before = expand(parse_recipe(_recipe(cast, lines), tmp_path / "r.yaml"))
    after = expand(parse_recipe(_recipe(cast, edited), tmp_path / "r.yaml"))
    assert list(before.steps) == list(after.steps)
    changed = [k for k in before.steps if before.steps[k].params != after.steps[k].params]
    assert len(changed) == 1 and before.steps[changed[0]].kind == StepKind.SCENE


def test_a_scene_within_the_limits_stays_one_step_as_before(tmp_path: Path) -> None:
    text = _recipe(["clone", "clone", "clone", "plain"], [(0, "One.", None), (1, "Two.", None), (2, "Three.", None)])
    graph = expand(parse_recipe(text, tmp_path / "r.yaml"))
    assert [s.id for s in _parts(graph)] == ["talk"] and graph.steps["talk"].lines is None


def test_four_cloned_voices_are_split_into_two_requests_showing_their_lines(tmp_path: Path) -> None:
    lines = [(0, "One.", None), (1, "Two.", None), (2, "Three.", None), (3, "Four.", None), (0, "Five.", None)]
    graph = expand(parse_recipe(_recipe(["clone"] * 4, lines), tmp_path / "r.yaml"))
    parts = _parts(graph)
    assert [p.id for p in parts] == ["talk#1", "talk#2"]
    assert [p.lines for p in parts] == [(1, 3), (4, 5)]
    assert [len(p.payload.references) for p in parts] == [3, 2]  # type: ignore[union-attr]
    assert parts[1].location.line == parts[0].location.line + 3  # located at its first line


def test_cuts_prefer_a_long_gap_and_a_cue() -> None:
    voices = [VoiceSpec(f"v{i}", i, clone=None, preset={"evolink": f"x{i}_bigtts"}) for i in range(4)]
    lines = [SpokenLine(f"v{i}", "Hello.") for i in (0, 1, 0, 1, 2, 3)]
    # two parts of at most 3 voices: the cut goes before line 4, 5 or 6 (1-based); by default the last
    assert split_scene(lines, voices, 350.0) == [(0, 5), (5, 6)]
    paused = [*lines[:4], SpokenLine("v2", "Hello.", gap_ms=LONG_GAP_MS), *lines[5:]]
    assert split_scene(paused, voices, 350.0) == [(0, 4), (4, 6)]
    assert split_scene(paused, voices, 350.0, cues_before={3}) == [(0, 3), (3, 6)]
    overlapped = [*lines[:5], SpokenLine("v3", "Hello.", gap_ms=-200.0)]
    assert split_scene(overlapped, voices, 350.0) == [(0, 4), (4, 6)]


def test_long_speech_is_cut_before_120_s() -> None:
    voices = [VoiceSpec("a", 0)]
    lines = [SpokenLine("a", "word " * 60) for _ in range(30)]  # 300 characters, 25 s each at 12/s
    spans = split_scene(lines, voices, 0.0)
    assert len(spans) > 1 and all(sum(line_speech_ms(x) for x in lines[a:b]) <= 120_000 for a, b in spans)


def test_a_line_too_long_for_any_request_is_a_located_error(tmp_path: Path) -> None:
    text = _recipe(["plain"], [(0, "One.", None), (0, "word " * 400, None)])
    with pytest.raises(RecipeError) as caught:
        expand(parse_recipe(text, tmp_path / "r.yaml"))
    assert caught.value.location is not None and caught.value.location.line == 9
    assert "step talk, line 2: this line is too long for one scene request (" in str(caught.value)


def test_a_line_take_retakes_the_part_that_holds_it(tmp_path: Path) -> None:
    lines = [(0, "One.", None), (1, "Two.", None), (2, "Three.", None), (3, "Four.", None), (0, "Five.", None)]
    text = _recipe(["clone"] * 4, lines).replace("'Four.'}", "'Four.', take: 2}")
    graph = expand(parse_recipe(text, tmp_path / "r.yaml"))
    assert [p.take for p in _parts(graph)] == [1, 2]
    whole = _recipe(["clone"] * 2, lines[:2]).replace("'Two.'}", "'Two.', take: 3}")
    assert expand(parse_recipe(whole, tmp_path / "r.yaml")).steps["talk"].take == 3


def test_the_split_is_the_same_for_every_provider(tmp_path: Path) -> None:
    lines = [(i % 8, " ".join(WORDS), None) for i in range(40)]
    text = _recipe(["clone", "preset", "plain"] * 2 + ["clone", "clone"], lines)
    ids = {
        name: [s.id for s in _parts(expand(parse_recipe(text, tmp_path / "r.yaml"), provider=name))]
        for name in ("local", "segmind", "fal", "evolink")
    }
    assert len({tuple(v) for v in ids.values()}) == 1 and len(ids["local"]) > 2
    graph = expand(parse_recipe(text, tmp_path / "r.yaml"), provider="segmind")
    assert set(make_providers(graph)) == {"segmind"}
