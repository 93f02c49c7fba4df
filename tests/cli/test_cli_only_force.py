"""``run --only STEP`` (that step and what it needs; no bounce without master) and ``--force STEP``
(rendered again though cached; never a paid step: it would pay again for the same request)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BASIC_RECIPE, FakeProvider

from audioflow.cli import cli
from audioflow.providers import PROVIDERS


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[FakeProvider]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDIOFLOW_CACHE_DIR", raising=False)
    made: list[FakeProvider] = []

    def factory(settings: object = None) -> FakeProvider:
        made.append(FakeProvider())
        return made[-1]

    monkeypatch.setitem(PROVIDERS, "local", factory)
    (tmp_path / "recipe.yaml").write_text(BASIC_RECIPE, encoding="utf-8")
    return made


def run(*args: str) -> tuple[int, dict, str]:
    result = CliRunner().invoke(cli, ["run", "recipe.yaml", "--json", *args])
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}, result.stderr


def statuses(data: dict) -> dict[str, str]:
    return {s["id"]: s["status"] for s in data["steps"]}


def test_only_renders_the_step_and_what_it_needs_without_a_bounce(fake: list[FakeProvider], tmp_path: Path) -> None:
    code, data, err = run("--only", "scene")
    assert code == 0, err
    assert statuses(data) == {
        "scene[1]": "rendered",
        "scene[2]": "rendered",
        "scene[3]": "rendered",
        "scene": "rendered",
    }
    assert data["output"] is None and not (tmp_path / "out").exists()
    assert err.startswith("--only: 4 of 7 steps; the output is not bounced (master is not among them)\n")
    code, data, _ = run("--only", "rain,master")  # master needs everything: the rest is cached
    assert code == 0
    assert data["output"] == "out/test.wav"
    assert (data["rendered"], data["cached"]) == (3, 4)


def test_force_renders_again_what_is_cached_and_rechecks_what_reads_it(fake: list[FakeProvider]) -> None:
    assert run()[0] == 0
    code, data, err = run("--force", "scene[2]")
    assert code == 0, err
    assert fake[-1].rendered == ["scene[2]"]  # the provider was asked again, for that line only
    assert statuses(data) == {
        "scene[1]": "cached",
        "scene[2]": "rendered",
        "scene[3]": "cached",
        "scene": "cached",  # the same take again: the same artifact, so the dialogue is found in the cache
        "rain": "cached",
        "mix": "cached",
        "master": "cached",
    }
    assert "--force: rendering scene[2] again (free: no paid request is sent again)" in err.splitlines()
    assert "--force: then checking scene, mix, master, which read them" in err.splitlines()
    code, data, _ = run("--force", "mix", "--force", "master")
    assert (code, data["rendered"], fake[-1].rendered) == (0, 2, [])


def test_force_and_only_refuse_unknown_steps_and_paid_steps(fake: list[FakeProvider]) -> None:
    result = CliRunner().invoke(cli, ["run", "recipe.yaml", "--only", "scen"])
    assert (result.exit_code, result.stderr) == (2, "--only scen: no such step (did you mean 'scene'?)\n")
    result = CliRunner().invoke(cli, ["run", "recipe.yaml", "--only", "rain", "--force", "mix"])
    assert (result.exit_code, result.stderr) == (2, "--force mix: not among the steps --only runs\n")
    result = CliRunner().invoke(cli, ["run", "recipe.yaml", "--force", "rain", "--provider", "segmind"])
    assert result.exit_code == 2
    assert result.stderr.startswith("--force rain: a paid step is not rendered again by --force")
    assert fake == [] or all(p.rendered == [] for p in fake)


def test_only_and_force_take_one_recipe(fake: list[FakeProvider], tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "other.yaml").write_text(BASIC_RECIPE, encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", "recipe.yaml", "b/other.yaml", "--only", "rain"])
    assert result.exit_code == 2
    assert "--only and --force name the steps of one recipe: give one RECIPE" in result.stderr
