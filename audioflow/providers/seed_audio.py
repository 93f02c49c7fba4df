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
* Output ≤ 120 s per request (``steps.MAX_REQUEST_MS``: the recipe splits longer sounds).
* Speed and volume are multipliers ×0.5…×2.0, pitch is −12…12 semitones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ProviderError
from ..steps import CLIP_LIMITS_MS, SCENE_LIMITS, GeneratePayload, LinesPayload, StepKind, UrlRef, VoiceSpec
from .base import Reference, RenderRequest

__all__ = [
    "MAX_REFERENCES",
    "MAX_REFERENCE_BYTES",
    "MAX_REFERENCE_MS",
    "OUTPUT_FORMATS",
    "SAMPLE_RATES_HZ",
    "SeedAudioCall",
    "build_call",
    "output_format",
]

MAX_REFERENCES = SCENE_LIMITS.max_references
MAX_REFERENCE_MS = CLIP_LIMITS_MS["seed-audio"][1]
MAX_REFERENCE_BYTES = 10 * 1024 * 1024
#: The ``sample_rate`` values every host's Seed Audio page lists.
SAMPLE_RATES_HZ = (8000, 16000, 24000, 32000, 44100, 48000)
#: audioflow format name → Seed Audio's ``format`` (wav | mp3 | pcm | ogg_opus on every host). Raw ``pcm``
#: has no header to decode (its sample width and channels are undocumented), so it is not offered.
OUTPUT_FORMATS = {"wav": "wav", "mp3": "mp3", "ogg": "ogg_opus", "opus": "ogg_opus", "ogg_opus": "ogg_opus"}
CITE = re.compile(r"(?<![\w@])@([A-Za-z_][A-Za-z0-9_-]*)")


def output_format(host: str, fmt: str, sample_rate_hz: int) -> str:
    """Seed Audio's ``format`` for audioflow format ``fmt``. Raises :class:`ProviderError` for a
    format or a sample rate no host's page offers."""
    value = OUTPUT_FORMATS.get(fmt.lower())
    if value is None:
        raise ProviderError(
            host, f"{host} renders wav, mp3 or ogg (Opus), not format {fmt!r}: set providers.{host}.format"
        )
    if sample_rate_hz not in SAMPLE_RATES_HZ:
        rates = ", ".join(str(r) for r in SAMPLE_RATES_HZ)
        raise ProviderError(host, f"{host} takes a sample rate of {rates} Hz, not {sample_rate_hz} Hz")
    return value


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


def _image(request: RenderRequest, payload: LinesPayload | GeneratePayload) -> Reference | None:
    """The reference image as a :class:`Reference`: a URL, or the local file with its content digest."""
    image = payload.image
    if image is None:
        return None
    if isinstance(image, UrlRef):
        return Reference("image", url=image.url)
    return Reference("image", path=request.files.get("image"), sha256=image.sha256)


class _Numbering:
    """Numbers the voices of one request in order of first appearance."""

    def __init__(self, request: RenderRequest, host: str, marker: str, id_references: bool):
        self.host, self.marker, self.id_references = host, marker, id_references
        self.clips = {ref.name: ref for ref in request.references}
        self.items: list[Reference | str] = []
        self.numbers: dict[str, int] = {}
        self.cited: list[str] = []

    def cite(self, voice: VoiceSpec) -> str | None:
        """The marker for ``voice`` (numbering it on first use), or None when the voice has nothing
        to refer to (no clip, and no preset id this host takes as a reference)."""
        if voice.name in self.numbers:
            return f"{self.marker}{self.numbers[voice.name]}"
        item: Reference | str | None = self.clips.get(voice.name)
        if item is None and self.id_references:
            item = voice.preset_on(self.host)
        if item is None:
            return None
        self.items.append(item)
        self.cited.append(voice.name)
        self.numbers[voice.name] = len(self.items)
        return f"{self.marker}{self.numbers[voice.name]}"


def _spoken(text: str, direction: str | None) -> str:
    return f"({direction}) {text}" if direction else text


def _prosody(voices: list[VoiceSpec], notes: list[str]) -> tuple[float, float, int]:
    values = {(float(v.speed), float(v.volume), round(float(v.pitch_semitones))) for v in voices}
    if len(values) == 1:
        return values.pop()
    notes.append("the scene's voices ask for different speed/volume/pitch; one request takes one: sent neutral")
    return 1.0, 1.0, 0


