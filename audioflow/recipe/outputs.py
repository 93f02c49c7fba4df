"""The recipe's deliverables: one ``output:`` (with ``master:``) or several ``outputs:``, each an
:class:`Output` with its own :class:`Master` (loudness target or store preset, encoding), all made
from the recipe's one mix.

``master:`` holds the settings every output shares; an entry of ``outputs:`` overrides them
(``format``, ``bitrate``, ``sample_rate_hz``, ``channels``, ``bit_depth``) and its ``preset``
replaces the master's loudness target. The first output's master step keeps the id ``master`` (so a
recipe that gains a second output renders nothing again for the first); the others are
``master:<file name>``. Every refusal is a :class:`RecipeError` located at the key that is wrong.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SourceLocation
from ..units import parse_bitrate_kbps, parse_level
from .limits import CHANNELS, SAMPLE_RATES_HZ, shown
from .loader import Document, JsonPath
from .paths import FORMAT_EXTENSIONS, extension_matches

__all__ = [
    "ACX",
    "LOUDNESS_PRESETS",
    "PRESETS",
    "Acx",
    "Master",
    "Output",
    "Preset",
    "mix_channels",
    "mix_settings",
    "parse_outputs",
]

BIT_DEPTHS = (16, 24)
_LOSSLESS = ("wav", "flac")
_ENTRY_KEYS = ("format", "bitrate", "sample_rate_hz", "channels", "bit_depth")


@dataclass(frozen=True)
class Acx:
    """ACX's audio submission requirements (Audible's ACX, "Audio Submission Requirements",
    https://help.acx.com/s/article/what-are-the-acx-audio-submission-requirements): each file
    measures between -23 dB and -18 dB RMS, has peak values no higher than -3 dB and a noise floor
    no higher than -60 dB RMS, is mono or stereo (not mixed), and is a 192 kbps or higher constant
    bit rate MP3 at 44.1 kHz. Levels are dBFS of the decoded samples (a full-scale sine is -3 dB RMS,
    as Audacity's ACX Check measures)."""

    rms_min_dbfs: float = -23.0
    rms_max_dbfs: float = -18.0
    peak_max_dbfs: float = -3.0
    noise_floor_max_dbfs: float = -60.0
    mp3_min_bitrate_kbps: int = 192
    mp3_sample_rate_hz: int = 44100
    target_rms_dbfs: float = -20.0  # what the master aims for: inside the range, 2 dB from its top


ACX = Acx()


@dataclass(frozen=True)
class Preset:
    """A loudness preset: ``target_lufs`` (None for ACX, which targets RMS: ``target_rms_dbfs``),
    ``true_peak_dbtp`` ceiling, the ``tolerance_lu`` the store allows around the target (what the
    QC report checks), ``channels`` it sets (None: the master's) and the ``source`` of its figures."""

    name: str
    target_lufs: float | None
    true_peak_dbtp: float
    tolerance_lu: float
    source: str
    channels: int | None = None
    target_rms_dbfs: float | None = None


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("podcast", -16.0, -1.0, 1.0, "Apple Podcasts: -16 LUFS ±1 LU, true peak ≤ -1 dBTP"),
        Preset("streaming", -14.0, -1.0, 1.0, "Spotify / YouTube normalisation level"),
        Preset("ebu-r128", -23.0, -1.0, 0.5, "EBU R 128: -23 LUFS ±0.5 LU (±1 LU live), ≤ -1 dBTP"),
        Preset("atsc-a85", -24.0, -2.0, 2.0, "ATSC A/85: -24 LKFS ±2 dB, ≤ -2 dBTP"),
        Preset(
            "speech-mono",
            -19.0,
            -1.0,
            1.0,
            "AES TD1004 / Apple: -19 LUFS for mono speech (-16 for stereo), ±1 LU, ≤ -1 dBTP",
            channels=1,
        ),
        Preset(
            "audiobook",
            None,
            ACX.peak_max_dbfs,
            0.0,
            "ACX: RMS -23 … -18 dBFS, peak ≤ -3 dBFS, noise floor ≤ -60 dBFS, 192 kbps CBR mp3 44.1 kHz",
            target_rms_dbfs=ACX.target_rms_dbfs,
        ),
    )
}
#: (LUFS, dBTP) of every preset with a loudness target (``audiobook`` targets RMS: see :data:`ACX`).
LOUDNESS_PRESETS = {name: (p.target_lufs, p.true_peak_dbtp) for name, p in PRESETS.items() if p.target_lufs}
#: A custom target (``loudness_lufs`` without a store preset) passes QC within this many LU.
CUSTOM_TOLERANCE_LU = 0.5


