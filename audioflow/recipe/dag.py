"""The expanded recipe as a DAG: :class:`Step` (one node: its typed payload, dependencies and
local inputs), :class:`StepGraph` (the steps in recipe order, their topological order and the
networkx ``DiGraph``), and the graph's Mermaid and DOT renderings. :mod:`.graph` builds it."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SourceLocation
from ..steps import Payload, StepKind

if TYPE_CHECKING:
    import networkx as nx

    from .model import Recipe

__all__ = ["Step", "StepGraph", "to_dot", "to_mermaid"]


@dataclass(frozen=True)
class Step:
    """One node of the DAG. ``payload`` is the step's typed input; with kind, provider, take and the
    upstream artifacts it decides the output (its canonical form, :attr:`params`, is what the input
    digest covers). ``files`` are local inputs read at render time, kept out of the digest (their
    content digest is in the payload instead)."""

    id: str
    kind: StepKind
    location: SourceLocation
    payload: Payload
    deps: tuple[str, ...] = ()
    provider: str | None = None
    take: int = 1
    files: dict[str, Path] = field(default_factory=dict)
    voice: str | None = None  # the cast name of a speak step: for transcripts, not the digest
    lines: tuple[int, int] | None = None  # a scene part's lines (1-based, inclusive): for plan, not the digest
    # where each item the step places is written (a dialogue's cues; a mix's tracks, a stem's too): for the
    # errors only rendering finds (a cue or track placed before 0), not the digest
    placements: tuple[SourceLocation, ...] = ()

    @cached_property
    def params(self) -> dict[str, Any]:
        """The payload's canonical JSON data: the source of the input digest."""
        return self.payload.canonical()


@dataclass
class StepGraph:
    """The expanded recipe: ``steps`` in recipe order and the ``graph`` over their ids."""

    recipe: Recipe
    steps: dict[str, Step]
    warnings: tuple[str, ...] = ()  # located ``path:line:col: warning: …`` lines (validate, plan, run print them)

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The networkx ``DiGraph`` over the step ids, edges upstream → downstream (built on first
        use: validating and planning need only :meth:`order`, and importing networkx takes 0.2 s)."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self.steps)
        graph.add_edges_from((dep, step.id) for step in self.steps.values() for dep in step.deps)
        return graph

    def order(self) -> list[str]:
        """Step ids in a topological order that keeps recipe order where the graph allows."""
        order = _topological_order(self.steps)
        assert order is not None, "expand refuses a cycle"
        return order


def _topological_order(steps: Mapping[str, Step]) -> list[str] | None:
    """The ids of ``steps`` in the topological order that takes the earliest step in recipe order
    whenever several are ready (networkx's ``lexicographical_topological_sort`` keyed by recipe
    position: Kahn's algorithm over a heap); None when the steps depend on each other in a cycle."""
    ids = list(steps)
    position = {step_id: i for i, step_id in enumerate(ids)}
    waiting = dict.fromkeys(ids, 0)
    children: dict[str, list[str]] = {step_id: [] for step_id in ids}
    for step in steps.values():
        for dep in dict.fromkeys(step.deps):  # one edge per pair, as in a DiGraph
            if dep not in position:  # a node the graph would add for an unknown name
                position[dep], waiting[dep], children[dep] = len(ids), 0, []
                ids.append(dep)
            children[dep].append(step.id)
            waiting[step.id] += 1
    ready = [position[step_id] for step_id, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        step_id = ids[heapq.heappop(ready)]
        order.append(step_id)
        for child in children[step_id]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, position[child])
    return order if len(order) == len(ids) else None


def _label(step: Step) -> str:
    return f"{step.id}<br/>{step.kind}" + (f" · {step.provider}" if step.provider else "")


def to_mermaid(graph: StepGraph) -> str:
    """The DAG as a Mermaid ``flowchart LR``."""
    ids = {step_id: f"s{i}" for i, step_id in enumerate(graph.steps)}
    lines = ["flowchart LR"]
    lines += [f'    {ids[s.id]}["{_label(s)}"]' for s in graph.steps.values()]
    lines += [f"    {ids[a]} --> {ids[b]}" for a, b in graph.graph.edges]
    return "\n".join(lines) + "\n"


def to_dot(graph: StepGraph) -> str:
    """The DAG in Graphviz DOT."""
    lines = ["digraph audioflow {", "    rankdir=LR;", "    node [shape=box];"]
    for s in graph.steps.values():
        label = _label(s).replace("<br/>", "\\n").replace('"', '\\"')
        lines.append(f'    "{s.id}" [label="{label}"];')
    lines += [f'    "{a}" -> "{b}";' for a, b in graph.graph.edges]
    return "\n".join([*lines, "}"]) + "\n"
