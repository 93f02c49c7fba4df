"""The front door: ``import audioflow`` is lazy and quick, and what the README and
docs/reference/api.md show runs exactly as written; pydub ``AudioSegment`` in and out."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydub import AudioSegment
from pydub.generators import Sine

import audioflow
from audioflow.audio import Audio
from audioflow.audio.segments import from_segment, to_segment

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks(markdown: Path, heading: str | None = None) -> list[str]:
    """The ```python blocks of ``markdown`` (only those under ``heading`` when given)."""
    text = markdown.read_text(encoding="utf-8")
    if heading is not None:
        start = text.index(heading)
        end = text.find("\n## ", start + len(heading))
        text = text[start : end if end != -1 else None]
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.fixture
def demo_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder holding a copy of the repository's recipes/ (without outputs or cache)."""
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes", ignore=shutil.ignore_patterns("out", ".audioflow"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDIOFLOW_CACHE_DIR", raising=False)
    return tmp_path


@pytest.mark.slow
def test_the_readme_example_runs_as_written(demo_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = _python_blocks(ROOT / "README.md", "## From Python")
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "15 of 15 steps to render" in out  # 13 steps, the mix, a master for each of the two outputs
    assert re.search(r"recipes/out/night-shift\.mp3 -1[5-7]\.\d LUFS", out)
    trailer = AudioSegment.from_wav(demo_folder / "trailer.wav")
    assert abs(len(trailer) - 10_000) <= 1 and trailer.channels == 2


@pytest.mark.slow
def test_the_api_reference_runs_as_written(demo_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = _python_blocks(ROOT / "docs" / "reference" / "api.md")
    assert len(blocks) == 5
    namespace: dict[str, object] = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"api.md block {i + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "recipes/out/short.mp3" in out
    assert "15 cached" in out  # arun inside a running loop: the second run renders nothing
    # The comment in the last example shows what it prints.
    shown = re.search(r"# (recipes/recipe\.yaml:\d+:\d+: unknown step .*)\n", blocks[-1])
    assert shown is not None and shown.group(1) in out


def test_import_is_lazy_and_quick() -> None:
    code = (
        "import sys, audioflow\n"
        "heavy = [m for m in ('numpy', 'audioflow.engine', 'audioflow.recipe', 'httpx', 'pydub') if m in sys.modules]\n"
        "print(heavy)\n"
        "audioflow.RecipeError\n"
        "print('audioflow.errors' in sys.modules, 'numpy' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.splitlines() == ["[]", "True False"]


def test_every_public_name_resolves_and_unknown_names_do_not() -> None:
    for name in audioflow.__all__:
        assert getattr(audioflow, name) is not None
    assert audioflow.open is audioflow.engine.facade.open_project  # type: ignore[attr-defined]
    assert issubclass(audioflow.BudgetError, audioflow.AudioflowError)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        audioflow.nope  # type: ignore[attr-defined]  # noqa: B018
    assert set(audioflow.__all__) <= set(dir(audioflow))


def test_segments_round_trip_within_one_step_of_16_bit() -> None:
    t = np.arange(48_000) / 48_000
    samples = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 660 * t)], axis=1)
    audio = Audio(samples.astype(np.float32), 48_000)
    segment = to_segment(audio)
    assert (segment.channels, segment.frame_rate, segment.sample_width, len(segment)) == (2, 48_000, 2, 1000)
    back = from_segment(segment)
    assert back.samples.shape == (48_000, 2)
    assert float(np.max(np.abs(back.samples - audio.samples))) <= 1.0 / 32768
    wide = from_segment(to_segment(audio, sample_width=4))
    assert float(np.max(np.abs(wide.samples - audio.samples))) < 1e-7
    loud = to_segment(Audio(np.array([[2.0], [-2.0]], np.float32), 8000))
    assert loud.get_array_of_samples().tolist() == [32767, -32768]  # clipped, never wrapped
    eight_bit = from_segment(AudioSegment(data=bytes([128, 255, 0]), sample_width=1, frame_rate=8000, channels=1))
    assert eight_bit.samples[:, 0].tolist() == [0.0, 127 / 128, -1.0]


RECIPE = """\
audioflow: 1
steps:
  sting: {file: sting.wav}
mix:
  - {track: sting}
master: {format: wav}
output: out/sting.wav
"""


def test_a_file_step_takes_an_audio_segment_and_is_cached_by_content(tmp_path: Path) -> None:
    tone = Sine(440).to_audio_segment(duration=1000).apply_gain(-10)
    first = audioflow.open_text(RECIPE, root=tmp_path, inputs={"sting": tone}).run()
    assert first.ok and first.result.count("rendered") == 3
    assert abs(len(first.segment()) - 1000) <= 1
    assert first.manifest is not None and first.manifest.steps[0].id == "sting"
    again = audioflow.open_text(RECIPE, root=tmp_path, inputs={"sting": tone}).run()
    assert again.result.count("rendered") == 0
    other = audioflow.open_text(RECIPE, root=tmp_path, inputs={"sting": tone.apply_gain(-3)})
    assert set(other.plan().stale) == {"sting", "mix", "master"}
    assert not (tmp_path / "sting.wav").exists()  # the named file never had to exist


def test_inputs_must_name_a_file_step(tmp_path: Path) -> None:
    tone = Sine(440).to_audio_segment(duration=100)
    with pytest.raises(audioflow.RecipeError, match=r"inputs: 'stnig' is not a file step .*did you mean 'sting'"):
        audioflow.open_text(RECIPE, root=tmp_path, inputs={"stnig": tone})
    with pytest.raises(audioflow.RecipeError, match="expected a pydub AudioSegment or an audioflow Audio, got str"):
        audioflow.open_text(RECIPE, root=tmp_path, inputs={"sting": "sting.wav"})  # type: ignore[dict-item]
    assert not (tmp_path / ".audioflow").exists()


def test_arun_works_inside_a_running_loop(tmp_path: Path) -> None:
    tone = Sine(220).to_audio_segment(duration=500)

    async def main() -> audioflow.RunReport:
        project = audioflow.open_text(RECIPE, root=tmp_path, inputs={"sting": tone})
        return await project.arun(jobs=1)

    report = asyncio.run(main())
    assert report.ok and report.output == tmp_path / "out" / "sting.wav"
    assert report.audio("sting").duration_ms == pytest.approx(500, abs=1)
    with pytest.raises(KeyError):
        report.audio("nope")
