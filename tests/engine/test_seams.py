"""The seams of issue 8: each host request prepared once per step per run and used by plan, budget
and render alike; paid takes stored before anything can still fail; failed steps keep their
exception; the engine facade opens recipe text and loaded recipes and runs inside an event loop."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import BASIC_RECIPE, FakeProvider

from audioflow.audio import Audio, write_wav
from audioflow.engine import StepStatus, open_project, open_recipe, open_text
from audioflow.engine.preflight import take_digest
from audioflow.providers import Journal, PreparedRequest, RenderRequest, Take
from audioflow.recipe import parse_recipe

REPO = Path(__file__).resolve().parents[2]


class PaidFake(FakeProvider):
    """A paid host (not local) at $0.01 a request, counting how often each step's request is built."""

    def __init__(self, cost_usd: float = 0.01, **kw: object) -> None:
        super().__init__(name="paid", **kw)  # type: ignore[arg-type]
        self.local = False
        self.cost_usd = cost_usd
        self.builds: Counter[str] = Counter()
        self.sent: dict[str, PreparedRequest] = {}

    def prepare(self, request: RenderRequest) -> PreparedRequest:
        self.builds[request.step_id] += 1
        prepared = super().prepare(request)
        return PreparedRequest(request, prepared.model, prepared.key, 0.01, ("a note",), {"body": request.step_id})

    async def render(self, prepared: PreparedRequest, journal: Journal | None = None) -> Take:
        self.sent[prepared.request.step_id] = prepared
        take = await super().render(prepared, journal)
        return Take(take.data, take.format, take.placeholder, notes=prepared.notes, cost_usd=self.cost_usd)


def _paid(text: str) -> str:
    return text.replace("audioflow: 1\n", "audioflow: 1\nprovider: paid\n")


def test_each_host_request_is_built_once_per_step_per_run_and_plan_budget_render_agree(
    write_recipe, tmp_path: Path
) -> None:
    fake = PaidFake()
    project = open_project(write_recipe(_paid(BASIC_RECIPE)), providers={"paid": fake}, cache_dir=tmp_path / "c")
    report = asyncio.run(_plan_then_run(project))
    plan, result = report
    provider_steps = ["scene[1]", "scene[2]", "scene[3]", "rain"]
    assert dict(fake.builds) == dict.fromkeys(provider_steps, 1)  # plan built them; render sent those
    for step_id in provider_steps:
        planned = plan.steps[step_id]
        assert fake.sent[step_id] is planned.prepared  # the very request the plan priced
        assert planned.cost_usd == planned.prepared.cost_usd == 0.01
        record = result.outcomes[step_id].record
        assert record is not None and record.meta["take_digest"] == take_digest(planned.step, "paid", planned.prepared)
    assert plan.cost_by_provider() == {"paid": (pytest.approx(0.04), 4, 0)}
    assert result.budget.spent_usd == pytest.approx(0.04) and result.budget.requests == 4
    assert result.budget.reserved_usd == 0.0


async def _plan_then_run(project):  # type: ignore[no-untyped-def]
    """Plan, then run that plan (as ``Project.arun`` does), returning both."""
    from audioflow.engine import Budget, arun_plan

    plan = project.plan()
    result = await arun_plan(plan, project.store, project.providers, budget=Budget(1.0))
    return plan, result


CLONED = """\
audioflow: 1
provider: paid
cast:
  mara: {clone: mara.wav}
steps:
  hi: {speak: Hello there., voice: mara}
mix:
  - {track: hi}
output: out/x.wav
"""


def test_a_request_whose_clip_renders_in_the_same_run_is_prepared_again_with_the_clip(
    write_recipe, tmp_path: Path
) -> None:
    tone = np.sin(np.arange(22050 * 6) * 2 * np.pi * 150 / 22050).astype(np.float32) * 0.1
    (tmp_path / "mara.wav").write_bytes(write_wav(Audio(tone, 22050)))
    fake = PaidFake(duration_ms=1000.0)
    project = open_project(write_recipe(CLONED), providers={"paid": fake}, cache_dir=tmp_path / "c")
    plan = project.plan()
    assert plan.steps["hi"].prepared is not None and plan.steps["hi"].prepared.key is None  # the clip is pending
    fake.builds.clear()
    report = project.run()
    assert report.result.ok
    # once at plan time (checks, model, estimate) and once with the clip (the host body and key)
    assert fake.builds["hi"] == 2
    assert fake.sent["hi"].key is not None
    again = open_project(write_recipe(CLONED), providers={"paid": fake}, cache_dir=tmp_path / "c").run()
    assert again.result.count("cached") == 4 and fake.builds["hi"] == 3  # a later run: built once


def test_a_paid_take_with_a_nan_cost_is_stored_not_lost(write_recipe, tmp_path: Path) -> None:
    fake = PaidFake(cost_usd=float("nan"))
    project = open_project(write_recipe(_paid(BASIC_RECIPE)), providers={"paid": fake}, cache_dir=tmp_path / "c")
    report = project.run()
    assert report.result.ok, {s: o.error for s, o in report.result.outcomes.items()}
    meta = report.result.outcomes["rain"].record.meta  # type: ignore[union-attr]
    assert meta["cost_usd"] == 0.0 and any("reported a cost of nan" in n for n in meta["notes"])
    assert report.result.budget.spent_usd == 0.0
    assert project.store.pending_jobs() == []
    rendered = len(fake.rendered)
    assert open_project(write_recipe(_paid(BASIC_RECIPE)), providers={"paid": fake}, cache_dir=tmp_path / "c").run()
    assert len(fake.rendered) == rendered  # nothing paid for twice


