"""Transcripts from a programme's segments (:class:`~audioflow.engine.meta.Segment`), split into cues
a player shows well: SubRip (SRT: ``HH:MM:SS,mmm``), WebVTT (``HH:MM:SS.mmm``, speakers as ``<v Name>``
voice spans, W3C WebVTT §4.2.2) and the Podcasting 2.0 JSON transcript (podcastindex
``podcast-namespace/transcripts/transcripts.md``: ``{"version": "1.0.0", "segments": [{"speaker",
"startTime", "endTime", "body"}]}``, seconds).

**Splitting** (:func:`split_cues`). A segment (one line of one speaker) becomes one or more cues of at
most :data:`MAX_LINES` lines of :data:`MAX_LINE_CHARS` characters, shown at most :data:`MAX_CUE_MS`
(the BBC subtitle guidelines' 37-character line is for video; Netflix's 42 × 2 and 7 s are what
captions and podcast players use). A cue is cut at a sentence end when one lies in its last two
thirds, else at a clause mark (``, ; : —``), else between words; a word is never split (a word longer
than a line stands alone on its line). Times are shared in proportion to characters within the
segment's known span, so cues follow each other without gaps; a cue never spans two segments, so
never two speakers.

**Speakers.** WebVTT names the speaker of every cue with a voice span (``<v Name>``, what Apple
Podcasts ingests). SRT has no markup, so a cue starts with ``Name: `` when the speaker changes (the
podcast-namespace SRT rule: "start a new card when the speaker changes; include the speaker's name,
followed by a colon"), which players show as text; the prefix counts towards the first line's length.
The JSON transcript names the speaker of every segment.

**Estimated timings** (lines of a whole-scene take from a remote host, spread over it by length) are
flagged: in WebVTT by a ``NOTE`` block before each run of them (§4.1: comments players skip); SRT
has no comments, so there the speaker prefix of such a run reads ``Name (~): ``, "about then". The
JSON shape has no field for it; the manifest counts the estimated cues."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .meta import Segment

__all__ = [
    "ESTIMATED_NOTE",
    "JSON_TRANSCRIPT_VERSION",
    "MAX_CUE_MS",
    "MAX_LINES",
    "MAX_LINE_CHARS",
    "Cue",
    "split_cues",
    "to_json",
    "to_srt",
    "to_vtt",
]

#: The WebVTT comment before a run of cues whose timings are estimated.
ESTIMATED_NOTE = "NOTE timings estimated: the lines below come from one whole-scene take, spread by length"
#: Readable cue limits: characters a line, lines a cue, and how long a cue is shown (ms).
MAX_LINE_CHARS = 42
MAX_LINES = 2
MAX_CUE_MS = 7000.0
#: How many characters longer a cue's longer line may be to break it after a clause mark.
CLAUSE_BREAK_BONUS = 12
#: The ``version`` of the Podcasting 2.0 JSON transcript written.
JSON_TRANSCRIPT_VERSION = "1.0.0"

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
_CLAUSE_END = re.compile(r"([,;:—–]|--)[\"'”’)\]]*$")


@dataclass(frozen=True)
class Cue:
    """One cue as players show it: start and end (ms), the speaker (display name, or None), its
    ``lines`` of text (at most :data:`MAX_LINES`), whether its timing is ``estimated``, and whether
    it opens a ``turn`` (the speaker, or the estimation, changed: SRT names the speaker there)."""

    start_ms: float
    end_ms: float
    speaker: str | None
    lines: tuple[str, ...]
    estimated: bool = False
    turn: bool = False

    @property
    def text(self) -> str:
        """The cue's words on one line."""
        return " ".join(self.lines)

    @property
    def srt_prefix(self) -> str:
        """What SRT writes before the first line: ``Name: `` (``Name (~): `` when estimated) at a turn."""
        if not self.turn or self.speaker is None:
            return ""
        return f"{self.speaker}{' (~)' if self.estimated else ''}: "


def _wrap(words: Sequence[str], first_width: int, width: int = MAX_LINE_CHARS) -> tuple[str, ...] | None:
    """``words`` as at most :data:`MAX_LINES` lines (the first ``first_width`` wide), broken where the
    lines are most even (the longer one below), or after a sentence or clause mark when that makes the
    longer line at most :data:`CLAUSE_BREAK_BONUS` characters longer; None when they do not fit."""
    one = " ".join(words)
    if len(one) <= first_width or len(words) == 1:
        return (one,)
    best: tuple[tuple[int, int], tuple[str, str]] | None = None
    for k in range(1, len(words)):
        top, bottom = " ".join(words[:k]), " ".join(words[k:])
        if (len(top) > first_width and k > 1) or (len(bottom) > width and len(words) - k > 1):
            continue  # too wide (a lone word longer than a line is let through)
        shown_top = len(top) + width - first_width  # with the SRT prefix
        mark = _CLAUSE_END.search(top) or _SENTENCE_END.search(top)
        key = (max(shown_top, len(bottom)) - (CLAUSE_BREAK_BONUS if mark else 0), shown_top - len(bottom))
        if best is None or key < best[0]:
            best = (key, (top, bottom))
    return best[1] if best is not None else None


