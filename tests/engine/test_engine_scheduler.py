"""Scheduler ordering on random DAGs (sub-mixes over generated sounds and speech)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from conftest import FakeProvider, write_recipe_file
from hypothesis import given, settings
from hypothesis import strategies as st

from audioflow.engine import Plan, open_project, run_plan


@st.composite
def dag_recipes(draw: st.DrawFn) -> str:
    leaves = draw(st.integers(1, 4))
    rows = ["audioflow: 1", "cast:", "  mara: {preset: {local: joe}}", "steps:"]
    names: list[str] = []
    for i in range(leaves):
        if draw(st.booleans()):
            rows.append(f"  g{i}: {{generate: sound {i}, duration: {draw(st.sampled_from([500, 700, 900]))}ms}}")
        else:
            rows.append(f"  g{i}: {{speak: Line {i}., voice: mara}}")
        names.append(f"g{i}")
    for j in range(draw(st.integers(0, 4))):
        picks = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
        rows.append(f"  m{j}: {{mix: [" + ", ".join(f"{{track: {p}}}" for p in picks) + "]}")
        names.append(f"m{j}")
    top = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    rows.append("mix:")
    rows += [f"  - {{track: {p}}}" for p in top]
    rows.append("output: out/x.wav")
    return "\n".join(rows) + "\n"


class JitteryProvider(FakeProvider):
    """Renders finish in an order unrelated to the recipe's."""

    async def render(self, prepared, journal=None):  # type: ignore[no-untyped-def]
        self.delay_s = int(hashlib.sha256(prepared.request.step_id.encode()).hexdigest()[:2], 16) / 255 * 0.02
        return await super().render(prepared, journal)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(text=dag_recipes(), jobs=st.integers(1, 4), limit=st.integers(1, 3))
def test_every_step_starts_after_its_dependencies_finished(text: str, jobs: int, limit: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write_recipe_file(Path(folder), text)
        fake = JitteryProvider(max_concurrency=limit, duration_ms=500)
        project = open_project(path, providers={"local": fake}, cache_dir=Path(folder) / "cache")
        log: list[tuple[str, str]] = []
        plan = project.plan()
        plan = Plan(plan.graph, {k: v for k, v in plan.steps.items() if k != "master"})  # mastering is slow
        result = run_plan(
            plan, project.store, project.providers, jobs=jobs, on_event=lambda e: log.append((e.step_id, e.status))
        )
        graph = project.graph
        graph.steps.pop("master")
        assert result.ok, result.outcomes
        outcomes = result.outcomes
        digests = [o.digest for o in outcomes.values()]
        for step_id, outcome in outcomes.items():  # cached only when an identical step rendered it
            assert outcome.status == "rendered" or digests.count(outcome.digest) > 1, step_id
        started = {s for s, status in log if status == "started"}
        assert started == {s for s, o in outcomes.items() if o.status == "rendered"}
        finished = {s: i for i, (s, status) in enumerate(log) if status in ("rendered", "cached")}
        assert set(finished) == set(graph.steps)
        start_at = {s: i for i, (s, status) in enumerate(log) if status == "started"}
        for step_id, step in graph.steps.items():
            for dep in step.deps:
                assert finished[dep] < start_at.get(step_id, finished[step_id]), (dep, step_id)
        assert fake.max_in_flight <= min(jobs, limit)
        provider_digests = {outcomes[s].digest for s, st_ in graph.steps.items() if st_.provider}
        assert len(fake.rendered) == len(provider_digests)
