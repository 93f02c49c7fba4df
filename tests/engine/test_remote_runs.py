"""Whole recipes rendered on remote providers against the fake hosts: faults, kills, keys, budgets,
the draft → final switch. Everything runs on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_recipe_file
from fakes.fal import FakeFal
from fakes.segmind import KEY as SEGMIND_KEY

from audioflow.engine import open_project
from audioflow.engine.budget import BudgetError

REPO = Path(__file__).resolve().parents[2]


def _dialogue_recipe(lines: int, *, provider: str = "segmind", extra: str = "") -> str:
    rows = "\n".join(f"      - {'mara' if i % 2 else 'ben'}: Line number {i} of the long scene." for i in range(lines))
    return f"""\
audioflow: 1
title: Long
provider: {provider}
providers:
  segmind: {{concurrency: 6, poll_interval: 10ms, retries: 20}}
  fal: {{concurrency: 6, poll_interval: 10ms, retries: 8}}
cast:
  mara: {{preset: {{segmind: en_female_nadia_uranus_bigtts, fal: nadia_en_zh, local: bright}}}}
  ben: {{preset: {{segmind: en_male_bruce_uranus_bigtts, fal: cedric_en_zh, local: deep}}}}
steps:
  scene:
    dialogue:
{rows}
{extra}mix:
  - {{track: scene}}
