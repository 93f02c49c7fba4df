"""ByteDance Seed Audio 1.0, whichever host serves it: the prompt, the ``@Audio`` numbering and the
limits, from the canonical request. Each host module maps a :class:`SeedAudioCall` to its fields.

Sources: the vendor pages in ``shared/seeds/`` (Segmind ``seed-audio-1.0``, fal
``bytedance/seed-audio-1.0``, Evolink ``doubao-seed-audio-1-0``) and ``shared/PROVIDERS.md``.

* At most 3 reference items per request, cited in the prompt as ``@Audio1..3`` (Segmind, fal) or
  ``@audio1..3`` (Evolink), numbered in array order. Recipe authors write cast names (``@mara``);
  audioflow numbers the voices of each request in order of first appearance.
* Each reference clip ≤ 30 s and ≤ 10 MB (wav/mp3/pcm/ogg_opus).
* One reference image excludes reference audio.
* Prompt ≤ 2048 characters on Segmind, ≤ 1500 on Evolink; fal documents no limit.
* Output ≤ 120 s per request.
* Speed and volume are multipliers ×0.5…×2.0, pitch is −12…12 semitones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProviderError
from .base import Reference, RenderRequest

__all__ = [
    "MAX_OUTPUT_S",
    "MAX_REFERENCES",
    "MAX_REFERENCE_BYTES",
    "MAX_REFERENCE_MS",
    "SAMPLE_RATES_HZ",
    "SeedAudioCall",
    "build_call",
    "preset_for",
]

MAX_REFERENCES = 3
MAX_REFERENCE_MS = 30_000.0
MAX_REFERENCE_BYTES = 10 * 1024 * 1024
MAX_OUTPUT_S = 120.0
SAMPLE_RATES_HZ = (8000, 16000, 24000, 32000, 44100, 48000)
CITE = re.compile(r"(?<![\w@])@([A-Za-z_][A-Za-z0-9_-]*)")


@dataclass(frozen=True)
class SeedAudioCall:
    """One Seed Audio request, host-neutral.

    ``prompt`` already carries the host's markers; ``references`` are, in marker order, clips
    (:class:`Reference`) or preset voice ids (``str``, Evolink only); ``preset`` is the one preset
    voice of a single-voice request where the host takes it as its own field (Segmind ``speaker``,
    fal ``voice``); ``image`` is a reference image. ``speed``/``volume`` are multipliers and
    ``pitch_semitones`` an integer, all neutral (1, 1, 0) when the request leaves them so.
    """

    prompt: str
    references: tuple[Reference | str, ...] = ()
    preset: str | None = None
    image: Reference | None = None
    speed: float = 1.0
    volume: float = 1.0
    pitch_semitones: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def preset_for(voice: dict[str, Any], host: str) -> str | None:
    """The voice's preset id on ``host``: ``preset: {host: id}``, or a plain string preset."""
    preset = voice.get("preset")
    if isinstance(preset, dict):
        value = preset.get(host)
        return str(value) if value else None
    return str(preset) if isinstance(preset, str) and preset else None


def _image(request: RenderRequest) -> Reference | None:
    image = request.params.get("image")
    if not image:
        return None
    return Reference("image", path=request.files.get("image"), url=image.get("url"), sha256=image.get("sha256"))


class _Numbering:
    """Numbers the voices of one request in order of first appearance."""

    def __init__(self, request: RenderRequest, host: str, marker: str, id_references: bool):
        self.host, self.marker, self.id_references = host, marker, id_references
        self.clips = {ref.name: ref for ref in request.references}
        self.items: list[Reference | str] = []
        self.numbers: dict[str, int] = {}
        self.cited: list[str] = []

    def cite(self, name: str, voice: dict[str, Any]) -> str | None:
        """The marker for voice ``name`` (numbering it on first use), or None when the voice has
        nothing to refer to (no clip, and no preset id this host takes as a reference)."""
        if name in self.numbers:
            return f"{self.marker}{self.numbers[name]}"
        item: Reference | str | None = self.clips.get(name)
        if item is None and self.id_references:
            item = preset_for(voice, self.host)
        if item is None:
            return None
        self.items.append(item)
        self.cited.append(name)
        self.numbers[name] = len(self.items)
        return f"{self.marker}{self.numbers[name]}"


def _spoken(text: str, direction: str | None) -> str:
    return f"({direction}) {text}" if direction else text


