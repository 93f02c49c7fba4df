"""An independent check of the files around the audio: tags, artwork, chapters, transcripts and the
manifest of every output a run wrote, read back with mutagen, ffmpeg, ``srt``, ``webvtt-py`` and
the manifest's JSON Schema — never with audioflow's own readers.

Run: ``PYTHONPATH=$PWD python benchmarks/check_files.py OUT_DIR`` after ``audioflow run`` of a
recipe with ``meta:`` (title, show, author, date, cover), chapters, speech and several outputs.
Prints one line per check (``check → result``); exit status 1 when any check fails.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema_rs
import srt
import webvtt
from mutagen.flac import FLAC, Picture
from mutagen.id3 import ID3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.wave import WAVE

from audioflow.audio.io import ffmpeg_exe
from audioflow.engine.bounce import manifest_schema
from audioflow.recipe.outputs import ACX

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_deliverables import read_back  # the same ffmpeg/pyloudnorm reader

_FAILED: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'pass' if ok else 'FAIL'} | {name} | {detail}")
    if not ok:
        _FAILED.append(name)


def ffmpeg_chapters(path: Path) -> tuple[list[tuple[float, str]], str]:
    """(start s, title) of every chapter ffmpeg lists (in ffmpeg's order), and its whole report."""
    text = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    found = re.findall(r"Chapter #\d+:\d+: start ([\d.]+), end [\d.]+\n\s+Metadata:\n\s+title\s+: ([^\n]*)", text)
    return [(float(s), t) for s, t in found], text


def check_id3(path: Path, expected: list[tuple[float, str]]) -> None:
    tags = ID3(path)
    check(f"{path.name}: ID3v2.{tags.version[1]}", tags.version[:2] in ((2, 3), (2, 4)))
    for frame in ("TIT2", "TPE1", "TALB", "TDRC", "APIC:"):
        check(f"{path.name}: {frame.rstrip(':')}", frame in tags, str(tags.get(frame))[:40] if frame in tags else "")
    if "APIC:" in tags:
        apic = tags["APIC:"]
        check(f"{path.name}: APIC front cover", apic.type == 3 and apic.mime in ("image/jpeg", "image/png"))
    chaps = sorted((c.start_time / 1000.0, str(c.sub_frames["TIT2"])) for c in tags.getall("CHAP"))
    toc = tags.getall("CTOC")
    check(f"{path.name}: CTOC top-level ordered", len(toc) == 1 and int(toc[0].flags) & 3 == 3)
    order = [c.element_id for c in sorted(tags.getall("CHAP"), key=lambda c: c.start_time)]
    check(f"{path.name}: CTOC lists CHAPs in time order", bool(toc) and toc[0].child_element_ids == order)
    check(f"{path.name}: CHAP ms times", _close(chaps, expected), str(chaps))


def check_mp4(path: Path, expected: list[tuple[float, str]]) -> None:
    mp4 = MP4(path)
    for atom in ("©nam", "©ART", "©alb", "©day", "covr"):
        check(f"{path.name}: {atom}", atom in (mp4.tags or {}))
    chapters = [(c.start, c.title) for c in mp4.chapters or []]
    check(f"{path.name}: MP4 chapters (mutagen)", _close(chapters, expected), str(chapters))
    brand = path.read_bytes()[8:12].decode("latin-1")
    want = "M4B " if path.suffix == ".m4b" else "M4A "
    check(f"{path.name}: major brand {want!r}", brand == want, repr(brand))


def check_vorbis(path: Path, expected: list[tuple[float, str]]) -> None:
    audio = FLAC(path) if path.suffix == ".flac" else OggOpus(path)
    tags = audio.tags
    for key in ("TITLE", "ARTIST", "ALBUM", "DATE"):
        check(f"{path.name}: {key}", key in tags)
    if path.suffix == ".flac":
        check(f"{path.name}: FLAC picture block", any(p.type == 3 for p in audio.pictures))
    else:
        blocks = tags.get("METADATA_BLOCK_PICTURE", [])
        ok = bool(blocks) and Picture(base64.b64decode(blocks[0])).type == 3
        check(f"{path.name}: METADATA_BLOCK_PICTURE", ok)
    chapters = []
    for n in range(1, 1000):
        stamp = tags.get(f"CHAPTER{n:03d}")
        if not stamp:
            break
        h, m, s = stamp[0].split(":")
        chapters.append((int(h) * 3600 + int(m) * 60 + float(s), tags[f"CHAPTER{n:03d}NAME"][0]))
    check(f"{path.name}: Vorbis CHAPTERnnn", _close(chapters, expected), str(chapters))


def _close(got: list[tuple[float, str]], expected: list[tuple[float, str]], tolerance_s: float = 0.0015) -> bool:
    return len(got) == len(expected) and all(
        abs(a - b) <= tolerance_s and s == t for (a, s), (b, t) in zip(got, expected, strict=True)
    )


def check_transcripts(srt_path: Path, vtt_path: Path) -> None:
    cues = list(srt.parse(srt_path.read_text(encoding="utf-8")))
    check(f"{srt_path.name}: SRT comma ms", bool(re.search(r"\d\d:\d\d:\d\d,\d\d\d --> ", srt_path.read_text())))
    lines = [line for cue in cues for line in cue.content.split("\n")]
    longest = max(len(line) for line in lines)
    check(f"{srt_path.name}: ≤ 2 lines per cue", all(len(c.content.split("\n")) <= 2 for c in cues))
    check(f"{srt_path.name}: ≤ 42 chars per line", longest <= 42, f"longest {longest}")
    seconds = max((c.end - c.start).total_seconds() for c in cues)
    check(f"{srt_path.name}: ≤ 7 s per cue", seconds <= 7.0, f"longest {seconds:.2f} s, {len(cues)} cues")
    vtt = webvtt.read(str(vtt_path))
    voices = sum(1 for c in vtt if c.voice or "<v " in c.raw_text)
    check(f"{vtt_path.name}: WebVTT parses, <v Speaker>", len(vtt) == len(cues) and voices == len(vtt), f"{voices}")
    vtt_lines = [re.sub(r"<[^>]+>", "", line) for c in vtt for line in c.raw_text.split("\n")]
    check(f"{vtt_path.name}: ≤ 42 chars per line (text)", max(len(x) for x in vtt_lines) <= 42)


def check_output(path: Path, manifest: dict) -> None:
    chapters_json = Path(str(path) + ".chapters.json")
    data = json.loads(chapters_json.read_text())
    check(
        f"{chapters_json.name}: version + startTime",
        "version" in data and all("startTime" in c for c in data["chapters"]),
    )
    expected = [(c["startTime"], c["title"]) for c in data["chapters"]]
    listed, report = ffmpeg_chapters(path)
    if path.suffix in (".m4a", ".m4b") and listed and expected:
        # a QuickTime chapter track has no gap before its first sample: ffmpeg reads chapter 1 from 0
        listed = [
            (expected[0][0] if i == 0 and start == 0.0 else start, title) for i, (start, title) in enumerate(listed)
        ]
    if path.suffix != ".wav":
        check(
            f"{path.name}: ffmpeg lists chapters",
            sorted(listed) == sorted(expected) or _close(sorted(listed), expected),
        )
        check(
            f"{path.name}: ffmpeg lists chapters in time order", listed == sorted(listed), str([t for _, t in listed])
        )
    check(f"{path.name}: ffmpeg sees the cover", "(attached pic)" in report)
    if path.suffix in (".mp3", ".wav"):
        if path.suffix == ".mp3":
            check_id3(path, expected)
        else:
            tags = WAVE(path).tags
            check(f"{path.name}: id3 chunk TIT2 + APIC", tags is not None and "TIT2" in tags and "APIC:" in tags)
    elif path.suffix in (".m4a", ".m4b"):
        check_mp4(path, expected)
    else:
        check_vorbis(path, expected)
    qc = manifest["qc"]
    check(f"{path.name}: manifest QC verdict", qc["pass"], "; ".join(c["reason"] for c in qc["checks"])[:300])
    check_levels(path, manifest)


def check_levels(path: Path, manifest: dict) -> None:
    """Loudness (±0.2 LU; ACX: RMS in range) and true peak (≤ the ceiling) as ffmpeg and pyloudnorm read them."""
    got = read_back(path)
    loudness = manifest["loudness"]
    ceiling = loudness["target_true_peak_dbtp"]
    if loudness.get("target_rms_dbfs") is not None:
        ok = ACX.rms_min_dbfs <= got.rms_dbfs <= ACX.rms_max_dbfs and got.sample_peak_dbfs <= ACX.peak_max_dbfs
        check(
            f"{path.name}: ACX RMS/peak (ffmpeg)", ok, f"RMS {got.rms_dbfs:.2f} dBFS, peak {got.sample_peak_dbfs:.2f}"
        )
    else:
        target = loudness["target_lufs"]
        ok = abs(got.lufs_ffmpeg - target) <= 0.2 and abs(got.lufs_pyloudnorm - target) <= 0.2
        detail = f"{got.lufs_ffmpeg:.2f} / {got.lufs_pyloudnorm:.2f} LUFS, target {target:g}"
        check(f"{path.name}: loudness ±0.2 LU (ffmpeg / pyloudnorm)", ok, detail)
    detail = f"{got.true_peak_dbtp:.2f} dBTP, ceiling {ceiling:g}"
    check(f"{path.name}: true peak ≤ ceiling (ffmpeg ebur128)", got.true_peak_dbtp <= ceiling, detail)
    detail = f"{got.codec} {got.rate_hz} Hz {got.channels} ch {got.bitrate_kbps or '-'} kb/s"
    check(f"{path.name}: stream", got.rate_hz == manifest["qc"]["sample_rate_hz"], detail)


def main() -> int:
    folder = Path(sys.argv[1])
    validator = jsonschema_rs.validator_for(manifest_schema())
    outputs = sorted(
        p for p in folder.iterdir() if p.suffix in (".mp3", ".m4a", ".m4b", ".opus", ".ogg", ".flac", ".wav")
    )
    for path in outputs:
        manifest = json.loads(Path(str(path) + ".manifest.json").read_text())
        errors = list(validator.iter_errors(manifest))
        check(f"{path.name}.manifest.json: schema", not errors, str(errors[:1]))
        check_output(path, manifest)
        check_transcripts(Path(str(path) + ".srt"), Path(str(path) + ".vtt"))
    print(f"\n{len(_FAILED)} failed: {_FAILED}")
    return 1 if _FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
