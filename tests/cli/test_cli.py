"""The command line: exact error lines and exit codes, JSON shapes, schema, graph, version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BASIC_RECIPE, FakeProvider, invoke

from audioflow import __version__
from audioflow.providers import PROVIDERS

REPO = Path(__file__).resolve().parents[2]


class FakeFactory:
    """Stands in for the `local` provider factory; ``fail`` is passed to every FakeProvider it makes."""

    def __init__(self) -> None:
        self.fail: set[str] = set()
        self.made: list[FakeProvider] = []

    def __call__(self, settings: object = None) -> FakeProvider:
        self.made.append(FakeProvider(fail=self.fail))
        return self.made[-1]


@pytest.fixture
def fake_local(monkeypatch: pytest.MonkeyPatch) -> FakeFactory:
    """Make `local` a FakeProvider for the commands that plan or render."""
    factory = FakeFactory()
    monkeypatch.setitem(PROVIDERS, "local", factory)
    return factory


def write(folder: Path, text: str) -> str:
    (folder / "recipe.yaml").write_text(text, encoding="utf-8")
    return "recipe.yaml"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            BASIC_RECIPE.replace("title: Test", "title: [Test"),
            "recipe.yaml:2:8: YAML syntax error: the '[' opened here is not closed: did not find expected ',' or ']'"
            " at line 3, column 5 (close it with ']', or quote the whole value if the '[' is part of the text)",
        ),
        (
            BASIC_RECIPE.replace("gain_db: -20", "gian_db: -20"),
            "recipe.yaml:15:33: unknown key 'gian_db' (did you mean 'gain_db'?)",
        ),
        (
            BASIC_RECIPE.replace("- mara: Bye.", "- mra: Bye."),
            "recipe.yaml:11:9: unknown voice 'mra' (did you mean 'mara'?)",
        ),
    ],
)
@pytest.mark.parametrize("command", ["validate", "plan", "run", "graph"])
def test_recipe_errors_print_one_located_line_and_exit_2(in_tmp: Path, text: str, line: str, command: str) -> None:
    result = invoke(command, write(in_tmp, text))
    assert result.exit_code == 2
    assert result.stderr == line + "\n"
    assert result.stdout == ""


def test_validate_ok(in_tmp: Path) -> None:
    result = invoke("validate", write(in_tmp, BASIC_RECIPE))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "recipe.yaml: ok (7 steps)\n", "")


def test_missing_recipe_file(in_tmp: Path) -> None:
    result = invoke("validate", "nope.yaml")
    assert result.exit_code == 2
    assert result.stderr == "nope.yaml:1:1: cannot read the recipe: No such file or directory\n"


@pytest.mark.parametrize("command", ["validate", "plan", "run", "report", "graph"])
def test_a_fifo_or_device_as_the_recipe_is_a_usage_error_at_once(in_tmp: Path, command: str) -> None:
    os.mkfifo(in_tmp / "pipe.yaml")  # no writer: reading it would block for ever; /dev/zero never ends
    for recipe, shown in (("pipe.yaml", "pipe.yaml"), ("/dev/zero", "/dev/zero")):
        result = invoke(command, recipe)
        assert (result.exit_code, result.stdout) == (2, ""), result.stderr
        assert result.stderr == (
            f"{shown}:1:1: cannot read the recipe: it is a FIFO, device or socket, not a regular file"
            " (give the path of the recipe's .yaml file)\n"
        )


def test_plan_json_shape(in_tmp: Path, fake_local: FakeFactory) -> None:
    result = invoke("plan", write(in_tmp, BASIC_RECIPE), "--json", "--cache-dir", "cache")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data) == ["steps", "cost"]
    assert [set(row) for row in data["steps"]] == [{"id", "kind", "provider", "status", "reason", "cost_usd"}] * 7
    assert data["steps"][0] == {
        "id": "scene[1]",
        "kind": "speak",
        "provider": "local",
        "status": "stale",
        "reason": "never rendered",
        "cost_usd": 0.0,
    }
    assert data["cost"] == {}
    assert [row["id"] for row in data["steps"]] == [
        "scene[1]",
        "scene[2]",
        "scene[3]",
        "scene",
        "rain",
        "mix",
        "master",
    ]


def test_plan_table_counts(in_tmp: Path, fake_local: FakeFactory) -> None:
    result = invoke("plan", write(in_tmp, BASIC_RECIPE), "--cache-dir", "cache")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-2:] == ["7 stale, 0 up-to-date", "estimated cost: $0 (nothing to pay for)"]


def test_run_json_shape_then_everything_cached(in_tmp: Path, fake_local: FakeFactory) -> None:
    recipe = write(in_tmp, BASIC_RECIPE)
    result = invoke("run", recipe, "--json", "--cache-dir", "cache", "-j", "2")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data)[:6] == ["output", "outputs", "rendered", "cached", "failed", "spent_usd"]
    assert (data["output"], data["rendered"], data["cached"], data["failed"]) == (str(Path("out/test.wav")), 7, 0, 0)
    assert [set(s) >= {"id", "kind", "provider", "status"} for s in data["steps"]] == [True] * 7
    assert (in_tmp / "out" / "test.manifest.json").is_file()
    again = json.loads(invoke("run", recipe, "--json", "--cache-dir", "cache").stdout)
    assert (again["rendered"], again["cached"], again["failed"]) == (0, 7, 0)


def test_run_summary_mentions_the_placeholder(in_tmp: Path, fake_local: FakeFactory) -> None:
    result = invoke("run", write(in_tmp, BASIC_RECIPE), "--cache-dir", "cache")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "placeholder: rain: placeholder: fake" in result.stderr.splitlines()  # a note: stderr
    assert "7 rendered, 0 cached, 0 failed" in lines
    assert any(line.startswith("wrote out/test.wav: 1.6 s, -16.0 LUFS") for line in lines), lines


def test_a_failing_step_exits_1(in_tmp: Path, fake_local: FakeFactory) -> None:
    fake_local.fail = {"scene[2]"}
    result = invoke("run", write(in_tmp, BASIC_RECIPE), "--json", "--cache-dir", "cache", "-k")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (data["output"], data["failed"]) == (None, 1)
    status = {s["id"]: s["status"] for s in data["steps"]}
    assert status == {
        "scene[1]": "rendered",
        "scene[2]": "failed",
        "scene[3]": "rendered",
        "scene": "blocked",
        "rain": "rendered",
        "mix": "blocked",
        "master": "blocked",
    }
    plain = invoke("run", "recipe.yaml", "--cache-dir", "cache2", "-k")
    assert plain.exit_code == 1
    assert plain.stderr.splitlines()[0] == "failed: scene[2]: local HTTP 500 request req-1: refused scene[2]"


def test_provider_override(in_tmp: Path, fake_local: FakeFactory) -> None:
    result = invoke("plan", write(in_tmp, BASIC_RECIPE), "--json", "--provider", "local")
    assert result.exit_code == 0
    result = invoke("plan", "recipe.yaml", "--json", "--provider", "nope")
    assert result.exit_code == 2
    assert result.stderr == "--provider nope: unknown provider (available: local, segmind, fal, evolink)\n"


def test_schema_prints_the_shipped_schema() -> None:
    result = invoke("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads((REPO / "schemas" / "recipe.schema.json").read_text())


def test_graph_mermaid_and_dot(in_tmp: Path) -> None:
    recipe = write(in_tmp, BASIC_RECIPE)
    mermaid = invoke("graph", recipe)
    assert mermaid.exit_code == 0
    assert mermaid.stdout.startswith("flowchart LR\n")
    assert mermaid.stdout.count(" --> ") == 6
    dot = invoke("graph", recipe, "--format", "dot")
    assert dot.exit_code == 0
    assert dot.stdout.startswith("digraph audioflow {")
    assert dot.stdout.count(" -> ") == 6
    assert '"scene[1]" -> "scene";' in dot.stdout
    assert invoke("graph", recipe, "--format", "png").exit_code == 2


def test_voices_lists_the_local_voices() -> None:
    result = invoke("voices")
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == [
        "joe",
        "bright",
        "deep",
        "crisp",
        "gruff",
        "warm",
        "light",
        "reedy",
    ]


def _python_m(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AUDIOFLOW_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "audioflow", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=60
    )


def test_python_m_version(tmp_path: Path) -> None:
    result = _python_m("--version", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, f"audioflow, version {__version__}\n")


BAD_FILES = {
    "a.yaml": (b"audioflow: 1\ntitle: caf\xe9\n", "a.yaml:2:11: the recipe is not valid UTF-8 text"),
    "b.yaml": (b"audioflow: 1\nsteps: &a\n  x: *a\n", "b.yaml:2:8: a recursive alias is not allowed"),
    "c.yaml": (
        BASIC_RECIPE.replace("out/test.wav", "../x.mp3").encode(),
        "c.yaml:16:9: output '../x.mp3' is outside the recipe's folder (write a relative path like out/episode.mp3)",
    ),
    "d.yaml": (
        b"- just\n- a list\n",
        "d.yaml:1:1: a recipe is a mapping of keys, got a list (start with `audioflow: 1`)",
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_recipe_errors_exit_cleanly_in_process(in_tmp: Path, name: str) -> None:
    content, line = BAD_FILES[name]
    (in_tmp / name).write_bytes(content)
    result = invoke("validate", name)
    assert isinstance(result.exception, SystemExit)
    assert (result.exit_code, result.stderr) == (2, line + "\n")


@pytest.mark.parametrize("name", ["a.yaml", "c.yaml"])
def test_no_traceback_for_recipe_errors_in_a_real_process(tmp_path: Path, name: str) -> None:
    content, line = BAD_FILES[name]
    (tmp_path / name).write_bytes(content)
    result = _python_m("validate", name, cwd=tmp_path)
    assert (result.returncode, result.stderr, result.stdout) == (2, line + "\n", "")


_EXIT_PROBE = """
import atexit, sys, threading, time
import audioflow.cli
atexit.register(lambda: print("teardown ran", flush=True))
exiting = threading.Event()
if sys.argv[1] == "busy":  # a thread still at work when the command ends: Python's own exit waits for it
    threading.Thread(target=lambda: (exiting.wait(), time.sleep(1), print("thread done", flush=True))).start()
exit_now = audioflow.cli._exit_now
audioflow.cli._exit_now = lambda code: (exiting.set(), exit_now(code))
sys.argv = ["audioflow", "validate", "missing.yaml"]
print("before", flush=False)
audioflow.cli.main()
"""


@pytest.mark.parametrize(("mode", "tail"), [("idle", ["before"]), ("busy", ["before", "thread done", "teardown ran"])])
def test_a_finished_command_skips_the_teardown_only_when_nothing_still_runs(
    tmp_path: Path, mode: str, tail: list[str]
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _EXIT_PROBE, mode],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 2  # the command's own exit code, either way
    assert "missing.yaml" in done.stderr  # and its error line, flushed
    assert done.stdout.split("\n")[:-1] == tail  # unflushed stdout is flushed; teardown only when busy
