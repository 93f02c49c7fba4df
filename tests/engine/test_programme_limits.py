"""Audio inputs and programme limits end to end: multichannel files pass validate and mix; broken or
truncated inputs are located errors at validate; a programme over the 24 h cap, or over this
machine's memory, is refused when the mix starts, before anything is allocated or written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import FakeProvider

from audioflow.audio import Audio, encode, write_wav
from audioflow.cli import cli
from audioflow.engine import open_project, resources
from audioflow.engine.resources import DISK_BYTES_PER_SAMPLE, check_programme
from audioflow.errors import AudioflowError

RATE_HZ = 48_000
GIB = 2**30


def _tones(channels: int, seconds: float = 1.0) -> Audio:
    t = np.arange(round(seconds * RATE_HZ)) / RATE_HZ
    return Audio(np.stack([0.2 * np.sin(2 * np.pi * (200 + 100 * i) * t) for i in range(channels)], axis=1), RATE_HZ)


def _cache_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_multichannel_files_pass_validate_and_mix(in_tmp: Path) -> None:
    (in_tmp / "surround.wav").write_bytes(write_wav(_tones(6)))
    (in_tmp / "quad.flac").write_bytes(encode(_tones(4), "flac"))
    (in_tmp / "three.wav").write_bytes(write_wav(_tones(3)))
    (in_tmp / "recipe.yaml").write_text(
        "audioflow: 1\nsteps:\n  a: {file: surround.wav}\n  b: {file: quad.flac}\n  c: {file: three.wav}\n"
        "mix:\n  - {track: a}\n  - {track: b}\n  - {track: c}\noutput: out/x.wav\n",
        encoding="utf-8",
    )
    validated = CliRunner().invoke(cli, ["validate", "recipe.yaml"])
    assert (validated.exit_code, validated.stdout) == (0, "recipe.yaml: ok (5 steps)\n")
    report = open_project(in_tmp / "recipe.yaml").run(jobs=2)
    assert report.result.ok, {s: o.error for s, o in report.result.outcomes.items()}
    assert [report.result.outcomes[s].record.meta["channels"] for s in "abc"] == [2, 2, 2]  # type: ignore[union-attr]
    assert abs(report.manifest.to_json()["duration_ms"] - 3000) < 1  # type: ignore[union-attr]


def _one_input_recipe(folder: Path, kind: str, name: str) -> None:
    """A recipe in ``folder`` reading the file ``name`` as a ``file`` step, an ``isolate`` step's
    audio or a cast voice's ``clone`` clip (its one step at line 3)."""
    steps = {
        "file": f"  a: {{file: {name}}}\n",
        "isolate": f"  a: {{isolate: {{audio: {name}, describe: speech}}}}\n",
        "clone": "  a: {speak: Hello., voice: mara}\n",
    }[kind]
    cast = f"cast:\n  mara: {{clone: {name}}}\n" if kind == "clone" else ""
    (folder / "recipe.yaml").write_text(
        f"audioflow: 1\n{cast}steps:\n{steps}mix:\n  - {{track: a}}\n", encoding="utf-8"
    )


