"""Tags and artwork written with mutagen into every format, read back with mutagen; cover checks."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import mutagen
import numpy as np
import pytest
from mutagen.flac import Picture
from PIL import Image

from audioflow.audio import Audio, decode_bytes, encode
from audioflow.audio.tags import COVER_MAX_BYTES, TAGGED_FORMATS, Artwork, Tags, read_artwork, write_tags
from audioflow.errors import AudioError


def _tone(rate_hz: int = 44100) -> Audio:
    t = np.arange(rate_hz, dtype=np.float32) / rate_hz
    wave = 0.2 * np.sin(2 * np.pi * 440.0 * t)
    return Audio(np.stack([wave, wave], axis=1).astype(np.float32), rate_hz)


def _image(path: Path, size: tuple[int, int] = (1400, 1400), mode: str = "RGB", fmt: str = "PNG") -> Path:
    Image.new(mode, size, 0).save(path, fmt)
    return path


FULL = Tags(
    title="The Door",
    show="Night Shift",
    author="Ana Ruiz",
    episode=12,
    season=2,
    date="2025-03-14",
    description="Mara hears something at the door.",
    language="en-GB",
    copyright="© 2025 Ana Ruiz",
    explicit=False,
)


@pytest.fixture(scope="module")
def cover(tmp_path_factory: pytest.TempPathFactory) -> Artwork:
    return read_artwork(_image(tmp_path_factory.mktemp("art") / "cover.png"))


@pytest.mark.parametrize("fmt", ["mp3", "wav"])
def test_id3_frames_and_apic_read_back(fmt: str, cover: Artwork) -> None:
    tagged = write_tags(encode(_tone(), fmt), fmt, Tags(**{**FULL.__dict__, "cover": cover}))
    tags = mutagen.File(io.BytesIO(tagged)).tags
    assert tags.version == (2, 4, 0)
    assert str(tags["TIT2"]) == "The Door" and str(tags["TALB"]) == "Night Shift"
    assert str(tags["TPE1"]) == "Ana Ruiz" and str(tags["TRCK"]) == "12" and str(tags["TPOS"]) == "2"
    assert str(tags["TDRC"]) == "2025-03-14" and str(tags["TCOP"]) == "© 2025 Ana Ruiz"
    assert tags.getall("COMM")[0].text == ["Mara hears something at the door."]
    assert str(tags["TXXX:LANGUAGE"]) == "en-GB" and "TLAN" not in tags  # "en" is not ISO 639-2
    assert str(tags["TXXX:ITUNESADVISORY"]) == "0"
    (apic,) = tags.getall("APIC")
    assert apic.mime == "image/png" and apic.type == 3 and apic.data == cover.data


@pytest.mark.parametrize("fmt", ["flac", "opus", "ogg"])
def test_vorbis_comments_and_picture_read_back(fmt: str, cover: Artwork) -> None:
    tagged = write_tags(encode(_tone(), fmt), fmt, Tags(**{**FULL.__dict__, "cover": cover, "language": "eng"}))
    audio = mutagen.File(io.BytesIO(tagged))
    tags = audio.tags
    assert tags["TITLE"] == ["The Door"] and tags["ALBUM"] == ["Night Shift"] and tags["ARTIST"] == ["Ana Ruiz"]
    assert tags["TRACKNUMBER"] == ["12"] and tags["DISCNUMBER"] == ["2"] and tags["DATE"] == ["2025-03-14"]
    assert tags["LANGUAGE"] == ["eng"] and tags["ITUNESADVISORY"] == ["0"]
    if fmt == "flac":
        (picture,) = audio.pictures
    else:
        picture = Picture(base64.b64decode(tags["METADATA_BLOCK_PICTURE"][0]))
    assert picture.type == 3 and picture.mime == "image/png" and picture.data == cover.data
    assert (picture.width, picture.height) == (1400, 1400)


def test_id3_tlan_for_a_three_letter_code_and_explicit() -> None:
    tagged = write_tags(encode(_tone(), "mp3"), "mp3", Tags("T", language="eng", explicit=True))
    tags = mutagen.File(io.BytesIO(tagged)).tags
    assert str(tags["TLAN"]) == "eng" and str(tags["TXXX:ITUNESADVISORY"]) == "1"
    assert "TALB" not in tags and "APIC:" not in tags  # unset fields write nothing


@pytest.mark.parametrize("fmt", TAGGED_FORMATS)
def test_tagging_leaves_the_audio_as_it_was(fmt: str, cover: Artwork) -> None:
    plain = encode(_tone(), fmt)
    tagged = write_tags(plain, fmt, Tags(**{**FULL.__dict__, "cover": cover}))
    assert tagged != plain
    before, after = decode_bytes(plain, fmt), decode_bytes(tagged, fmt)
    assert np.array_equal(before.samples, after.samples)


def test_retagging_replaces_the_old_tags() -> None:
    once = write_tags(encode(_tone(), "flac"), "flac", FULL)
    twice = write_tags(once, "flac", Tags("Other"))
    tags = mutagen.File(io.BytesIO(twice)).tags
    assert tags["TITLE"] == ["Other"] and "ALBUM" not in tags


def test_an_unknown_format_or_bad_data_is_an_audio_error() -> None:
    with pytest.raises(AudioError, match="cannot tag 'aiff'"):
        write_tags(b"data", "aiff", FULL)
    with pytest.raises(AudioError, match="cannot tag the flac file"):
        write_tags(b"not a flac file at all", "flac", FULL)


def test_a_jpeg_cover_is_read_with_its_size(tmp_path: Path) -> None:
    art = read_artwork(_image(tmp_path / "c.jpg", (3000, 3000), fmt="JPEG"))
    assert (art.mime, art.width_px, art.height_px) == ("image/jpeg", 3000, 3000)


@pytest.mark.parametrize(
    ("size", "mode", "fmt", "message"),
    [
        ((1400, 1500), "RGB", "PNG", "cover image is 1400×1500 px: it must be square"),
        ((1200, 1200), "RGB", "PNG", "cover image is 1200×1200 px: hosts take 1400–3000 px a side"),
        ((3001, 3001), "RGB", "PNG", "cover image is 3001×3001 px: hosts take 1400–3000 px a side"),
        ((1400, 1400), "CMYK", "JPEG", "cover image is in CMYK colour: hosts take RGB without an alpha channel"),
        ((1400, 1400), "RGBA", "PNG", "cover image is in RGBA colour: hosts take RGB without an alpha channel"),
        ((1400, 1400), "L", "PNG", "cover image is in L colour: hosts take RGB without an alpha channel"),
        ((1400, 1400), "RGB", "GIF", "cover image is GIF: hosts take JPEG or PNG"),
    ],
)
def test_a_cover_hosts_refuse_is_an_audio_error(tmp_path: Path, size, mode, fmt, message) -> None:
    path = _image(tmp_path / f"cover.{fmt.lower()}", size, mode, fmt)
    with pytest.raises(AudioError) as caught:
        read_artwork(path)
    assert str(caught.value) == message


def test_a_cover_that_is_too_large_or_not_an_image(tmp_path: Path) -> None:
    noise = np.random.default_rng(1).integers(0, 256, (1400, 1400, 3), dtype=np.uint8)
    big = tmp_path / "big.png"
    Image.fromarray(noise, "RGB").save(big)
    assert big.stat().st_size > COVER_MAX_BYTES
    with pytest.raises(AudioError, match=r"cover image is \d+ KiB: at most 512 KiB"):
        read_artwork(big)
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(AudioError, match="cover image is not a JPEG or PNG image"):
        read_artwork(tmp_path / "text.png")


@pytest.mark.parametrize("fmt", ["m4a", "m4b"])
def test_mp4_atoms_and_covr_read_back(fmt: str, cover: Artwork) -> None:
    tagged = write_tags(encode(_tone(), fmt), fmt, Tags(**{**FULL.__dict__, "cover": cover, "explicit": True}))
    tags = mutagen.File(io.BytesIO(tagged)).tags
    assert tags["\xa9nam"] == ["The Door"] and tags["\xa9alb"] == ["Night Shift"] and tags["\xa9ART"] == ["Ana Ruiz"]
    assert tags["trkn"] == [(12, 0)] and tags["disk"] == [(2, 0)] and tags["\xa9day"] == ["2025-03-14"]
    assert tags["desc"] == ["Mara hears something at the door."] and tags["cprt"] == ["© 2025 Ana Ruiz"]
    assert tags["rtng"] == [1] and bytes(tags["----:com.apple.iTunes:LANGUAGE"][0]) == b"en-GB"
    (art,) = tags["covr"]
    assert bytes(art) == cover.data and art.imageformat == art.FORMAT_PNG
    if fmt == "m4b":  # an audiobook: Apple's media kind 2 and the genre say so
        assert tags["stik"] == [2] and tags["\xa9gen"] == ["Audiobook"]
    else:
        assert "stik" not in tags and tags["\xa9gen"] == ["Podcast"]
