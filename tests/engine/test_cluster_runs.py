"""Recipes rendered on a Dask LocalCluster against the fake Segmind (127.0.0.1 only): every paid
step is submitted once, artifacts are those of a local run, a second run renders nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import write_recipe_file
from fakes.recipes import dialogue_recipe
from fakes.segmind import KEY as SEGMIND_KEY

from audioflow.engine import open_project
from audioflow.engine.batch import open_batch

distributed = pytest.importorskip("distributed")
REPO = Path(__file__).resolve().parents[2]


def _episode(n: int, lines: int = 3) -> str:
    """Episode ``n``: its own lines, and an opening line every episode shares (one paid take)."""
    rows = "\n".join(f"      - {'mara' if i % 2 else 'ben'}: Episode {n}, line {i}." for i in range(lines))
    return f"""\
audioflow: 1
title: Episode {n}
provider: segmind
providers:
  segmind: {{concurrency: 3, poll_interval: 10ms, retries: 20}}
cast:
  mara: {{preset: {{segmind: en_female_nadia_uranus_bigtts}}}}
  ben: {{preset: {{segmind: en_male_bruce_uranus_bigtts}}}}
steps:
  opening: {{speak: Welcome to the season., voice: mara}}
  scene:
    dialogue:
{rows}
mix:
  - {{track: opening}}
  - {{track: scene, after: opening}}
