"""The documented ranges of the numbers a recipe holds and the caps on its timeline.

:mod:`audioflow.recipe.model` checks every value against these when a recipe is built (a located
:class:`~audioflow.errors.RecipeError` at ``validate``); the schema states the same bounds where it
can (a test holds them equal); the engine refuses, before mixing, a programme longer than
:data:`MAX_PROGRAMME_MS`. docs/reference/recipe.md ("Limits on numbers and lengths") lists them.
"""

from __future__ import annotations

import math
from typing import Any

from .loader import Document, JsonPath

__all__ = [
    "CHANNELS",
    "MAX_DUCK_RAMP_MS",
    "MAX_GAP_MS",
    "MAX_GENERATE_MS",
    "MAX_PROGRAMME_MS",
    "NUMBER_RANGES",
    "POLL_INTERVAL_RANGE_MS",
    "PROVIDER_SAMPLE_RATES_HZ",
    "SAMPLE_RATES_HZ",
    "TIMEOUT_RANGE_MS",
    "ms_text",
    "refuse_non_finite",
    "shown",
]

#: Caps on the timeline, checked at validate: a position (``at``, ``offset``), a track's ``duration``,
#: a fade and a clone's ``start`` are at most :data:`MAX_PROGRAMME_MS` (a programme of 24 h); a gap
#: between dialogue lines at most 1 h either way; a generated sound at most 1 h; a duck ramp 1 min.
MAX_PROGRAMME_MS = 24 * 3_600_000.0
MAX_GAP_MS = 3_600_000.0
MAX_GENERATE_MS = 3_600_000.0
MAX_DUCK_RAMP_MS = 60_000.0
#: (lowest, highest) of a provider's ``poll_interval`` and ``timeout``, ms.
POLL_INTERVAL_RANGE_MS = (0.0, 600_000.0)
TIMEOUT_RANGE_MS = (1_000.0, MAX_PROGRAMME_MS)
#: (lowest, highest, integer?) of each plain number a recipe may hold; the schema states the same.
NUMBER_RANGES: dict[str, tuple[float, float, bool]] = {
    "speed": (0.5, 2.0, False),
    "volume": (0.5, 2.0, False),
    "pitch_semitones": (-12.0, 12.0, False),
    "speaker": (0, 9_999, True),
    "take": (1, 9_999, True),
    "candidates": (1, 8, True),
    "concurrency": (1, 64, True),
    "retries": (0, 20, True),
    "price_per_call_usd": (0.0, 100.0, False),
    "gain_db": (-120.0, 40.0, False),
    "duck_db": (-120.0, 0.0, False),
    "episode": (0, 99_999, True),
    "season": (0, 9_999, True),
}
SAMPLE_RATES_HZ = (22050, 24000, 32000, 44100, 48000)
PROVIDER_SAMPLE_RATES_HZ = (8000, 16000, 24000, 32000, 44100, 48000)
CHANNELS = (1, 2)


def shown(value: Any) -> str:
    """``repr(value)`` cut to 40 characters, for messages."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def ms_text(ms: float) -> str:
    """``86_400_000`` → ``24 h``, ``60_000`` → ``1 min``, ``350`` → ``350 ms``."""
    for unit, scale in (("h", 3_600_000.0), ("min", 60_000.0), ("s", 1000.0)):
        if abs(ms) >= scale:
            return f"{ms / scale:g} {unit}"
    return f"{ms:g} ms"


def refuse_non_finite(doc: Document, value: Any, path: JsonPath = ()) -> None:
    """Raise a located error at the first NaN or infinity in ``value`` (in file order): no number
    in a recipe may be one, wherever it is (a schema's ``minimum`` does not catch NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise doc.error(
            path, f"{value!r} is not a finite number", hint="numbers in a recipe are finite: no .nan or .inf"
        )
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        refuse_non_finite(doc, item, (*path, key))
