"""Whole runs against a damaged, read-only or interrupted cache: flipped bytes in a stored master,
a damaged artifact re-finished from its stored paid take, an unreadable journal that stops one step
before anything is sent, a read-only cache that still bounces, lock and temp files that do not pile up."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BASIC_RECIPE, FakeProvider, write_recipe_file
from fakes.segmind import segmind_in_env

from audioflow.audio.tags import write_tags
from audioflow.cache import record_key, sha256_hex
from audioflow.engine import open_project
from audioflow.engine.bounce import tags_for
from audioflow.engine.preflight import build_request, take_digest
from audioflow.errors import CacheError

REPO = Path(__file__).resolve().parents[2]

#: A recipe the real local provider renders in about a second, without Piper.
BED_RECIPE = """\
audioflow: 1
title: Bed
steps:
  rain: {generate: steady rain, duration: 1s}
mix:
  - {track: rain}
master: {format: wav}
output: out/bed.wav
"""

SCENE_RECIPE = """\
audioflow: 1
title: Scene
provider: segmind
providers:
  segmind: {concurrency: 4, poll_interval: 10ms, retries: 4}
cast:
  mara: {preset: {segmind: en_female_nadia_uranus_bigtts}}
  ben: {preset: {segmind: en_male_bruce_uranus_bigtts}}
steps:
  scene:
    dialogue:
      - mara: The first line, paid for once.
      - ben: The second line, paid for once.
      - mara: The third line, paid for once.
mix:
  - {track: scene}
