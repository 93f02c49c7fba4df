"""Splitting a ``render: scene`` dialogue into scene parts: consecutive runs of lines, each one Seed
Audio request within :data:`~audioflow.steps.SCENE_LIMITS` (at most 3 voices with a reference, the
prompt length, 120 s of speech).

The split is the same for every provider (the strictest host's limits), so a local draft shows the
parts a final render sends. Among the splits with the fewest parts it prefers cuts where the scene
breaks anyway: at a cue, then at a long gap (:data:`LONG_GAP_MS`), then between ordinary lines, and
least of all inside an overlap; among equal cuts, the latest. It depends only on the lines' voices,
lengths, gaps and cues, never on their exact words, so editing a line's words re-renders only the
part that holds it (unless the edit moves a part across a limit, when the parts around it are cut
again).

Dynamic programming over the lines: ``O(lines × lines per part)``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ..steps import SCENE_LIMITS, SceneLimits, SpokenLine, VoiceSpec

__all__ = ["LONG_GAP_MS", "SceneSplitError", "line_prompt_chars", "line_speech_ms", "split_scene"]

#: A gap at least this long is a pause the scene breaks at naturally.
LONG_GAP_MS = 1_000.0
#: The marker a referenced voice's line starts with (``@Audio1``/``@audio1``: 7 characters).
_MARKER_CHARS = len("@Audio1")
_PENALTY_CUE, _PENALTY_LONG_GAP, _PENALTY_LINE, _PENALTY_OVERLAP = 0, 1, 2, 4


class SceneSplitError(ValueError):
    """A line no scene request can hold on its own: ``line`` is its 0-based index."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


def line_prompt_chars(line: SpokenLine, voice: VoiceSpec) -> int:
    """The characters ``line`` takes in a scene prompt (``seed_audio``'s row: its marker or
    ``name:``, a space, ``(direction)`` and the text), without the newline between rows."""
    marker = _MARKER_CHARS if voice.referenced else len(voice.name) + 1
    direction = len(line.direction) + 3 if line.direction else 0
    return marker + 1 + direction + len(line.text)


def line_speech_ms(line: SpokenLine, limits: SceneLimits = SCENE_LIMITS) -> float:
    """The estimated length of ``line`` spoken, ms (at ``limits.chars_per_s``: errs long)."""
    return 1000.0 * len(line.text) / limits.chars_per_s


@dataclass
class _Part:
    """A run of lines grown backwards from its last line: its voices with references, prompt
    characters and estimated length."""

    references: set[str]
    chars: int = -1  # the first row has no newline before it
    ms: float = 0.0


def _penalty(gap_ms: float, cue: bool) -> int:
    if cue:
        return _PENALTY_CUE
    if gap_ms < 0:
        return _PENALTY_OVERLAP
    return _PENALTY_LONG_GAP if gap_ms >= LONG_GAP_MS else _PENALTY_LINE


def split_scene(
    lines: Sequence[SpokenLine],
    voices: Sequence[VoiceSpec],
    gap_ms: float,
    *,
    cues_before: Collection[int] = (),
    limits: SceneLimits = SCENE_LIMITS,
) -> list[tuple[int, int]]:
    """The parts of a scene as ``(start, end)`` line index ranges (end exclusive), in order, covering
    every line. ``voices`` are the scene's voices; ``gap_ms`` the dialogue's gap (a line's own wins);
    ``cues_before`` the indices of lines with a cue at their start or at the previous line's end.
    Raises :class:`SceneSplitError` for a line too long for any request."""
    by_name = {voice.name: voice for voice in voices}
    chars = [line_prompt_chars(line, by_name[line.voice]) for line in lines]
    speech = [line_speech_ms(line, limits) for line in lines]
    gaps = [line.gap_ms if line.gap_ms is not None else gap_ms for line in lines]
    for i in range(len(lines)):
        if chars[i] > limits.max_prompt_chars or speech[i] > limits.max_ms:
            raise SceneSplitError(
                i,
                f"this line is too long for one scene request ({chars[i]} characters, about "
                f"{speech[i] / 1000:.0f} s; a request takes at most {limits.max_prompt_chars} characters "
                f"and {limits.max_ms / 1000:.0f} s)",
            )
    # best[i]: (parts, penalty, -start of the last part) of the best split of lines[:i]; among equals
    # the latest cut, so earlier parts stay as they were when lines are added at the end
    best: list[tuple[int, int, int]] = [(0, 0, 0)]
    for end in range(1, len(lines) + 1):
        part, choice = _Part(set()), None
        for start in range(end - 1, -1, -1):
            if not _grow(part, start, end, lines, by_name, chars, speech, gaps, limits):
                break
            parts, penalty, _ = best[start]
            if start:
                penalty += _penalty(gaps[start], start in cues_before)
            candidate = (parts + 1, penalty, -start)
            if choice is None or candidate <= choice:
                choice = candidate
        assert choice is not None  # a single line always fits (checked above)
        best.append(choice)
    cuts, end = [], len(lines)
    while end:
        start = -best[end][2]
        cuts.append((start, end))
        end = start
    return cuts[::-1]


def _grow(
    part: _Part,
    start: int,
    end: int,
    lines: Sequence[SpokenLine],
    voices: dict[str, VoiceSpec],
    chars: list[int],
    speech: list[float],
    gaps: list[float],
    limits: SceneLimits,
) -> bool:
    """Add line ``start`` to ``part`` (which holds ``start + 1 … end - 1``); whether it still fits."""
    voice = voices[lines[start].voice]
    if voice.referenced:
        part.references.add(voice.name)
    part.chars += chars[start] + 1
    part.ms += speech[start] + (gaps[start + 1] if start + 1 < end else 0.0)
    return (
        len(part.references) <= limits.max_references
        and part.chars <= limits.max_prompt_chars
        and part.ms <= limits.max_ms
    )