@dataclass(frozen=True)
class Master:
    """One output's master: loudness target (LUFS, ITU-R BS.1770) or, for ``audiobook``, RMS target
    (``target_rms_dbfs``); true-peak ceiling (dBTP); the encoding (``format``, ``bitrate_kbps``,
    ``sample_rate_hz``, ``channels``, ``bit_depth`` of wav/flac) and the ``preset`` whose limits
    its QC report checks (None: a custom ``loudness_lufs``)."""

    location: SourceLocation
    target_lufs: float = -16.0
    true_peak_dbtp: float = -1.0
    format: str = "mp3"
    bitrate_kbps: int = 192
    sample_rate_hz: int = 44100
    channels: int = 2
    bit_depth: int = 24
    preset: str | None = "podcast"
    target_rms_dbfs: float | None = None

    @property
    def tolerance_lu(self) -> float:
        """How far (LU) the measured loudness may miss the target and pass QC."""
        return PRESETS[self.preset].tolerance_lu if self.preset else CUSTOM_TOLERANCE_LU


@dataclass(frozen=True)
class Output:
    """One deliverable: the file ``path`` (inside the recipe's folder), its master step ``step_id``,
    its :class:`Master`, where the recipe declares it, and ``sidecar_stem``: the name its sidecars
    (manifest, transcripts…) start with — the file's stem, or its whole name when another output
    shares the stem (``ep.mp3.manifest.json`` beside ``ep.m4b.manifest.json``)."""

    path: Path
    step_id: str
    master: Master
    location: SourceLocation
    sidecar_stem: str


def _level(doc: Document, path: JsonPath, value: Any, unit: str) -> float:
    try:
        return parse_level(value, unit)
    except ValueError as exc:
        raise doc.error(path, str(exc)) from None


def _choice(doc: Document, path: JsonPath, value: Any, allowed: tuple[int, ...]) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in allowed:
        raise doc.error(path, f"{shown(value)} is not one of: {', '.join(map(str, allowed))}")
    return int(value)


def _path(doc: Document, root: Path, written: Any, where: JsonPath) -> Path:
    candidate = Path(written)
    try:
        resolved = (root / candidate).resolve()
    except (OSError, ValueError) as exc:  # a NUL byte, a name the file system refuses
        raise doc.error(where, f"output {written!r} is not a usable path: {exc}") from None
    if candidate.is_absolute() or not resolved.is_relative_to(root.resolve()):
        raise doc.error(
            where,
            f"output {written!r} is outside the recipe's folder",
            hint="write a relative path like out/episode.mp3",
        )
    return root / candidate


def _format(doc: Document, path: Path, written: Any, given: tuple[Any, JsonPath] | None, where: JsonPath) -> str:
    """The output's format: ``given`` (value, where) or its extension's; refused when they disagree."""
    if given is None:
        fmt = {f".{name}": name for name in FORMAT_EXTENSIONS}.get(path.suffix.lower())
        if fmt is None:
            raise doc.error(
                where,
                f"cannot tell the format from {path.name!r}",
                hint="use .mp3, .m4a, .m4b, .wav, .ogg, .opus or .flac, or set "
                + ("master.format" if where == ("output",) else "format"),
            )
        return fmt
    fmt = str(given[0])
    if not extension_matches(path, fmt):
        wanted = FORMAT_EXTENSIONS.get(fmt, (f".{fmt}",))
        setting = "master.format" if given[1][0] == "master" else "format"
        raise doc.error(
            where,
            f"output {written!r} does not end in {' or '.join(wanted)}, the extension of {setting} {fmt}",
            hint=f"name it {Path(str(written)).with_suffix(wanted[0]).name}, or change {setting}",
        )
    return fmt


