"""Tags and artwork written into a bounced file, with mutagen: the one boundary to tag formats.

* mp3 and wav: ID3v2.4 (UTF-8) frames — ``TIT2`` title, ``TALB`` show, ``TPE1`` author, ``TRCK``
  episode, ``TPOS`` season, ``TDRC`` date, ``COMM`` description, ``TCOP`` copyright, ``TLAN``
  language (ISO 639-2: only a three-letter primary subtag is written there), ``TCON`` genre,
  ``TXXX:LANGUAGE`` (the language as written), ``TXXX:ITUNESADVISORY`` (1 explicit, 0 clean) and the
  cover as ``APIC`` (type 3, front cover). A wav carries them in its ``id3 `` chunk.
* m4a and m4b: MP4 atoms — ``©nam``, ``©alb``, ``©ART``, ``trkn`` (episode), ``disk`` (season),
  ``©day``, ``desc`` and ``©cmt`` (description), ``cprt``, ``©gen``, ``rtng`` (1 explicit, 2 clean),
  the freeform ``----:com.apple.iTunes:LANGUAGE`` and the cover as ``covr``.
* flac and ogg/opus: Vorbis comments (``TITLE``, ``ALBUM``, ``ARTIST``, ``TRACKNUMBER``,
  ``DISCNUMBER``, ``DATE``, ``DESCRIPTION``, ``COPYRIGHT``, ``LANGUAGE``, ``GENRE``,
  ``ITUNESADVISORY``) and the cover as a FLAC picture block (in Opus, the base64
  ``METADATA_BLOCK_PICTURE`` comment).

Tags are written to the bytes of an encoded file in memory (:func:`write_tags`), so the audio the
cache holds — and its digest — never carries them: retagging never renders audio again.
:func:`read_artwork` checks a cover image as hosts publish their limits (Apple Podcasts: JPEG or
PNG, RGB, square, 1400–3000 px) with Pillow, reading its header only.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

from mutagen import MutagenError
from mutagen.flac import FLAC, Picture, VCFLACDict
from mutagen.id3 import (
    APIC,
    COMM,
    ID3,
    TALB,
    TCON,
    TCOP,
    TDRC,
    TIT2,
    TLAN,
    TPE1,
    TPOS,
    TRCK,
    TXXX,
    Encoding,
    PictureType,
)
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm
from mutagen.oggopus import OggOpus, OggOpusVComment
from mutagen.wave import WAVE

from audioflow.errors import AudioError

__all__ = [
    "COVER_MAX_BYTES",
    "COVER_MAX_PX",
    "COVER_MIN_PX",
    "TAGGED_FORMATS",
    "Artwork",
    "Tags",
    "read_artwork",
    "write_tags",
]

#: Apple Podcasts: "artwork ranging from 1400 x 1400 to 3000 x 3000 pixels", JPEG or PNG, RGB
#: (podcasters.apple.com/support/896-artwork-requirements).
COVER_MIN_PX = 1400
COVER_MAX_PX = 3000
#: Apple publishes no file-size limit; hosts ask for artwork "ideally under 512 KB", and the cover is
#: copied into every output, so a larger file is refused.
COVER_MAX_BYTES = 512 * 1024
#: The formats :func:`write_tags` tags.
TAGGED_FORMATS = ("mp3", "wav", "flac", "ogg", "opus", "m4a", "m4b")
_MIME = {"JPEG": "image/jpeg", "PNG": "image/png"}
_RGB_MODES = ("RGB", "P", "1")  # PNG palette and bilevel images are RGB colour; CMYK, greyscale and alpha are not
_GENRE = "Podcast"
#: An m4b is an audiobook (Apple's audiobook file type): genre ``Audiobook`` and the iTunes media kind
#: ``stik`` 2 ("Audiobook"), so Apple Books and iTunes-style players file it as one, not as music.
_AUDIOBOOK_GENRE = "Audiobook"
_STIK_AUDIOBOOK = 2


@dataclass(frozen=True)
class Artwork:
    """A checked cover image: its bytes, MIME type (``image/jpeg`` or ``image/png``) and size in px."""

    data: bytes
    mime: str
    width_px: int
    height_px: int


@dataclass(frozen=True)
class Tags:
    """What a bounced file says about itself. Every field is optional except ``title``.

    ``episode``/``season`` are numbers; ``date`` is ISO 8601 (``2025``, ``2025-03``, ``2025-03-14``);
    ``language`` a BCP 47 tag (``en``, ``en-GB``, ``eng``); ``explicit`` None says nothing;
    ``id3_version`` the ID3v2 minor version an mp3 or wav is tagged with: 4 (ID3v2.4, the default) or
    3 (ID3v2.3, for older players; mutagen's ``update_to_v23`` turns ``TDRC`` into ``TYER``/``TDAT``)."""

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
    cover: Artwork | None = None
    id3_version: int = 4


def read_artwork(path: Path) -> Artwork:
    """Read and check the cover image at ``path``: JPEG or PNG, RGB colour without alpha, square,
    :data:`COVER_MIN_PX`–:data:`COVER_MAX_PX` px a side, at most :data:`COVER_MAX_BYTES`.

    Only the header is parsed (Pillow's ``Image.open`` is lazy). Raises ``AudioError`` naming what
    is wrong (``cover image is 1200×1200 px: hosts take 1400–3000 px a side``)."""
    from PIL import Image, UnidentifiedImageError

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AudioError(f"cover image cannot be read: {exc.strerror or exc}") from exc
    if len(data) > COVER_MAX_BYTES:
        raise AudioError(f"cover image is {len(data) / 1024:.0f} KiB: at most {COVER_MAX_BYTES // 1024} KiB")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, mode, (width, height) = image.format, image.mode, image.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise AudioError("cover image is not a JPEG or PNG image") from exc
    if kind not in _MIME:
        raise AudioError(f"cover image is {kind}: hosts take JPEG or PNG")
    if mode not in _RGB_MODES:
        raise AudioError(f"cover image is in {mode} colour: hosts take RGB without an alpha channel")
    if width != height:
        raise AudioError(f"cover image is {width}×{height} px: it must be square")
    if not COVER_MIN_PX <= width <= COVER_MAX_PX:
        raise AudioError(f"cover image is {width}×{height} px: hosts take {COVER_MIN_PX}–{COVER_MAX_PX} px a side")
    return Artwork(data, _MIME[kind], width, height)


def write_tags(data: bytes, format: str, tags: Tags) -> bytes:
    """``data`` (an encoded file of ``format``: one of :data:`TAGGED_FORMATS`) with ``tags`` written
    into it, replacing any it had. The audio stream is not touched. Raises ``AudioError`` for another
    format or data mutagen cannot parse."""
    fmt = format.lower().lstrip(".")
    buffer = io.BytesIO(data)
    try:
        if fmt in ("mp3", "wav"):
            _write_id3(buffer, fmt, tags)
        elif fmt in ("flac", "ogg", "opus"):
            _write_vorbis(buffer, fmt, tags)
        elif fmt in ("m4a", "m4b"):
            _write_mp4(buffer, tags, audiobook=fmt == "m4b")
        else:
            raise AudioError(f"cannot tag {format!r}: tagged formats are {', '.join(TAGGED_FORMATS)}")
    except MutagenError as exc:
        raise AudioError(f"cannot tag the {fmt} file: {exc}") from exc
    return buffer.getvalue()


def _id3_frames(tags: Tags) -> list[object]:
    text = Encoding.UTF8
    frames: list[object] = [TIT2(encoding=text, text=tags.title), TCON(encoding=text, text=_GENRE)]
    plain = ((TALB, tags.show), (TPE1, tags.author), (TCOP, tags.copyright))
    frames += [frame(encoding=text, text=value) for frame, value in plain if value]
    if tags.episode is not None:
        frames.append(TRCK(encoding=text, text=str(tags.episode)))
    if tags.season is not None:
        frames.append(TPOS(encoding=text, text=str(tags.season)))
    if tags.date:
        frames.append(TDRC(encoding=text, text=tags.date))
    if tags.description:
        frames.append(COMM(encoding=text, lang="XXX", desc="", text=tags.description))
    if tags.language:
        primary = tags.language.split("-")[0].lower()
        if len(primary) == 3:
            frames.append(TLAN(encoding=text, text=primary))
        frames.append(TXXX(encoding=text, desc="LANGUAGE", text=tags.language))
    if tags.explicit is not None:
        frames.append(TXXX(encoding=text, desc="ITUNESADVISORY", text="1" if tags.explicit else "0"))
    if tags.cover is not None:
        cover = tags.cover
        frames.append(APIC(encoding=text, mime=cover.mime, type=PictureType.COVER_FRONT, desc="", data=cover.data))
    return frames


def _write_id3(buffer: io.BytesIO, fmt: str, tags: Tags) -> None:
    audio = MP3(buffer) if fmt == "mp3" else WAVE(buffer)
    if audio.tags is None:
        audio.add_tags()
    id3 = audio.tags
    assert isinstance(id3, ID3)
    id3.clear()
    for frame in _id3_frames(tags):
        id3.add(frame)
    if tags.id3_version == 3:
        id3.update_to_v23()
    buffer.seek(0)
    audio.save(buffer, v2_version=tags.id3_version)


def _vorbis_comments(tags: Tags) -> list[tuple[str, str]]:
    pairs = [
        ("TITLE", tags.title),
        ("ALBUM", tags.show),
        ("ARTIST", tags.author),
        ("TRACKNUMBER", None if tags.episode is None else str(tags.episode)),
        ("DISCNUMBER", None if tags.season is None else str(tags.season)),
        ("DATE", tags.date),
        ("DESCRIPTION", tags.description),
        ("COPYRIGHT", tags.copyright),
        ("LANGUAGE", tags.language),
        ("GENRE", _GENRE),
        ("ITUNESADVISORY", None if tags.explicit is None else ("1" if tags.explicit else "0")),
    ]
    return [(key, value) for key, value in pairs if value]


def _picture(cover: Artwork) -> Picture:
    picture = Picture()
    picture.type = PictureType.COVER_FRONT
    picture.mime = cover.mime
    picture.width, picture.height, picture.depth = cover.width_px, cover.height_px, 24
    picture.data = cover.data
    return picture


def _write_vorbis(buffer: io.BytesIO, fmt: str, tags: Tags) -> None:
    audio = FLAC(buffer) if fmt == "flac" else OggOpus(buffer)
    if audio.tags is None:
        audio.add_tags()
    comments = audio.tags
    assert isinstance(comments, VCFLACDict | OggOpusVComment)
    comments.clear()
    for key, value in _vorbis_comments(tags):
        comments[key] = [value]
    if isinstance(audio, FLAC):
        audio.clear_pictures()
        if tags.cover is not None:
            audio.add_picture(_picture(tags.cover))
    elif tags.cover is not None:  # Opus: the picture block as a comment (Xiph's METADATA_BLOCK_PICTURE)
        block = base64.b64encode(_picture(tags.cover).write()).decode("ascii")
        comments["METADATA_BLOCK_PICTURE"] = [block]
    buffer.seek(0)
    audio.save(buffer)


def _mp4_atoms(tags: Tags, audiobook: bool = False) -> dict[str, list[object]]:
    genre = _AUDIOBOOK_GENRE if audiobook else _GENRE
    atoms: dict[str, list[object]] = {"\xa9nam": [tags.title], "\xa9gen": [genre]}
    if audiobook:
        atoms["stik"] = [_STIK_AUDIOBOOK]
    text = (("\xa9alb", tags.show), ("\xa9ART", tags.author), ("\xa9day", tags.date), ("cprt", tags.copyright))
    atoms.update({key: [value] for key, value in text if value})
    if tags.description:
        atoms["desc"] = atoms["\xa9cmt"] = [tags.description]
    if tags.episode is not None:
        atoms["trkn"] = [(tags.episode, 0)]
    if tags.season is not None:
        atoms["disk"] = [(tags.season, 0)]
    if tags.explicit is not None:
        atoms["rtng"] = [1 if tags.explicit else 2]
    if tags.language:
        atoms["----:com.apple.iTunes:LANGUAGE"] = [MP4FreeForm(tags.language.encode())]
    if tags.cover is not None:
        kind = MP4Cover.FORMAT_PNG if tags.cover.mime == "image/png" else MP4Cover.FORMAT_JPEG
        atoms["covr"] = [MP4Cover(tags.cover.data, imageformat=kind)]
    return atoms


def _write_mp4(buffer: io.BytesIO, tags: Tags, audiobook: bool) -> None:
    audio = MP4(buffer)
    if audio.tags is None:
        audio.add_tags()
    assert audio.tags is not None
    audio.tags.clear()
    audio.tags.update(_mp4_atoms(tags, audiobook))
    buffer.seek(0)
    audio.save(buffer)