master: {{format: wav}}
output: out/ep{n}.wav
"""


@pytest.fixture
def client():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=8,
            processes=False,
            protocol="tcp://",
            host="127.0.0.1",
            resources={"cpu": 1},
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def _artifacts(manifest_path: Path) -> dict[str, tuple[str, str]]:
    steps = json.loads(manifest_path.read_text())["steps"]
    return {s["id"]: (s["input_digest"], s["artifact"]) for s in steps}


def test_a_batch_on_the_cluster_pays_each_request_once_and_matches_a_local_run(segmind, client, tmp_path: Path) -> None:
    segmind.api.fail_every(4, [429, 503], paths=[r"^/v2/"])
    paths = [write_recipe_file(tmp_path / "season", _episode(n), f"ep{n}.yaml") for n in range(3)]
    report = open_batch(paths, cache_dir=tmp_path / "cache").run(cluster=client)
    assert report.ok, {p: [o.error for o in r.result.outcomes.values() if o.error] for p, r in report.reports.items()}
    prompts = [r.json["text_prompt"] for r in segmind.api.submits()]
    assert len(prompts) == 1 + 3 * 3 == len(set(prompts))  # the shared opening once
    assert report.budget.requests == 10
    cluster_artifacts = {p: _artifacts(r.manifest_path) for p, r in report.reports.items()}  # type: ignore[arg-type]
    for n, path in enumerate(paths):
        local = open_project(path, cache_dir=tmp_path / f"local{n}").run()
        assert local.ok
        assert _artifacts(local.manifest_path) == cluster_artifacts[path]  # type: ignore[arg-type]
    submitted = len(segmind.api.submits())
    again = open_batch(paths, cache_dir=tmp_path / "cache").run(cluster=client)
    assert again.ok and sum(r.result.count("rendered") for r in again.reports.values()) == 0
    assert len(segmind.api.submits()) == submitted


def _page_tasks(stream: Any) -> list[str]:
    return [str(t["key"]) for t in stream.data if str(t["key"]).startswith("audioflow-page-")]


def test_report_pages_are_rendered_on_workers_byte_for_byte_as_a_local_run_writes_them(
    segmind, client, tmp_path: Path
) -> None:
    from distributed import get_task_stream

    paths = [write_recipe_file(tmp_path / "season", _episode(n, lines=2), f"ep{n}.yaml") for n in range(2)]
    batch = open_batch(paths, cache_dir=tmp_path / "cache")
    with get_task_stream(client) as stream:
        report = batch.run(cluster=client)
    assert report.ok and len(_page_tasks(stream)) == 2  # one task a page, on the cluster
    for project, path in zip(batch.projects, paths, strict=True):
        run = report.reports[path]
        assert run.report is not None
        from_worker = run.report.read_bytes()
        run.report.unlink()
        project.finish_now(project.plan(), run.result)  # the same recipe, cache and result, rendered here
        assert run.report.read_bytes() == from_worker
    open_batch(paths, cache_dir=tmp_path / "cache").run(cluster=client)  # every step cached: new pages
    with get_task_stream(client) as stream:
        again = open_batch(paths, cache_dir=tmp_path / "cache").run(cluster=client)
    assert again.ok and _page_tasks(stream) == []  # the pages show this run already: no task


def test_refused_paid_steps_fail_on_the_workers_and_block_what_is_below(segmind, client, tmp_path: Path) -> None:
    path = write_recipe_file(tmp_path, _episode(1, lines=2), "ep.yaml")
    segmind.api.fail_every(1, [400], paths=[r"^/v2/"])
    report = open_project(path, cache_dir=tmp_path / "cache").run(cluster=client, keep_going=True)
    outcomes = report.result.outcomes
    assert not report.ok and report.output is None
    assert {outcomes[s].status for s in ("opening", "scene[1]", "scene[2]")} == {"failed"}
    assert "HTTP 400" in (outcomes["opening"].error or "")
    assert {outcomes[s].status for s in ("scene", "mix", "master")} == {"blocked"}


def test_run_with_local_worker_processes_pays_once_and_a_second_run_renders_nothing(segmind, tmp_path: Path) -> None:
    recipe = write_recipe_file(tmp_path, _episode(7, lines=4), "ep.yaml")
    env = {**os.environ, **segmind.env, "SEGMIND_API_KEY": SEGMIND_KEY, "PYTHONPATH": str(REPO)}
    env.pop("AUDIOFLOW_CACHE_DIR", None)
    command = [sys.executable, "-m", "audioflow", "run", str(recipe), "--cache-dir", str(tmp_path / "cache")]
    first = subprocess.run([*command, "--cluster", "local:2", "--json"], env=env, capture_output=True, timeout=240)
    assert first.returncode == 0, first.stderr.decode()
    data = json.loads(first.stdout)
    assert (data["rendered"], data["failed"]) == (len(data["steps"]), 0)
    prompts = [r.json["text_prompt"] for r in segmind.api.submits()]
    assert len(prompts) == 5 == len(set(prompts))
    second = subprocess.run([*command, "--cluster", "local:2", "--json"], env=env, capture_output=True, timeout=240)
    assert second.returncode == 0, second.stderr.decode()
    assert json.loads(second.stdout)["rendered"] == 0
    assert len(segmind.api.submits()) == 5


def _fal_episode(n: int, lines: int) -> str:
    texts = [f"Episode {n}, line number {i}." for i in range(lines)]
    return dialogue_recipe(
        texts, title=f"Episode {n}", output=f"out/ep{n}.wav", provider="fal", concurrency=1, retries=8
    )


def test_the_budget_holds_across_the_cluster_and_stops_submissions_mid_run(
    client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each line is estimated at ~$0.003 but billed $0.0375 (30 s): the plan fits a $0.08 budget, and
    the workers, one submission at a time cluster-wide, must stop after three ($0.1125 spent)."""
    from fakes.fal import FakeFal

    with FakeFal(audio_seconds=30.0) as fal:
        monkeypatch.setenv("AUDIOFLOW_FAL_QUEUE_URL", fal.url)
        monkeypatch.setenv("AUDIOFLOW_FAL_REST_URL", fal.url)
        monkeypatch.setenv("FAL_KEY", fal.key)
        paths = [write_recipe_file(tmp_path / "season", _fal_episode(n, 3), f"ep{n}.yaml") for n in range(3)]
        report = open_batch(paths, cache_dir=tmp_path / "cache").run(cluster=client, budget_usd=0.08, keep_going=True)
        assert not report.ok
        assert len(fal.submits) == 3
        assert report.budget.requests == 3 and report.budget.spent_usd == pytest.approx(0.1125, rel=0.01)
        errors = [o.error or "" for r in report.reports.values() for o in r.result.outcomes.values()]
        assert sum("budget reached" in e for e in errors) == 9 - 3


