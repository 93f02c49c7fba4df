"""Make the radio drama's input recordings (run once; the outputs are committed).

``interview.mp3``: a "field recording" of Mara: the bundled Piper voice raised 4 semitones (the
local ``bright`` character), over café-like noise and a 50 Hz mains hum, about 9 s, mono. The recipe
isolates her voice from it and clones the result.
``dev-sample.mp3``: a clean sample of Dev (the ``crisp`` character), the reference of his clone.
``riders/*.mp3``: clean samples of the four voices of ``riders-to-the-sea.yaml`` (local characters
bright, crisp, deep and gruff reading later lines of the play), the references of their clones.

Usage: python recipes/assets/make_assets.py [night-shift [OUT]]   # the night-shift assets
       python recipes/assets/make_assets.py riders [OUT]          # the riders-to-the-sea samples
(OUT: another folder to write to; by default this one, replacing the committed files.)

The files are not reproducible byte for byte: Piper draws its delivery noise (``noise_scale``,
``noise_w``) inside its ONNX graph without a seed, so each run speaks a little differently, and the
committed recordings (whose digests the demos' caches and pinned tests depend on) are kept as made.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from audioflow.audio import Audio, encode, read_wav
from audioflow.providers import LocalProvider, RenderRequest
from audioflow.steps import LinesPayload, SpokenLine, StepKind, VoiceSpec

HERE = Path(__file__).parent
MARA = (
    "I've worked nights at the Quik-Mart for six years. You get used to the quiet. "
    "The fridges hum, the rain comes and goes, and nobody comes in after two."
)
DEV = "Honestly, it's the easiest job in town. Stock the shelves, watch the door, drink the coffee."


async def _speak(name: str, text: str, preset: str) -> Audio:
    """``text`` spoken by the local character ``preset`` (a typed one-line ``speak`` request)."""
    voice = VoiceSpec(name, preset={"local": preset}, local_voice=preset)
    payload = LinesPayload(StepKind.SPEAK, (SpokenLine(name, text),), (voice,))
    provider = LocalProvider()
    take = await provider.render(provider.prepare(RenderRequest("asset", payload)))
    return read_wav(take.data)


def _noisy(speech: Audio) -> Audio:
    rng = np.random.default_rng(7)
    rate = speech.sample_rate_hz
    pad = np.zeros((int(0.6 * rate), 1), np.float32)
    voice = np.concatenate([pad, speech.samples[:, :1], pad])
    t = np.arange(len(voice)) / rate
    noise = np.convolve(rng.standard_normal(len(voice)), np.ones(40) / 40, mode="same")  # low-passed noise
    noise *= 0.2 * np.std(voice) / np.std(noise)  # about 14 dB below the speech
    hum = 0.02 * np.sin(2 * np.pi * 50 * t) + 0.01 * np.sin(2 * np.pi * 150 * t)
    mixed = voice[:, 0] + noise + hum
    return Audio(mixed.reshape(-1, 1).astype(np.float32), rate)


#: Later lines of Synge's "Riders to the Sea" (1904, public domain), one sample per cloned voice.
RIDERS = {
    "cathleen": (
        "bright",
        "It's destroyed he'll be, going till dark night, and he after eating nothing since the sun went up.",
    ),
    "nora": (
        "crisp",
        "And isn't it a pitiful thing when there is nothing left of a man who was a great rower and fisher.",
    ),
    "maurya": (
        "deep",
        "They're all gone now, and there isn't anything more the sea can do to me. I'll have no call now "
        "to be up crying and praying when the wind breaks from the south.",
    ),
    "bartley": (
        "gruff",
        "I'll have half an hour to go down, and you'll see me coming again in two days, or in three days.",
    ),
}


def riders(out: Path = HERE) -> None:
    folder = out / "riders"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (preset, text) in RIDERS.items():
        audio = asyncio.run(_speak(name, text, preset))
        (folder / f"{name}.mp3").write_bytes(encode(audio, "mp3", bitrate_kbps=64, sample_rate_hz=22050))


def night_shift(out: Path = HERE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    mara = asyncio.run(_speak("mara", MARA, "bright"))
    dev = asyncio.run(_speak("dev", DEV, "crisp"))
    (out / "interview.mp3").write_bytes(encode(_noisy(mara), "mp3", bitrate_kbps=64, sample_rate_hz=22050))
    (out / "dev-sample.mp3").write_bytes(encode(dev, "mp3", bitrate_kbps=64, sample_rate_hz=22050))


def main(argv: list[str]) -> None:
    command = argv[0] if argv else "night-shift"
    if command not in ("night-shift", "riders") or len(argv) > 2:
        raise SystemExit(__doc__)
    out = Path(argv[1]) if len(argv) == 2 else HERE
    night_shift(out) if command == "night-shift" else riders(out)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
