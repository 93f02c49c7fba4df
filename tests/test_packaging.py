"""The built wheel ships the recipe schema where ``schema_text()`` looks for it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from audioflow.recipe import load_schema, schema_text

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schemas" / "recipe.schema.json"


def test_schema_text_is_the_source_schema() -> None:
    assert schema_text() == SCHEMA.read_text(encoding="utf-8")
    assert load_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.skipif(
    importlib.util.find_spec("hatchling") is None,
    reason="hatchling is not installed in this environment, so no wheel can be built offline "
    "(pip wheel --no-build-isolation needs the build backend present)",
)
def test_the_wheel_contains_the_schema(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("audioflow-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("audioflow/schemas/recipe.schema.json") == SCHEMA.read_bytes()
        assert "audioflow/py.typed" in archive.namelist()
        for name in ("validate", "graph", "voices", "plan", "run", "cache-info"):  # the CLI's JSON shapes
            shipped = REPO / "audioflow" / "schemas" / f"cli-{name}.schema.json"
            assert archive.read(f"audioflow/schemas/cli-{name}.schema.json") == shipped.read_bytes()
        assert "audioflow/engine/report_template.html" in archive.namelist()  # the report's page


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    """CI installs Chromium for the report's browser test the way the README tells a user to."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    after = readme.split("Install and run the tests:", 1)[1]
    command = after.split("```sh\n", 1)[1].split("\n```", 1)[0]
    assert "apt-get install -y chromium" in command and command.endswith(".venv/bin/pytest")
    assert (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1] == command
