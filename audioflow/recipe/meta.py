"""The recipe's ``meta:`` block: what every output says about itself (tags and artwork).

:func:`parse_meta` reads the block into a typed :class:`Meta`; its ``cover`` is resolved like every
local input (:class:`~audioflow.recipe.paths.Confinement`), so it is confined to the recipe's folder
and protected from outputs. The image itself is checked (JPEG/PNG, square, 1400–3000 px) by the
engine's pre-flight at ``validate``; the bounce writes the tags (``audioflow.audio.tags``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import SourceLocation
from .limits import NUMBER_RANGES, shown
from .loader import Document, JsonPath
from .paths import Confinement

__all__ = ["Meta", "parse_meta"]

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2})?)?)?)?$")
_TEXT_KEYS = ("title", "show", "author", "description", "copyright")


@dataclass(frozen=True)
class Meta:
    """Tags for every output. ``title`` defaults to the recipe's ``title``; ``episode``/``season``
    are whole numbers; ``date`` is ISO 8601 text; ``language`` a BCP 47 tag; ``cover`` the resolved
    cover image (None: no artwork) and ``cover_location`` where it is written; ``id3_version`` 4 or 3
    (``id3: "2.4"`` or ``"2.3"``): the ID3v2 version of mp3 and wav tags."""

    title: str
    show: str | None = None
    author: str | None = None
    episode: int | None = None
    season: int | None = None
    date: str | None = None
    description: str | None = None
    language: str | None = None
    copyright: str | None = None
    explicit: bool | None = None
    cover: Path | None = None
    cover_location: SourceLocation | None = None
    id3_version: int = 4


def _number(doc: Document, path: JsonPath, value: Any) -> int:
    low, high, _ = NUMBER_RANGES[str(path[-1])]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise doc.error(path, f"{shown(value)} is not a whole number from {low:g} to {high:g}")
    return value


def _date(doc: Document, path: JsonPath, value: Any) -> str:
    """An ISO 8601 date as ID3's ``TDRC`` takes it: ``2025``, ``2025-03``, ``2025-03-14`` or
    ``2025-03-14T09:30[:00]``, checked to be a real date."""
    text = str(value).strip()
    if _DATE.match(text):
        padded = text + "-01-01"[len(text) - 4 :] if len(text) < 10 else text
        try:
            datetime.fromisoformat(padded)
            return text
        except ValueError:
            pass
    raise doc.error(path, f"{shown(value)} is not a date", hint="write 2025, 2025-03, 2025-03-14 or 2025-03-14T09:30")


def parse_meta(doc: Document, spec: dict[str, Any], default_title: str, confinement: Confinement) -> Meta:
    """The typed ``meta:`` block (schema-valid ``spec``); the cover resolved by ``confinement``.
    Raises :class:`~audioflow.errors.RecipeError` at the value that is wrong."""
    text = {key: spec[key].strip() for key in _TEXT_KEYS if isinstance(spec.get(key), str) and spec[key].strip()}
    numbers = {k: _number(doc, ("meta", k), spec[k]) for k in ("episode", "season") if k in spec}
    language = spec.get("language")
    if language is not None and not _LANGUAGE.match(str(language)):
        raise doc.error(("meta", "language"), f"{shown(language)} is not a language tag", hint="write en, en-GB or eng")
    cover, cover_location = None, None
    if "cover" in spec:
        cover_location = doc.locate(("meta", "cover"))
        cover = confinement.resolve(spec["cover"], cover_location, "cover image")
    return Meta(
        title=text.get("title", default_title),
        show=text.get("show"),
        author=text.get("author"),
        episode=numbers.get("episode"),
        season=numbers.get("season"),
        date=_date(doc, ("meta", "date"), spec["date"]) if "date" in spec else None,
        description=text.get("description"),
        language=language,
        copyright=text.get("copyright"),
        explicit=spec.get("explicit"),
        cover=cover,
        cover_location=cover_location,
        id3_version=3 if str(spec.get("id3", "2.4")) == "2.3" else 4,
    )
