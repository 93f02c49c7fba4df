"""Which local voice each cast voice speaks with offline: assigned over the whole cast, so no two
voices share one unless the recipe says so.

A voice that names a local voice (``preset: {local: deep}``, or a plain ``preset: deep``) keeps it.
A voice with a Piper ``model:`` or a clone from a file or step (matched to its reference) needs none.
Every other voice (a clone given only as a URL falls back to a local voice offline) receives one:
first the voice at cast position *n* gets the *n*-th of :data:`~audioflow.steps.LOCAL_VOICE_NAMES`
when no voice names it, then the rest get the first voices nobody has, in cast order. When they
run out the voice gets none, and rendering it locally is a located error (never a silent repeat).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..steps import LOCAL_VOICE_NAMES
from .model import Voice

__all__ = ["assign_local_voices", "named_local_voice"]


def named_local_voice(voice: Voice) -> str | None:
    """The local voice ``voice``'s preset names, if any (unknown names are the provider's to refuse)."""
    preset = voice.preset
    if isinstance(preset, Mapping):
        value = preset.get("local")
        return str(value) if value else None
    return preset if isinstance(preset, str) and preset in LOCAL_VOICE_NAMES else None


def _needs_one(voice: Voice, url_clones: set[str]) -> bool:
    if named_local_voice(voice) is not None or voice.model is not None:
        return False
    return voice.clone is None or voice.name in url_clones


def assign_local_voices(cast: Mapping[str, Voice], url_clones: set[str]) -> dict[str, str | None]:
    """Cast name → the local voice it speaks with (None: none left for it) for every voice that
    needs one; ``url_clones`` are the voices cloned from a URL (offline, a local voice stands in)."""
    taken = {name for voice in cast.values() if (name := named_local_voice(voice)) is not None}
    wanting = [voice for voice in cast.values() if _needs_one(voice, url_clones)]
    out: dict[str, str | None] = {}
    for voice in wanting:  # first pass: the voice of the same cast position, when free
        if voice.index < len(LOCAL_VOICE_NAMES) and LOCAL_VOICE_NAMES[voice.index] not in taken:
            out[voice.name] = LOCAL_VOICE_NAMES[voice.index]
            taken.add(LOCAL_VOICE_NAMES[voice.index])
    free = [name for name in LOCAL_VOICE_NAMES if name not in taken]
    for voice in wanting:
        if voice.name not in out:
            out[voice.name] = free.pop(0) if free else None
    return out
