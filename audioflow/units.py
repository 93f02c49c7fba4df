"""Parsing quantities written with units in recipes: ``"350ms"``, ``"2s"``, ``"-18 dB"``, ``"-16 LUFS"``.

Each parser returns a plain float in the unit its name carries and raises ``ValueError`` with a
message fit for a recipe error (the recipe layer adds the location).
"""

from __future__ import annotations

import math
import re

__all__ = ["parse_bitrate_kbps", "parse_db", "parse_duration_ms", "parse_frequency_hz", "parse_level"]

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION = re.compile(rf"^\s*({_NUMBER})\s*(ms|s|sec|min|m|h)?\s*$", re.IGNORECASE)
_MMSS = re.compile(r"^\s*(\d+):([0-5]?\d(?:\.\d+)?)\s*$")
_DURATION_SCALE_MS = {"ms": 1.0, "s": 1000.0, "sec": 1000.0, "m": 60_000.0, "min": 60_000.0, "h": 3_600_000.0}


def _finite(value: float, text: object) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def parse_duration_ms(value: object, *, allow_negative: bool = False) -> float:
    """Parse a duration (``"350ms"``, ``"2s"``, ``"1.5 min"``, ``"1:30"``) into milliseconds.

    A bare number is refused: ``2`` could mean seconds or milliseconds, so the unit is required.
    Raises ``ValueError`` for anything else, or for a negative value unless ``allow_negative``.
    """
    if isinstance(value, bool) or not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
            return 0.0
        raise ValueError(f"{value!r} is not a duration: write it with a unit, like 350ms or 2s")
    match = _DURATION.match(value)
    if match and match.group(2):
        ms = float(match.group(1)) * _DURATION_SCALE_MS[match.group(2).lower()]
    elif (mmss := _MMSS.match(value)) is not None:
        ms = (int(mmss.group(1)) * 60 + float(mmss.group(2))) * 1000.0
    elif match:
        if float(match.group(1)) == 0:
            return 0.0
        raise ValueError(f"{value!r} has no unit: write it like {match.group(1)}ms or {match.group(1)}s")
    else:
        raise ValueError(f"{value!r} is not a duration: write it like 350ms, 2s or 1:30")
    _finite(ms, value)
    if ms < 0 and not allow_negative:
        raise ValueError(f"{value!r} is negative; a duration here must be 0 or more")
    return ms


def parse_level(value: object, unit: str) -> float:
    """Parse a level in ``unit`` (``"dB"``, ``"LUFS"``, ``"dBTP"``): ``-16``, ``"-16 LUFS"``.

    The unit may be omitted (the key already names it) but a different unit is refused.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a level in {unit}")
    if isinstance(value, (int, float)):
        return _finite(float(value), value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a level in {unit}")
    match = re.match(rf"^\s*({_NUMBER})\s*([A-Za-z]*)\s*$", value)
    if not match:
        raise ValueError(f"{value!r} is not a level: write it like -16 {unit}")
    written = match.group(2)
    if written and written.lower() != unit.lower():
        raise ValueError(f"{value!r} is in {written}, expected {unit}")
    return _finite(float(match.group(1)), value)


def parse_db(value: object) -> float:
    """Parse a gain in decibels: ``-20``, ``"-20 dB"``, ``"+3dB"``."""
    return parse_level(value, "dB")


def parse_frequency_hz(value: object) -> float:
    """Parse a frequency (``"120 Hz"``, ``"3.4kHz"``, ``250``: a bare number is Hz) into hertz."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _finite(float(value), value)
    match = re.match(rf"^\s*({_NUMBER})\s*(hz|khz)?\s*$", value, re.I) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{value!r} is not a frequency: write it like 120 Hz or 3.4 kHz")
    scale = 1000.0 if (match.group(2) or "").lower() == "khz" else 1.0
    return _finite(float(match.group(1)) * scale, value)


def parse_bitrate_kbps(value: object) -> int:
    """Parse a bitrate (``"192k"``, ``"192 kbps"``, ``192``) into kilobits per second."""
    if isinstance(value, int) and not isinstance(value, bool):
        kbps = value
    elif isinstance(value, str) and (m := re.match(r"^\s*(\d+)\s*(k|kbps|kb/s)?\s*$", value, re.I)):
        kbps = int(m.group(1))
    else:
        raise ValueError(f"{value!r} is not a bitrate: write it like 192k")
    if not 8 <= kbps <= 512:
        raise ValueError(f"bitrate {kbps}k is outside 8k..512k")
    return kbps
