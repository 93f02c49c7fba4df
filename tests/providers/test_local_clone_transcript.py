"""Offline clones with a transcript: the speed loop matches the clip's phonation time on the words
it says, so each clone's tempo lands within 5 % of its reference speaker's, for speakers of
different tempos, pitches and texts, over a telephone band and in noise (Piper: slow).

The references are made in code from the bundled voice (delivery noise off, so each is one fixed
"speaker") at Piper speeds ×0.8…1.25 and tape shifts of -3…+4 semitones, each reading its own text;
two are processed as recordings are (300–3400 Hz telephone band; white noise at 30 dB SNR). A
clone's tempo is judged without the measure it was matched with: the clone and the reference's own
speaker (unprocessed) read the same line (:data:`LINE`, in no reference), and the ratio of their
speech durations (silence trimmed) is the ratio of their tempos.

Measured (deterministic): with transcripts, +0.2, +0.0, -0.3, +0.6, +0.8, +1.9, -1.1 % (slow …
noisy). Without them (the speaking-rate measure of ``test_local_clone_rate``) the same references land
at -8.4, -10.7, -3.5, -1.0, +5.0, -0.5, +12.2 %: this test's 5 % fails on that measure, which depends
on the words a clip holds (about 4 % sd over ten texts) and reads noise as faster speech.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import numpy as np
import pedalboard
import pytest
from payloads import make_request, render_request

from audioflow.audio import Audio, read_wav, write_wav
from audioflow.providers import LocalProvider, Reference
from audioflow.providers.local import CLONE_STYLE, _Delivery

LINE = (
    "It was two in the morning at the shop on the corner, and the fridges hummed. Outside, a bus went "
    "by with nobody on it, and the lights on the bridge came on one after another."
)
TEXTS = {
    "letter": "Dear Margaret, thank you for your letter, which arrived on Tuesday with the parcel. The garden "
    "is doing well this year, although the roses suffered in the frost. Father sends his love and asks "
    "whether you will visit us in August.",
    "news": "The council announced on Monday that the northern bridge will close for repairs from the first "
    "of March. Traffic will be diverted through the industrial estate, and extra buses will run during "
    "the morning rush hour.",
    "story": "The old fisherman pulled his boat onto the sand and sat down to mend his nets. A gull watched "
    "him from the rocks, hoping for a scrap of bait, but the man only hummed to himself and worked until "
    "the sun went down.",
    "manual": "To replace the filter, switch off the pump and close both valves. Unscrew the housing "
    "anticlockwise, remove the old cartridge, and rinse the seal in clean water before fitting the new one.",
    "quarrel": "Where have you been? I waited for an hour. Well, the train was late, and then I lost my "
    "ticket. You always lose something. That is not fair! Last week it was you who forgot the keys.",
    "plain": "Yes, I know. But we can not go now. It is too late, and the road is wet and dark. We will go "
    "in the morning, when it is light, and the rain has stopped. Do not be sad. It is not far.",
    "shop": "Nobody came in after midnight, so she counted the till twice and read the paper. At three the "
    "bell rang, and a man in a wet coat asked for matches. He paid in pennies and left without a word, "
    "and the rain went on until morning.",
}
#: (name, text, Piper speed, tape shift in semitones, processing).
SPEAKERS = [
    ("slow", "letter", 0.8, 0.0, None),
    ("quick", "news", 1.25, 0.0, None),
    ("high", "story", 1.0, 4.0, None),
    ("low-unhurried", "manual", 0.85, -3.0, None),
    ("high-quick", "quarrel", 1.15, 2.0, None),
    ("telephone", "plain", 0.9, -1.0, "telephone"),
    ("noisy", "shop", 1.1, 1.0, "noise"),
]
_NOTE = re.compile(r"speech; read (?P<readings>.*?); speed ×(?P<speed>[\d.]+)\)")


def _speaker(provider: LocalProvider, text: str, speed: float, pitch: float) -> Audio:
    """``text`` read by a reference speaker: the bundled voice at ``speed`` and ``pitch`` (noise off)."""
    delivery = _Delivery(None, None, CLONE_STYLE, pitch, speed, 0.0)
    return provider._synthesize(text, delivery, speed=speed, gain_db=0.0)


def _recorded(audio: Audio, processing: str | None) -> Audio:
    """``audio`` as a recording might hold it: over a telephone band, or in white noise at 30 dB SNR."""
    samples = audio.samples[:, 0].astype(np.float32)
    if processing == "telephone":
        band = pedalboard.Pedalboard([pedalboard.HighpassFilter(300.0), pedalboard.LowpassFilter(3400.0)])
        samples = band(samples, audio.sample_rate_hz)
    elif processing == "noise":
        level = np.sqrt(np.mean(samples[np.abs(samples) > 1e-4] ** 2))
        noise = np.random.default_rng(7).standard_normal(samples.size).astype(np.float32)
        samples = samples + noise * np.float32(level * 10 ** (-30 / 20))
    return Audio(samples.reshape(-1, 1), audio.sample_rate_hz)


def _speech_s(audio: Audio) -> float:
    import librosa

    trimmed, _ = librosa.effects.trim(audio.samples[:, 0].astype(np.float64), top_db=40)
    return len(trimmed) / audio.sample_rate_hz


def _clone_request(clip: Path, transcript: str | None) -> Any:
    clone = {"model": "seed-audio", "language": None, "transcript": transcript}
    voice = {"name": "ref", "cast_index": 0, "preset": None, "clone": clone}
    params = {"text": LINE, "direction": None, "voice": voice}
    return make_request("line", "speak", params, references=(Reference("ref", path=clip),))


@pytest.mark.slow
def test_clones_with_a_transcript_follow_each_reference_tempo_within_5_percent(tmp_path: Path) -> None:
    provider = LocalProvider(1)
    errors: dict[str, float] = {}
    notes: list[str] = []
    for name, text, speed, pitch, processing in SPEAKERS:
        clip = tmp_path / f"{name}.wav"
        clip.write_bytes(write_wav(_recorded(_speaker(provider, TEXTS[text], speed, pitch), processing)))
        take = asyncio.run(render_request(provider, _clone_request(clip, TEXTS[text])))
        notes.append(take.notes[0])
        note = _NOTE.search(take.notes[0])
        assert note is not None, take.notes  # matched on the transcript, not by the speaking rate
        assert 1 <= note["readings"].count(" s at ×") <= 3, take.notes  # speed 1, then at most 2 corrections
        said_by_speaker = _speech_s(_speaker(provider, LINE, speed, pitch))
        errors[name] = said_by_speaker / _speech_s(read_wav(take.data)) - 1.0  # > 0: the clone is faster
        if name == "high":
            again = asyncio.run(render_request(LocalProvider(1), _clone_request(clip, TEXTS[text])))
            assert again.data == take.data  # no random delivery: the same take every time
    print("clone tempo error vs reference speaker:", {k: f"{v:+.1%}" for k, v in errors.items()})
    assert not any("does the transcript say" in note for note in notes), notes
    assert all(abs(error) <= 0.05 for error in errors.values()), errors


@pytest.mark.slow
def test_a_transcript_that_says_more_than_the_clip_is_doubted_or_set_aside(tmp_path: Path) -> None:
    provider = LocalProvider(1)
    clip = tmp_path / "plain.wav"
    clip.write_bytes(write_wav(_speaker(provider, TEXTS["plain"], 0.9, -1.0)))
    # a clip cut short of its transcript: the words of a longer clip than this one
    longer = TEXTS["plain"] + " Nobody came in after midnight, so she counted the till twice and read the paper."
    note = asyncio.run(render_request(provider, _clone_request(clip, longer))).notes[0]
    assert "does the transcript say what the part of the clip used says?" in note, note
    twice = TEXTS["plain"] + " " + TEXTS["shop"]  # more than the bundled voice can read at ×2
    note = asyncio.run(render_request(provider, _clone_request(clip, twice))).notes[0]
    assert "its transcript is not used" in note and "speaking rate" in note, note
