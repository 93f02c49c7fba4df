"""``audioflow init``: a commented starter recipe with the editor modeline that validates and
renders offline, and never overwrites."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import invoke

from audioflow.recipe import schema_text


def test_init_writes_a_commented_recipe_with_the_modeline_and_the_schema(in_tmp: Path) -> None:
    result = invoke("init")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "wrote episode.yaml\n"
    text = (in_tmp / "episode.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=./recipe.schema.json"
    assert sum(1 for line in text.splitlines() if "#" in line) >= 10
    assert json.loads((in_tmp / "recipe.schema.json").read_text()) == json.loads(schema_text())
    validated = invoke("validate", "episode.yaml")
    assert (validated.exit_code, validated.stdout) == (0, "episode.yaml: ok (8 steps)\n")


def test_init_refuses_to_overwrite(in_tmp: Path) -> None:
    (in_tmp / "show.yaml").write_text("mine\n", encoding="utf-8")
    (in_tmp / "recipe.schema.json").write_text("{}", encoding="utf-8")
    result = invoke("init", "show")
    assert result.exit_code == 1
    assert result.stderr == "error: show.yaml already exists: not overwritten (choose another NAME)\n"
    assert (in_tmp / "show.yaml").read_text() == "mine\n"
    fresh = invoke("init", "other.yaml")
    assert fresh.exit_code == 0
    assert (in_tmp / "recipe.schema.json").read_text() == "{}"  # an existing schema file is left alone
    assert "recipe.schema.json exists: left as it is" in fresh.stderr


def test_init_with_an_unusable_name_is_an_error_not_a_traceback(in_tmp: Path) -> None:
    empty = invoke("init", "")
    assert (
        empty.exit_code == 2 and "Invalid value for NAME: '.' names no file (write a name like episode)" in empty.stderr
    )
    (in_tmp / "notes").write_text("mine\n", encoding="utf-8")
    below_a_file = invoke("init", "notes/pilot")
    assert (below_a_file.exit_code, below_a_file.stderr) == (
        1,
        "error: cannot write notes/pilot.yaml (notes): File exists\n",
    )
    assert (in_tmp / "notes").read_text() == "mine\n"


def test_init_in_a_new_folder(in_tmp: Path) -> None:
    result = invoke("init", "shows/pilot")
    assert result.exit_code == 0, result.stderr
    assert "output: out/pilot.mp3" in (in_tmp / "shows" / "pilot.yaml").read_text()
    assert (in_tmp / "shows" / "recipe.schema.json").is_file()


@pytest.mark.slow
def test_the_starter_recipe_renders_offline(in_tmp: Path) -> None:
    assert invoke("init", "pilot").exit_code == 0
    result = invoke("run", "pilot.yaml", "--cache-dir", "cache")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "8 rendered, 0 cached, 0 failed"
    assert result.stdout.splitlines()[1].startswith("wrote out/pilot.mp3: ")
    # within 0.2 LU of the podcast preset's -16 LUFS (Piper's timing varies run to run), and QC says so
    assert re.search(r", -1(5\.[89]|6\.[012]) LUFS, .*QC pass \(podcast\)", result.stdout), result.stdout
    assert result.stderr.startswith("placeholder: bed: ")
