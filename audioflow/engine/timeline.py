"""Where a dialogue's lines and cues fall on its timeline, and where a mix track anchored to a line starts.

A dialogue's speech comes as takes: one per line, or one per scene part (a take holding several
consecutive lines, whose segments say where each line is inside it). :func:`line_spans` places the
takes in order with their gaps and returns every line's (start_ms, end_ms); :func:`cue_clips` places
each cue at its line's start or end plus its offset, ducked under the speech when asked. Cues are
never speech: they add no speech interval, so a bed under the dialogue does not duck under a bell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..audio import Audio, AudioFile, Clip, Duck, sequence_spans
from ..errors import RecipeError, SourceLocation
from ..steps import CueSpec, DialoguePayload, SpokenLine
from .meta import Segment, StepMeta

__all__ = ["anchors", "cue_clips", "cue_start_ms", "line_spans", "placement", "segments", "take_spans"]


def _groups(payload: DialoguePayload) -> tuple[int, ...]:
    return payload.parts if payload.parts is not None else (1,) * len(payload.lines)


def take_spans(payload: DialoguePayload, durations_ms: Sequence[float]) -> list[tuple[float, float]]:
    """(start_ms, end_ms) of each speech take: in order, each the gap of its first line after the one
    before (negative overlaps), all ``lead_ms`` later."""
    gaps, first = [], 0
    for size in _groups(payload):
        line = payload.lines[first]
        gaps.append(line.gap_ms if line.gap_ms is not None else payload.gap_ms)
        first += size
    spans = sequence_spans(list(durations_ms), gaps)
    return [(start + payload.lead_ms, end + payload.lead_ms) for start, end in spans]


def _inside(lines: Sequence[SpokenLine], meta: StepMeta, length_ms: float) -> list[tuple[float, float]]:
    """Each line's span inside one take: its segments when there is one per line, else spread in
    proportion to the lines' lengths in characters."""
    if len(lines) == 1:
        return [(0.0, length_ms)]
    if len(meta.segments) == len(lines):
        return [(seg.start_ms, seg.end_ms) for seg in meta.segments]
    weights = [max(1, len(line.text)) for line in lines]
    total, cursor, out = float(sum(weights)), 0.0, []
    for weight in weights:
        end = cursor + length_ms * weight / total
        out.append((cursor, end))
        cursor = end
    return out


def line_spans(
    payload: DialoguePayload, takes: Sequence[tuple[float, float]], metas: Sequence[StepMeta]
) -> list[tuple[float, float]]:
    """(start_ms, end_ms) of every line on the dialogue's timeline, given each take's span."""
    out: list[tuple[float, float]] = []
    first = 0
    for size, (start, end), meta in zip(_groups(payload), takes, metas, strict=True):
        lines = payload.lines[first : first + size]
        out += [(start + s, start + e) for s, e in _inside(lines, meta, end - start)]
        first += size
    return out


def segments(payload: DialoguePayload, spans: Sequence[tuple[float, float]]) -> tuple[Segment, ...]:
    """The dialogue's transcript: one segment per line."""
    return tuple(Segment(s, e, line.voice, line.text) for line, (s, e) in zip(payload.lines, spans, strict=True))


def placement(placements: Sequence[SourceLocation], index: int) -> SourceLocation | None:
    """Where the step's ``index``-th placed item (a cue, a track) is written; None when not known."""
    return placements[index] if index < len(placements) else None


def cue_start_ms(cue: CueSpec, spans: Sequence[tuple[float, float]], location: SourceLocation | None = None) -> float:
    """Where ``cue`` starts: its line's start or end plus its offset (ms). A cue that would start
    before the dialogue is a mistake of the recipe found only now that the takes' lengths are known:
    :class:`RecipeError` located at ``location`` (where the cue is written; the validator refuses
    the one case it can know, a cue at the start of the first line)."""
    line_start, line_end = spans[cue.line]
    anchor_ms = line_start if cue.at == "start" else line_end
    start = anchor_ms + cue.offset_ms
    if start < 0:
        raise RecipeError(
            f"this cue would start {-start:.0f} ms before the dialogue: the {cue.at} of line {cue.line + 1} "
            f"is at {anchor_ms:.0f} ms as its takes are rendered",
            location,
            f"make its offset -{anchor_ms:.0f}ms or nearer 0, or put a `- pause:` before the first line",
        )
    return start


def cue_clips(
    payload: DialoguePayload,
    spans: Sequence[tuple[float, float]],
    sounds: Mapping[str, Audio | AudioFile],
    speech_ms: Sequence[tuple[float, float]],
    locations: Sequence[SourceLocation] = (),
) -> list[Clip]:
    """The cues as clips on the dialogue's timeline (gain, fades, length, loop; ducked under
    ``speech_ms`` when the cue has ``duck_db``). ``locations`` are where the cues are written (the
    step's ``placements``), for the error of a cue that would start before 0 (:func:`cue_start_ms`)."""
    clips = []
    for index, cue in enumerate(payload.cues):
        audio = sounds[cue.step]
        length = cue.duration_ms if cue.duration_ms is not None else audio.duration_ms
        if length > audio.duration_ms and not cue.loop:
            length = audio.duration_ms
        duck = None
        if cue.duck_db is not None:
            duck = Duck(cue.duck_db, tuple(speech_ms), cue.duck_attack_ms, cue.duck_release_ms)
        clips.append(
            Clip(
                audio,
                start_ms=cue_start_ms(cue, spans, placement(locations, index)),
                gain_db=cue.gain_db,
                fade_in_ms=min(cue.fade_in_ms, length),
                fade_out_ms=min(cue.fade_out_ms, length),
                length_ms=length,
                loop=cue.loop,
                loop_crossfade_ms=50.0 if cue.loop else 0.0,
                duck=duck,
            )
        )
    return clips


def anchors(spans: Sequence[tuple[float, float]], cues: Sequence[Clip]) -> tuple[tuple[str, float, float], ...]:
    """Where the dialogue's lines (``[1]``…, 1-based) and cues (``.cue#1``…, in the payload's order,
    as :func:`cue_clips` returns them) landed on its timeline, (key, start_ms, end_ms): what a
    chapter on a line or a cue starts at (``engine.chapters``)."""
    lines = [(f"[{k}]", start, end) for k, (start, end) in enumerate(spans, start=1)]
    placed = [(f".cue#{k}", clip.start_ms, clip.end_ms) for k, clip in enumerate(cues, start=1)]
    return tuple(lines + placed)