def test_a_paid_takes_bytes_are_stored_before_its_record(
    write_recipe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = PaidFake()
    project = open_project(write_recipe(_paid(BASIC_RECIPE)), providers={"paid": fake}, cache_dir=tmp_path / "c")
    calls: list[tuple[str, str]] = []
    put_bytes, put_step = project.store.put_bytes, project.store.put_step

    def record_bytes(data: bytes, ext: str):  # type: ignore[no-untyped-def]
        artifact = put_bytes(data, ext)
        calls.append(("bytes", artifact.digest))
        return artifact

    def failing_step(digest: str, artifact, meta):  # type: ignore[no-untyped-def]
        calls.append(("record", artifact.digest))
        if meta.get("provider") and "take_digest" not in meta:  # a raw take: the disk fills up right after payment
            raise OSError("disk full")
        return put_step(digest, artifact, meta)

    monkeypatch.setattr(project.store, "put_bytes", record_bytes)
    monkeypatch.setattr(project.store, "put_step", failing_step)
    report = project.run(jobs=1, keep_going=True)
    assert report.result.outcomes["rain"].status == StepStatus.FAILED
    for i, (what, digest) in enumerate(calls):  # every record's bytes went to the store first
        assert what == "bytes" or ("bytes", digest) in calls[:i]
    take = fake.sent["rain"]
    data = write_wav(fake.audio_for(take.request))
    assert any(p.read_bytes() == data for p in (tmp_path / "c" / "objects").glob("*/*.wav"))
    assert "disk full" in (report.result.outcomes["rain"].error or "")


def test_a_failed_step_keeps_its_exception(write_recipe, tmp_path: Path) -> None:
    fake = FakeProvider(fail={"scene[2]"})
    report = open_project(write_recipe(BASIC_RECIPE), providers={"local": fake}, cache_dir=tmp_path / "c").run()
    outcome = report.result.outcomes["scene[2]"]
    assert outcome.status == StepStatus.FAILED and outcome.exception is not None
    assert outcome.error == str(outcome.exception) and outcome.exception.__traceback__ is not None


def test_audioflow_debug_shows_the_traceback_of_a_failed_step(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(BASIC_RECIPE)
    code = (
        "import sys; from audioflow.cli import main; from audioflow.providers import local\n"
        "def broken(self, *a, **k): raise ZeroDivisionError('a bug, not a string')\n"
        "local.LocalProvider._synthesize = broken\n"
        "sys.argv = ['audioflow', 'run', sys.argv[1]]; main()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "AUDIOFLOW_CACHE_DIR": str(tmp_path / "c")}
    quiet = subprocess.run([sys.executable, "-c", code, str(recipe)], capture_output=True, text=True, env=env)
    assert quiet.returncode == 1 and "ZeroDivisionError: a bug, not a string" in quiet.stderr
    assert "Traceback" not in quiet.stderr
    loud = subprocess.run(
        [sys.executable, "-c", code, str(recipe)], capture_output=True, text=True, env={**env, "AUDIOFLOW_DEBUG": "1"}
    )
    assert loud.returncode == 1 and "Traceback (most recent call last)" in loud.stderr
    assert "in broken" in loud.stderr  # the real frame, not a message


def test_open_text_and_open_recipe_and_arun_inside_a_running_loop(tmp_path: Path) -> None:
    fake = FakeProvider()
    project = open_text(BASIC_RECIPE, root=tmp_path, providers={"local": fake}, cache_dir=tmp_path / "c")
    assert project.graph.recipe.root == tmp_path and list(project.plan().steps)[-1] == "master"

    async def in_a_loop() -> int:  # as in Jupyter or a web app: a loop is already running
        report = await project.arun(jobs=2)
        assert report.result.ok and report.output == tmp_path / "out" / "test.wav"
        return report.result.count("rendered")

    assert asyncio.run(in_a_loop()) == 7
    recipe = parse_recipe(BASIC_RECIPE, tmp_path / "recipe.yaml")
    again = open_recipe(recipe, providers={"local": fake}, cache_dir=tmp_path / "c").run()
    assert again.result.count("cached") == 7 and again.manifest is not None
    assert again.manifest.to_json()["rendered"] == 0


@pytest.mark.parametrize("given", ["recipe.yaml", Path("recipe.yaml")])
def test_open_recipe_given_a_path_says_to_use_open(tmp_path: Path, given: str | Path) -> None:
    # open_recipe takes a loaded Recipe (docs/reference/api.md); a path is a TypeError that names
    # audioflow.open, never an AttributeError from deep inside
    (tmp_path / "recipe.yaml").write_text(BASIC_RECIPE)
    with pytest.raises(TypeError, match=r"takes a Recipe, not the path 'recipe.yaml'.*audioflow\.open\(path\)"):
        open_recipe(given, cache_dir=tmp_path / "c")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got dict"):
        open_recipe({"audioflow": 1}, cache_dir=tmp_path / "c")  # type: ignore[arg-type]
    assert not (tmp_path / "c").exists()