def _prosody(voices: list[dict[str, Any]], notes: list[str]) -> tuple[float, float, int]:
    values = {
        (float(v.get("speed", 1.0)), float(v.get("volume", 1.0)), round(float(v.get("pitch_semitones", 0))))
        for v in voices
    }
    if len(values) == 1:
        return values.pop()
    notes.append("the scene's voices ask for different speed/volume/pitch; one request takes one: sent neutral")
    return 1.0, 1.0, 0


def build_call(
    request: RenderRequest, *, host: str, marker: str, max_prompt_chars: int | None, id_references: bool = False
) -> SeedAudioCall:
    """The Seed Audio call for a ``speak``, ``scene`` or ``generate`` request on ``host``.

    Raises :class:`ProviderError` (located as a recipe error by the engine's checks) for more than
    3 references, a prompt over ``max_prompt_chars``, a reference image with reference audio, a
    clip over 30 s or 10 MB, or speed/volume/pitch out of range.
    """
    params = request.params
    numbering = _Numbering(request, host, marker, id_references)
    notes: list[str] = []
    preset: str | None = None
    if request.kind == "speak":
        voice = params["voice"]
        cited = numbering.cite(voice.get("name", "voice"), voice) if voice.get("clone") or id_references else None
        if cited is None:
            preset = preset_for(voice, host)
        prompt = _spoken(params["text"], params.get("direction"))
        prompt = f"{cited} {prompt}" if cited and voice.get("clone") else prompt
        speed, volume, pitch = _prosody([voice], notes)
    elif request.kind == "scene":
        voices = params["voices"]
        rows = []
        for line in params["lines"]:
            cited = numbering.cite(line["voice"], voices[line["voice"]])
            rows.append(f"{cited or line['voice'] + ':'} {_spoken(line['text'], line.get('direction'))}")
        prompt = "\n".join(rows)
        uncited = sorted({line["voice"] for line in params["lines"]} - set(numbering.cited))
        if uncited:
            notes.append(f"voices without a reference clip are labelled by name: {', '.join(uncited)}")
        speed, volume, pitch = _prosody([voices[n] for n in dict.fromkeys(x["voice"] for x in params["lines"])], notes)
    elif request.kind == "generate":
        voices = params.get("voices", {})

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in voices:
                return match.group(0)
            return numbering.cite(name, voices[name]) or name

        prompt = CITE.sub(replace, params["prompt"])
        speed, volume, pitch = 1.0, 1.0, 0
    else:
        raise ProviderError(host, f"Seed Audio does not render {request.kind} steps")
    call = SeedAudioCall(prompt, tuple(numbering.items), preset, _image(request), speed, volume, pitch, tuple(notes))
    _check(call, host, max_prompt_chars, numbering.cited)
    return call


def _check(call: SeedAudioCall, host: str, max_prompt_chars: int | None, cited: list[str]) -> None:
    if len(call.references) > MAX_REFERENCES:
        raise ProviderError(
            host,
            f"{len(call.references)} voices are referenced in one request ({', '.join(cited)}); Seed Audio "
            f"takes at most {MAX_REFERENCES} — split the scene, or render it line by line (render: lines)",
        )
    if max_prompt_chars is not None and len(call.prompt) > max_prompt_chars:
        raise ProviderError(
            host,
            f"the prompt is {len(call.prompt)} characters; {host} takes at most {max_prompt_chars} "
            "— shorten it or split the scene",
        )
    if call.image is not None and call.references:
        raise ProviderError(host, "Seed Audio takes a reference image or reference audio, not both in one request")
    for ref in call.references:
        if isinstance(ref, Reference) and ref.duration_ms is not None and ref.duration_ms > MAX_REFERENCE_MS + 1:
            raise ProviderError(
                host,
                f"reference clip of {ref.name!r} is {ref.duration_ms / 1000:.1f} s; Seed Audio takes at most "
                f"{MAX_REFERENCE_MS / 1000:.0f} s per clip",
            )
        if isinstance(ref, Reference) and ref.path is not None and ref.path.is_file():
            size = ref.path.stat().st_size
            if size > MAX_REFERENCE_BYTES:
                raise ProviderError(host, f"reference clip of {ref.name!r} is {size / 1e6:.1f} MB; the limit is 10 MB")
    if not (0.5 <= call.speed <= 2.0 and 0.5 <= call.volume <= 2.0 and -12 <= call.pitch_semitones <= 12):
        raise ProviderError(host, "speed and volume must be ×0.5…×2.0 and pitch −12…12 semitones")
