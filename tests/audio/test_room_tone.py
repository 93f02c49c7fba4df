"""The room tone at a file's head and tail (ACX: 0.5–1 s and 1–5 s), measured in 10 ms windows at
-50 dBFS RMS, the same in any block size."""

from __future__ import annotations

import numpy as np
import pytest

from audioflow.audio.figures import FileFigures
from audioflow.audio.qc import FigureMeter

RATE_HZ = 44100


def _programme(head_s: float, speech_s: float, tail_s: float, channels: int = 2) -> np.ndarray:
    """Room tone at -70 dBFS, a -20 dBFS tone for ``speech_s`` after ``head_s``, then ``tail_s`` more."""
    rng = np.random.default_rng(1)
    frames = round((head_s + speech_s + tail_s) * RATE_HZ)
    t = np.arange(frames) / RATE_HZ
    tone = 0.14 * np.sin(2 * np.pi * 200 * t) * ((t >= head_s) & (t < head_s + speech_s))
    room = rng.standard_normal((frames, channels)) * 10 ** (-70 / 20)
    return (tone[:, None] + room).astype(np.float32)


def _figures(samples: np.ndarray, block: int) -> FileFigures:
    meter = FigureMeter(RATE_HZ, samples.shape[1])
    for first in range(0, samples.shape[0], block):
        meter.add(samples[first : first + block])
    return meter.figures()


@pytest.mark.parametrize("block", [441, 1000, 65536])
def test_head_and_tail_are_measured_in_any_block_size(block: int) -> None:
    figures = _figures(_programme(0.73, 3.0, 1.5), block)
    assert figures.room_tone_head_ms == pytest.approx(730.0, abs=10.0)
    assert figures.room_tone_tail_ms == pytest.approx(1500.0, abs=10.0)
    assert FileFigures.from_json(figures.to_json()) == figures


def test_a_file_of_room_tone_is_all_head_and_tail_and_old_figures_read_as_unknown() -> None:
    quiet = _programme(2.0, 0.0, 0.0, channels=1)
    figures = _figures(quiet, 4096)
    assert figures.room_tone_head_ms == figures.room_tone_tail_ms == pytest.approx(2000.0, abs=0.1)
    speech = _figures(_programme(0.0, 2.0, 0.0), 4096)
    assert speech.room_tone_head_ms == 0.0 and speech.room_tone_tail_ms == 0.0
    old = {key: value for key, value in figures.to_json().items() if not key.startswith("room_tone")}
    restored = FileFigures.from_json(old)
    assert restored.room_tone_head_ms is None and restored.room_tone_tail_ms is None
