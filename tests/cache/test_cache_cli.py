"""`audioflow cache verify` and `audioflow cache gc`, and how plan and run report a damaged cache:
exact lines and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import BASIC_RECIPE, invoke

from audioflow.cache import ArtifactStore, record_key


def _rendered(basic_project: Path) -> dict:
    result = invoke("run", "recipe.yaml", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _object_of(cache: Path, input_digest: str) -> str:
    return json.loads((cache / record_key(input_digest)).read_text())["object"]


def test_verify_a_sound_cache_beside_the_recipe(basic_project: Path) -> None:
    _rendered(basic_project)
    result = invoke("cache", "verify", "recipe.yaml")
    assert result.exit_code == 0, result.stderr
    store = ArtifactStore(basic_project / ".audioflow")
    objects = len(store.keys("objects"))
    assert result.stdout.splitlines()[-1].startswith(
        f".audioflow: checked {objects} objects, 11 records, 0 journals, 1 recipe state ("
    )
    assert result.stdout.endswith(" hashed): ok\n")


def test_verify_reports_damage_exits_1_and_repair_sets_it_aside(basic_project: Path) -> None:
    run = _rendered(basic_project)
    cache = basic_project / ".audioflow"
    digest = next(s["input_digest"] for s in run["steps"] if s["id"] == "mix")
    obj = _object_of(cache, digest)
    data = bytearray((cache / obj).read_bytes())
    data[-1] ^= 1
    (cache / obj).write_bytes(bytes(data))
    result = invoke("cache", "verify", "--cache-dir", ".audioflow")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    hint = "left in place (run `audioflow cache verify --repair` to set it aside)"
    assert lines[:2] == [
        f"damaged in cache: {obj}: its content does not match its digest; {hint}",
        f"damaged in cache: {record_key(digest)}: its object {obj} is damaged; {hint}",
    ]
    assert lines[-1].endswith(": 2 damaged, 2 left in place")
    repaired = invoke("cache", "verify", "--cache-dir", ".audioflow", "--repair")
    assert repaired.exit_code == 0
    assert repaired.stdout.splitlines()[0].startswith(
        f"damaged in cache: {obj}: its content does not match its digest; set aside as quarantine/"
    )
    assert repaired.stdout.splitlines()[-1].endswith(": 2 damaged, 0 left in place")
    assert invoke("cache", "verify", "--cache-dir", ".audioflow").exit_code == 0
    again = json.loads(invoke("run", "recipe.yaml", "--json").stdout)
    assert {s["id"]: s["status"] for s in again["steps"]}["mix"] == "rendered"


def test_verify_needs_a_cache(basic_project: Path) -> None:
    result = invoke("cache", "verify")
    assert result.exit_code == 2
    assert "give a RECIPE (its cache is .audioflow/ beside it) or --cache-dir" in result.stderr
    missing = invoke("cache", "verify", "--cache-dir", "nowhere")
    assert (missing.exit_code, missing.stderr) == (1, "error: no cache at nowhere\n")
    assert not (basic_project / "nowhere").exists()


def test_gc_dry_run_lists_then_gc_removes_what_no_recipe_uses(basic_project: Path) -> None:
    _rendered(basic_project)
    (basic_project / "recipe.yaml").write_text(BASIC_RECIPE.replace("Hello there.", "Hello again."), encoding="utf-8")
    # the old first line (its take, its finished line), the old dialogue, mix and master are unused
    _rendered(basic_project)
    dry = invoke("cache", "gc", "recipe.yaml", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert all(
        line.startswith(("would remove steps/", "would remove objects/", "would remove previews/"))
        for line in lines[:-1]
    )
    assert len([line for line in lines if line.startswith("would remove steps/")]) == 5
    assert len([line for line in lines if line.startswith("would remove previews/")]) == 1  # the old line's take
    assert lines[-1].startswith(".audioflow: would remove ")
    assert "; kept 11 records and " in lines[-1]
    assert lines[-1].endswith(" objects (journals and quarantine/ are never removed)")
    kept_objects = int(lines[-1].split(" records and ")[1].split()[0])
    assert invoke("cache", "gc", "recipe.yaml", "--dry-run").stdout == dry.stdout  # nothing was removed
    done = invoke("cache", "gc", "recipe.yaml")
    assert done.exit_code == 0
    assert done.stdout.replace("removed ", "would remove ") == dry.stdout
    assert len(ArtifactStore(basic_project / ".audioflow").keys("objects")) == kept_objects
    assert len(ArtifactStore(basic_project / ".audioflow").keys("steps")) == 11
    assert invoke("cache", "gc", "recipe.yaml").stdout.splitlines()[-1].startswith(".audioflow: removed 0 files, 0 B")
    again = json.loads(invoke("run", "recipe.yaml", "--json").stdout)
    assert (again["rendered"], again["cached"]) == (0, 7)


def test_gc_refuses_while_a_state_is_damaged(basic_project: Path) -> None:
    _rendered(basic_project)
    (state,) = (basic_project / ".audioflow" / "state").iterdir()
    state.write_text("{")
    result = invoke("cache", "gc", "--cache-dir", ".audioflow")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {Path('.audioflow') / 'state' / state.name} cannot be read (not valid")


def test_plan_and_run_report_what_they_set_aside(basic_project: Path) -> None:
    run = _rendered(basic_project)
    digest = next(s["input_digest"] for s in run["steps"] if s["id"] == "scene[2]")
    record = basic_project / ".audioflow" / record_key(digest)
    record.write_text(json.dumps({**json.loads(record.read_text()), "size": "12"}))
    plan = invoke("plan", "recipe.yaml")
    assert plan.exit_code == 0
    (line,) = plan.stderr.splitlines()
    assert line.startswith(
        f"damaged in cache: {record_key(digest)}: 'size' is not a whole number of bytes; set aside as quarantine/"
    )
    row = next(r for r in plan.stdout.splitlines() if " scene[2] " in r)
    assert row.endswith("damaged in cache: set aside, re-rendering ('size' is not a whole number of bytes)")
    result = invoke("run", "recipe.yaml")
    # the plan set it aside: this run re-rendered it, and reports no damage (only the placeholder's note)
    assert result.exit_code == 0 and result.stderr == "placeholder: rain: placeholder: fake\n"
    assert "1 rendered, 6 cached, 0 failed" in result.stdout.splitlines()


def test_gc_of_a_recipe_without_a_cache_creates_none(basic_project: Path) -> None:
    result = invoke("cache", "gc", "recipe.yaml")
    assert (result.exit_code, result.stderr) == (1, "error: no cache at .audioflow\n")
    assert not (basic_project / ".audioflow").exists()
