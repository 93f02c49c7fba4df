"""`audioflow plan` and `run` over several recipes (and a quoted glob): per-recipe and total counts,
failures at the end, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FakeProvider, invoke, write_recipe_file

from audioflow.providers import PROVIDERS

EPISODE = """\
audioflow: 1
title: Episode {n}
cast:
  mara: {{preset: {{local: joe}}}}
steps:
  {scene}:
    dialogue:
      - mara: Episode {n} begins.
      - mara: Episode {n} ends.
  rain: {{generate: steady rain, duration: 1s}}
mix:
  - {{track: {scene}}}
  - {{track: rain, under: {scene}, gain_db: -20}}
output: out/ep{n}.wav
"""


@pytest.fixture
def season(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """Three episodes in season/ (the third's dialogue is `talk`), `local` a FakeProvider."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDIOFLOW_CACHE_DIR", raising=False)
    for n in range(3):
        write_recipe_file(tmp_path / "season", EPISODE.format(n=n, scene="talk" if n == 2 else "scene"), f"ep{n}.yaml")
    fake = FakeProvider()
    monkeypatch.setitem(PROVIDERS, "local", lambda settings=None: fake)
    return fake


def test_plan_over_a_glob_shows_each_recipe_and_the_batch_totals(season: FakeProvider) -> None:
    result = invoke("plan", "season/*.yaml")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("==")] == [f"== season/ep{n}.yaml ==" for n in range(3)]
    assert lines.count("6 stale, 0 up-to-date") == 3
    assert lines[-2:] == ["batch: 3 recipes, 18 stale, 0 up-to-date", "estimated cost: $0 (nothing to pay for)"]
    data = json.loads(invoke("plan", "season/ep0.yaml", "season/ep1.yaml", "--json").stdout)
    assert [r["recipe"] for r in data["recipes"]] == ["season/ep0.yaml", "season/ep1.yaml"]
    assert data["cost"] == {}


def test_plan_of_one_recipe_is_unchanged(season: FakeProvider) -> None:
    lines = invoke("plan", "season/ep0.yaml").stdout.splitlines()
    assert not any(line.startswith(("==", "batch")) for line in lines)
    assert lines[-2:] == ["6 stale, 0 up-to-date", "estimated cost: $0 (nothing to pay for)"]


def test_run_a_batch_renders_the_shared_bed_once_and_reports_failures_at_the_end(season: FakeProvider) -> None:
    season.fail = {"talk[2]"}
    result = invoke("run", "season/*.yaml", "-k")
    assert result.exit_code == 1
    assert season.rendered.count("rain") == 1
    out = result.stdout.splitlines()
    assert out[-1] == "batch: 3 recipes, 2 written, 1 failed; 12 steps rendered, 2 cached, 1 failed"
    assert any(line.startswith("wrote season/out/ep0.wav") for line in out)
    assert result.stderr.splitlines()[-1] == (
        "failed: season/ep2.yaml: talk[2]: local HTTP 500 request req-1: refused talk[2]"
    )
    season.fail = set()
    again = json.loads(invoke("run", "season/*.yaml", "--json").stdout)
    assert again["failed"] == []
    assert [r["rendered"] for r in again["recipes"]] == [0, 0, 4]  # only what the failure blocked


def test_a_glob_that_matches_nothing_is_a_usage_error(season: FakeProvider) -> None:
    result = invoke("run", "nowhere/*.yaml")
    assert result.exit_code == 2
    assert "nowhere/*.yaml: no recipe matches" in result.stderr


def _console():  # type: ignore[no-untyped-def]
    import io

    from rich.console import Console

    return Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)


def test_progress_draws_a_bar_per_recipe_and_a_total_and_marks_failures(season: FakeProvider) -> None:
    from audioflow.cli.progress import progress
    from audioflow.engine.batch import open_batch

    season.fail = {"talk[2]"}
    batch = open_batch(sorted(Path("season").glob("*.yaml")))
    console = _console()
    sizes = [(p.graph.recipe.path, len(p.graph.steps)) for p in batch.projects]
    on_event, stop = progress(sizes, True, console=console)
    try:
        batch.run(on_event=on_event, keep_going=True)
    finally:
        stop()
    frames = console.file.getvalue()
    last = {name: frames.rindex(name) for name in ("batch", "ep0.yaml", "ep1.yaml", "ep2.yaml")}
    assert all(last.values())
    tail = frames[min(last.values()) :]
    assert "18/18" in tail  # every step of the batch counted once it ended
    assert tail.count("6/6") == 3 and tail.count("done") == 2
    assert "failed: talk[2]" in tail


def test_run_with_no_report_bounces_every_output_without_its_report_page(season: FakeProvider) -> None:
    result = invoke("run", "season/*.yaml", "--no-report", "--json")
    assert result.exit_code == 0, result.stderr
    out = Path("season/out")
    assert sorted(p.name for p in out.glob("*.wav")) == ["ep0.wav", "ep1.wav", "ep2.wav"]
    assert sorted(p.name for p in out.glob("*.manifest.json")) == [f"ep{n}.manifest.json" for n in range(3)]
    assert list(out.glob("*.html")) == []
    again = invoke("run", "season/ep0.yaml")  # the default writes it
    assert again.exit_code == 0 and (out / "ep0.report.html").is_file()
