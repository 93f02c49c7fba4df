"""Chapters written into every format and read back with mutagen; the Podcasting 2.0 JSON validated."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import mutagen
import numpy as np
import pytest
from mutagen.id3 import ID3
from mutagen.mp4 import MP4
from PIL import Image

from audioflow.audio import Audio, decode_bytes, encode
from audioflow.audio.chapters import Chapter, ffmetadata, podcast_json, vorbis_time, write_chapters, write_tagged
from audioflow.audio.io import ffmpeg_exe
from audioflow.audio.tags import Tags, read_artwork
from audioflow.errors import AudioError

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "podcast-chapters-1.2.schema.json").read_text())


def _tone(seconds: float = 4.0, rate_hz: int = 44100) -> Audio:
    t = np.arange(int(seconds * rate_hz), dtype=np.float32) / rate_hz
    wave = 0.2 * np.sin(2 * np.pi * 440.0 * t)
    return Audio(np.stack([wave, wave], axis=1).astype(np.float32), rate_hz)


CHAPTERS = (
    Chapter(0.0, 1234.5, "Cold open", url="https://example.com/open"),
    Chapter(1234.5, 2500.25, "The door; = # \\ opens"),
    Chapter(2500.25, 4000.0, "Ending", image_url="https://example.com/end.jpg"),
)


@pytest.fixture(scope="module")
def encoded() -> dict[str, bytes]:
    audio = _tone()
    return {fmt: encode(audio, fmt, bitrate_kbps=128) for fmt in ("mp3", "flac", "opus", "m4a", "m4b", "wav")}


def test_id3_chap_and_ctoc_read_back(encoded: dict[str, bytes], tmp_path: Path) -> None:
    cover = tmp_path / "c.png"
    Image.new("RGB", (1400, 1400), 0).save(cover)
    art = read_artwork(cover)
    chapters = (*CHAPTERS[:2], Chapter(2500.25, 4000.0, "Ending", image=art))
    path = tmp_path / "x.mp3"
    path.write_bytes(write_tagged(encoded["mp3"], "mp3", Tags("Ep"), chapters))
    id3 = ID3(path)
    assert id3["TIT2"].text == ["Ep"]  # the tags survive the chapters
    chaps = sorted(id3.getall("CHAP"), key=lambda c: c.start_time)
    assert [(c.start_time, c.end_time) for c in chaps] == [(0, 1234), (1234, 2500), (2500, 4000)]
    assert [c.sub_frames["TIT2"].text[0] for c in chaps] == ["Cold open", "The door; = # \\ opens", "Ending"]
    assert chaps[0].sub_frames.getall("WXXX")[0].url == "https://example.com/open"
    assert chaps[2].sub_frames.getall("APIC")[0].data == art.data
    (toc,) = id3.getall("CTOC")
    assert toc.flags & 0x01 and toc.flags & 0x02  # ordered, top level
    assert toc.child_element_ids == [c.element_id for c in chaps]


def test_id3v2_3_for_older_players_keeps_tags_and_chapters(encoded: dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / "x.mp3"
    tags = Tags("Ep", date="2025-03-14", language="eng", id3_version=3)
    path.write_bytes(write_tagged(encoded["mp3"], "mp3", tags, CHAPTERS))
    id3 = ID3(path, translate=False)  # as written, not upgraded to v2.4 in memory
    assert id3.version == (2, 3, 0) and path.read_bytes()[:4] == b"ID3\x03"
    assert id3["TIT2"].text == ["Ep"] and id3["TLAN"].text == ["eng"]
    assert str(id3["TYER"]) == "2025" and str(id3["TDAT"]) == "1403"  # v2.3 has no TDRC
    chaps = id3.getall("CHAP")
    assert [(c.start_time, c.end_time) for c in chaps] == [(0, 1234), (1234, 2500), (2500, 4000)]
    assert [c.sub_frames["TIT2"].text[0] for c in chaps] == ["Cold open", "The door; = # \\ opens", "Ending"]
    (toc,) = id3.getall("CTOC")
    assert toc.child_element_ids == [c.element_id for c in chaps]


@pytest.mark.parametrize("fmt", ["flac", "opus"])
def test_vorbis_chapter_comments_read_back(encoded: dict[str, bytes], fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"x.{fmt}"
    path.write_bytes(write_tagged(encoded[fmt], fmt, Tags("Ep"), CHAPTERS))
    tags = mutagen.File(path).tags
    assert tags["TITLE"] == ["Ep"]
    assert tags["CHAPTER001"] == ["00:00:00.000"] and tags["CHAPTER001NAME"] == ["Cold open"]
    assert tags["CHAPTER001URL"] == ["https://example.com/open"]
    assert tags["CHAPTER002"] == ["00:00:01.234"] and tags["CHAPTER003"] == ["00:00:02.500"]
    assert "CHAPTER002URL" not in tags and "CHAPTER004" not in tags


@pytest.mark.parametrize("fmt", ["m4a", "m4b"])
def test_mp4_chapters_read_back_with_the_tags_and_audio(encoded: dict[str, bytes], fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"x.{fmt}"
    data = write_tagged(encoded[fmt], fmt, Tags("Ep", show="Show"), CHAPTERS)
    path.write_bytes(data)
    mp4 = MP4(path)
    assert mp4.tags is not None and mp4.tags["\xa9nam"] == ["Ep"] and mp4.tags["\xa9alb"] == ["Show"]
    assert mp4.chapters is not None
    got = [(round(c.start * 1000), c.title) for c in mp4.chapters]
    assert got == [(0, "Cold open"), (1234, "The door; = # \\ opens"), (2500, "Ending")]
    before, after = decode_bytes(encoded[fmt], fmt), decode_bytes(data, fmt)
    assert before.frames == after.frames and np.array_equal(before.samples, after.samples)  # -c copy


def test_wav_and_no_chapters_leave_the_file_as_it_was(encoded: dict[str, bytes]) -> None:
    assert write_chapters(encoded["wav"], "wav", CHAPTERS) == encoded["wav"]
    assert write_chapters(encoded["mp3"], "mp3", ()) == encoded["mp3"]


def test_rewriting_chapters_replaces_the_old_ones(encoded: dict[str, bytes], tmp_path: Path) -> None:
    once = write_chapters(encoded["mp3"], "mp3", CHAPTERS)
    twice = write_chapters(once, "mp3", CHAPTERS[:1])
    path = tmp_path / "x.mp3"
    path.write_bytes(twice)
    assert len(ID3(path).getall("CHAP")) == 1


def test_bad_data_is_an_audio_error() -> None:
    with pytest.raises(AudioError, match="cannot write chapters"):
        write_chapters(b"not audio", "mp3", CHAPTERS)
    with pytest.raises(AudioError, match="cannot write chapters"):
        write_chapters(b"not audio", "m4b", CHAPTERS)


def test_podcast_json_matches_the_published_shape() -> None:
    doc = podcast_json(CHAPTERS, title="Ep", file_name="ep.mp3")
    jsonschema.validate(doc, SCHEMA)
    assert doc["version"] == "1.2.0" and doc["fileName"] == "ep.mp3"
    starts = [c["startTime"] for c in doc["chapters"]]
    assert starts == sorted(starts) == [0.0, 1.234, 2.5]
    assert doc["chapters"][0]["url"] == "https://example.com/open" and "img" not in doc["chapters"][0]
    assert doc["chapters"][2]["img"] == "https://example.com/end.jpg"
    with pytest.raises(jsonschema.ValidationError):  # the schema can fail
        jsonschema.validate({"version": "1.2.0", "chapters": [{"title": "no start"}]}, SCHEMA)


def test_time_and_ffmetadata_text() -> None:
    assert vorbis_time(3_723_004.4) == "01:02:03.004"
    text = ffmetadata(CHAPTERS[1:2])
    assert "START=1234\nEND=2500\ntitle=The door\\; \\= \\# \\\\ opens\n" in text


def _ffmpeg_chapter_titles(path: Path) -> list[str]:
    """The chapter titles ffmpeg (ffprobe's reader) lists, in its order."""
    report = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    return re.findall(r"Chapter #\d+:\d+: start [\d.]+, end [\d.]+\n\s+Metadata:\n\s+title\s+: ([^\n]*)", report)


def test_ffmpeg_lists_mp3_chapters_in_time_order(encoded: dict[str, bytes], tmp_path: Path) -> None:
    # Titles of very different lengths: mutagen writes frames ordered by size, so without care the
    # long first chapter's CHAP frame lands after the short ones and ffmpeg lists it last.
    chapters = (
        Chapter(0.0, 1000.0, "A rather long opening chapter title, with a link", url="https://example.com/a"),
        Chapter(1000.0, 2000.0, "Two"),
        Chapter(2000.0, 3000.0, "Third, middling"),
        Chapter(3000.0, 4000.0, "4"),
    )
    path = tmp_path / "x.mp3"
    path.write_bytes(write_tagged(encoded["mp3"], "mp3", Tags("Ep", show="Show"), chapters))
    assert _ffmpeg_chapter_titles(path) == [c.title for c in chapters]
    id3 = ID3(path)
    assert [c.element_id for c in id3.getall("CHAP")] == ["chp1", "chp2", "chp3", "chp4"]  # as they lie in the file
    assert id3["TIT2"].text == ["Ep"] and id3["TALB"].text == ["Show"]
    again = tmp_path / "y.mp3"  # rewriting keeps the order and the one CTOC
    again.write_bytes(write_chapters(path.read_bytes(), "mp3", chapters[:2]))
    assert _ffmpeg_chapter_titles(again) == [c.title for c in chapters[:2]]
    assert len(ID3(again).getall("CTOC")) == 1


@pytest.mark.parametrize("chapters", [CHAPTERS, ()], ids=["chapters", "none"])
def test_an_m4b_carries_the_audiobook_brand_and_an_m4a_does_not(
    encoded: dict[str, bytes], chapters: tuple[Chapter, ...], tmp_path: Path
) -> None:
    assert encoded["m4b"][4:12] == b"ftypM4B "  # the encoder writes it
    # an m4b encoded before the brand was set (a cached master: ffmpeg's ipod muxer writes M4A) gets it too
    old = encoded["m4a"]
    assert old[4:12] == b"ftypM4A "
    tagged = write_tagged(old, "m4b", Tags("Book", show="Series"), chapters)
    path = tmp_path / "x.m4b"
    path.write_bytes(tagged)
    assert tagged[4:12] == b"ftypM4B " and tagged[16:20] == b"M4B "  # major and first compatible brand
    mp4 = MP4(path)
    assert mp4.tags is not None and mp4.tags["\xa9nam"] == ["Book"]
    assert len(mp4.chapters or []) == len(chapters)
    assert np.array_equal(decode_bytes(old, "m4a").samples, decode_bytes(tagged, "m4b").samples)  # -c copy
    assert write_tagged(encoded["m4a"], "m4a", Tags("Ep"), chapters)[4:12] == b"ftypM4A "
