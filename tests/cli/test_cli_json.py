"""Every ``--json`` output matches the JSON Schema shipped for it (audioflow/schemas/cli-*.schema.json),
and is all of stdout: warnings and notes stay on stderr."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from click.testing import CliRunner
from conftest import BASIC_RECIPE, FakeProvider, invoke

from audioflow.cli import cli
from audioflow.cli.options import BUILTIN_PROVIDERS
from audioflow.providers import PROVIDERS
from audioflow.steps import StepKind

SCHEMAS = ("validate", "graph", "voices", "plan", "run", "cache-info")


def schema(name: str) -> dict[str, Any]:
    text = resources.files("audioflow").joinpath("schemas", f"cli-{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def check(name: str, stdout: str) -> Any:
    data = json.loads(stdout)  # the whole of stdout is the JSON document
    errors = [e.message for e in jsonschema_rs.validator_for(schema(name)).iter_errors(data)]
    assert errors == [], errors
    return data


@pytest.mark.parametrize("name", SCHEMAS)
def test_each_schema_is_valid_draft_2020_12(name: str) -> None:
    document = schema(name)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema_rs.Draft202012Validator(document)  # raises for a schema that is not one


def test_the_schemas_know_every_step_kind_and_provider() -> None:
    kinds = schema("graph")["properties"]["steps"]["items"]["properties"]["kind"]["enum"]
    assert sorted(kinds) == sorted(str(k) for k in StepKind)
    assert tuple(PROVIDERS) == BUILTIN_PROVIDERS


def test_validate_json_ok(basic_project: Path) -> None:
    result = invoke("validate", "recipe.yaml", "--json")
    assert (result.exit_code, result.stderr) == (0, "")
    data = check("validate", result.stdout)
    assert data == {"recipe": "recipe.yaml", "ok": True, "steps": 7, "errors": [], "warnings": []}


def test_validate_json_lists_every_error_with_its_location(basic_project: Path) -> None:
    bad = BASIC_RECIPE.replace("- mara: Bye.", "- mra: Bye.").replace("gain_db: -20", "gian_db: -20")
    (basic_project / "recipe.yaml").write_text(bad, encoding="utf-8")
    result = invoke("validate", "recipe.yaml", "--json")
    assert (result.exit_code, result.stderr) == (2, "")
    data = check("validate", result.stdout)
    assert data["ok"] is False and data["steps"] is None
    assert data["errors"] == [
        {"path": "recipe.yaml", "line": 11, "col": 9, "message": "unknown voice 'mra'", "hint": "did you mean 'mara'?"},
        {
            "path": "recipe.yaml",
            "line": 15,
            "col": 33,
            "message": "unknown key 'gian_db'",
            "hint": "did you mean 'gain_db'?",
        },
    ]


def test_graph_json(basic_project: Path) -> None:
    result = invoke("graph", "recipe.yaml", "--json")
    assert (result.exit_code, result.stderr) == (0, "")
    data = check("graph", result.stdout)
    assert [s["id"] for s in data["steps"]][-2:] == ["mix", "master"]
    assert ["scene[1]", "scene"] in data["edges"] and ["mix", "master"] in data["edges"]
    assert len(data["edges"]) == 6


def test_voices_json() -> None:
    result = invoke("voices", "--json")
    assert (result.exit_code, result.stderr) == (0, "")
    data = check("voices", result.stdout)
    assert data["voices"][0] == {
        "name": "joe",
        "number": 1,
        "pitch_semitones": 0.0,
        "speed": 1.0,
        "description": data["voices"][0]["description"],
    }


def test_plan_json_one_recipe_and_a_batch(basic_project: Path) -> None:
    one = invoke("plan", "recipe.yaml", "--json")
    assert (one.exit_code, one.stderr) == (0, "")
    assert len(check("plan", one.stdout)["steps"]) == 7
    (basic_project / "b").mkdir()
    (basic_project / "b" / "other.yaml").write_text(BASIC_RECIPE.replace("Bye.", "Later."), encoding="utf-8")
    batch = invoke("plan", "recipe.yaml", "b/other.yaml", "--json")
    assert batch.exit_code == 0
    assert [r["recipe"] for r in check("plan", batch.stdout)["recipes"]] == ["recipe.yaml", "b/other.yaml"]


def test_run_json_has_loudness_outputs_notes_and_placeholders(basic_project: Path) -> None:
    result = invoke("run", "recipe.yaml", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # the placeholder's note is in the JSON, not repeated on stderr
    data = check("run", result.stdout)
    assert data["loudness"]["measured_lufs"] == pytest.approx(-16.0, abs=0.2)
    assert data["loudness"]["target_lufs"] == -16.0
    assert data["duration_ms"] == pytest.approx(1600, abs=100)
    assert data["files"][:2] == ["out/test.wav", "out/test.manifest.json"]
    assert data["files"][-1] == "out/test.report.html"  # the report page the run wrote is a file it wrote
    assert [o["path"] for o in data["outputs"]] == ["out/test.wav"]
    assert all((basic_project / path).is_file() for path in data["files"])
    assert data["placeholders"] == ["rain"]
    assert data["notes"] == [{"step": "rain", "kind": "placeholder", "text": "placeholder: fake"}]


def test_run_json_files_leave_out_a_report_the_run_did_not_write(basic_project: Path) -> None:
    result = invoke("run", "recipe.yaml", "--json", "--no-report")
    assert result.exit_code == 0, result.stderr
    files = check("run", result.stdout)["files"]
    assert files[:2] == ["out/test.wav", "out/test.manifest.json"]
    assert not any(path.endswith(".report.html") for path in files)
    assert not (basic_project / "out" / "test.report.html").exists()
    assert invoke("run", "recipe.yaml").exit_code == 0  # writes the page
    page = basic_project / "out" / "test.report.html"
    page.write_text("an older page", encoding="utf-8")
    cached = invoke("run", "recipe.yaml", "--json", "--no-report")  # every step cached: the same rule
    assert cached.exit_code == 0, cached.stderr
    assert check("run", cached.stdout)["files"] == files
    assert page.read_text(encoding="utf-8") == "an older page"  # a report already there stays


def test_run_json_of_a_failed_run_and_of_a_batch(basic_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PROVIDERS, "local", lambda settings=None: FakeProvider(fail={"scene[2]"}))
    failed = invoke("run", "recipe.yaml", "--json", "-k")
    assert failed.exit_code == 1
    data = check("run", failed.stdout)
    assert (data["output"], data["loudness"], data["placeholders"]) == (None, None, ["rain"])
    assert data["files"] == ["out/test.report.html"]  # only the failed-run page, which says what failed
    assert "RUN FAILED" in (basic_project / "out" / "test.report.html").read_text(encoding="utf-8")
    monkeypatch.setitem(PROVIDERS, "local", lambda settings=None: FakeProvider())
    (basic_project / "b").mkdir()
    (basic_project / "b" / "other.yaml").write_text(BASIC_RECIPE.replace("Bye.", "Later."), encoding="utf-8")
    batch = invoke("run", "recipe.yaml", "b/other.yaml", "--json")
    assert batch.exit_code == 0, batch.stderr
    assert [r["output"] for r in check("run", batch.stdout)["recipes"]] == ["out/test.wav", "b/out/test.wav"]


def test_provider_lists_its_choices_and_completes(basic_project: Path) -> None:
    assert "--provider [local|segmind|fal|evolink]" in invoke("run", "--help").stdout
    result = CliRunner().invoke(
        cli,
        [],
        prog_name="audioflow",
        env={
            "_AUDIOFLOW_COMPLETE": "bash_complete",
            "COMP_WORDS": "audioflow plan x.yaml --provider f",
            "COMP_CWORD": "4",
        },
    )
    assert result.stdout.splitlines() == ["plain,fal"]
