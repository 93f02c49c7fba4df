"""A new cache ignores itself in git; `audioflow cache info` measures a cache and what recipes use."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema_rs
from conftest import BASIC_RECIPE, invoke

from audioflow.cache import ArtifactStore, cache_usage

SCHEMA = Path(__file__).resolve().parents[2] / "audioflow" / "schemas" / "cli-cache-info.schema.json"


def test_a_new_cache_ignores_itself_in_git(basic_project: Path) -> None:
    assert invoke("run", "recipe.yaml").exit_code == 0
    assert (
        basic_project / ".audioflow" / ".gitignore"
    ).read_text() == "# Created by audioflow: the cache is not versioned.\n*\n"
    subprocess.run(["git", "init", "-q", str(basic_project)], check=True)
    ignored = subprocess.run(
        ["git", "-C", str(basic_project), "status", "--porcelain", "--untracked-files=all"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert not any(".audioflow" in line for line in ignored.stdout.splitlines()), ignored.stdout
    assert invoke("cache", "verify", "recipe.yaml").exit_code == 0  # the file is no damage


def test_an_existing_folder_is_not_given_a_gitignore(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    ArtifactStore(tmp_path / "mine")
    assert not (tmp_path / "mine" / ".gitignore").exists()


def test_cache_info_measures_what_the_recipe_uses_and_the_rest(basic_project: Path) -> None:
    assert invoke("run", "recipe.yaml").exit_code == 0
    (basic_project / "recipe.yaml").write_text(BASIC_RECIPE.replace("gain_db: -20", "gain_db: -14"), encoding="utf-8")
    assert invoke("run", "recipe.yaml").exit_code == 0  # a new mix and master; the old ones are the rest
    result = invoke("cache", "info", "recipe.yaml", "--json")
    assert (result.exit_code, result.stderr) == (0, "")
    data = json.loads(result.stdout)
    assert list(jsonschema_rs.validator_for(json.loads(SCHEMA.read_text())).iter_errors(data)) == []
    (row,) = data["caches"]
    objects = [p for p in (basic_project / ".audioflow" / "objects").rglob("*") if p.is_file()]
    every = [p for p in (basic_project / ".audioflow").rglob("*") if p.is_file()]
    assert (row["cache"], row["objects"], row["object_bytes"]) == (
        ".audioflow",
        len(objects),
        sum(p.stat().st_size for p in objects),
    )
    assert (row["files"], row["bytes"]) == (len(every), sum(p.stat().st_size for p in every))
    records = [p for p in (basic_project / ".audioflow" / "steps").rglob("*") if p.is_file()]
    assert (row["records"], row["states"], row["journals"]) == (len(records), 1, 0)
    assert len(records) == 13  # 7 steps and 4 raw takes, then a new mix and master
    assert row["used_objects"] == 7  # the recipe's seven steps, each its own object now
    store = ArtifactStore(basic_project / ".audioflow", create=False)
    assert cache_usage(store).used_bytes == 0  # nothing asked for: nothing counted as used
    assert row["used_bytes"] + row["other_bytes"] == row["bytes"]
    # the state is this recipe's last run, so gc keeps what it uses and frees the old mix and master
    assert row["gc_keeps_bytes"] == row["used_bytes"]
    gc = invoke("cache", "gc", "recipe.yaml", "--dry-run")
    removed = [line.split()[2] for line in gc.stdout.splitlines() if line.startswith("would remove ")]
    freed = sum((basic_project / ".audioflow" / key).stat().st_size for key in removed)
    assert 0 < freed <= row["bytes"] - row["gc_keeps_bytes"]  # the rest is the state, .gitignore, locks
    text = invoke("cache", "info", "recipe.yaml")
    assert text.stdout.splitlines()[0].startswith(".audioflow: ")
    assert text.stdout.splitlines()[1].startswith("used by recipe.yaml: ")


def test_cache_info_needs_a_cache(basic_project: Path) -> None:
    result = invoke("cache", "info", "--cache-dir", "nowhere")
    assert (result.exit_code, result.stderr) == (1, "error: no cache at nowhere\n")


def test_cache_info_on_a_bucket_measures_its_objects_under_the_prefix(basic_project: Path, s3_url: str) -> None:
    from audioflow.cache import S3Store

    assert invoke("run", "recipe.yaml", "--cache-dir", s3_url).exit_code == 0
    (basic_project / "recipe.yaml").write_text(BASIC_RECIPE.replace("gain_db: -20", "gain_db: -14"), encoding="utf-8")
    assert invoke("run", "recipe.yaml", "--cache-dir", s3_url).exit_code == 0
    result = invoke("cache", "info", "recipe.yaml", "--cache-dir", s3_url, "--json")
    assert (result.exit_code, result.stderr) == (0, "")
    data = json.loads(result.stdout)
    assert list(jsonschema_rs.validator_for(json.loads(SCHEMA.read_text())).iter_errors(data)) == []
    (row,) = data["caches"]
    listed = S3Store(s3_url, mirror=basic_project / "elsewhere").sizes()
    objects = {k: n for k, n in listed.items() if k.startswith("objects/")}
    assert (row["cache"], row["files"], row["bytes"]) == (s3_url, len(listed), sum(listed.values()))
    assert (row["objects"], row["object_bytes"]) == (len(objects), sum(objects.values()))
    assert (row["records"], row["states"], row["journals"]) == (13, 1, 0)
    assert row["used_objects"] == 7 and row["used_bytes"] + row["other_bytes"] == row["bytes"]
    assert row["gc_keeps_bytes"] == row["used_bytes"]
    text = invoke("cache", "info", "--cache-dir", s3_url)
    assert text.exit_code == 0 and text.stdout.startswith(f"{s3_url}: ")
