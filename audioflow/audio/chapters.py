"""Chapters written into a bounced file and beside it: the one boundary to chapter formats.

* mp3: ID3v2.4 ``CHAP`` frames (``chp1``, ``chp2``… with start/end in ms, a ``TIT2`` title, a
  ``WXXX`` url and an ``APIC`` image sub-frame when given) and one top-level, ordered ``CTOC``
  (``toc``) listing them (the ID3v2 Chapter Frame Addendum), with mutagen; the ``CHAP`` frames are
  written in time order (readers such as ffmpeg list them as they come).
* m4a/m4b: MP4 chapters written by ffmpeg (imageio-ffmpeg's binary) from an ffmetadata file
  (``[CHAPTER]``, ``TIMEBASE=1/1000``) on a ``-c copy`` remux: a QuickTime chapter track (Apple) and
  a Nero ``chpl`` atom (which mutagen reads back as ``MP4(...).chapters``). Titles only: neither
  carries a url or an image. mutagen cannot write MP4 chapters, so they go in before the tags.
* flac and ogg/opus: Vorbis comments ``CHAPTER001=HH:MM:SS.mmm``, ``CHAPTER001NAME``,
  ``CHAPTER001URL`` (the Matroska/Xiph chapter extension), with mutagen.
* wav: none (no player reads chapters from a wav).
* Podcasting 2.0 JSON chapters (:func:`podcast_json`, version ``1.2.0``): ``startTime``/``endTime``
  in seconds, ``title``, ``url`` and ``img`` (an https URL only: a local image has no address a
  player could fetch), per https://github.com/Podcastindex-org/podcast-namespace/blob/main/chapters/jsonChapters.md.

:func:`write_tagged` writes tags (``audio.tags``) and chapters in the order each format needs, to an
encoded file's bytes in memory: the cached master never carries them, so renaming a chapter renders
no audio again.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mutagen import MutagenError
from mutagen.flac import FLAC, VCFLACDict
from mutagen.id3 import APIC, CHAP, CTOC, ID3, TIT2, WXXX, CTOCFlags, Encoding, ID3NoHeaderError, PictureType
from mutagen.id3._tags import save_frame  # the one frame writer (mutagen exports none)
from mutagen.mp3 import MP3
from mutagen.oggopus import OggOpus, OggOpusVComment

from ..errors import AudioError
from .tags import Artwork, Tags, write_tags

__all__ = ["CHAPTER_FORMATS", "PODCAST_CHAPTERS_VERSION", "Chapter", "podcast_json", "write_chapters", "write_tagged"]

#: The formats :func:`write_chapters` writes chapters into (wav carries none).
CHAPTER_FORMATS = ("mp3", "flac", "ogg", "opus", "m4a", "m4b")
#: The version of the Podcasting 2.0 JSON chapters format :func:`podcast_json` writes.
PODCAST_CHAPTERS_VERSION = "1.2.0"
_ID3_UNUSED_OFFSET = 0xFFFFFFFF  # CHAP byte offsets: "not used" (times are what players read)


@dataclass(frozen=True)
class Chapter:
    """A titled part of the programme: from ``start_ms`` to ``end_ms`` (ms from the start of the
    output, on a sample of the output rate), with an optional ``url`` (a web page) and ``image``:
    a checked local :class:`~audioflow.audio.tags.Artwork`, or an https URL (``image_url``)."""

    start_ms: float
    end_ms: float
    title: str
    url: str | None = None
    image: Artwork | None = None
    image_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The manifest's record: title, start and end (ms, to 0.001)."""
        return {"title": self.title, "start_ms": round(self.start_ms, 3), "end_ms": round(self.end_ms, 3)}


def podcast_json(
    chapters: Sequence[Chapter], *, title: str | None = None, file_name: str | None = None
) -> dict[str, Any]:
    """The Podcasting 2.0 JSON chapters document (version :data:`PODCAST_CHAPTERS_VERSION`) of
    ``chapters`` (times in seconds, to the millisecond); ``title`` and ``file_name`` are the
    optional episode title and audio file name the format allows."""
    out: dict[str, Any] = {"version": PODCAST_CHAPTERS_VERSION}
    if title:
        out["title"] = title
    if file_name:
        out["fileName"] = file_name
    items = []
    for chapter in chapters:
        item: dict[str, Any] = {
            "startTime": round(chapter.start_ms / 1000.0, 3),
            "endTime": round(chapter.end_ms / 1000.0, 3),
            "title": chapter.title,
        }
        if chapter.url:
            item["url"] = chapter.url
        if chapter.image_url:
            item["img"] = chapter.image_url
        items.append(item)
    out["chapters"] = items
    return out


