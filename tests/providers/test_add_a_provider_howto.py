"""docs/howto/add-a-provider.md runs as written: its tone provider plans and renders a recipe, and its
Echo provider, fake and test pass against each other (blocks copied into modules, as a reader would)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOWTO = ROOT / "docs" / "howto" / "add-a-provider.md"

#: The how-to's ```python blocks, in order: the protocol, tone_provider.py, the registry line, the script
#: that uses the tone provider, echo_provider.py, fake_echo.py, test_echo.py.
TONE, USE_TONE, ECHO, FAKE_ECHO, TEST_ECHO = 1, 3, 4, 5, 6

TONE_RECIPE = """\
audioflow: 1
provider: tone
cast:
  host: {preset: {local: joe}}
steps:
  hello: {speak: Good evening to you all., voice: host}
mix:
  - {track: hello}
"""


def _blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", HOWTO.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 7
    return blocks


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    path = f"{ROOT}:{ROOT / 'tests'}:{cwd}"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": path, "HOME": str(cwd)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_tone_provider_renders_as_the_howto_shows(tmp_path: Path) -> None:
    blocks = _blocks()
    (tmp_path / "tone_provider.py").write_text(blocks[TONE])
    (tmp_path / "use_tone.py").write_text(blocks[USE_TONE])
    (tmp_path / "t.yaml").write_text(TONE_RECIPE)
    done = _python("use_tone.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = re.search(r"```console\n(stale hello tone.*?)```", HOWTO.read_text(encoding="utf-8"), flags=re.S)
    assert shown is not None and done.stdout == shown.group(1)


def test_the_echo_provider_passes_the_howtos_test_against_its_fake(tmp_path: Path) -> None:
    blocks = _blocks()
    (tmp_path / "echo_provider.py").write_text(blocks[ECHO])
    (tmp_path / "fake_echo.py").write_text(blocks[FAKE_ECHO])
    (tmp_path / "test_echo.py").write_text(blocks[TEST_ECHO])
    done = _python("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "test_echo.py", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 passed" in done.stdout
