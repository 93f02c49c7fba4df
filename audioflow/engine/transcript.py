"""Transcripts from a programme's segments (:class:`~audioflow.engine.meta.Segment`):
SubRip (SRT: ``HH:MM:SS,mmm``) and WebVTT (``HH:MM:SS.mmm``, speakers as ``<v Name>`` voice spans,
W3C WebVTT §4.2.2)."""

from __future__ import annotations

from collections.abc import Iterable

from .meta import Segment

__all__ = ["to_srt", "to_vtt"]


def _clock(ms: float, separator: str) -> str:
    total = max(0, round(ms))
    hours, rest = divmod(total, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def to_srt(segments: Iterable[Segment]) -> str:
    """SRT text: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, the speaker before a colon."""
    cues = []
    for i, seg in enumerate(segments, start=1):
        speaker = f"{seg.voice.upper()}: " if seg.voice else ""
        cues.append(f"{i}\n{_clock(seg.start_ms, ',')} --> {_clock(seg.end_ms, ',')}\n{speaker}{seg.text}\n")
    return "\n".join(cues)


def to_vtt(segments: Iterable[Segment]) -> str:
    """WebVTT text with ``<v Speaker>`` voice spans."""
    cues = ["WEBVTT\n"]
    for seg in segments:
        text = seg.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        voice = f"<v {seg.voice}>" if seg.voice else ""
        cues.append(f"{_clock(seg.start_ms, '.')} --> {_clock(seg.end_ms, '.')}\n{voice}{text}\n")
    return "\n".join(cues)
