"""Offline clones speak at the reference's rate, within 5 %, and the same way every time (Piper: slow).

The references are made in code from the bundled voice: read at several Piper speeds and tape-shifted
pitches (delivery noise off, so each is one fixed "speaker"), and one time-stretched with librosa.
The rate of a clone is judged without the estimator it was matched with: the clone and the
reference's own speaker read the same text (:data:`LINE`, which neither the reference nor the
calibration passage holds), and the ratio of their speech durations (silence trimmed) is the ratio
of their rates.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from payloads import make_request, render_request

from audioflow.audio import Audio, read_wav, write_wav
from audioflow.providers import LocalProvider, Reference
from audioflow.providers.local import CLONE_STYLE, _Delivery

#: What each reference speaker says (about 14 s at speed 1): other words than the clone's line.
REFERENCE_TEXT = (
    "Nobody came in after midnight, so she counted the till twice and read the paper. At three the "
    "bell rang, and a man in a wet coat asked for matches. He paid in pennies and left without a word, "
    "and the rain went on until morning."
)
LINE = (
    "It was two in the morning at the shop on the corner, and the fridges hummed. Outside, a bus went "
    "by with nobody on it, and the lights on the bridge came on one after another."
)
#: (name, Piper speed, tape shift in semitones, librosa time-stretch rate).
SPEAKERS = [
    ("slow", 0.7, 0.0, 1.0),
    ("quick", 1.4, 0.0, 1.0),
    ("high", 1.0, 4.0, 1.0),
    ("low-unhurried", 0.85, -3.0, 1.0),
    ("high-quick", 1.2, 2.0, 1.0),
]


def _speaker(provider: LocalProvider, text: str, speed: float, pitch: float, stretch: float) -> Audio:
    """``text`` read by a reference speaker: the bundled voice at ``speed`` and ``pitch`` (noise off),
    time-stretched by ``stretch`` (> 1: faster)."""
    delivery = _Delivery(None, None, CLONE_STYLE, pitch, speed, 0.0)
    audio = provider._synthesize(text, delivery, speed=speed, gain_db=0.0)
    if stretch == 1.0:
        return audio
    import librosa

    stretched = librosa.effects.time_stretch(audio.samples[:, 0].astype(np.float64), rate=stretch)
    return Audio(stretched.astype(np.float32).reshape(-1, 1), audio.sample_rate_hz)


def _speech_s(audio: Audio) -> float:
    import librosa

    trimmed, _ = librosa.effects.trim(audio.samples[:, 0].astype(np.float64), top_db=40)
    return len(trimmed) / audio.sample_rate_hz


def _clone_request(clip: Path) -> Any:
    voice = {"name": "ref", "cast_index": 0, "preset": None, "clone": {"model": "seed-audio", "language": None}}
    params = {"text": LINE, "direction": None, "voice": voice}
    return make_request("line", "speak", params, references=(Reference("ref", path=clip),))


@pytest.mark.slow
def test_clones_speak_within_5_percent_of_each_reference_rate_and_repeat_exactly(tmp_path: Path) -> None:
    provider = LocalProvider(1)
    errors: dict[str, float] = {}
    for name, speed, pitch, stretch in SPEAKERS:
        clip = tmp_path / f"{name}.wav"
        clip.write_bytes(write_wav(_speaker(provider, REFERENCE_TEXT, speed, pitch, stretch)))
        take = asyncio.run(render_request(provider, _clone_request(clip)))
        said_by_speaker = _speech_s(_speaker(provider, LINE, speed, pitch, stretch))
        errors[name] = said_by_speaker / _speech_s(read_wav(take.data)) - 1.0  # > 0: the clone is faster
        again = asyncio.run(render_request(LocalProvider(1), _clone_request(clip)))
        assert again.data == take.data, name  # no random delivery: the same take every time
    print("clone rate error vs reference speaker:", {k: f"{v:+.1%}" for k, v in errors.items()})
    assert all(abs(error) < 0.05 for error in errors.values()), errors
