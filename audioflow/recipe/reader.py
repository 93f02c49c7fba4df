"""Reading a recipe value at its path: parsed (units, ranges, choices) or refused with an error
located where the value is written. Every part of the recipe model reads its values through a
:class:`Reader`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..errors import SourceLocation
from ..units import parse_db, parse_duration_ms
from .limits import MAX_PROGRAMME_MS, NUMBER_RANGES, ms_text, shown
from .loader import Document, JsonPath

__all__ = ["Reader"]


class Reader:
    """Helpers that parse a value at a path and raise a located error when it is wrong."""

    def __init__(self, doc: Document):
        self.doc = doc

    def at(self, path: JsonPath) -> SourceLocation:
        return self.doc.locate(path)

    def unit(self, path: JsonPath, value: Any, parse: Callable[[Any], float]) -> float:
        try:
            return parse(value)
        except ValueError as exc:
            raise self.doc.error(path, str(exc)) from None

    def duration(self, path: JsonPath, value: Any, *, signed: bool = False, cap_ms: float = MAX_PROGRAMME_MS) -> float:
        """A duration in ms, at most ``cap_ms`` (either way when ``signed``)."""
        ms = self.unit(path, value, lambda v: parse_duration_ms(v, allow_negative=signed))
        if abs(ms) > cap_ms:
            cap = ms_text(cap_ms)
            bounds = f"between -{cap} and {cap}" if signed else f"at most {cap}"
            raise self.doc.error(path, f"{shown(value)} is out of range: must be {bounds}")
        return ms

    def number(self, path: JsonPath, value: Any, name: str | None = None) -> Any:
        """A plain number in the range :data:`NUMBER_RANGES` gives ``name`` (default: the last key
        of ``path``): an ``int`` for whole-number settings, else a ``float``; finite either way."""
        low, high, integer = NUMBER_RANGES[name or str(path[-1])]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.doc.error(path, f"expected a number, got {shown(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.doc.error(path, f"{shown(value)} is not a finite number")
        if integer and value != int(value):
            raise self.doc.error(path, f"{shown(value)} is not a whole number")
        if not low <= value <= high:
            raise self.doc.error(path, f"{shown(value)} is out of range: must be {low:g} to {high:g}")
        return int(value) if integer else float(value)

    def level(self, path: JsonPath, value: Any, name: str) -> float:
        """A gain in dB (``-20``, ``"-20 dB"``) in the range :data:`NUMBER_RANGES` gives ``name``."""
        gain_db = self.unit(path, value, parse_db)
        low, high, _ = NUMBER_RANGES[name]
        if not low <= gain_db <= high:
            raise self.doc.error(path, f"{shown(value)} is out of range: must be {low:g} to {high:g} dB")
        return gain_db

    def choice(self, path: JsonPath, value: Any, allowed: tuple[int, ...]) -> int:
        """One of ``allowed`` (sample rates, channel counts), as an ``int``."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in allowed:
            raise self.doc.error(path, f"{shown(value)} is not one of: {', '.join(map(str, allowed))}")
        return int(value)
