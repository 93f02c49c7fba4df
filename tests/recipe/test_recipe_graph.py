"""Expansion of a recipe into steps, and the Mermaid / DOT renderings."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from conftest import BASIC_RECIPE

from audioflow.recipe import expand, load_recipe, to_dot, to_mermaid

SUBMIX = BASIC_RECIPE.replace(
    "  rain: {generate: steady rain, duration: 1s}\n",
    "  rain: {generate: steady rain, duration: 1s, take: 3}\n"
    "  intro: {speak: Welcome., voice: ben, provider: other}\n"
    "  bed: {mix: [{track: rain}, {track: intro, with: rain}]}\n",
).replace("  - {track: rain, under: scene, gain_db: -20}\n", "  - {track: bed, under: scene, gain_db: -20}\n")


def test_dialogue_expands_to_one_speak_step_per_line(write_recipe) -> None:
    graph = expand(load_recipe(write_recipe(BASIC_RECIPE)))
    assert list(graph.steps) == ["scene[1]", "scene[2]", "scene[3]", "scene", "rain", "mix", "master"]
    assert [graph.steps[f"scene[{i}]"].kind for i in (1, 2, 3)] == ["speak"] * 3
    assert graph.steps["scene[2]"].params["text"] == "Hi, Mara."
    assert graph.steps["scene[2]"].params["voice"] == {
        "name": "ben",
        "cast_index": 1,
        "preset": {"local": "deep"},
        "speed": 1.0,
        "volume": 1.0,
        "pitch_semitones": 0.0,
        "gain_db": 0.0,
        "clone": None,
    }
    assert graph.steps["scene"].deps == ("scene[1]", "scene[2]", "scene[3]")
    assert graph.steps["scene"].params == {
        "gap_ms": 350.0,
        "lines": [
            {"voice": "mara", "text": "Hello there.", "gap_ms": None},
            {"voice": "ben", "text": "Hi, Mara.", "gap_ms": None},
            {"voice": "mara", "text": "Bye.", "gap_ms": None},
        ],
    }
    assert graph.steps["mix"].deps == ("scene", "rain")
    assert graph.steps["master"].deps == ("mix",)
    assert sorted(graph.graph.edges) == sorted(
        [
            ("scene[1]", "scene"),
            ("scene[2]", "scene"),
            ("scene[3]", "scene"),
            ("scene", "mix"),
            ("rain", "mix"),
            ("mix", "master"),
        ]
    )
    assert graph.order() == list(graph.steps)
    assert {s.provider for s in graph.steps.values()} == {"local", None}
    assert graph.steps["scene[1]"].location.line == 9


def test_take_is_inherited_by_lines_unless_a_line_sets_its_own(write_recipe) -> None:
    text = BASIC_RECIPE.replace("  scene:\n", "  scene:\n    take: 2\n").replace(
        "- ben: Hi, Mara.", "- {ben: Hi Mara., take: 5}"
    )
    graph = expand(load_recipe(write_recipe(text)))
    assert [graph.steps[f"scene[{i}]"].take for i in (1, 2, 3)] == [2, 5, 2]
    assert graph.steps["scene"].take == 1


def test_directions_and_gaps(write_recipe) -> None:
    text = BASIC_RECIPE.replace("- mara: Bye.", "- {mara: (whispering) Bye., gap: -100ms}").replace(
        "  scene:\n", "  scene:\n    gap: 1s\n"
    )
    graph = expand(load_recipe(write_recipe(text)))
    assert graph.steps["scene[3]"].params["text"] == "Bye."
    assert graph.steps["scene[3]"].params["direction"] == "whispering"
    assert graph.steps["scene"].params["gap_ms"] == 1000.0
    assert graph.steps["scene"].params["lines"][2]["gap_ms"] == -100.0


def test_sub_mix_providers_and_provider_override(write_recipe) -> None:
    path = write_recipe(SUBMIX)
    graph = expand(load_recipe(path))
    assert graph.steps["bed"].deps == ("rain", "intro")
    assert graph.steps["mix"].deps == ("scene", "bed")
    assert graph.steps["rain"].take == 3
    assert graph.steps["intro"].provider == "other"
    assert graph.steps["rain"].provider == "local"
    order = graph.order()
    assert order.index("bed") > max(order.index("rain"), order.index("intro"))
    overridden = expand(load_recipe(path), provider="remote")
    assert {s.provider for s in overridden.steps.values() if s.kind in ("speak", "generate")} == {"remote"}


def test_file_step_digest_params_hold_no_path(tmp_path: Path, write_recipe) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "a.wav").write_bytes(b"RIFF....")
    path = write_recipe(BASIC_RECIPE.replace("{generate: steady rain, duration: 1s}", "{file: assets/a.wav}"))
    step = expand(load_recipe(path)).steps["rain"]
    assert step.params == {"sha256": hashlib.sha256(b"RIFF....").hexdigest(), "name": "a.wav"}
    assert step.files == {"source": tmp_path / "assets" / "a.wav"}
    assert str(tmp_path) not in repr(step.params)


def _mermaid_nodes_and_edges(text: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    nodes = {m.group(2).split("<br/>")[0]: m.group(1) for m in re.finditer(r'^    (s\d+)\["([^"]*)"\]$', text, re.M)}
    edges = set(re.findall(r"^    (s\d+) --> (s\d+)$", text, re.M))
    return nodes, edges


def test_mermaid_has_every_node_and_edge(write_recipe) -> None:
    graph = expand(load_recipe(write_recipe(SUBMIX)))
    text = to_mermaid(graph)
    assert text.startswith("flowchart LR\n")
    nodes, edges = _mermaid_nodes_and_edges(text)
    assert set(nodes) == set(graph.steps)
    assert edges == {(nodes[a], nodes[b]) for a, b in graph.graph.edges}
    assert len(edges) == graph.graph.number_of_edges() == 8
    assert '["intro<br/>speak · other"]' in text
    assert '["mix<br/>mix"]' in text


def test_dot_has_every_node_and_edge(write_recipe) -> None:
    graph = expand(load_recipe(write_recipe(SUBMIX)))
    text = to_dot(graph)
    assert text.startswith("digraph audioflow {\n") and text.endswith("}\n")
    nodes = set(re.findall(r'^    "([^"]+)" \[label="', text, re.M))
    edges = set(re.findall(r'^    "([^"]+)" -> "([^"]+)";$', text, re.M))
    assert nodes == set(graph.steps)
    assert edges == set(graph.graph.edges)
    assert '"scene[2]" [label="scene[2]\\nspeak · local"];' in text
