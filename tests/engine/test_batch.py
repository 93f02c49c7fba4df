"""A batch of recipes run as one graph: shared steps render once, each recipe's output and manifest
are a single run's, failures stay in their recipe, and the budget holds for the whole batch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FakeProvider, write_recipe_file

from audioflow.engine import open_project
from audioflow.engine.batch import batch_cost, open_batch
from audioflow.errors import RecipeError


def _episode(n: int, *, scene: str = "scene") -> str:
    """Episode ``n``: its own dialogue, and a bed (``rain``) every episode shares, byte for byte."""
    return f"""\
audioflow: 1
title: Episode {n}
cast:
  mara: {{preset: {{local: joe}}}}
  ben: {{preset: {{local: deep}}}}
steps:
  {scene}:
    dialogue:
      - mara: Episode {n} begins.
      - ben: Hi, Mara, this is episode {n}.
      - mara: Bye from episode {n}.
  rain: {{generate: steady rain, duration: 1s}}
mix:
  - {{track: {scene}}}
  - {{track: rain, under: {scene}, gain_db: -20}}
output: out/ep{n}.wav
"""


#: What legitimately differs between a run in a fresh cache and a run that found a step cached.
RUN_FIELDS = ("rendered", "cached", "spent_usd")


def _stable(manifest: dict) -> dict:
    out = {k: v for k, v in manifest.items() if k not in RUN_FIELDS}
    out["steps"] = [{k: v for k, v in s.items() if k != "cached"} for s in manifest["steps"]]
    return out


def test_a_bed_every_episode_shares_renders_once_and_each_episode_is_a_single_runs_output(tmp_path: Path) -> None:
    paths = [write_recipe_file(tmp_path / "season", _episode(n), f"ep{n}.yaml") for n in range(3)]
    fake = FakeProvider()
    batch = open_batch(paths, cache_dir=tmp_path / "cache", providers={"local": fake})
    assert len({id(p.store) for p in batch.projects}) == 1  # one cache, one store
    report = batch.run(jobs=4)
    assert report.ok, report.errors
    assert fake.rendered.count("rain") == 1  # the shared bed: rendered once for three episodes
    assert len(fake.rendered) == 1 + 3 * 3
    statuses = [r.result.outcomes["rain"].status for r in report.reports.values()]
    assert sorted(statuses) == ["cached", "cached", "rendered"]
    for n, path in enumerate(paths):
        alone = open_project(path, cache_dir=tmp_path / f"alone{n}", providers={"local": FakeProvider()})
        batch_out = (path.parent / "out" / f"ep{n}.wav").read_bytes()
        batch_manifest = json.loads(report.reports[path].manifest_path.read_text())  # type: ignore[union-attr]
        single = alone.run(jobs=4)
        assert single.ok
        assert single.output is not None and single.output.read_bytes() == batch_out
        assert _stable(json.loads(single.manifest_path.read_text())) == _stable(batch_manifest)  # type: ignore[union-attr]
    again = open_batch(paths, cache_dir=tmp_path / "cache", providers={"local": fake}).run()
    assert again.ok and sum(r.result.count("rendered") for r in again.reports.values()) == 0


def test_a_failure_stays_in_its_recipe_and_is_reported_at_the_end(tmp_path: Path) -> None:
    good = write_recipe_file(tmp_path, _episode(1), "good.yaml")
    bad = write_recipe_file(tmp_path, _episode(2, scene="talk"), "bad.yaml")
    fake = FakeProvider(fail={"talk[2]"})
    report = open_batch([bad, good], cache_dir=tmp_path / "cache", providers={"local": fake}).run()
    assert not report.ok
    assert report.reports[good].ok and report.reports[good].output is not None
    assert report.reports[bad].output is None
    assert report.reports[bad].result.outcomes["talk[2]"].status == "failed"


def test_plan_cost_counts_a_shared_request_once_and_the_budget_holds_for_the_batch(tmp_path: Path) -> None:
    paths = [write_recipe_file(tmp_path, _episode(n), f"ep{n}.yaml") for n in range(2)]
    priced = FakeProvider()
    priced.local = False
    priced.prepare = _priced(priced.prepare, 0.5)  # type: ignore[method-assign]
    batch = open_batch(paths, cache_dir=tmp_path / "cache", providers={"local": priced})
    plans = batch.plan()
    assert sum(p.cost_by_provider()["local"][1] for p in plans) == 8  # each recipe alone: 3 lines and the bed
    assert batch_cost(plans) == {"local": (3.5, 7, 0)}  # the batch: the bed once
    report = batch.run(budget_usd=10)
    assert report.ok
    assert (report.budget.spent_usd, report.budget.requests) == (0.0, 7)
    assert sum(r.result.budget.requests for r in report.reports.values()) == 7


def _priced(prepare, usd: float):
    from dataclasses import replace

    return lambda request: replace(prepare(request), cost_usd=usd)


def test_two_recipes_writing_one_output_are_refused_before_anything_runs(tmp_path: Path) -> None:
    a = write_recipe_file(tmp_path, _episode(1), "a.yaml")
    b = write_recipe_file(tmp_path, _episode(1), "b.yaml")
    with pytest.raises(RecipeError, match=r"b.yaml:\d+:\d+: output .*ep1.wav is also the output of .*a.yaml"):
        open_batch([a, b], cache_dir=tmp_path / "cache", providers={"local": FakeProvider()})


def test_a_recipe_of_a_batch_may_not_write_what_another_reads_or_writes(tmp_path: Path) -> None:
    providers = {"local": FakeProvider()}
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "ep1.wav").write_bytes(b"a recording the second recipe imports")
    a = write_recipe_file(tmp_path, _episode(1), "a.yaml")  # writes out/ep1.wav
    b = write_recipe_file(
        tmp_path, _episode(2).replace("{generate: steady rain, duration: 1s}", "{file: out/ep1.wav}"), "b.yaml"
    )
    with pytest.raises(RecipeError) as info:
        open_batch([b, a], cache_dir=tmp_path / "cache", providers=providers)
    assert str(info.value) == (
        f"{a}:16:9: output {tmp_path}/out/ep1.wav would replace audio file 'out/ep1.wav' (line 12) of {b},"
        " which that recipe reads (give every recipe of a batch files of its own)"
    )
    c = write_recipe_file(
        tmp_path, _episode(3).replace("out/ep3.wav", "out/ep1.mp3"), "c.yaml"
    )  # ep1.srt, ep1.manifest.json… too
    with pytest.raises(RecipeError) as info:
        open_batch([a, c], cache_dir=tmp_path / "cache", providers=providers)
    assert str(info.value) == (
        f"{c}:16:9: {tmp_path}/out/ep1.srt (written beside output {tmp_path}/out/ep1.mp3) is also"
        f" written by {a} (give every recipe of a batch files of its own)"
    )
    assert (tmp_path / "out" / "ep1.wav").read_bytes() == b"a recording the second recipe imports"
