"""The pronunciation lexicon: words or phrases respelled in what a model is sent, never in the
transcript.

A recipe's ``lexicon:`` (and a cast voice's own ``lexicon:``, which wins for that voice's lines)
maps a word or phrase to a respelling, or to an entry::

    lexicon:
      Chasuble: CHAZ-yoo-bul                      # every voice, every provider
      Bunbury: {say: BUN-bree, ipa: "ˈbʌnbɹi"}   # ipa: the phonemes the local voice (Piper) speaks
      Bracknell: {say: BRACK-nul, providers: [segmind, fal]}

Matching is whole-word and case-insensitive; longer phrases win over the words inside them, and a
respelling is never matched again. On the local provider an entry's ``ipa`` form is sent to Piper as
``[[ phonemes ]]``; elsewhere its ``say`` form is. An entry a provider cannot honour (only ``ipa``,
on a remote host) leaves the word as written and gives a located warning. Only lines the lexicon
changes carry a respelling (``SpokenLine.say``), so only their digests change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import RecipeError, SourceLocation
from .loader import Document, JsonPath

__all__ = ["LOCAL_PROVIDER", "Lexicon", "LexiconEntry", "Respelling", "parse_lexicon", "unhonoured_warning"]

#: The provider that speaks ``ipa`` forms (Piper's ``[[ phonemes ]]``).
LOCAL_PROVIDER = "local"
#: Characters an ``ipa`` form may not hold: sentence punctuation would cut it, brackets would end it.
_NOT_PHONEMES = re.compile(r"[\[\].,;:!?…—–\n]")


@dataclass(frozen=True)
class LexiconEntry:
    """One entry: ``word`` (or phrase) → ``say`` (a respelling) and/or ``ipa`` (Piper phonemes);
    ``providers`` limits it to those providers (empty: all); ``voice`` is the cast voice whose own
    lexicon holds it (None: the recipe's)."""

    word: str
    location: SourceLocation
    say: str | None = None
    ipa: str | None = None
    providers: tuple[str, ...] = ()
    voice: str | None = None

    def form_for(self, provider: str) -> str | None:
        """What ``provider`` is sent for the word: Piper phonemes on the local provider when there
        are some, else the respelling; None when the provider cannot honour the entry."""
        if provider == LOCAL_PROVIDER and self.ipa:
            return f"[[ {self.ipa} ]]"
        return self.say


@dataclass(frozen=True)
class Respelling:
    """A line's text as a model is sent it: ``say`` (None when the lexicon changes nothing) and the
    entries that matched but that the provider cannot honour."""

    say: str | None
    unhonoured: tuple[LexiconEntry, ...] = ()


@dataclass(frozen=True)
class Lexicon:
    """The recipe's entries and each cast voice's own."""

    entries: tuple[LexiconEntry, ...] = ()
    by_voice: Mapping[str, tuple[LexiconEntry, ...]] | None = None

    def _entries(self, voice: str, provider: str) -> list[LexiconEntry]:
        chosen = {e.word.casefold(): e for e in self.entries}
        chosen.update({e.word.casefold(): e for e in (self.by_voice or {}).get(voice, ())})
        return [e for e in chosen.values() if not e.providers or provider in e.providers]

    def respell(self, text: str, voice: str, provider: str) -> Respelling:
        """``text`` of a line by ``voice`` as ``provider`` is sent it."""
        if not self.entries and not self.by_voice:
            return _UNCHANGED
        entries = self._entries(voice, provider)
        if not entries:
            return Respelling(None)
        by_word = {e.word.casefold(): e for e in entries}
        words = sorted(by_word, key=len, reverse=True)
        pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE)
        unhonoured: dict[str, LexiconEntry] = {}

        def replace(match: re.Match[str]) -> str:
            entry = by_word[match.group(1).casefold()]
            form = entry.form_for(provider)
            if form is None:
                unhonoured[entry.word] = entry
                return match.group(0)
            return form

        said = pattern.sub(replace, text)
        return Respelling(said if said != text else None, tuple(unhonoured.values()))


_UNCHANGED = Respelling(None)


def _entry(doc: Document, path: JsonPath, word: str, value: Any, voice: str | None) -> LexiconEntry:
    location = doc.locate(path, key=True)
    if not re.search(r"\w", word):
        raise RecipeError(f"lexicon entry {word!r} has no word to match", location)
    if isinstance(value, str):
        return LexiconEntry(word, location, say=value.strip(), voice=voice)
    if "say" not in value and "ipa" not in value:
        raise RecipeError(
            f"lexicon entry {word!r} needs `say:` (a respelling) or `ipa:` (phonemes for the local voice)",
            location,
            f"write `{word}: RESPELLING`, or {{say: RESPELLING, ipa: PHONEMES}}",
        )
    ipa = value.get("ipa")
    if ipa is not None and (bad := _NOT_PHONEMES.search(ipa)):
        raise doc.error(
            (*path, "ipa"),
            f"an ipa form holds phonemes only, not {bad.group()!r}",
            hint="write the IPA of the word, like ˈbʌnbɹi; respell punctuation in `say:`",
        )
    return LexiconEntry(
        word,
        location,
        say=value["say"].strip() if "say" in value else None,
        ipa=ipa.strip() if ipa is not None else None,
        providers=tuple(value.get("providers", ())),
        voice=voice,
    )


def parse_lexicon(
    doc: Document, path: JsonPath, spec: Mapping[str, Any], voice: str | None = None
) -> tuple[LexiconEntry, ...]:
    """The entries written at ``path`` (a schema-valid mapping), for ``voice`` or the whole recipe.
    Raises :class:`RecipeError`."""
    return tuple(_entry(doc, (*path, word), word, value, voice) for word, value in spec.items())


def unhonoured_warning(entry: LexiconEntry, provider: str, steps: Iterable[str]) -> tuple[SourceLocation, str]:
    """The located warning for an entry ``provider`` cannot honour on ``steps``."""
    shown = ", ".join(list(steps)[:3])
    return entry.location, (
        f"lexicon entry {entry.word!r} has only an ipa form, which only the local voice can speak: "
        f"{provider} is sent the word as written ({shown}); add `say:` with a respelling"
    )
