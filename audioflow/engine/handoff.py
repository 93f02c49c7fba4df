"""The DAW hand-off a bounce writes when the recipe asks for ``stems:``: the stems themselves in
``<stem>.stems/`` (one WAV per stem step, float or 24-bit, as long as the programme, at the mix rate),
a Reaper project ``<stem>.stems/<stem>.RPP`` with one track per stem and its item at 0 s (written
with the ``rpp`` library; media paths relative to the project, so the folder can move), and an
Audacity label track ``<stem>.labels.txt`` beside the output: one label per chapter and per spoken
line (``start<TAB>end<TAB>Speaker: text``, seconds), Audacity's documented label-file format
(File ▸ Import ▸ Labels…).

Each stem is copied from the store with its sha256 checked on the way (a damaged object is set
aside, as for the master) and written atomically: a temporary file in the folder, then a rename."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..cache import ArtifactStore
from ..errors import CacheError
from ..recipe.stems import STEM_FORMATS
from .meta import Segment

if TYPE_CHECKING:
    from ..audio.chapters import Chapter

__all__ = ["StemFile", "labels_text", "reaper_project", "write_stem"]


@dataclass(frozen=True)
class StemFile:
    """A stem written beside the output: its ``name`` (file stem), ``path``, length in ``frames`` at
    ``sample_rate_hz`` and its ``channels``."""

    name: str
    path: Path
    frames: int
    sample_rate_hz: int
    channels: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate_hz


def _check_digest(store: ArtifactStore, source: Path, digest: str) -> None:
    sha = hashlib.sha256()
    with open(source, "rb") as handle:
        while block := handle.read(1 << 20):
            sha.update(block)
    if sha.hexdigest() != digest:
        key = Path(os.path.relpath(source, store.root)).as_posix()
        finding = store.set_aside(key, "its content does not match its digest")
        raise CacheError(f"{finding}; run again to render it afresh")


def write_stem(store: ArtifactStore, source: Path, digest: str, target: Path, fmt: str) -> StemFile:
    """Write the stored float32 WAV ``source`` (hex sha256 ``digest``, checked first) to ``target``
    as ``fmt`` (a key of :data:`~audioflow.recipe.stems.STEM_FORMATS`: ``float`` or ``pcm24``, whose
    samples beyond full scale are clipped), block by block, atomically. Raises :class:`CacheError`
    for a damaged object, ``AudioError`` when the file cannot be written."""
    from ..audio import AudioFile, convert_wav  # numpy and soundfile: only when stems are written

    _check_digest(store, source, digest)
    audio = AudioFile.open(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        convert_wav(audio, tmp, STEM_FORMATS[fmt])
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return StemFile(target.stem, target, audio.frames, audio.sample_rate_hz, audio.channels)


def reaper_project(stems: Sequence[StemFile], title: str) -> str:
    """A Reaper project (``.RPP`` text) with one track per stem, named after it, holding the stem as
    one item from 0 s for its whole length; the project rate is the stems' rate. Media paths are
    the stems' file names: the project sits in their folder."""
    import rpp

    rate = stems[0].sample_rate_hz if stems else 48000
    project = rpp.Element("REAPER_PROJECT", ["0.1", "6.0", "0"])
    project.append(["TITLE", title])
    project.append(["SAMPLERATE", str(rate), "0", "0"])
    for stem in stems:
        source = rpp.Element("SOURCE", ["WAVE"], [["FILE", stem.path.name]])
        item = rpp.Element(
            "ITEM",
            children=[["POSITION", "0"], ["LENGTH", f"{stem.duration_s:.6f}"], ["NAME", stem.name], source],
        )
        project.append(
            rpp.Element("TRACK", children=[["NAME", stem.name], ["NCHAN", str(max(2, stem.channels))], item])
        )
    return str(rpp.dumps(project))


def labels_text(segments: Iterable[Segment], chapters: Iterable[Chapter] = ()) -> str:
    """An Audacity label track: one ``start<TAB>end<TAB>label`` line (seconds, six decimals) per
    chapter (``Chapter: title``) and per segment (``Speaker: text``), in time order, a chapter
    before a line that starts with it; text on one line (tabs and newlines become spaces)."""
    rows = [(c.start_ms, 0, c.end_ms, f"Chapter: {c.title}") for c in chapters]
    for seg in segments:
        rows.append((seg.start_ms, 1, seg.end_ms, f"{seg.voice}: {seg.text}" if seg.voice else seg.text))
    return "".join(f"{s / 1000:.6f}\t{e / 1000:.6f}\t{' '.join(text.split())}\n" for s, _, e, text in sorted(rows))
