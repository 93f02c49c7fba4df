"""Confined inputs and checked outputs through the CLI: `--allow-dir`, `$AUDIOFLOW_ALLOW_DIRS`,
exact error lines, exit 2 before anything is sent (against the fake Segmind)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke
from fakes.segmind import segmind_in_env

from audioflow.audio import Audio, write_wav

ALLOW = "to read files from another folder, allow it: --allow-dir DIR or AUDIOFLOW_ALLOW_DIRS"
TONE = Audio((0.2 * np.sin(np.arange(24000) * 2 * np.pi * 330 / 24000)).astype(np.float32), 24000)


@pytest.fixture
def show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd ``show/`` (the recipe's folder) beside ``lib/`` holding a 1 s tone."""
    for name in ("AUDIOFLOW_ALLOW_DIRS", "AUDIOFLOW_CACHE_DIR", "SEGMIND_API_KEY", "FAL_KEY", "EVOLINK_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "show").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "door.wav").write_bytes(write_wav(TONE))
    monkeypatch.chdir(tmp_path / "show")
    return tmp_path / "show"


ISOLATE = """\
audioflow: 1
provider: segmind
steps:
  voice: {isolate: {audio: AUDIO, describe: a woman speaking}}
mix:
  - {track: voice}
"""


@pytest.mark.parametrize("link", [False, True], ids=["written", "linked"])
def test_proc_self_environ_is_refused_at_validate_and_never_reaches_segmind(
    show: Path, monkeypatch: pytest.MonkeyPatch, link: bool
) -> None:
    written = "interview.wav" if link else "/proc/self/environ"
    if link:
        (show / "interview.wav").symlink_to("/proc/self/environ")
    Path("r.yaml").write_text(ISOLATE.replace("AUDIO", written))
    with segmind_in_env(monkeypatch) as hosts:
        results = [invoke(command, "r.yaml", *extra) for command, *extra in (("validate",), ("run",), ("plan",))]
        results.append(invoke("run", "r.yaml", "--allow-dir", "/"))
        sent = hosts.all_requests()
    expected = (
        f"r.yaml:4:28: audio to isolate from {written!r} is a system file (/proc/{os.getpid()}/environ), "
        "not a regular file (files under /proc and /sys are never read)\n"
    )
    assert [(r.exit_code, r.stdout, r.stderr) for r in results] == [(2, "", expected)] * 4
    assert sent == []
    assert not (show / ".audioflow").exists()


FILE = "audioflow: 1\nsteps:\n  door: {file: ../lib/door.wav}\nmix:\n  - {track: door}\noutput: out/ep.wav\n"


def test_a_file_outside_the_folder_needs_allow_dir_on_every_command(show: Path) -> None:
    Path("r.yaml").write_text(FILE)
    refusal = f"r.yaml:3:3: audio file '../lib/door.wav' is outside the recipe's folder ({ALLOW})\n"
    for command in ("validate", "plan", "run", "graph"):
        result = invoke(command, "r.yaml")
        assert (result.exit_code, result.stderr) == (2, refusal), command
        assert invoke(command, "r.yaml", "--allow-dir", "../lib").exit_code == 0, command
    assert (show / "out" / "ep.wav").is_file()


def test_the_environment_variable_adds_to_the_option(show: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (show.parent / "music").mkdir()
    (show.parent / "music" / "bed.wav").write_bytes(write_wav(TONE))
    text = FILE.replace("mix:\n", "  bed: {file: ../music/bed.wav}\nmix:\n  - {track: bed}\n")
    Path("r.yaml").write_text(text)
    monkeypatch.setenv("AUDIOFLOW_ALLOW_DIRS", str(show.parent / "music"))
    result = invoke("validate", "r.yaml")
    assert result.stderr.startswith("r.yaml:3:3: audio file '../lib/door.wav' is outside the recipe's folder and")
    result = invoke("validate", "r.yaml", "--allow-dir", "../lib")
    assert (result.exit_code, result.stdout) == (0, "r.yaml: ok (4 steps)\n")
    monkeypatch.setenv("AUDIOFLOW_ALLOW_DIRS", f"{show.parent / 'music'}{os.pathsep}{show.parent / 'gone'}")
    result = invoke("validate", "r.yaml", "--allow-dir", "../lib")
    assert (result.exit_code, result.stderr) == (
        2,
        f"AUDIOFLOW_ALLOW_DIRS: {show.parent / 'gone'}: not an existing folder\n",
    )


def test_allow_dir_must_be_an_existing_folder(show: Path) -> None:
    Path("r.yaml").write_text(FILE)
    result = invoke("validate", "r.yaml", "--allow-dir", "../nope")
    assert result.exit_code == 2
    assert "Invalid value for '--allow-dir': Directory '../nope' does not exist." in result.stderr


def test_validate_checks_the_output_against_the_cache_folder_it_would_use(
    show: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (show / "door.wav").write_bytes(write_wav(TONE))
    Path("r.yaml").write_text(FILE.replace("../lib/", ""))
    inside = (
        "r.yaml:6:9: output 'out/ep.wav' is inside the cache folder {} "
        "(write outputs outside the cache, or choose another --cache-dir)\n"
    )
    result = invoke("validate", "r.yaml", "--cache-dir", "out")
    assert (result.exit_code, result.stderr) == (2, inside.format("out"))
    monkeypatch.setenv("AUDIOFLOW_CACHE_DIR", str(show / "out"))
    for command in ("validate", "plan", "run"):
        result = invoke(command, "r.yaml")
        assert (result.exit_code, result.stderr) == (2, inside.format(show / "out")), command
    assert not (show / "out").exists()


@pytest.mark.parametrize("url", ["file:///tmp/cache", "http://169.254.169.254/x", "S3://bucket/x"])
def test_a_cache_url_other_than_s3_is_refused_not_made_a_folder_named_after_its_scheme(
    show: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    (show / "door.wav").write_bytes(write_wav(TONE))
    Path("r.yaml").write_text(FILE.replace("../lib/", ""))
    scheme = url.split(":")[0]
    result = invoke("validate", "r.yaml", "--cache-dir", url)
    assert result.exit_code == 2
    assert result.stderr.endswith(
        f"Error: Invalid value for '--cache-dir': {url}: a cache is a folder or s3://bucket/prefix,"
        f" not a {scheme}:// URL (write a folder as a plain path)\n"
    )
    monkeypatch.setenv("AUDIOFLOW_CACHE_DIR", url)
    for command in (("run", "r.yaml"), ("cache", "info")):
        result = invoke(*command)
        assert (result.exit_code, result.stderr) == (
            2,
            f"AUDIOFLOW_CACHE_DIR {url}: a cache is a folder or s3://bucket/prefix, not a {scheme}:// URL"
            " (write a folder as a plain path: /srv/cache, not file:///srv/cache)\n",
        ), command
    assert sorted(p.name for p in show.iterdir()) == ["door.wav", "r.yaml"]  # no folder named 'file:' or 'S3:'


def test_an_output_named_like_its_sidecar_is_refused_before_anything_is_written(show: Path) -> None:
    (show / "door.wav").write_bytes(write_wav(TONE))
    Path("r.yaml").write_text(
        FILE.replace("../lib/", "").replace("out/ep.wav", "out/y.srt") + "master: {format: mp3}\n"
    )
    result = invoke("run", "r.yaml")
    assert (result.exit_code, result.stderr) == (
        2,
        "r.yaml:6:9: output 'out/y.srt' does not end in .mp3, the extension of master.format mp3 "
        "(name it y.mp3, or change master.format)\n",
    )
    assert not (show / "out").exists() and not (show / ".audioflow").exists()
