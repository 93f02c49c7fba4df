"""Clips joined one after another with gaps between them: a dialogue's lines, a local scene's lines.

The one join both the engine (``dialogue`` steps) and the local provider (``scene`` requests) use.
"""

from __future__ import annotations

from collections.abc import Sequence

from audioflow.audio.mix import Clip, render_mix
from audioflow.audio.types import Audio

__all__ = ["join_in_sequence", "sequence_spans"]


def sequence_spans(durations_ms: Sequence[float], gaps_ms: Sequence[float]) -> list[tuple[float, float]]:
    """(start_ms, end_ms) of clips of ``durations_ms`` placed in order, each ``gaps_ms[i]`` after the
    previous one ends (a negative gap overlaps; the first starts at 0, ``gaps_ms[0]`` is ignored;
    none starts before 0)."""
    spans, cursor_ms = [], 0.0
    for index, (duration_ms, gap_ms) in enumerate(zip(durations_ms, gaps_ms, strict=True)):
        start_ms = max(0.0, cursor_ms + float(gap_ms)) if index else 0.0
        cursor_ms = start_ms + duration_ms
        spans.append((start_ms, cursor_ms))
    return spans


def join_in_sequence(
    clips: Sequence[Audio], gaps_ms: Sequence[float], *, sample_rate_hz: int, channels: int
) -> tuple[Audio, list[tuple[float, float]]]:
    """``clips`` placed as :func:`sequence_spans` says, mixed at ``sample_rate_hz`` with ``channels``.

    Returns the joined audio and each clip's (start_ms, end_ms) on it. Raises ``AudioError`` (from
    the mix engine) for bad values."""
    spans = sequence_spans([clip.duration_ms for clip in clips], gaps_ms)
    placed = [Clip(audio, start_ms=start_ms) for audio, (start_ms, _) in zip(clips, spans, strict=True)]
    return render_mix(placed, sample_rate_hz=sample_rate_hz, channels=channels), spans
