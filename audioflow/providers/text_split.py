"""Cutting a line into pieces the local provider speaks one Piper call each (bounded memory per
call: Piper's memory grows steeply with the length of what one call speaks)."""

from __future__ import annotations

import re

__all__ = ["MAX_SYNTHESIS_CHARS", "PHRASE_GAP_MS", "SENTENCE_GAP_MS", "split_text"]

SENTENCE_GAP_MS = 220.0
#: The pause where a sentence longer than :data:`MAX_SYNTHESIS_CHARS` is cut (a comma, or between words).
PHRASE_GAP_MS = 120.0
#: The most characters one Piper call speaks (bounded memory per call; see :func:`split_text`).
MAX_SYNTHESIS_CHARS = 400
_SENTENCE = re.compile(r".+?(?:[.!?…]+[\"'”’)\]]*(?=\s)|\n|$)", re.S)
_PHRASE = re.compile(r".+?(?:[,;:—–]+(?=\s)|$)", re.S)


def _pieces(text: str, pattern: re.Pattern[str]) -> list[str]:
    return [found for match in pattern.finditer(text) if (found := " ".join(match.group().split()))]


def _pack(parts: list[str], max_chars: int) -> list[str]:
    """Join consecutive ``parts`` (each at most ``max_chars``) with spaces into pieces of at most ``max_chars``."""
    packed: list[str] = []
    for part in parts:
        if packed and len(packed[-1]) + 1 + len(part) <= max_chars:
            packed[-1] += " " + part
        else:
            packed.append(part)
    return packed


def split_text(text: str, max_chars: int = MAX_SYNTHESIS_CHARS) -> list[tuple[str, float]]:
    """Cut ``text`` into pieces of at most ``max_chars`` characters for one synthesis call each, as
    ``(piece, pause_after_ms)``. Whole sentences (ending in ``. ! ? …`` or a line break) are packed
    together while they fit (Piper pauses :data:`SENTENCE_GAP_MS` between them itself); a longer
    sentence is cut at ``, ; : — –``, then between words, then (a single word longer than
    ``max_chars``) every ``max_chars`` characters, with a :data:`PHRASE_GAP_MS` pause at each cut.
    Runs of whitespace become one space. Every piece is non-empty; empty text gives ``[]``."""
    units: list[tuple[str, float]] = []
    for sentence in _pieces(text, _SENTENCE):
        if len(sentence) <= max_chars:
            units.append((sentence, SENTENCE_GAP_MS))
            continue
        parts: list[str] = []
        for phrase in _pieces(sentence, _PHRASE):
            if len(phrase) <= max_chars:
                parts.append(phrase)
                continue
            words = [w[i : i + max_chars] for w in phrase.split() for i in range(0, len(w), max_chars)]
            parts += _pack(words, max_chars)
        packed = _pack(parts, max_chars)
        units += [(piece, PHRASE_GAP_MS) for piece in packed[:-1]] + [(packed[-1], SENTENCE_GAP_MS)]
    pieces: list[tuple[str, float]] = []
    for unit, pause in units:  # pack whole sentences: Piper splits and pauses at sentence ends itself
        if pieces and pieces[-1][1] == SENTENCE_GAP_MS and len(pieces[-1][0]) + 1 + len(unit) <= max_chars:
            pieces[-1] = (f"{pieces[-1][0]} {unit}", pause)
        else:
            pieces.append((unit, pause))
    return pieces
