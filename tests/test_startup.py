"""What the command line imports: ``validate``, ``plan`` and a no-op ``run`` never load the audio
stack (numpy, scipy, soxr, pedalboard, pyebur128), networkx, the HTTP client, jsonschema (only a
refused recipe's errors need it), mutagen (only tagging), filelock (only rendering takes a lock) nor
asyncio (a run with nothing to render starts no event loop) (start-up; issue 10)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    *("numpy", "scipy", "soxr", "pedalboard", "pyebur128", "httpx", "librosa", "pydub", "piper", "networkx"),
    *("jsonschema", "mutagen", "filelock", "asyncio"),
)

RECIPE = """\
audioflow: 1
title: Start-up
provider: local
cast:
  mara: {}
steps:
  scene:
    dialogue:
      - mara: Hello there.
      - mara: (softly) Goodbye.
mix:
  - {track: scene}
master: {preset: podcast, format: wav}
output: out/startup.wav
"""
#: One generated bed, mixed and mastered to wav: the smallest recipe that renders locally.
BED = (
    "audioflow: 1\nprovider: local\nsteps:\n  bed: {generate: a warm pad, duration: 2s, texture: tone}\n"
    "mix:\n  - {track: bed}\nmaster: {format: wav}\noutput: out/bed.wav\n"
)


def _python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``code`` run by a fresh interpreter that imports audioflow from this checkout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd)


def _loaded_by(args: list[str], cwd: Path) -> tuple[int, list[str]]:
    """Run the CLI with ``args`` in a fresh interpreter; (exit code, the HEAVY modules it loaded)."""
    code = (
        "import json, sys\n"
        "from audioflow.cli import cli\n"
        "try:\n"
        f"    cli.main({args!r}, prog_name='audioflow')\n"
        "except SystemExit as exc:\n"
        "    status = exc.code or 0\n"
        f"print(json.dumps([status, [m for m in {HEAVY!r} if m in sys.modules]]))\n"
    )
    done = _python(code, cwd)
    done.check_returncode()
    status, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    return status, loaded


def test_validate_and_plan_import_no_audio_stack(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE, encoding="utf-8")
    assert _loaded_by(["validate", "r.yaml"], tmp_path) == (0, [])
    assert _loaded_by(["plan", "r.yaml"], tmp_path) == (0, [])
    # and a bad recipe is refused the same way
    (tmp_path / "bad.yaml").write_text(RECIPE.replace("mara: Hello", "nobody: Hello"), encoding="utf-8")
    assert _loaded_by(["validate", "bad.yaml"], tmp_path) == (2, [])


def test_a_no_op_run_imports_no_audio_stack(tmp_path: Path) -> None:
    recipe = tmp_path / "bed.yaml"
    recipe.write_text(BED, encoding="utf-8")
    # Every run goes through the same interpreter and source tree (the bounce record's key holds the
    # stat of the bounce's own source files: an installed package and a checkout are different code).
    assert _loaded_by(["run", "bed.yaml"], tmp_path)[0] == 0  # renders
    page = tmp_path / "out" / "bed.report.html"
    rendered_page = page.read_bytes()
    # The first run after a render rewrites the report once (its steps now read "cached")...
    assert _loaded_by(["run", "bed.yaml"], tmp_path)[0] == 0 and page.read_bytes() != rendered_page
    cached_page = page.stat()
    written = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in (tmp_path / "out").iterdir()}
    # ...and from then on a run that changes nothing rewrites nothing and loads nothing heavy.
    assert _loaded_by(["run", "bed.yaml"], tmp_path) == (0, [])
    assert (page.stat().st_mtime_ns, page.stat().st_ino) == (cached_page.st_mtime_ns, cached_page.st_ino)
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in (tmp_path / "out").iterdir()} == written


def test_a_refused_recipe_still_gets_jsonschema_s_located_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(RECIPE.replace("format: wav", "format: wma"), encoding="utf-8")
    code = (
        "import sys\n"
        "from audioflow.cli import cli\n"
        "try:\n"
        "    cli.main(['validate', 'bad.yaml'], prog_name='audioflow')\n"
        "except SystemExit as exc:\n"
        "    print('jsonschema' in sys.modules, exc.code)\n"
    )
    done = _python(code, tmp_path)
    assert done.stdout.split() == ["True", "2"]
    assert done.stderr.startswith("bad.yaml:13:35: 'wma' is not one of: mp3")


def test_a_run_with_stale_steps_warms_the_audio_stack_and_a_no_op_run_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audioflow.engine import facade, open_project, warm

    started: list[tuple[str, ...]] = []
    monkeypatch.setattr(facade, "warm_imports", lambda: started.append(warm.WARM_MODULES))
    recipe = tmp_path / "bed.yaml"
    recipe.write_text(BED, encoding="utf-8")
    assert open_project(recipe).run().ok and started == [warm.WARM_MODULES]
    assert open_project(recipe).run().ok and len(started) == 1  # nothing stale: nothing warmed
    assert "scipy.ndimage" in warm.WARM_MODULES and "matplotlib.figure" in warm.WARM_MODULES


#: A local voice with a pitch shift and shelves, over a bed at another rate (resampled in the mix).
VOICED = (
    "audioflow: 1\nprovider: local\ncast:\n  lane: {preset: {local: deep}}\nsteps:\n"
    '  line: {speak: "Yes sir, eight bottles and a pint.", voice: lane}\n'
    "  bed: {generate: a warm pad, duration: 3s, texture: tone}\n"
    "mix:\n  - {track: line}\n  - {track: bed, with: line, gain_db: -20}\n"
    "master: {format: mp3}\noutput: out/voiced.mp3\n"
)


def test_a_local_run_never_imports_scipy_signal(tmp_path: Path) -> None:
    """A one-line edit renders a local line (pitch, shelves), the mix (a clip resampled) and the
    master without scipy.signal, whose import alone cost 0.6 s (soxr and pedalboard do that work)."""
    (tmp_path / "voiced.yaml").write_text(VOICED, encoding="utf-8")
    code = (
        "import sys\n"
        "from audioflow.engine import open_project\n"
        "report = open_project('voiced.yaml').run()\n"
        "print(report.ok, 'scipy.signal' in sys.modules, 'soxr' in sys.modules, 'pedalboard' in sys.modules)\n"
    )
    done = _python(code, tmp_path)
    done.check_returncode()
    assert done.stdout.split()[-4:] == ["True", "False", "True", "True"]


def test_warming_imports_in_a_thread_and_leaves_failures_to_their_users() -> None:
    from audioflow.engine.warm import warm_imports

    code = (
        "import sys\n"
        "from audioflow.engine.warm import warm_imports\n"
        "warm_imports(('colorsys', 'no_such_module_here', 'wave')).join()\n"
        "print('colorsys' in sys.modules, 'wave' in sys.modules)\n"
    )
    done = _python(code)
    done.check_returncode()
    assert done.stdout.split() == ["True", "True"]
    assert warm_imports(()).name == "audioflow-warm"
