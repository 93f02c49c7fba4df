"""Clips joined one after another with gaps between them: a dialogue's lines, a local scene's lines.

The one join both the engine (``dialogue`` steps) and the local provider (``scene`` requests) use.
"""

from __future__ import annotations

from collections.abc import Sequence

from audioflow.audio.mix import Clip, render_mix
from audioflow.audio.types import Audio

__all__ = ["join_in_sequence"]


def join_in_sequence(
    clips: Sequence[Audio], gaps_ms: Sequence[float], *, sample_rate_hz: int, channels: int
) -> tuple[Audio, list[tuple[float, float]]]:
    """``clips`` in order, each starting ``gaps_ms[i]`` after the previous one ends (a negative gap
    overlaps; the first clip starts at 0, ``gaps_ms[0]`` is ignored; no clip starts before 0).

    Returns the joined audio at ``sample_rate_hz`` with ``channels`` and each clip's
    (start_ms, end_ms) on it. Raises ``AudioError`` (from the mix engine) for bad values."""
    placed, spans, cursor_ms = [], [], 0.0
    for index, (audio, gap_ms) in enumerate(zip(clips, gaps_ms, strict=True)):
        start_ms = max(0.0, cursor_ms + float(gap_ms)) if index else 0.0
        placed.append(Clip(audio, start_ms=start_ms))
        cursor_ms = start_ms + audio.duration_ms
        spans.append((start_ms, cursor_ms))
    return render_mix(placed, sample_rate_hz=sample_rate_hz, channels=channels), spans
