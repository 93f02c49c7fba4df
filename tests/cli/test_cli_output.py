"""Where the CLI's output goes: results on stdout, everything else on stderr; -q, -v, NO_COLOR;
the progress display's stage bar for the master."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import BASIC_RECIPE, invoke

from audioflow.cli.progress import STAGES, ProgressDisplay
from audioflow.engine.events import StepEvent, StepStatus
from audioflow.steps import StepKind


@pytest.fixture
def in_tmp(basic_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The basic project, with colour not turned off by the environment."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    return basic_project


def test_run_prints_results_on_stdout_and_notes_on_stderr(in_tmp: Path) -> None:
    result = invoke("run", "recipe.yaml")
    assert result.exit_code == 0, result.stderr
    counts, wrote, report = result.stdout.splitlines()  # the results: nothing else on stdout
    assert counts == "7 rendered, 0 cached, 0 failed"
    assert wrote.startswith("wrote out/test.wav: 1.6 s, -16.0 LUFS")
    assert report == "report: out/test.report.html"
    assert result.stderr.splitlines() == ["placeholder: rain: placeholder: fake"]


@pytest.mark.parametrize("args", [("-q", "run", "recipe.yaml"), ("run", "recipe.yaml", "--quiet")])
def test_quiet_prints_results_only(in_tmp: Path, args: tuple[str, ...]) -> None:
    result = invoke(*args)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.splitlines()[0] == "7 rendered, 0 cached, 0 failed"


def test_quiet_still_prints_errors(in_tmp: Path) -> None:
    (in_tmp / "recipe.yaml").write_text(BASIC_RECIPE.replace("- mara: Bye.", "- mra: Bye."), encoding="utf-8")
    result = invoke("validate", "-q", "recipe.yaml")
    assert result.exit_code == 2
    assert result.stderr == "recipe.yaml:11:9: unknown voice 'mra' (did you mean 'mara'?)\n"


def test_verbose_prints_each_step_and_the_masters_stages_on_stderr(in_tmp: Path) -> None:
    result = invoke("run", "-v", "recipe.yaml", "-j", "1")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    for step in ("scene[1]", "scene[2]", "scene[3]", "scene", "rain", "mix", "master"):
        assert f"rendered  {step}" in lines
    stages = [line for line in lines if line.startswith("master ") and not line.startswith("master  ")]
    assert stages[0] == "master mixing"
    assert stages[1:4] == ["master measuring", "master limiting+encoding", "master verifying"]
    assert lines.index("master verifying") < lines.index("rendered  master")
    assert not any(line.startswith("rendered") for line in result.stdout.splitlines())


def test_quiet_and_verbose_together_are_a_usage_error(in_tmp: Path) -> None:
    result = invoke("-q", "run", "-v", "recipe.yaml")
    assert result.exit_code == 2
    assert "-q/--quiet and -v/--verbose cannot be used together" in result.stderr


def test_errors_are_coloured_on_a_terminal_unless_no_color(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (in_tmp / "recipe.yaml").write_text(BASIC_RECIPE.replace("- mara: Bye.", "- mra: Bye."), encoding="utf-8")
    coloured = invoke("validate", "recipe.yaml", color=True)
    assert coloured.stderr.startswith("\x1b[31mrecipe.yaml:11:9:")
    monkeypatch.setenv("NO_COLOR", "1")
    plain = invoke("validate", "recipe.yaml", color=True)
    assert plain.stderr == "recipe.yaml:11:9: unknown voice 'mra' (did you mean 'mara'?)\n"


def test_the_stage_bar_follows_the_master() -> None:
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    display = ProgressDisplay(3, live=True, verbose=False, console=console)
    try:
        display.on_event(StepEvent("mix", StepKind.MIX, StepStatus.STARTED))
        assert display.stages == {"": "mixing"}
        display.on_event(StepEvent("mix", StepKind.MIX, StepStatus.RENDERED))
        display.on_event(StepEvent("master", StepKind.MASTER, StepStatus.STARTED))
        seen = []
        for stage in STAGES[1:]:
            display.on_event(StepEvent("master", StepKind.MASTER, StepStatus.PROGRESS, stage))
            (task,) = [t for t in display._progress.tasks if t.fields["label"] == "master"]
            seen.append((task.description, task.completed, task.total))
        assert seen == [("measuring", 1, 4), ("limiting+encoding", 2, 4), ("verifying", 3, 4)]
        display.on_event(StepEvent("master", StepKind.MASTER, StepStatus.RENDERED))
        assert display.stages == {}
        assert [t.fields["label"] for t in display._progress.tasks] == ["rendering"]
        assert display._progress.tasks[0].completed == 2
    finally:
        display.stop()
