"""Whole recipes rendered by several workers into one shared cache on a real S3-compatible server
(SeaweedFS on 127.0.0.1) against the fake Segmind: every paid request is submitted once, a worker
killed mid-poll is resumed by another, and a second run renders nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_recipe_file
from fakes.recipes import dialogue_recipe
from fakes.segmind import KEY as SEGMIND_KEY

from audioflow.cache import S3Store
from audioflow.engine import open_project


def _recipe(lines: int) -> str:
    texts = [f"Shared line {i} of the scene." for i in range(lines)]
    return dialogue_recipe(texts, title="Shared", output="out/shared.wav", retries=20)


def _worker(recipe: Path, url: str, segmind, home: Path, **extra: str) -> subprocess.Popen[bytes]:
    """`audioflow run RECIPE --cache-dir URL` in a child process with its own local mirror."""
    env = {**os.environ, **segmind.env, "SEGMIND_API_KEY": SEGMIND_KEY, "XDG_CACHE_HOME": str(home), **extra}
    return subprocess.Popen(
        [sys.executable, "-m", "audioflow", "run", str(recipe), "--cache-dir", url, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_three_workers_on_one_shared_cache_pay_for_each_line_once(segmind, s3_url: str, tmp_path: Path) -> None:
    segmind.api.fail_every(4, [429, 503], paths=[r"^/v2/"])
    segmind.api.opt.processing_polls = 3
    recipes = [write_recipe_file(tmp_path / f"w{i}", _recipe(8)) for i in range(3)]  # one recipe, three folders
    workers = [_worker(r, s3_url, segmind, tmp_path / f"home{i}") for i, r in enumerate(recipes)]
    outs = [w.communicate(timeout=240) for w in workers]
    for worker, (out, err) in zip(workers, outs, strict=True):
        assert worker.returncode == 0, err.decode()
        assert SEGMIND_KEY.encode() not in out + err
    prompts = [r.json["text_prompt"] for r in segmind.api.submits()]
    assert len(prompts) == 8 == len(set(prompts))
    assert all(json.loads(out)["output"] for out, _ in outs)
    digests = {(r.parent / "out" / "shared.wav").read_bytes() for r in recipes}
    assert len(digests) == 1  # the three outputs are the same bytes
    again = open_project(recipes[0], cache_dir=s3_url).run()
    assert again.result.ok and again.result.count("rendered") == 0
    assert len(segmind.api.submits()) == 8


def test_the_plan_on_a_bucket_reads_no_record_or_journal_of_a_take_nobody_leased(
    segmind, s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = write_recipe_file(tmp_path, _recipe(3))
    project = open_project(recipe, cache_dir=s3_url)
    monkeypatch.setattr(S3Store, "journal", lambda *_a, **_k: pytest.fail("the plan read a journal"))
    plan = project.plan()
    paid = [p for p in plan.steps.values() if p.step.provider == "segmind"]
    assert len(paid) == 3 and all(p.cost_usd != 0.0 and not p.resumes for p in paid)  # to be paid (None: unpriced)


def test_a_worker_killed_mid_poll_is_resumed_by_another_and_nothing_is_paid_twice(
    segmind, s3_url: str, tmp_path: Path
) -> None:
    recipe = write_recipe_file(tmp_path, _recipe(4))
    segmind.api.opt.processing_polls = 10**9  # in flight until the test lets the host finish
    child = _worker(recipe, s3_url, segmind, tmp_path / "dead", AUDIOFLOW_LEASE_TTL_S="2")
    try:
        if not segmind.api.wait_in_flight(4, timeout_s=60):
            pytest.fail(f"the worker never had 4 requests in flight (exit {child.poll()})")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert len(S3Store(s3_url, mirror=tmp_path / "look").pending_jobs()) == 4
    segmind.api.opt.processing_polls = 0
    planned = open_project(recipe, cache_dir=s3_url).plan().steps.values()  # the dead worker's leases: looked under
    assert sum(p.resumes and p.cost_usd == 0.0 for p in planned) == 4
    report = open_project(recipe, cache_dir=s3_url).run()  # waits out the dead worker's leases, then resumes
    assert report.result.ok, [o.error for o in report.result.outcomes.values() if o.error]
    assert len(segmind.api.submits()) == 4
    notes = [n for s in report.manifest.to_json()["steps"] for n in s["notes"]]
    assert sum("resumed request" in n for n in notes) == 4
    assert S3Store(s3_url, mirror=tmp_path / "look").pending_jobs() == []