def _lines_prompt(
    payload: LinesPayload, numbering: _Numbering, host: str, notes: list[str]
) -> tuple[str, str | None, tuple[float, float, int]]:
    """(prompt, preset, prosody) of a ``speak`` (one line) or ``scene`` request."""
    if payload.kind == StepKind.SPEAK:
        voice, line = payload.voices[0], payload.lines[0]
        cited = numbering.cite(voice) if voice.clone or numbering.id_references else None
        preset = voice.preset_on(host) if cited is None else None
        if cited is None and preset is None:
            notes.append(_no_voice(voice, host))
        prompt = _spoken(line.model_text, line.direction)
        return (f"{cited} {prompt}" if cited and voice.clone else prompt), preset, _prosody([voice], notes)
    rows = []
    for line in payload.lines:
        cited = numbering.cite(payload.voice(line.voice))
        rows.append(f"{cited or line.voice + ':'} {_spoken(line.model_text, line.direction)}")
    uncited = sorted({line.voice for line in payload.lines} - set(numbering.cited))
    if uncited:
        what = "reference clip or preset id it takes" if numbering.id_references else "reference clip"
        notes.append(
            f"warning: {host} receives no voice for {', '.join(uncited)} (no {what}): labelled by name, "
            "the model picks a voice"
        )
    spoken = [payload.voice(name) for name in dict.fromkeys(line.voice for line in payload.lines)]
    return "\n".join(rows), None, _prosody(spoken, notes)


def _no_voice(voice: VoiceSpec, host: str) -> str:
    """The warning for a one-voice request that carries no voice at all (the host picks one)."""
    given = sorted(voice.preset) if isinstance(voice.preset, Mapping) else []
    elsewhere = f" (its preset is for {', '.join(given)})" if given else ""
    return (
        f"warning: {host} receives no voice for {voice.name!r}{elsewhere}: no reference clip and no "
        f"{host} preset, so the model picks a voice — add preset: {{{host}: ID}}"
    )


def _generate_prompt(payload: GeneratePayload, numbering: _Numbering) -> str:
    names = {voice.name: voice for voice in payload.voices}

    def replace(match: re.Match[str]) -> str:
        voice = names.get(match.group(1))
        if voice is None:
            return match.group(0)
        return numbering.cite(voice) or voice.name

    return CITE.sub(replace, payload.prompt)


def build_call(
    request: RenderRequest, *, host: str, marker: str, max_prompt_chars: int | None, id_references: bool = False
) -> SeedAudioCall:
    """The Seed Audio call for a ``speak``, ``scene`` or ``generate`` request on ``host``.

    Raises :class:`ProviderError` (located by the engine at the step, or at ``voice``) for more than
    3 references, a prompt over ``max_prompt_chars``, a reference image with reference audio, a
    clip over 30 s or 10 MB, or speed/volume/pitch out of range.
    """
    payload = request.payload
    numbering = _Numbering(request, host, marker, id_references)
    notes: list[str] = []
    preset: str | None = None
    if isinstance(payload, LinesPayload):
        prompt, preset, (speed, volume, pitch) = _lines_prompt(payload, numbering, host, notes)
    elif isinstance(payload, GeneratePayload):
        prompt, (speed, volume, pitch) = _generate_prompt(payload, numbering), (1.0, 1.0, 0)
    else:
        raise ProviderError(host, f"Seed Audio does not render {request.kind} steps")
    image = _image(request, payload)
    call = SeedAudioCall(prompt, tuple(numbering.items), preset, image, speed, volume, pitch, tuple(notes))
    _check(call, host, max_prompt_chars, numbering.cited)
    return call


def _check(call: SeedAudioCall, host: str, max_prompt_chars: int | None, cited: list[str]) -> None:
    if len(call.references) > MAX_REFERENCES:
        raise ProviderError(
            host,
            f"{len(call.references)} voices are referenced in one request ({', '.join(cited)}); Seed Audio "
            f"takes at most {MAX_REFERENCES} — cite at most {MAX_REFERENCES} voices with a reference clip in one "
            "prompt or line (a `render: scene` dialogue is split into parts by itself)",
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
                voice=ref.name,
            )
        if isinstance(ref, Reference) and ref.path is not None and ref.path.is_file():
            size = ref.path.stat().st_size
            if size > MAX_REFERENCE_BYTES:
                raise ProviderError(
                    host, f"reference clip of {ref.name!r} is {size / 1e6:.1f} MB; the limit is 10 MB", voice=ref.name
                )
    if not (0.5 <= call.speed <= 2.0 and 0.5 <= call.volume <= 2.0 and -12 <= call.pitch_semitones <= 12):
        raise ProviderError(host, "speed and volume must be ×0.5…×2.0 and pitch −12…12 semitones")