master: {{format: wav}}
output: out/long.wav
"""


def test_a_40_step_recipe_completes_under_429_and_5xx_with_every_paid_submission_made_once(
    segmind, tmp_path: Path
) -> None:
    path = write_recipe_file(tmp_path, _dialogue_recipe(38))
    segmind.api.fail_every(3, [429, 503, 502, 429], paths=[r"^/v2/"])
    project = open_project(path, cache_dir=tmp_path / "cache")
    assert len(project.graph.steps) == 41
    report = project.run(jobs=8)
    assert report.result.ok, [o.error for o in report.result.outcomes.values() if o.error]
    prompts = [r.json["text_prompt"] for r in segmind.api.submits()]
    assert len(prompts) == 38 == len(set(prompts))
    faults = [r for r in segmind.api.requests if r.fault]
    assert len(faults) >= len(segmind.api.requests) // 3 - 1  # a third of calls failed, and were retried
    assert report.manifest is not None
    assert {s["request_id"] for s in report.manifest.to_json()["steps"] if s["kind"] == "speak"} == set(
        segmind.api.jobs
    )
    again = open_project(path, cache_dir=tmp_path / "cache").run(jobs=8)
    assert again.result.count("rendered") == 0
    assert len(segmind.api.submits()) == 38


def _env_for_child(segmind) -> dict[str, str]:
    env = {**os.environ, **segmind.env, "SEGMIND_API_KEY": SEGMIND_KEY}
    env.pop("AUDIOFLOW_CACHE_DIR", None)
    return env


def test_a_run_killed_mid_poll_resubmits_nothing_when_run_again(segmind, tmp_path: Path) -> None:
    path = write_recipe_file(tmp_path, _dialogue_recipe(6))
    segmind.api.opt.processing_polls = 10**9  # stays PROCESSING until the test lets it finish
    child = subprocess.Popen(
        [sys.executable, "-m", "audioflow", "run", str(path), "--cache-dir", str(tmp_path / "cache")],
        env=_env_for_child(segmind),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        if not segmind.api.wait_in_flight(6, timeout_s=30):
            pytest.fail(f"the child never had 6 requests in flight (exit {child.poll()}, {len(segmind.api.jobs)} jobs)")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert len(list((tmp_path / "cache" / "jobs").glob("*.json"))) == 6
    segmind.api.opt.processing_polls = 0  # the host finishes them
    report = open_project(path, cache_dir=tmp_path / "cache").run()
    assert report.result.ok
    assert len(segmind.api.submits()) == 6  # nothing was paid for twice
    assert not list((tmp_path / "cache" / "jobs").glob("*.json"))
    notes = [n for s in report.manifest.to_json()["steps"] for n in s["notes"]]
    assert sum("resumed request" in n for n in notes) == 6


def test_the_key_appears_in_no_artifact_manifest_state_or_output(segmind, tmp_path: Path) -> None:
    path = write_recipe_file(tmp_path, _dialogue_recipe(3))
    result = subprocess.run(
        [sys.executable, "-m", "audioflow", "run", str(path), "--cache-dir", str(tmp_path / "cache"), "--json"],
        env=_env_for_child(segmind),
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert SEGMIND_KEY.encode() not in result.stdout + result.stderr
    for file in tmp_path.rglob("*"):
        if file.is_file() and file != path:
            assert SEGMIND_KEY.encode() not in file.read_bytes(), file
    assert all("x-api-key" not in r.headers for r in segmind.files.requests)


def test_a_wrong_key_fails_with_the_vendors_message_and_never_the_key(segmind, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SEGMIND_API_KEY", "sk-wrong-but-secret")
    segmind.api.opt.echo_key = True
    path = write_recipe_file(tmp_path, _dialogue_recipe(2))
    report = open_project(path, cache_dir=tmp_path / "cache").run()
    errors = [o.error for o in report.result.outcomes.values() if o.status == "failed"]
    assert errors and all("segmind HTTP 401" in e for e in errors)
    assert not any("sk-wrong-but-secret" in e for e in errors)


def test_a_missing_key_stops_the_run_before_anything_is_sent(segmind, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SEGMIND_API_KEY")
    path = write_recipe_file(tmp_path, _dialogue_recipe(2))
    with pytest.raises(Exception, match="SEGMIND_API_KEY"):
        open_project(path, cache_dir=tmp_path / "cache").run()
    assert segmind.api.requests == []


def test_draft_locally_then_final_remotely_by_one_word_and_the_cache_keeps_both(
    segmind, tmp_path: Path, monkeypatch
) -> None:
    text = _dialogue_recipe(2, provider="local")
    path = write_recipe_file(tmp_path, text)
    cache = tmp_path / "cache"
    draft = open_project(path, cache_dir=cache).run()
    assert draft.result.ok and segmind.api.requests == []
    path.write_text(text.replace("provider: local", "provider: segmind"))
    final = open_project(path, cache_dir=cache).run()
    assert final.result.ok and len(segmind.api.submits()) == 2
    path.write_text(text)
    back = open_project(path, cache_dir=cache).run()
    assert back.result.count("rendered") == 0  # the draft is still in the cache


def test_changing_a_gain_the_host_never_sees_does_not_pay_again(segmind, tmp_path: Path) -> None:
    text = _dialogue_recipe(2)
    path = write_recipe_file(tmp_path, text)
    open_project(path, cache_dir=tmp_path / "cache").run()
    path.write_text(text.replace("local: bright}}", "local: bright}, gain_db: -3}"))
    plan = open_project(path, cache_dir=tmp_path / "cache").plan()
    changed = [p for p in plan.steps.values() if p.step.kind == "speak" and p.status == "stale"]
    assert changed and all(p.cost_usd == 0.0 for p in changed)
    report = open_project(path, cache_dir=tmp_path / "cache").run()
    assert report.result.ok
    assert len(segmind.api.submits()) == 2


def test_plan_estimates_cost_and_budget_refuses_or_stops(tmp_path: Path, monkeypatch) -> None:
    with FakeFal(audio_seconds=30.0) as fal:  # each line comes back 30 s long: $0.0375 at $0.075/min
        monkeypatch.setenv("AUDIOFLOW_FAL_QUEUE_URL", fal.url)
        monkeypatch.setenv("AUDIOFLOW_FAL_REST_URL", fal.url)
        monkeypatch.setenv("FAL_KEY", fal.key)
        text = _dialogue_recipe(6, provider="fal").replace("fal: {concurrency: 6", "fal: {concurrency: 1")
        path = write_recipe_file(tmp_path, text)
        plan = open_project(path, cache_dir=tmp_path / "cache").plan()
        usd, requests, unknown = plan.cost_by_provider()["fal"]
        assert (requests, unknown) == (6, 0)
        assert usd == pytest.approx(6 * (len("Line number 0 of the long scene.") / 15) / 60 * 0.075, rel=0.1)
        with pytest.raises(BudgetError, match="over the budget"):
            open_project(path, cache_dir=tmp_path / "cache").run(budget_usd=usd / 2)
        assert fal.requests == []
        report = open_project(path, cache_dir=tmp_path / "cache").run(budget_usd=0.08)
        assert not report.result.ok
        # one at a time, each estimated ~$0.003 but billed $0.0375 (30 s): after three ($0.1125) spending
        # has passed the budget, so the fourth is not submitted
        assert report.result.budget.spent_usd == pytest.approx(0.1125, rel=0.01)
        assert report.result.budget.requests == 3 == len(fal.submits)
        assert any("budget reached" in (o.error or "") for o in report.result.outcomes.values())


def test_ctrl_c_cancels_the_fal_requests_in_flight(tmp_path: Path) -> None:
    with FakeFal(polls_queued=0, polls_in_progress=10**9) as fal:
        path = write_recipe_file(tmp_path, _dialogue_recipe(2, provider="fal"))
        env = {**os.environ, "AUDIOFLOW_FAL_QUEUE_URL": fal.url, "AUDIOFLOW_FAL_REST_URL": fal.url, "FAL_KEY": fal.key}
        child = subprocess.Popen(
            [sys.executable, "-m", "audioflow", "run", str(path), "--cache-dir", str(tmp_path / "cache")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # both requests are being polled (4 GETs) before Ctrl-C; the deadlines only bound a hang (a
        # child starting on a loaded 2-core machine can take many seconds to import and submit)
        deadline = time.monotonic() + 120
        while len(fal.calls("GET")) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(fal.calls("GET")) >= 4, "the run never polled both requests"
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=120)
        assert child.returncode == 130, stderr
        assert stderr.decode().strip().endswith("interrupted")
        assert len(fal.calls("PUT", r"/cancel$")) == 2