def _target(
    doc: Document, master: dict[str, Any], entry: dict[str, Any], where: JsonPath
) -> tuple[Preset, float, float]:
    """The output's preset, target LUFS and ceiling dBTP: the entry's ``preset`` replaces the master's
    (and its ``loudness_lufs``/``true_peak_dbtp``), which otherwise override its preset one by one."""
    if "preset" in entry:
        preset = PRESETS[entry["preset"]]
        return preset, preset.target_lufs or 0.0, preset.true_peak_dbtp
    preset = PRESETS[master.get("preset", "podcast")]
    lufs, peak = preset.target_lufs or 0.0, preset.true_peak_dbtp
    if "loudness_lufs" in master:
        if preset.target_rms_dbfs is not None:
            raise doc.error(
                ("master", "loudness_lufs"),
                f"the {preset.name} preset targets RMS (ACX), not LUFS",
                key=True,
                hint="leave loudness_lufs out, or choose a LUFS preset",
            )
        lufs = _level(doc, ("master", "loudness_lufs"), master["loudness_lufs"], "LUFS")
        preset = Preset("", lufs, peak, CUSTOM_TOLERANCE_LU, "")
    if "true_peak_dbtp" in master:
        peak = _level(doc, ("master", "true_peak_dbtp"), master["true_peak_dbtp"], "dBTP")
    if not -40.0 <= lufs <= -5.0 and preset.target_lufs is not None:
        raise doc.error(("master", "loudness_lufs"), f"{lufs:g} LUFS is out of range: must be -40 to -5 LUFS")
    if not -10.0 <= peak <= 0.0:
        raise doc.error(("master", "true_peak_dbtp"), f"{peak:g} dBTP is out of range: must be -10 to 0 dBTP")
    return preset, lufs, peak


def _setting(master: dict[str, Any], entry: dict[str, Any], where: JsonPath, key: str) -> tuple[Any, JsonPath] | None:
    """(value, path) of ``key``: the entry's, else the master's, else None."""
    if key in entry:
        return entry[key], (*where, key)
    if key in master:
        return master[key], ("master", key)
    return None


def _master(
    doc: Document, data: dict[str, Any], entry: dict[str, Any], where: JsonPath, path: Path, written: Any
) -> Master:
    """The :class:`Master` of the output at ``path``, declared at ``where`` with ``entry``'s settings."""
    master = data.get("master", {})
    preset, lufs, peak = _target(doc, master, entry, where)
    fmt = _format(doc, path, written, _setting(master, entry, where, "format"), (*where, "path") if entry else where)
    values: dict[str, Any] = {}
    for key in _ENTRY_KEYS:
        values[key] = _setting(master, entry, where, key)
    bitrate, rate, channels, depth = (values[k] for k in ("bitrate", "sample_rate_hz", "channels", "bit_depth"))
    bitrate_kbps = 192 if bitrate is None else _bitrate(doc, *bitrate)
    rate_hz = 48000 if fmt in ("ogg", "opus") else 44100
    if rate is not None:
        rate_hz = _choice(doc, rate[1], rate[0], SAMPLE_RATES_HZ)
    count = preset.channels or 2
    if channels is not None:
        count = _choice(doc, channels[1], channels[0], CHANNELS)
        if preset.channels is not None and count != preset.channels:
            raise doc.error(channels[1], f"the {preset.name} preset is {preset.channels}-channel, not {count}")
    bit_depth = 24
    if depth is not None:
        if fmt not in _LOSSLESS:
            raise doc.error(depth[1], f"bit_depth applies to wav and flac, not {fmt}", key=True)
        bit_depth = _choice(doc, depth[1], depth[0], BIT_DEPTHS)
    if preset.name == "audiobook" and fmt == "mp3":
        _check_acx_mp3(doc, bitrate_kbps, rate_hz, bitrate, rate, where)
    return Master(
        location=doc.locate(where),
        target_lufs=lufs,
        true_peak_dbtp=peak,
        format=fmt,
        bitrate_kbps=bitrate_kbps,
        sample_rate_hz=rate_hz,
        channels=count,
        bit_depth=bit_depth,
        preset=preset.name or None,
        target_rms_dbfs=preset.target_rms_dbfs,
    )


def _bitrate(doc: Document, value: Any, where: JsonPath) -> int:
    try:
        return int(parse_bitrate_kbps(value))
    except ValueError as exc:
        raise doc.error(where, str(exc)) from None


