"""The step order (Kahn's algorithm over a heap, no networkx at plan time) is networkx's
lexicographical topological order keyed by recipe position, and a cycle is found."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import networkx as nx

from audioflow.recipe.graph import _topological_order


def _steps(edges: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    return {name: SimpleNamespace(id=name, deps=deps) for name, deps in edges.items()}


def test_the_order_is_networkx_lexicographical_order_by_recipe_position() -> None:
    rnd = random.Random(5)
    for trial in range(200):
        names = [f"s{i}" for i in range(rnd.randint(1, 40))]
        rnd.shuffle(names)  # recipe order is not name order
        # deps only on steps written earlier in a hidden topological order: acyclic, with repeats
        hidden = rnd.sample(names, len(names))
        deps = {
            n: tuple(rnd.choice(hidden[:i]) for _ in range(rnd.randint(0, 3))) if i else ()
            for i, n in enumerate(hidden)
        }
        steps = _steps({n: deps[n] for n in names})
        graph = nx.DiGraph()
        graph.add_nodes_from(steps)
        graph.add_edges_from((d, s.id) for s in steps.values() for d in s.deps)
        position = {n: i for i, n in enumerate(steps)}
        expected = list(nx.lexicographical_topological_sort(graph, key=position.__getitem__))
        assert _topological_order(steps) == expected, trial


def test_a_cycle_has_no_order() -> None:
    assert _topological_order(_steps({"a": ("c",), "b": ("a",), "c": ("b",), "d": ()})) is None
    assert _topological_order(_steps({"a": ("a",)})) is None
    assert _topological_order(_steps({"a": (), "b": ("a", "a")})) == ["a", "b"]