@pytest.mark.parametrize("kind", ["file", "isolate", "clone"])
def test_a_truncated_input_is_a_located_error_at_validate(kind: str, in_tmp: Path) -> None:
    whole = write_wav(_tones(2, seconds=6.0))
    (in_tmp / "cut.wav").write_bytes(whole[: 44 + (len(whole) - 44) // 2])
    _one_input_recipe(in_tmp, kind, "cut.wav")
    result = CliRunner().invoke(cli, ["validate", "recipe.yaml"])
    problem = "cannot decode cut.wav: truncated: header says 6.00 s, file holds 3.00 s"
    expected = {
        "file": f"recipe.yaml:3:3: {problem}",
        "isolate": f"recipe.yaml:3:3: {problem}",
        "clone": f"recipe.yaml:3:17: reference clip cut.wav: {problem}",
    }[kind]
    assert (result.exit_code, result.stderr) == (2, expected + "\n")


@pytest.mark.parametrize("kind", ["file", "isolate", "clone"])
def test_an_input_whose_samples_would_not_fit_in_memory_is_refused_at_validate_before_decoding(
    kind: str, in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small file can hold hours (a FLAC of 10 h of silence is 28 MB): decoding it whole would take
    tens of GB. Here 6 s of 48 kHz stereo (4.4 MB decoded) against 1 MB of free memory."""
    from audioflow.engine import preflight

    monkeypatch.setattr(preflight, "available_memory_bytes", lambda: 2**20)
    (in_tmp / "long.flac").write_bytes(encode(_tones(2, seconds=6.0), "flac"))
    _one_input_recipe(in_tmp, kind, "long.flac")
    result = CliRunner().invoke(cli, ["validate", "recipe.yaml"])
    what, where = ("reference clip", "3:17") if kind == "clone" else ("audio file", "3:3")
    assert (result.exit_code, result.stderr) == (
        2,
        f"recipe.yaml:{where}: {what} long.flac lasts 0:00:06 (h:mm:ss): decoding it takes about 4.4 MiB of memory"
        " and 1.0 MiB is free (cut it to the part the recipe uses, with ffmpeg -ss START -t LENGTH -i IN OUT)\n",
    )


def test_a_file_that_is_not_audio_is_a_located_error_at_validate(in_tmp: Path) -> None:
    (in_tmp / "notes.mp3").write_text("not audio\n" * 50, encoding="utf-8")
    (in_tmp / "recipe.yaml").write_text(
        "audioflow: 1\nsteps:\n  door: {file: notes.mp3}\nmix:\n  - {track: door}\n", encoding="utf-8"
    )
    result = CliRunner().invoke(cli, ["validate", "recipe.yaml"])
    assert result.exit_code == 2
    assert result.stderr.startswith("recipe.yaml:3:3: cannot decode notes.mp3: ")
    assert result.stderr.count("\n") == 1


def test_a_programme_too_big_for_the_caches_disk_is_refused_before_the_mix_writes(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resources, "available_disk_bytes", lambda folder: 8 * GIB)
    (in_tmp / "clip.wav").write_bytes(write_wav(_tones(2, seconds=3.0)))
    (in_tmp / "recipe.yaml").write_text(
        "audioflow: 1\nsteps:\n  clip: {file: clip.wav}\nmix:\n  - {track: clip, at: 10h}\noutput: out/x.wav\n",
        encoding="utf-8",
    )
    report = open_project(in_tmp / "recipe.yaml", cache_dir=in_tmp / "cache").run()
    mix = report.result.outcomes["mix"]
    needed = 36_003 * 44_100 * 2 * DISK_BYTES_PER_SAMPLE / GIB
    assert mix.status == "failed"
    assert mix.error == (
        f"the programme would last 10:00:03 (h:mm:ss): its WAV and master take about {needed:.1f} GiB "
        "in the cache and 8.0 GiB is free there; shorten it, free some space (audioflow cache gc), or lower "
        "master.sample_rate_hz or master.channels"
    )
    assert report.output is None and report.result.outcomes["master"].status == "blocked"
    assert _cache_bytes(in_tmp / "cache") < 5_000_000  # the 3 s clip, not a 12.7 GB programme


def test_a_programme_over_24_h_is_refused_whatever_the_memory(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "available_disk_bytes", lambda folder: 10**15)
    (in_tmp / "clip.wav").write_bytes(write_wav(_tones(1, seconds=1.0)))
    (in_tmp / "recipe.yaml").write_text(
        "audioflow: 1\nsteps:\n  a: {file: clip.wav}\n  b: {file: clip.wav}\nmix:\n"
        "  - {track: a, at: 20h}\n  - {track: b, after: a, offset: 20h}\noutput: out/x.wav\n",
        encoding="utf-8",
    )
    validated = CliRunner().invoke(cli, ["validate", "recipe.yaml"])
    assert validated.exit_code == 0  # each value is within its cap; their sum is not
    result = CliRunner().invoke(cli, ["run", "recipe.yaml"])
    assert result.exit_code == 1
    assert (
        "failed: mix: the programme would last 40:00:02 (h:mm:ss): audioflow renders at most 24:00:00; "
        "check the tracks' at, offset, duration and gap values"
    ) in result.stderr
    assert _cache_bytes(in_tmp / ".audioflow") < 1_000_000


def test_a_dialogue_too_long_is_refused_before_it_is_joined(
    write_recipe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = "".join(f"      - mara: Line {i}.\n" for i in range(30))
    path = write_recipe(
        f"audioflow: 1\ncast:\n  mara: {{}}\nsteps:\n  scene:\n    gap: 1h\n    dialogue:\n{lines}"
        "mix:\n  - {track: scene}\n"
    )
    fake = FakeProvider()
    report = open_project(path, providers={"local": fake}, cache_dir=tmp_path / "c").run(jobs=2)
    scene = report.result.outcomes["scene"]
    assert scene.status == "failed"
    assert scene.error is not None and scene.error.startswith("the dialogue would last 29:00:09 (h:mm:ss)")


def test_a_nearly_full_disk_is_told_in_mib_not_as_zero_gib(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(resources, "available_disk_bytes", lambda folder: 600 * 1024)
    with pytest.raises(AudioflowError) as info:
        check_programme(3_000.0, 44_100, 2, space_at=tmp_path)  # 3 s: about 2 MiB
    needed = 3 * 44_100 * 2 * DISK_BYTES_PER_SAMPLE / 2**20
    assert f"take about {needed:.1f} MiB in the cache and 0.6 MiB is free there;" in str(info.value)


def test_check_programme_bounds() -> None:
    check_programme(0.0, 48_000, 2)
    check_programme(60_000.0, 48_000, 2)  # a minute needs about 0.2 GB
    with pytest.raises(AudioflowError, match=r"^the programme would last 24:00:01 \(h:mm:ss\): audioflow renders"):
        check_programme(24 * 3_600_000.0 + 1000, 8000, 1)