def test_progress_on_the_cluster_counts_every_step_of_every_recipe(segmind, client, tmp_path: Path) -> None:
    """Cluster runs send no `started` events and cached steps have no task: every bar still ends full."""
    import io

    from rich.console import Console

    from audioflow.cli.progress import progress

    paths = [write_recipe_file(tmp_path / "season", _episode(n, lines=2), f"ep{n}.yaml") for n in range(2)]
    for run in range(2):  # the second run: everything found at plan time
        batch = open_batch(paths, cache_dir=tmp_path / "cache")
        console = Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)
        sizes = [(p.graph.recipe.path, len(p.graph.steps)) for p in batch.projects]
        on_event, stop = progress(sizes, True, console=console)
        try:
            report = batch.run(cluster=client, on_event=on_event)
        finally:
            stop()
        assert report.ok
        frames = console.file.getvalue()
        tail = frames[frames.rindex("batch") :]
        total = sum(n for _, n in sizes)
        assert f"{total}/{total}" in tail and tail.count("done") == 2, tail
        rendered = sum(r.result.count("rendered") for r in report.reports.values())
        assert rendered == 0 if run else rendered > 0


def test_a_run_whose_steps_stall_fails_them_naming_each_instead_of_waiting_for_ever(
    client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider that never answers: once no step has finished for AUDIOFLOW_CLUSTER_STALL_S, the
    pending steps are cancelled and fail, each saying where it was; the steps below are blocked."""
    import time

    from conftest import BASIC_RECIPE, FakeProvider

    monkeypatch.setenv("AUDIOFLOW_CLUSTER_STALL_S", "2")
    path = write_recipe_file(tmp_path, BASIC_RECIPE)
    start = time.monotonic()
    report = open_project(path, cache_dir=tmp_path / "cache", providers={"local": FakeProvider(delay_s=3600)}).run(
        cluster=client
    )
    assert time.monotonic() - start < 60
    outcomes = report.result.outcomes
    stalled = {s for s, o in outcomes.items() if "no step of the run finished on the cluster for 2 s" in str(o.error)}
    assert stalled == {"scene[1]", "scene[2]", "scene[3]", "rain"}
    assert all(outcomes[s].status == "failed" for s in stalled)
    assert {outcomes[s].status for s in ("scene", "mix", "master")} == {"blocked"}
    assert all("was at worker tcp://127.0.0.1:" in (outcomes[s].error or "") for s in stalled)


def test_the_stall_limit_must_be_a_positive_number(monkeypatch: pytest.MonkeyPatch) -> None:
    from audioflow.engine.cluster import STALL_S, stall_s
    from audioflow.errors import AudioflowError

    monkeypatch.delenv("AUDIOFLOW_CLUSTER_STALL_S", raising=False)
    assert stall_s() == STALL_S
    monkeypatch.setenv("AUDIOFLOW_CLUSTER_STALL_S", "90")
    assert stall_s() == 90.0
    for bad in ("0", "-3", "soon", "inf"):
        monkeypatch.setenv("AUDIOFLOW_CLUSTER_STALL_S", bad)
        with pytest.raises(AudioflowError, match="AUDIOFLOW_CLUSTER_STALL_S"):
            stall_s()


def test_workers_send_started_and_the_masters_stages_so_the_stage_bar_moves_on_a_cluster(
    segmind, client, tmp_path: Path
) -> None:
    """Steps' `started` and the master's stages come back from the workers (Dask's event log), each
    recipe's before its step's end, never after it (a late stage would leave a bar behind)."""
    import threading

    paths = [write_recipe_file(tmp_path / "season", _episode(n, lines=2), f"ep{n}.yaml") for n in range(2)]
    events: list[tuple[str, str, str, str]] = []
    lock = threading.Lock()

    def on_event(event) -> None:  # type: ignore[no-untyped-def]
        with lock:
            events.append((event.recipe, event.step_id, str(event.status), event.message))

    report = open_batch(paths, cache_dir=tmp_path / "cache").run(cluster=client, on_event=on_event)
    assert report.ok
    masters = 0
    for path in paths:  # the fake's takes sound alike: one recipe's mix and master may be the other's, cached
        mine = [(step, status, message) for recipe, step, status, message in events if recipe == str(path)]
        for step in ("scene", "mix", "master"):
            if (step, "rendered", "") in mine:
                assert mine.index((step, "started", "")) < mine.index((step, "rendered", ""))
        if ("master", "rendered", "") in mine:
            masters += 1
            stages = [message for step, status, message in mine if step == "master" and status == "progress"]
            assert stages == ["measuring", "limiting+encoding", "verifying"]
            end = mine.index(("master", "rendered", ""))
            assert all(step != "master" for step, _, _ in mine[end + 1 :])
    assert masters >= 1


class _Graphs(distributed.diagnostics.plugin.SchedulerPlugin):  # type: ignore[misc]
    """A scheduler plugin keeping each ``update_graph``'s keys and annotations (by type, by key)."""

    name = "audioflow-test-graphs"

    def __init__(self) -> None:
        self.updates: list[tuple[set[str], dict[str, dict[str, Any]]]] = []

    def update_graph(self, scheduler: Any, *, keys: set[Any], annotations: dict[str, Any], **kwargs: Any) -> None:
        by_type = {a: {str(k): v for k, v in by.items()} for a, by in annotations.items()}
        self.updates.append(({str(k) for k in keys}, by_type))


def test_a_runs_steps_reach_the_scheduler_as_one_graph_with_each_steps_resource_and_priority(
    segmind, client, tmp_path: Path
) -> None:
    """One ``update_graph`` for every step of the batch (not one per task); CPU steps ask for one
    ``cpu`` unit, remote requests for none; a step's priority is its depth in its recipe's graph."""
    client.register_plugin(_Graphs())
    paths = [write_recipe_file(tmp_path / "season", _episode(n, lines=2), f"ep{n}.yaml") for n in range(2)]
    report = open_batch(paths, cache_dir=tmp_path / "cache").run(cluster=client, report=False)
    assert report.ok
    updates = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.plugins[_Graphs.name].updates)
    steps = [(keys, by) for keys, by in updates if any(k.startswith("audioflow-") for k in keys)]
    assert len(steps) == 1  # the whole batch at once
    keys, by = steps[0]
    assert len(keys) == 1 + 2 * (2 + 3)  # the shared opening once; each recipe's two lines, scene, mix, master
    cpu = {k for k, r in by.get("resources", {}).items() if r == {"cpu": 1}}
    assert len(cpu) == 2 * 3 and set(by["resources"]) == cpu  # scene, mix, master of each; no paid step
    depth = by.get("priority", {})
    assert sorted(depth[k] for k in cpu) == [1, 1, 2, 2, 3, 3]
    assert all(depth.get(k, 0) == 0 for k in keys - cpu)


def test_a_cue_before_its_dialogue_fails_on_a_worker_as_a_located_recipe_error(segmind, client, tmp_path: Path) -> None:
    from audioflow.audio import Audio, write_wav
    from audioflow.errors import RecipeError

    (tmp_path / "bell.wav").write_bytes(write_wav(Audio(np.zeros(4410, dtype=np.float32), 44100)))
    text = _episode(1, lines=3).replace(
        "      - mara: Episode 1, line 1.\n",
        "      - mara: Episode 1, line 1.\n      - cue: bell\n        at: start\n        offset: -60s\n",
    )
    text = text.replace("steps:\n", "steps:\n  bell: {file: bell.wav}\n")
    path = write_recipe_file(tmp_path, text, "ep.yaml")
    report = open_project(path, cache_dir=tmp_path / "cache").run(cluster=client, keep_going=True)
    scene = report.result.outcomes["scene"]
    assert scene.status == "failed" and isinstance(scene.exception, RecipeError)
    assert (scene.error or "").startswith(f"{path}:16:14: this cue would start ")
    assert {report.result.outcomes[s].status for s in ("scene[1]", "scene[2]", "scene[3]")} == {"rendered"}


@pytest.mark.parametrize(("resources", "share"), [({"cpu": 3}, 3), ({}, 1)])
def test_a_workers_local_provider_speaks_a_lone_line_on_the_workers_share_of_the_cores(
    monkeypatch: pytest.MonkeyPatch, resources: dict[str, int], share: int
) -> None:
    """Workers that share a machine (``local:N``) must not each take every core for a line spoken
    alone: a worker's local provider gets its ``cpu`` resource (cores // N), 1 without one."""
    from types import SimpleNamespace

    import distributed

    from audioflow.engine import cluster
    from audioflow.providers.base import ProviderSettings

    worker = SimpleNamespace(state=SimpleNamespace(total_resources=resources))
    monkeypatch.setattr(distributed, "get_worker", lambda: worker)
    monkeypatch.setattr(cluster, "_PROVIDERS", {})
    settings = ProviderSettings()
    providers = cluster._worker_providers((("local", settings),))
    assert providers["local"].core_share == share  # type: ignore[attr-defined]
