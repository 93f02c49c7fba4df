"""``audioflow watch``: a real process edited under it. Each save re-renders exactly the stale steps;
a recipe error is shown and the last good output kept."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from audioflow.audio import Audio, write_wav

REPO = Path(__file__).resolve().parents[2]
RATE_HZ = 48_000

RECIPE = """\
audioflow: 1
title: Watch
provider: local
steps:
  door: {file: door.wav}
  rain: {generate: steady rain, duration: 2s}
mix:
  - {track: door}
  - {track: rain, with: door, gain_db: GAIN}
master: {format: wav}
output: out/w.wav
"""


def tone(path: Path, hz: float) -> None:
    t = np.arange(int(1.5 * RATE_HZ)) / RATE_HZ
    samples = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)[:, None]
    path.write_bytes(write_wav(Audio(samples, RATE_HZ)))


class Lines:
    """Collects a stream's lines in a thread; ``until`` waits for a line that starts with a prefix."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, prefix: str, timeout_s: float = 180.0) -> list[str]:
        """Every line up to and including the first that starts with ``prefix`` (from where the last call stopped)."""
        got = []
        while True:
            line = self._queue.get(timeout=timeout_s)
            assert line is not None, f"the stream ended before {prefix!r}: {self.seen + got}"
            got.append(line)
            if line.startswith(prefix):
                self.seen += got
                return got


def test_watch_rerenders_exactly_the_stale_steps_and_survives_a_bad_save(tmp_path: Path) -> None:
    tone(tmp_path / "door.wav", 440.0)
    recipe = tmp_path / "w.yaml"
    recipe.write_text(RECIPE.replace("GAIN", "-20"), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    env.pop("AUDIOFLOW_CACHE_DIR", None)
    command = [sys.executable, "-m", "audioflow", "watch", "w.yaml", "--cache-dir", "cache", "--max-renders", "3"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = Lines(process.stdout), Lines(process.stderr)
        assert out.until("wrote out/w.wav")[0] == "4 rendered, 0 cached, 0 failed"
        err.until("watching 2 file(s)")

        recipe.write_text(RECIPE.replace("GAIN", "-14"), encoding="utf-8")  # a gain: the mix and master only
        lines = err.until("stale: master")
        assert [line for line in lines if line.startswith(("changed:", "stale:"))] == [
            "changed: w.yaml",
            "stale: mix: changed: tracks[1].gain_db",
            "stale: master: upstream stale: mix",
        ]
        assert out.until("wrote out/w.wav")[0] == "2 rendered, 2 cached, 0 failed"
        err.until("watching")
        kept = (tmp_path / "out" / "w.wav").read_bytes()

        recipe.write_text(RECIPE.replace("GAIN", "-14").replace("title:", "titel:"), encoding="utf-8")
        lines = err.until("the last good output is kept")
        assert "w.yaml:2:1: unknown key 'titel' (did you mean 'title'?)" in lines
        err.until("watching 1 file(s)")  # only the recipe, until it reads again
        tone(tmp_path / "door.wav", 660.0)
        recipe.write_text(RECIPE.replace("GAIN", "-14"), encoding="utf-8")
        lines = err.until("stale: master")
        assert sorted(line.split(":")[1].strip() for line in lines if line.startswith("stale:")) == [
            "door",
            "master",
            "mix",
        ]
        assert out.until("wrote out/w.wav")[0] == "3 rendered, 1 cached, 0 failed"
        assert process.wait(timeout=120) == 0
        assert (tmp_path / "out" / "w.wav").read_bytes() != kept
    finally:
        process.kill()
        process.wait()
