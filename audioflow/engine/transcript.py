"""Transcripts from a programme's segments (:class:`~audioflow.engine.meta.Segment`):
SubRip (SRT: ``HH:MM:SS,mmm``) and WebVTT (``HH:MM:SS.mmm``, speakers as ``<v Name>`` voice spans,
W3C WebVTT §4.2.2).

Estimated timings (lines of a whole-scene take from a remote host, spread over it by length) are
flagged: in WebVTT by a ``NOTE`` block before each run of them (§4.1: comments players skip); SRT
has no comments, so there such a cue's speaker is followed by ``(~)``, "about then"."""

from __future__ import annotations

from collections.abc import Iterable

from .meta import Segment

__all__ = ["ESTIMATED_NOTE", "to_srt", "to_vtt"]

#: The WebVTT comment before a run of cues whose timings are estimated.
ESTIMATED_NOTE = "NOTE timings estimated: the lines below come from one whole-scene take, spread by length"


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
        speaker = f"{seg.voice.upper()}{' (~)' if seg.estimated else ''}: " if seg.voice else ""
        cues.append(f"{i}\n{_clock(seg.start_ms, ',')} --> {_clock(seg.end_ms, ',')}\n{speaker}{seg.text}\n")
    return "\n".join(cues)


def to_vtt(segments: Iterable[Segment]) -> str:
    """WebVTT text with ``<v Speaker>`` voice spans."""
    cues, estimated = ["WEBVTT\n"], False
    for seg in segments:
        if seg.estimated and not estimated:
            cues.append(f"{ESTIMATED_NOTE}\n")
        estimated = seg.estimated
        text = seg.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        voice = f"<v {seg.voice}>" if seg.voice else ""
        cues.append(f"{_clock(seg.start_ms, '.')} --> {_clock(seg.end_ms, '.')}\n{voice}{text}\n")
    return "\n".join(cues)