def _check_acx_mp3(
    doc: Document,
    kbps: int,
    rate_hz: int,
    bitrate: tuple[Any, JsonPath] | None,
    rate: tuple[Any, JsonPath] | None,
    where: JsonPath,
) -> None:
    """ACX takes CBR mp3 at 192 kbps or more and 44.1 kHz: refuse anything else at validate."""
    if kbps < ACX.mp3_min_bitrate_kbps:
        raise doc.error(
            bitrate[1] if bitrate else where,
            f"the audiobook preset (ACX) needs an mp3 of {ACX.mp3_min_bitrate_kbps} kbps or more, not {kbps}k",
        )
    if rate_hz != ACX.mp3_sample_rate_hz:
        raise doc.error(rate[1] if rate else where, f"the audiobook preset (ACX) needs 44100 Hz, not {rate_hz}")


def _default_path(data: dict[str, Any], root: Path, stem: str) -> Path:
    fmt = data.get("master", {}).get("format", "mp3")
    return root / "out" / f"{stem}.{fmt}"


def parse_outputs(doc: Document, data: dict[str, Any], root: Path, stem: str) -> tuple[Output, ...]:
    """Every output of the recipe: ``outputs:`` (a list), else the single ``output:`` (default
    ``out/<recipe stem>.<master.format>``) with ``master:``. Raises :class:`RecipeError` (located)
    for an output outside the recipe's folder, a format its extension does not suit, two outputs of
    one file name, both ``output`` and ``outputs``, or settings out of range."""
    if "outputs" in data and "output" in data:
        raise doc.error(("output",), "a recipe has `output:` or `outputs:`, not both", key=True)
    found: list[tuple[Path, Master, JsonPath]] = []
    if "outputs" not in data:
        written = data.get("output")
        path = _default_path(data, root, stem) if written is None else _path(doc, root, written, ("output",))
        shown_path = path.relative_to(root) if written is None else written
        found.append((path, _master(doc, data, {}, ("output",), path, shown_path), ("output",)))
    for i, entry in enumerate(data.get("outputs", [])):
        where: JsonPath = ("outputs", i)
        path = _path(doc, root, entry["path"], (*where, "path"))
        found.append((path, _master(doc, data, entry, where, path, entry["path"]), where))
    names: dict[str, str] = {}  # by the name case-folded: x.mp3 and X.mp3 are one file on macOS and Windows
    for path, _, where in found:
        if (first := names.get(path.name.casefold())) is not None:
            both = repr(path.name) if first == path.name else f"{first!r} and {path.name!r}"
            raise doc.error(
                (*where, "path"),
                f"two outputs are named {both}",
                hint="give every output its own file name: the name tells their master steps apart"
                + (
                    ""
                    if first == path.name
                    else ", and names that differ only in case are one file on macOS and Windows"
                ),
            )
        names[path.name.casefold()] = path.name
    stems = Counter(path.stem.casefold() for path, _, _ in found)
    return tuple(
        Output(
            path,
            "master" if i == 0 else f"master:{path.name}",
            master,
            doc.locate(where),
            path.name if stems[path.stem.casefold()] > 1 else path.stem,
        )
        for i, (path, master, where) in enumerate(found)
    )


def mix_channels(data: Any) -> int:
    """The mix's channel count as the raw recipe ``data`` declares it (before it is checked: what
    effects are parsed against): the most channels of any output, each set by the output, else by
    ``master``, else by its preset (``speech-mono``: 1), else 2. :func:`mix_settings` is the checked form."""
    if not isinstance(data, dict):
        return 2
    master: dict[str, Any] = data["master"] if isinstance(data.get("master"), dict) else {}
    entries = (
        [e for e in data.get("outputs", [{}]) if isinstance(e, dict)] if isinstance(data.get("outputs"), list) else [{}]
    )
    counts = []
    for entry in entries or [{}]:
        preset = PRESETS.get(str(entry.get("preset", master.get("preset", "podcast"))))
        value = entry.get("channels", master.get("channels", preset.channels if preset and preset.channels else 2))
        counts.append(value if value in CHANNELS else 2)
    return max(counts)


def mix_settings(outputs: tuple[Output, ...]) -> tuple[int, int]:
    """(sample rate Hz, channels) of the one mix every output is mastered from: the highest of the
    outputs' (for one output, its own), so no output is made from less than it keeps."""
    return max(o.master.sample_rate_hz for o in outputs), max(o.master.channels for o in outputs)
