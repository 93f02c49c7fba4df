"""The scheduler keeps a remote provider's concurrency full and never exceeds it (issue 10's
makespan goal is measured in ``benchmarks/bench_scheduler.py``; here only the invariant)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.base import max_overlap
from fakes.recipes import dialogue_recipe
from fakes.segmind import segmind_in_env

from audioflow.engine import open_project

LINES = 24


def _recipe(concurrency: int) -> str:
    lines = [f"Line number {i} of the scene." for i in range(LINES)]
    return dialogue_recipe(lines, title="Slots", output="out/slots.wav", concurrency=concurrency)


@pytest.mark.parametrize("concurrency", [3, 8])
def test_slow_submissions_fill_every_slot_and_never_more(
    concurrency: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with segmind_in_env(monkeypatch, queued_polls=0, processing_polls=0) as hosts:
        # every submission takes 1 s: long enough that a loaded machine still starts the next ones before
        # the first ends (250 ms saw 7 of 8 slots filled once on a loaded 2-core CI machine)
        hosts.api.slow(1.0, methods=["POST"], paths=[r"^/v2/[^/]+$"])
        recipe = tmp_path / "slots.yaml"
        recipe.write_text(_recipe(concurrency), encoding="utf-8")
        report = open_project(recipe).run(jobs=2)
        assert report.ok
        submits = hosts.api.calls("POST", r"^/v2/[^/]+$")
        assert len(submits) == LINES
        assert max_overlap(submits) == concurrency