def write_tagged(data: bytes, format: str, tags: Tags, chapters: Sequence[Chapter] = ()) -> bytes:
    """``data`` (an encoded file of ``format``) with ``tags`` and ``chapters`` written into it: MP4
    chapters by an ffmpeg remux before mutagen writes the tags (a remux would drop the cover), every
    other format's chapters after the tags (which replace whatever tags the file had). An m4b is
    always remuxed, so it carries the audiobook major brand ``M4B `` (see :func:`write_chapters`)
    even when it was encoded before the brand was set. Raises ``AudioError``."""
    fmt = format.lower().lstrip(".")
    if fmt == "m4b" or (chapters and fmt == "m4a"):
        data = _remux_mp4(data, fmt, chapters)
    data = write_tags(data, fmt, tags)
    if chapters and fmt not in ("m4a", "m4b"):
        data = write_chapters(data, fmt, chapters, id3_version=tags.id3_version)
    return data


def write_chapters(data: bytes, format: str, chapters: Sequence[Chapter], id3_version: int = 4) -> bytes:
    """``data`` (an encoded file of ``format``) with ``chapters`` (in order, not overlapping) added
    beside the tags it has. A wav is returned as it is. Raises ``AudioError`` for data that cannot
    be parsed or remuxed. An m4b comes back with the major brand ``M4B `` (Apple's audiobook brand;
    ffmpeg's ipod muxer writes ``M4A `` unless told). An mp3's tag is saved as ID3v2.``id3_version``
    (4, or 3: the ID3v2 Chapter Frame Addendum defines ``CHAP``/``CTOC`` for both)."""
    fmt = format.lower().lstrip(".")
    if fmt == "wav" or not chapters:
        return data
    if fmt in ("m4a", "m4b"):
        return _remux_mp4(data, fmt, chapters)
    buffer = io.BytesIO(data)
    try:
        if fmt == "mp3":
            _write_id3(buffer, chapters, id3_version)
        elif fmt in ("flac", "ogg", "opus"):
            _write_vorbis(buffer, fmt, chapters)
        else:
            raise AudioError(f"cannot write chapters into {format!r}: chapter formats are {', '.join(CHAPTER_FORMATS)}")
    except MutagenError as exc:
        raise AudioError(f"cannot write chapters into the {fmt} file: {exc}") from exc
    return buffer.getvalue()


def _chap(element_id: str, chapter: Chapter) -> CHAP:
    text = Encoding.UTF8
    frames: list[Any] = [TIT2(encoding=text, text=chapter.title)]
    if chapter.url:
        frames.append(WXXX(encoding=text, desc="chapter url", url=chapter.url))
    if chapter.image is not None:
        image = chapter.image
        frames.append(APIC(encoding=text, mime=image.mime, type=PictureType.OTHER, desc="chapter", data=image.data))
    elif chapter.image_url:  # ID3v2.4 4.14: MIME type "-->" means the data is a link to the image
        frames.append(
            APIC(encoding=text, mime="-->", type=PictureType.OTHER, desc="chapter", data=chapter.image_url.encode())
        )
    return CHAP(
        element_id=element_id,
        start_time=round(chapter.start_ms),
        end_time=round(chapter.end_ms),
        start_offset=_ID3_UNUSED_OFFSET,
        end_offset=_ID3_UNUSED_OFFSET,
        sub_frames=frames,
    )


class _TimeOrderedID3(ID3):
    """An ID3 tag that writes its ``CHAP`` frames last and in time order. mutagen orders the frames
    it writes by size, and readers that list chapters in the order the frames come (ffmpeg, hence
    ffprobe and mpv) would show them shuffled; the ordered ``CTOC`` alone does not help them."""

    def _write(self, config: Any) -> bytearray:
        chaps = sorted(self.getall("CHAP"), key=lambda frame: (frame.start_time, frame.element_id))
        self.delall("CHAP")
        try:
            data = super()._write(config)
        finally:
            for frame in chaps:
                self.add(frame)
        for frame in chaps:
            data += save_frame(frame, config=config)
        return data


