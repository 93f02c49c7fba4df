"""Effects as a recipe writes them (``effects:`` on a cast voice or a mix track) → typed
:class:`~audioflow.steps.EffectSpec` values with every preset resolved to numbers.

An ``effects:`` list is a chain, applied in order::

    effects:
      - pan: -0.4                          # -1 left … +1 right
      - highpass: 120 Hz                   # or lowpass: 6 kHz
      - low_shelf: {freq: 250 Hz, gain_db: -3}
      - high_shelf: {freq: 4 kHz, gain_db: 2}
      - room: hall                         # small, medium, large, hall, or {size, damping, wet, dry, width}
      - distance: far                      # near, across-the-room, far, offstage
      - telephone                          # or radio: a band-limited voice

Errors are located :class:`~audioflow.errors.RecipeError` values; ``audio.effects`` renders them.
"""

from __future__ import annotations

from typing import Any

from ..errors import RecipeError, did_you_mean
from ..steps import EffectSpec
from ..units import parse_db, parse_frequency_hz
from .loader import Document, JsonPath

__all__ = ["DISTANCES", "EFFECT_KEYS", "ROOMS", "parse_effects"]

#: Reverb settings of ``room:`` presets (pedalboard ``Reverb``: all 0–1).
ROOMS: dict[str, dict[str, float]] = {
    "small": {"size": 0.25, "damping": 0.6, "wet": 0.18, "dry": 0.85, "width": 1.0},
    "medium": {"size": 0.5, "damping": 0.5, "wet": 0.25, "dry": 0.75, "width": 1.0},
    "large": {"size": 0.75, "damping": 0.4, "wet": 0.32, "dry": 0.65, "width": 1.0},
    "hall": {"size": 0.9, "damping": 0.3, "wet": 0.4, "dry": 0.6, "width": 1.0},
}
#: How far away a voice sounds: quieter, duller, and more of the room.
DISTANCES: dict[str, dict[str, float]] = {
    "near": {"gain_db": -2.0, "lowpass_hz": 12_000.0, "size": 0.3, "wet": 0.12, "dry": 0.9},
    "across-the-room": {"gain_db": -5.0, "lowpass_hz": 8_000.0, "size": 0.5, "wet": 0.25, "dry": 0.7},
    "far": {"gain_db": -9.0, "lowpass_hz": 5_000.0, "size": 0.7, "wet": 0.35, "dry": 0.45},
    "offstage": {"gain_db": -13.0, "lowpass_hz": 3_000.0, "size": 0.85, "wet": 0.45, "dry": 0.3},
}
#: Band-limited voices written as a bare word.
_BANDS: dict[str, dict[str, float]] = {
    "telephone": {"low_hz": 300.0, "high_hz": 3_400.0, "drive_db": 6.0},
    "radio": {"low_hz": 150.0, "high_hz": 5_000.0, "drive_db": 3.0, "threshold_db": -18.0, "ratio": 4.0},
}
_SHELF_DEFAULT_HZ = {"low_shelf": 250.0, "high_shelf": 4_000.0}
#: Every key an effect is written with (a bare ``telephone``/``radio`` too).
EFFECT_KEYS = ("pan", "highpass", "lowpass", "low_shelf", "high_shelf", "room", "distance", *_BANDS)
_FREQUENCY_RANGE_HZ = (20.0, 20_000.0)


def _frequency(doc: Document, path: JsonPath, value: Any) -> float:
    try:
        hz = parse_frequency_hz(value)
    except ValueError as exc:
        raise doc.error(path, str(exc)) from None
    low, high = _FREQUENCY_RANGE_HZ
    if not low <= hz <= high:
        raise doc.error(path, f"{value!r} is out of range: must be {low:g} Hz to {high / 1000:g} kHz")
    return hz


def _fraction(doc: Document, path: JsonPath, value: Any, low: float = 0.0, high: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise doc.error(path, f"{value!r} is out of range: must be a number from {low:g} to {high:g}")
    return float(value)


def _preset(doc: Document, path: JsonPath, value: Any, presets: dict[str, dict[str, float]], what: str) -> dict:
    if value not in presets:
        raise doc.error(
            path,
            f"{value!r} is not a {what}",
            hint=did_you_mean(str(value), presets) or f"choose one of: {', '.join(presets)}",
        )
    return dict(presets[value])


def _shelf(doc: Document, path: JsonPath, kind: str, value: Any) -> dict[str, float]:
    if not isinstance(value, dict) or "gain_db" not in value:
        raise doc.error(path, f"{kind} needs its gain: write {{freq: 250 Hz, gain_db: -3}}")
    try:
        gain_db = parse_db(value["gain_db"])
    except ValueError as exc:
        raise doc.error((*path, "gain_db"), str(exc)) from None
    if not -24.0 <= gain_db <= 24.0:
        raise doc.error((*path, "gain_db"), f"{gain_db:g} dB is out of range: a shelf is -24 to 24 dB")
    freq = _frequency(doc, (*path, "freq"), value["freq"]) if "freq" in value else _SHELF_DEFAULT_HZ[kind]
    q = _fraction(doc, (*path, "q"), value["q"], 0.1, 10.0) if "q" in value else 0.7071
    return {"cutoff_hz": freq, "gain_db": gain_db, "q": q}


def _room(doc: Document, path: JsonPath, value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        return _preset(doc, path, value, ROOMS, "room")
    settings = dict(ROOMS["medium"])
    for key, item in value.items():
        settings[key] = _fraction(doc, (*path, key), item)
    return settings


def _effect(doc: Document, path: JsonPath, item: Any) -> EffectSpec:
    if isinstance(item, str):
        settings = _preset(doc, path, item, _BANDS, "band-limited voice (a bare effect word)")
        return EffectSpec(item, tuple(settings.items()))
    (kind, value), key_path = next(iter(item.items())), (*path, next(iter(item)))
    if kind == "pan":
        settings = {"position": _fraction(doc, key_path, value, -1.0, 1.0)}
    elif kind in ("highpass", "lowpass"):
        settings = {"cutoff_hz": _frequency(doc, key_path, value)}
    elif kind in _SHELF_DEFAULT_HZ:
        settings = _shelf(doc, key_path, kind, value)
    elif kind == "room":
        settings = _room(doc, key_path, value)
    elif kind == "distance":
        settings = _preset(doc, key_path, value, DISTANCES, "distance")
    else:  # the schema names the keys; a bare-word effect written as a key lands here
        raise doc.error(key_path, f"{kind!r} takes no settings: write `- {kind}`", key=True)
    return EffectSpec(kind, tuple(settings.items()))


def parse_effects(doc: Document, path: JsonPath, items: list[Any], *, channels: int = 2) -> tuple[EffectSpec, ...]:
    """The effect chain written at ``path`` (schema-valid ``items``). ``channels`` is the output's
    channel count: ``pan`` on a mono programme is refused. Raises :class:`RecipeError`."""
    effects = tuple(_effect(doc, (*path, i), item) for i, item in enumerate(items))
    for i, effect in enumerate(effects):
        if effect.kind == "pan" and channels < 2:
            raise RecipeError(
                "pan places a sound between two speakers, but the master is mono (master.channels: 1)",
                doc.locate((*path, i, "pan"), key=True),
                "set master.channels: 2, or remove the pan",
            )
    return effects