def _fits(words: Sequence[str], prefix: int, max_chars: float) -> bool:
    chars = sum(map(len, words)) + len(words) - 1
    if len(words) > 1 and chars > max_chars:
        return False
    return len(words) == 1 or _wrap(words, MAX_LINE_CHARS - prefix) is not None


def _break_at(words: Sequence[str], count: int) -> int:
    """Where to end a cue that can hold ``words[:count]`` of a longer text: the last sentence end,
    else clause mark, in its last two thirds (by characters), else after ``count`` words."""
    total = len(" ".join(words[:count]))
    for mark in (_SENTENCE_END, _CLAUSE_END):
        for k in range(count, 0, -1):
            if len(" ".join(words[:k])) * 3 < total:
                break
            if mark.search(words[k - 1]):
                return k
    return count


def _split_words(words: list[str], span_ms: float, prefix: int) -> list[list[str]]:
    """``words`` (said over ``span_ms``) cut into cues that each fit the limits; the first cue's
    first line leaves room for an SRT prefix ``prefix`` characters long."""
    total = len(" ".join(words))
    max_chars = MAX_CUE_MS * total / span_ms - 1 if span_ms > 0 else float("inf")
    cues: list[list[str]] = []
    rest = words
    while rest:
        room = prefix if not cues else 0
        count = 1
        while count < len(rest) and _fits(rest[: count + 1], room, max_chars):
            count += 1
        if count < len(rest):
            count = _break_at(rest, count)
        cues.append(rest[:count])
        rest = rest[count:]
    return cues


def _segment_cues(seg: Segment, speaker: str | None, turn: bool) -> list[Cue]:
    words = seg.text.split()
    if not words:
        return []
    text_chars = len(" ".join(words))
    span = max(0.0, seg.end_ms - seg.start_ms)
    prefix = Cue(0, 0, speaker, (), seg.estimated, turn).srt_prefix
    cues, offset = [], 0
    for i, group in enumerate(_split_words(words, span, len(prefix))):
        chars = len(" ".join(group))
        start = seg.start_ms + span * offset / text_chars
        offset = min(text_chars, offset + chars + 1)
        end = seg.start_ms + span * offset / text_chars
        lines = _wrap(group, MAX_LINE_CHARS - (len(prefix) if i == 0 else 0)) or (" ".join(group),)
        cues.append(Cue(start, min(end, start + MAX_CUE_MS), speaker, lines, seg.estimated, turn and i == 0))
    return cues


def split_cues(segments: Iterable[Segment]) -> list[Cue]:
    """The cues of ``segments`` (in time order; ``voice`` is the speaker as shown), each within
    :data:`MAX_LINE_CHARS` × :data:`MAX_LINES` and :data:`MAX_CUE_MS` (a single word longer than a
    line is the one exception to the width; see the module doc). Empty segments give no cue."""
    cues: list[Cue] = []
    previous: tuple[str | None, bool] | None = None
    for seg in segments:
        state = (seg.voice, seg.estimated)
        made = _segment_cues(seg, seg.voice, state != previous)
        if made:
            cues += made
            previous = state
    return cues


def _clock(ms: float, separator: str) -> str:
    total = max(0, round(ms))
    hours, rest = divmod(total, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def to_srt(cues: Iterable[Cue]) -> str:
    """SRT text: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, the speaker before a colon at a turn."""
    blocks = []
    for i, cue in enumerate(cues, start=1):
        body = "\n".join((cue.srt_prefix + cue.lines[0], *cue.lines[1:]))
        blocks.append(f"{i}\n{_clock(cue.start_ms, ',')} --> {_clock(cue.end_ms, ',')}\n{body}\n")
    return "\n".join(blocks)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(cues: Iterable[Cue]) -> str:
    """WebVTT text with a ``<v Speaker>`` voice span on every cue and a ``NOTE`` before each run of
    estimated cues."""
    blocks, estimated = ["WEBVTT\n"], False
    for cue in cues:
        if cue.estimated and not estimated:
            blocks.append(f"{ESTIMATED_NOTE}\n")
        estimated = cue.estimated
        voice = f"<v {_escape(cue.speaker)}>" if cue.speaker else ""
        body = "\n".join(_escape(line) for line in cue.lines)
        blocks.append(f"{_clock(cue.start_ms, '.')} --> {_clock(cue.end_ms, '.')}\n{voice}{body}\n")
    return "\n".join(blocks)


def to_json(cues: Iterable[Cue]) -> str:
    """The Podcasting 2.0 JSON transcript: one segment per cue, times in seconds (ms precision)."""
    segments = []
    for cue in cues:
        segment: dict[str, object] = {"speaker": cue.speaker} if cue.speaker else {}
        segment.update(startTime=round(cue.start_ms / 1000, 3), endTime=round(cue.end_ms / 1000, 3), body=cue.text)
        segments.append(segment)
    data = {"version": JSON_TRANSCRIPT_VERSION, "segments": segments}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