def _write_id3(buffer: io.BytesIO, chapters: Sequence[Chapter], id3_version: int) -> None:
    MP3(buffer)  # an mp3, or a MutagenError
    buffer.seek(0)
    try:
        id3 = _TimeOrderedID3(buffer)
    except ID3NoHeaderError:
        id3 = _TimeOrderedID3()
    id3.delall("CHAP")
    id3.delall("CTOC")
    ids = []
    for i, chapter in enumerate(chapters, start=1):
        ids.append(f"chp{i}")
        id3.add(_chap(ids[-1], chapter))
    id3.add(
        CTOC(
            element_id="toc",
            flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
            child_element_ids=ids,
            sub_frames=[TIT2(encoding=Encoding.UTF8, text="Chapters")],
        )
    )
    if id3_version == 3:  # the tag was read upgraded to v2.4 in memory (TDRC): back to v2.3 frames
        id3.update_to_v23()
    buffer.seek(0)
    id3.save(buffer, v2_version=id3_version)


def vorbis_time(ms: float) -> str:
    """``ms`` as the Vorbis chapter extension writes a time: ``HH:MM:SS.mmm``."""
    total = round(ms)
    hours, rest = divmod(total, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _write_vorbis(buffer: io.BytesIO, fmt: str, chapters: Sequence[Chapter]) -> None:
    audio = FLAC(buffer) if fmt == "flac" else OggOpus(buffer)
    if audio.tags is None:
        audio.add_tags()
    comments = audio.tags
    assert isinstance(comments, VCFLACDict | OggOpusVComment)
    keys = comments.keys()  # a Vorbis comment block iterates as (key, value) pairs: its keys, once each
    for key in [k for k in keys if k.upper().startswith("CHAPTER")]:
        del comments[key]
    for i, chapter in enumerate(chapters, start=1):
        key = f"CHAPTER{i:03d}"
        comments[key] = [vorbis_time(chapter.start_ms)]
        comments[f"{key}NAME"] = [chapter.title]
        if chapter.url:
            comments[f"{key}URL"] = [chapter.url]
    buffer.seek(0)
    audio.save(buffer)


def _escape(text: str) -> str:
    """``text`` as an ffmetadata value: ``=``, ``;``, ``#``, ``\\`` and newlines escaped."""
    out = text.replace("\\", "\\\\")
    for char in ("=", ";", "#", "\n"):
        out = out.replace(char, "\\" + char)
    return out


def ffmetadata(chapters: Sequence[Chapter]) -> str:
    """The ffmetadata text of ``chapters``: one ``[CHAPTER]`` each, ``TIMEBASE=1/1000``."""
    lines = [";FFMETADATA1"]
    for chapter in chapters:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(chapter.start_ms)}", f"END={round(chapter.end_ms)}"]
        lines.append(f"title={_escape(chapter.title)}")
    return "\n".join(lines) + "\n"


#: The major brand of an m4b (and its first compatible brand): what Apple's audiobook files carry.
M4B_BRAND = "M4B "


def _remux_mp4(data: bytes, fmt: str, chapters: Sequence[Chapter]) -> bytes:
    """The MP4 file ``data`` remuxed (``-c copy``: the audio is not touched) with ``chapters`` (none:
    the file's own are dropped); an m4b gets the major brand :data:`M4B_BRAND`."""
    from .io import _run_ffmpeg  # io imports numpy: a bounce that writes no MP4 chapters never needs it

    with tempfile.TemporaryDirectory(prefix="audioflow-chapters-") as tmp:
        source, meta, out = Path(tmp) / f"in.{fmt}", Path(tmp) / "chapters.txt", Path(tmp) / f"out.{fmt}"
        source.write_bytes(data)
        meta.write_text(ffmetadata(chapters), encoding="utf-8")
        args = ["-i", str(source), "-f", "ffmetadata", "-i", str(meta), "-map", "0:a", "-map_metadata", "1"]
        args += ["-map_chapters", "1", "-c", "copy", "-fflags", "+bitexact", "-f", "ipod"]
        args += [*(["-brand", M4B_BRAND] if fmt == "m4b" else []), str(out)]
        _run_ffmpeg(args, what=f"cannot write chapters into the {fmt} file")
        try:
            return out.read_bytes()
        except OSError as exc:
            raise AudioError(f"cannot write chapters into the {fmt} file: ffmpeg wrote no output") from exc
