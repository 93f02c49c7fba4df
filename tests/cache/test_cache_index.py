"""The per-recipe index of records and the bounce record: a rerun that changes nothing reads one
index instead of a record per step and writes nothing, while everything the cache promises still
holds with the index present: a changed input file, recipe or model, a deleted or damaged artifact,
a changed or damaged record, a damaged index, an output touched or removed are all noticed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeProvider, write_recipe_file

from audioflow.audio import Audio, write_wav
from audioflow.cache import ArtifactStore, record_key, sha256_hex
from audioflow.cache.index import INDEX_AREA
from audioflow.engine import open_project

RECIPE = """\
audioflow: 1
title: Index
cast:
  mara: {preset: {local: joe}}
steps:
  scene:
    dialogue:
      - mara: Hello there.
      - mara: Goodbye.
  door: {file: door.wav}
mix:
  - {track: scene}
  - {track: door, offset: 100ms}
master: {format: wav}
output: out/index.wav
"""


def _tone(path: Path, freq_hz: float) -> None:
    rate = 22050
    t = np.arange(rate // 4) / rate
    path.write_bytes(write_wav(Audio((0.2 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32), rate)))


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    _tone(tmp_path / "door.wav", 440.0)
    return write_recipe_file(tmp_path, RECIPE)


def _run(recipe: Path, fake: FakeProvider):
    report = open_project(recipe, providers={"local": fake}, cache_dir=recipe.parent / "cache").run()
    assert report.ok, report.result.outcomes
    return report


def _statuses(report) -> dict[str, str]:
    return {step_id: str(outcome.status) for step_id, outcome in report.result.outcomes.items()}


def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_ino)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _rendered_twice(recipe: Path, fake: FakeProvider):
    """Render, then run once more (the index and the bounce record are written by then)."""
    _run(recipe, fake)
    second = _run(recipe, fake)
    assert set(_statuses(second).values()) == {"cached"}
    assert list((recipe.parent / "cache" / INDEX_AREA).glob("*.json"))
    return second


def test_a_no_op_run_reads_the_index_not_the_records_and_writes_nothing(
    recipe: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeProvider()
    _rendered_twice(recipe, fake)
    before_cache, before_out = _snapshot(recipe.parent / "cache"), _snapshot(recipe.parent / "out")
    reads: list[str] = []
    real_get_step = ArtifactStore.get_step

    def counted(self: ArtifactStore, digest: str, *, verify: bool = False):
        reads.append(digest)
        return real_get_step(self, digest, verify=verify)

    monkeypatch.setattr(ArtifactStore, "get_step", counted)
    third = _run(recipe, fake)
    assert set(_statuses(third).values()) == {"cached"} and reads == []
    assert third.manifest is not None and third.manifest.qc is not None and third.manifest.qc.passed
    assert third.manifest.to_json() == json.loads((recipe.parent / "out" / "index.manifest.json").read_text())
    assert _snapshot(recipe.parent / "cache") == before_cache  # no state, index, record or lock written
    assert _snapshot(recipe.parent / "out") == before_out  # the output, its sidecars and report untouched
    assert sorted(fake.rendered) == ["scene[1]", "scene[2]"]


def test_a_changed_input_file_is_noticed_with_the_index_present(recipe: Path) -> None:
    fake = FakeProvider()
    first = _rendered_twice(recipe, fake)
    assert first.output is not None
    before = first.output.read_bytes()
    _tone(recipe.parent / "door.wav", 660.0)
    again = _run(recipe, fake)
    statuses = _statuses(again)
    assert statuses["door"] == "rendered" and statuses["mix"] == "rendered" and statuses["master"] == "rendered"
    assert statuses["scene"] == "cached"
    assert again.output is not None and again.output.read_bytes() != before


def test_a_changed_recipe_and_a_changed_model_are_noticed_with_the_index_present(recipe: Path) -> None:
    fake = FakeProvider()
    _rendered_twice(recipe, fake)
    recipe.write_text(RECIPE.replace("Goodbye.", "Farewell."), encoding="utf-8")
    edited = _statuses(_run(recipe, fake))
    assert edited["scene[2]"] == "rendered" and edited["scene[1]"] == "cached" and edited["master"] == "rendered"
    newer = FakeProvider(model="fake-model-2")  # what a provider's version or settings decide: the model id
    changed = _statuses(_run(recipe, newer))
    assert changed["scene[1]"] == "rendered" and changed["scene[2]"] == "rendered"


@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_a_deleted_or_damaged_artifact_is_noticed_with_the_index_present(recipe: Path, damage: str) -> None:
    fake = FakeProvider()
    second = _rendered_twice(recipe, fake)
    line = second.result.outcomes["scene[1]"].record
    assert line is not None
    if damage == "deleted":
        line.artifact.path.unlink()
    else:
        line.artifact.path.write_bytes(line.artifact.path.read_bytes()[:-10])
    again = _run(recipe, fake)
    assert _statuses(again)["scene[1]"] == "rendered"
    assert fake.rendered.count("scene[1]") == 2
    stored = again.result.outcomes["scene[1]"].record
    assert stored is not None and sha256_hex(stored.artifact.path.read_bytes()) == stored.artifact.digest


def test_a_master_damaged_in_place_is_noticed_with_the_index_present(recipe: Path) -> None:
    fake = FakeProvider()
    second = _rendered_twice(recipe, fake)
    master = second.result.outcomes["master"].record
    assert master is not None and second.output is not None
    good = second.output.read_bytes()
    data = bytearray(master.artifact.path.read_bytes())
    data[2000] ^= 0xFF  # same size: only its sha256 tells
    master.artifact.path.write_bytes(bytes(data))
    planned = open_project(recipe, providers={"local": fake}, cache_dir=recipe.parent / "cache").plan()
    assert planned.steps["master"].reason.startswith("damaged in cache: set aside")
    again = _run(recipe, fake)
    assert _statuses(again)["master"] == "rendered"
    assert again.output is not None and again.output.read_bytes() == good


def test_a_changed_or_damaged_record_is_read_again_not_trusted_from_the_index(recipe: Path) -> None:
    fake = FakeProvider()
    second = _rendered_twice(recipe, fake)
    digest = second.result.outcomes["scene[2]"].digest
    assert digest is not None
    record = recipe.parent / "cache" / record_key(digest)
    record.write_text("{not json", encoding="utf-8")
    project = open_project(recipe, providers={"local": fake}, cache_dir=recipe.parent / "cache")
    planned = project.plan().steps["scene[2]"]
    assert planned.status == "stale" and planned.reason.startswith("damaged in cache")
    assert _statuses(_run(recipe, fake))["scene[2]"] == "rendered"


@pytest.mark.parametrize("index_text", ["{broken", '{"version": 2, "steps": {"scene[1]": ["x"]}}', "[]"])
def test_a_damaged_index_falls_back_to_the_records(recipe: Path, index_text: str) -> None:
    fake = FakeProvider()
    _rendered_twice(recipe, fake)
    for index in (recipe.parent / "cache" / INDEX_AREA).glob("*.json"):
        index.write_text(index_text, encoding="utf-8")
    again = _run(recipe, fake)
    assert set(_statuses(again).values()) == {"cached"}
    assert sorted(fake.rendered) == ["scene[1]", "scene[2]"]


def test_an_index_entry_naming_another_object_is_not_followed(recipe: Path) -> None:
    fake = FakeProvider()
    second = _rendered_twice(recipe, fake)
    (index,) = (recipe.parent / "cache" / INDEX_AREA).glob("????????????????.json")
    data = json.loads(index.read_text())
    data["steps"]["scene[1]"][2] = "../../../../etc/passwd"  # an extension the store never gives
    index.write_text(json.dumps(data), encoding="utf-8")
    again = _run(recipe, fake)
    assert again.result.outcomes["scene[1]"].record == second.result.outcomes["scene[1]"].record


def test_an_output_touched_or_removed_is_bounced_again(recipe: Path) -> None:
    fake = FakeProvider()
    second = _rendered_twice(recipe, fake)
    assert second.output is not None
    output, good = second.output, second.output.read_bytes()
    srt = recipe.parent / "out" / "index.srt"
    output.write_bytes(b"not audio")
    srt.unlink()
    _run(recipe, fake)
    assert output.read_bytes() == good and srt.is_file()
    stat = output.stat()
    os.utime(output, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime kept, ctime moved: bounced again
    before = output.stat().st_ino
    _run(recipe, fake)
    assert output.stat().st_ino != before and output.read_bytes() == good


def test_a_changed_tag_bounces_again_without_rendering(recipe: Path) -> None:
    fake = FakeProvider()
    _rendered_twice(recipe, fake)
    recipe.write_text(RECIPE.replace("title: Index", "title: Index, retitled"), encoding="utf-8")
    again = _run(recipe, fake)
    assert set(_statuses(again).values()) == {"cached"}
    assert again.manifest is not None and again.manifest.title == "Index, retitled"
    written = json.loads((recipe.parent / "out" / "index.manifest.json").read_text())
    assert written["title"] == "Index, retitled"


def test_a_no_op_run_starts_no_event_loop_and_still_reports_every_step(
    recipe: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    fake = FakeProvider()
    _rendered_twice(recipe, fake)
    loops: list[object] = []
    real_run = asyncio.run

    def counted(main, **kwargs):  # type: ignore[no-untyped-def]
        loops.append(main)
        return real_run(main, **kwargs)

    monkeypatch.setattr(asyncio, "run", counted)
    events = []
    project = open_project(recipe, providers={"local": fake}, cache_dir=recipe.parent / "cache")
    report = project.run(on_event=events.append, budget_usd=0.0)
    assert report.ok and loops == []
    assert [(e.step_id, str(e.status)) for e in events] == [(s, "cached") for s in project.graph.order()]
    assert report.result.budget.spent_usd == 0.0
    recipe.write_text(RECIPE.replace("Goodbye.", "So long."), encoding="utf-8")  # something to render: the loop runs
    assert _statuses(_run(recipe, fake))["scene[2]"] == "rendered" and len(loops) == 1