master: {format: wav}
output: out/scene.wav
"""


@pytest.fixture
def segmind(monkeypatch: pytest.MonkeyPatch):
    with segmind_in_env(monkeypatch, queued_polls=0, processing_polls=0) as hosts:
        yield hosts


def _project(path: Path, fake: FakeProvider, cache: Path):
    return open_project(path, providers={fake.name: fake}, cache_dir=cache)


def _master_object(cache: Path, manifest: dict) -> Path:
    digest = next(s["artifact"] for s in manifest["steps"] if s["id"] == "master")
    return cache / "objects" / digest[:2] / f"{digest}.wav"


def _flip(path: Path, at: int = 1000) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flipped_bytes_in_a_stored_master_are_re_rendered_not_bounced(tmp_path: Path) -> None:
    path, cache, fake = write_recipe_file(tmp_path, BASIC_RECIPE), tmp_path / "cache", FakeProvider()
    first = _project(path, fake, cache).run()
    assert first.manifest is not None and first.output is not None
    good = first.output.read_bytes()
    master = _master_object(cache, first.manifest.to_json())
    _flip(master)
    project = _project(path, fake, cache)
    planned = project.plan().steps["master"]
    assert (planned.status, planned.reason) == (
        "stale",
        "damaged in cache: set aside, re-rendering (its content does not match its digest)",
    )
    (finding,) = project.store.findings
    assert finding.key == master.relative_to(cache).as_posix() and finding.set_aside is not None
    report = _project(path, fake, cache).run()
    assert report.output is not None and report.manifest is not None
    assert {s["id"]: s["cached"] for s in report.manifest.to_json()["steps"]}["master"] is False
    written, stored = report.output.read_bytes(), _master_object(cache, report.manifest.to_json())
    assert sha256_hex(stored.read_bytes()) == stored.stem  # the master stored again, whole
    recipe = project.graph.recipe
    assert written == write_tags(stored.read_bytes(), "wav", tags_for(recipe.meta))  # what was bounced: it, tagged
    assert written == good  # mastering is deterministic: the same bytes as the first bounce
    assert len(fake.rendered) == 4  # nothing upstream of the master rendered again


def _object_of(cache: Path, manifest: dict, step_id: str) -> Path:
    digest = next(s["artifact"] for s in manifest["steps"] if s["id"] == step_id)
    (found,) = (cache / "objects" / digest[:2]).glob(f"{digest}.*")
    return found


def test_flipped_bytes_in_a_cached_artifact_a_stale_step_reads_are_rendered_again_not_mixed(tmp_path: Path) -> None:
    path, cache, fake = write_recipe_file(tmp_path, BASIC_RECIPE), tmp_path / "cache", FakeProvider()
    first = _project(path, fake, cache).run()
    assert first.manifest is not None
    rain = _object_of(cache, first.manifest.to_json(), "rain")
    _flip(rain, at=rain.stat().st_size - 8)  # a sample far out of range: the size check alone passes it
    path.write_text(BASIC_RECIPE.replace("gain_db: -20", "gain_db: -18"), encoding="utf-8")  # the mix is stale
    project = _project(path, fake, cache)
    plan = project.plan()
    assert (plan.steps["rain"].status, plan.steps["rain"].reason) == (
        "stale",
        "damaged in cache: set aside, re-rendering (its content does not match its digest)",
    )
    assert plan.steps["scene"].status == "up-to-date"  # read by the stale mix, and sound
    (finding,) = project.store.findings
    assert finding.key == rain.relative_to(cache).as_posix() and finding.set_aside is not None
    rendered = len(fake.rendered)
    report = _project(path, fake, cache).run()
    assert report.ok and report.manifest is not None
    assert fake.rendered[rendered:] == ["rain"]  # rendered afresh; nothing else paid again
    stored = _object_of(cache, report.manifest.to_json(), "rain")
    assert sha256_hex(stored.read_bytes()) == stored.stem


def test_a_master_damaged_after_plan_fails_the_bounce_clearly(tmp_path: Path, monkeypatch) -> None:
    path, cache, fake = write_recipe_file(tmp_path, BASIC_RECIPE), tmp_path / "cache", FakeProvider()
    first = _project(path, fake, cache).run()
    assert first.output is not None and first.manifest is not None
    first.output.unlink()
    master = _master_object(cache, first.manifest.to_json())
    project = _project(path, fake, cache)
    save_state = project._save_state

    def damage_then_save(*args: object) -> None:  # runs between plan and bounce
        _flip(master)
        save_state(*args)

    monkeypatch.setattr(project, "_save_state", damage_then_save)
    with pytest.raises(CacheError) as info:
        project.run()
    key = master.relative_to(cache).as_posix()
    assert str(info.value).startswith(f"damaged in cache: {key}: its content does not match its digest; set aside")
    assert str(info.value).endswith("run again to render it afresh")
    assert not first.output.exists()  # nothing damaged was written
    again = _project(path, fake, cache).run()
    assert again.output is not None and again.output.is_file()


def test_a_damaged_artifact_is_finished_again_from_its_stored_paid_take(segmind, tmp_path: Path) -> None:
    path, cache = write_recipe_file(tmp_path, SCENE_RECIPE), tmp_path / "cache"
    first = open_project(path, cache_dir=cache).run()
    assert first.result.ok and len(segmind.api.submits()) == 3
    line = first.result.outcomes["scene[2]"]
    record = cache / record_key(line.digest)  # type: ignore[arg-type]
    doc = json.loads(record.read_text())
    record.write_text(json.dumps({**doc, "meta": "abc"}))  # the derived artifact's record is damaged
    project = open_project(path, cache_dir=cache)
    plan = project.plan()
    assert plan.steps["scene[2]"].reason == "damaged in cache: set aside, re-rendering ('meta' is not an object)"
    assert plan.steps["scene[2]"].cost_usd == 0.0  # its paid take is in the store
    report = project.run()
    assert report.result.ok
    statuses = {k: o.status for k, o in report.result.outcomes.items()}
    assert statuses["scene[2]"] == "rendered" and statuses["scene[1]"] == "cached"
    assert len(segmind.api.submits()) == 3  # nothing was paid for again
    assert report.result.budget.requests == 0
    assert report.output is not None and report.output.is_file()
    assert [f.key for f in project.store.findings] == [record_key(line.digest)]  # type: ignore[arg-type]


def test_an_unreadable_journal_stops_its_step_before_anything_is_sent(segmind, tmp_path: Path) -> None:
    path, cache = write_recipe_file(tmp_path, SCENE_RECIPE), tmp_path / "cache"
    project = open_project(path, cache_dir=cache)
    step = project.graph.steps["scene[2]"]
    provider = project.providers["segmind"]
    prepared = provider.prepare(build_request(step, {}))
    journal = cache / "jobs" / f"{take_digest(step, provider.name, prepared)}.json"
    journal.write_bytes(b'{"request_id": "req-0002-')  # cut short by a crash or a full disk
    planned = project.plan().steps["scene[2]"]
    assert planned.reason.startswith(
        f"never rendered; cannot run: the journal of a paid request, {journal}, cannot be read (not valid JSON"
    )
    assert planned.cost_usd == 0.0
    report = open_project(path, cache_dir=cache).run(keep_going=True)
    outcome = report.result.outcomes["scene[2]"]
    assert outcome.status == "failed"
    assert outcome.error is not None and outcome.error.startswith(f"the journal of a paid request, {journal}")
    assert "so the step is not submitted again" in outcome.error
    prompts = [r.json["text_prompt"] for r in segmind.api.submits()]
    assert len(prompts) == 2 and not any("second" in p for p in prompts)  # no request for that step reached the host
    assert journal.read_bytes() == b'{"request_id": "req-0002-'


def test_many_renders_leave_no_lock_files(tmp_path: Path) -> None:
    path, cache, fake = write_recipe_file(tmp_path, BASIC_RECIPE), tmp_path / "cache", FakeProvider()
    for take in range(1, 9):
        write_recipe_file(tmp_path, BASIC_RECIPE.replace("Hello there.", f"Hello there, take {take}."))
        assert _project(path, fake, cache).run(jobs=4).result.ok
    assert len(fake.rendered) == 4 + 7 * 1  # every run rendered (and locked) the changed line and its take
    assert list((cache / "locks").iterdir()) == []


# -- a read-only cache ------------------------------------------------------------------------------


def _drop_file_capabilities() -> None:
    """In the child before exec: as root, drop the capabilities that ignore file permissions, so
    chmod a-w stops it as it stops any user (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP: gone from the bounding set at exec
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _audioflow(*args: str, cwd: Path, readonly: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("AUDIOFLOW_CACHE_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "audioflow", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_drop_file_capabilities if readonly else None,
    )


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def _chmod_tree(root: Path, writable: bool) -> None:
    for p in [root, *root.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def test_a_read_only_cache_still_bounces_a_fully_cached_render(tmp_path: Path) -> None:
    write_recipe_file(tmp_path, BED_RECIPE, "bed.yaml")
    first = _audioflow("run", "bed.yaml", "--cache-dir", "cache", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    expected = (tmp_path / "out" / "bed.wav").read_bytes()
    (tmp_path / "out" / "bed.wav").unlink()
    cache = tmp_path / "cache"
    for state in (cache / "state").glob("*.json"):  # a run that changes nothing saves nothing: give it a state to save
        state.unlink()
    before = _snapshot(cache)
    _chmod_tree(cache, writable=False)
    try:
        probe = subprocess.run(  # the child really cannot write there
            [sys.executable, "-c", f"open({str(cache / 'state' / 'probe')!r}, 'w')"],
            capture_output=True,
            text=True,
            preexec_fn=_drop_file_capabilities,
        )
        assert "PermissionError" in probe.stderr
        second = _audioflow("run", "bed.yaml", "--cache-dir", "cache", cwd=tmp_path, readonly=True)
    finally:
        _chmod_tree(cache, writable=True)
    assert second.returncode == 0, second.stderr
    assert "0 rendered, 3 cached, 0 failed (everything was cached)" in second.stdout.splitlines()
    assert second.stderr.startswith("warning: the recipe's state was not saved: cannot write ")
    assert (tmp_path / "out" / "bed.wav").read_bytes() == expected
    assert _snapshot(cache) == before  # nothing in the cache was written, locked or removed


# -- a run killed while it writes the output -------------------------------------------------------


def _run_pausing_at_fsync(folder: Path, recipe: str, where: str, said: str, pause_s: float) -> subprocess.Popen[bytes]:
    """``audioflow run RECIPE --cache-dir cache`` in a child process that, at its first fsync of a
    file whose path holds ``where``, prints ``said`` and sleeps ``pause_s`` before syncing."""
    script = f"""
import os, sys, time
real_fsync = os.fsync
paused = []
def fsync(fd):
    if {where!r} in os.readlink(f"/proc/self/fd/{{fd}}") and not paused:
        paused.append(fd)
        print({said!r}, flush=True)
        time.sleep({pause_s!r})
    real_fsync(fd)
os.fsync = fsync
sys.argv = ["audioflow", "run", {recipe!r}, "--cache-dir", "cache"]
from audioflow.cli import main
main()
"""
    return subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_a_run_killed_while_writing_the_output_leaves_nothing_after_the_next_run(tmp_path: Path) -> None:
    write_recipe_file(tmp_path, BED_RECIPE, "bed.yaml")
    child = _run_pausing_at_fsync(tmp_path, "bed.yaml", "/out/", "writing the output", 600)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"writing the output\n"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    (partial,) = (tmp_path / "out").iterdir()
    assert partial.name.startswith(".bed.wav.") and partial.name.endswith(f"-{child.pid}")
    again = _audioflow("run", "bed.yaml", "--cache-dir", "cache", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bed.manifest.json", "bed.report.html", "bed.wav"]


# -- a run stopped by SIGTERM (a service manager, `kill`, a CI timeout) -------------------------------


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_sigterm_stops_a_run_as_ctrl_c_does(segmind, tmp_path: Path, stop: signal.Signals) -> None:
    write_recipe_file(tmp_path, SCENE_RECIPE, "scene.yaml")
    child = _run_pausing_at_fsync(tmp_path, "scene.yaml", "/cache/tmp/", "writing into the cache", 2)
    assert child.stdout is not None and child.stdout.readline() == b"writing into the cache\n"
    child.send_signal(stop)
    stderr = child.communicate(timeout=60)[1].decode()
    assert (child.returncode, stderr.splitlines()[-1]) == (
        (143, "terminated") if stop == signal.SIGTERM else (130, "interrupted")
    ), stderr
    cache = tmp_path / "cache"
    assert list((cache / "tmp").iterdir()) == [] and list((cache / "locks").iterdir()) == []
    again = _audioflow("run", "scene.yaml", "--cache-dir", "cache", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(segmind.api.submits()) == 3, again.stderr  # no line paid twice: each take kept, or its journal resumed
    assert _audioflow("cache", "verify", "--cache-dir", "cache", cwd=tmp_path).returncode == 0
