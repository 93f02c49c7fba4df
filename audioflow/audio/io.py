"""Reading, writing, decoding and encoding audio: the one boundary to ffmpeg and WAV files.

ffmpeg is the binary shipped by ``imageio-ffmpeg`` (``imageio_ffmpeg.get_ffmpeg_exe()``), looked up
lazily on first use. Every failure (unreadable data, ffmpeg error, unsupported format) is raised as
``AudioError`` from its cause, carrying the tail of ffmpeg's stderr when there is one.

Decoding is strict about what a file claims: a WAV whose header declares more audio than the file
holds is refused as truncated (``truncated: header says 2.00 s, file holds 1.00 s``) instead of
being read at part length. Decoded audio has at most two channels: more are downmixed to stereo
(:func:`decode_file` gives the rule).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import struct
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from audioflow.audio.types import Audio
from audioflow.errors import AudioError

__all__ = [
    "BS775_5_1_TO_STEREO",
    "SUPPORTED_FORMATS",
    "AudioInfo",
    "decode_bytes",
    "decode_file",
    "encode",
    "ffmpeg_exe",
    "probe_file",
    "read_wav",
    "write_wav",
]

SUPPORTED_FORMATS: tuple[str, ...] = ("wav", "mp3", "ogg", "opus", "flac", "m4a", "m4b")
"""Formats :func:`encode` writes. ``ogg`` and ``opus`` both mean Opus in an Ogg container; ``m4a``
and ``m4b`` (an audiobook) both mean AAC-LC (ffmpeg's native ``aac`` encoder, fast coder) in an MPEG-4 file."""

#: 5.1 → stereo by ITU-R BS.775: L' = L + 0.707·C + 0.707·Ls, R' = R + 0.707·C + 0.707·Rs, LFE
#: dropped. Rows are the input channels in the WAV / ffmpeg order L, R, C, LFE, Ls, Rs; columns L', R'.
BS775_5_1_TO_STEREO = np.array(
    [[1.0, 0.0], [0.0, 1.0], [0.7071, 0.7071], [0.0, 0.0], [0.7071, 0.0], [0.0, 0.7071]], dtype=np.float32
)
#: Data sizes that mean "left open": streamed WAVs (ffmpeg to a pipe writes 0xFFFFFFFF), RF64, placeholders.
_UNKNOWN_DATA_SIZES = (0, 0x7FFFFFFF, 0xFFFFFFFF)
_OPUS_RATE_HZ = 48_000  # libopus only runs at 8/12/16/24/48 kHz; we always bounce at 48 kHz.
_STDERR_TAIL_CHARS = 800
_FFMPEG_TIMEOUT_S = 3600.0

# Output arguments per format (after the input). Bit depths: wav 24-bit PCM, flac 24-bit in s32.
# AAC (m4a, m4b) uses ffmpeg's fast coder: 2.5x faster than its default two-loop search (1.5 s of
# CPU instead of 3.7 s for 136 s of stereo at 192 kbps), inaudibly different at podcast bit rates.
_FORMAT_ARGS: dict[str, list[str]] = {
    "wav": ["-c:a", "pcm_s24le", "-f", "wav"],
    "flac": ["-c:a", "flac", "-sample_fmt", "s32", "-bits_per_raw_sample", "24", "-f", "flac"],
    "mp3": ["-c:a", "libmp3lame", "-f", "mp3"],
    "ogg": ["-c:a", "libopus", "-f", "ogg"],
    "opus": ["-c:a", "libopus", "-f", "ogg"],
    "m4a": ["-c:a", "aac", "-aac_coder", "fast", "-f", "ipod"],
    "m4b": ["-c:a", "aac", "-aac_coder", "fast", "-f", "ipod", "-brand", "M4B "],  # Apple's audiobook brand
}


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary from imageio-ffmpeg (cached after the first call).

    Raises ``AudioError`` when imageio-ffmpeg is missing or has no binary for this platform.
    """
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # ImportError, RuntimeError("No ffmpeg exe could be found")
        raise AudioError(f"ffmpeg is not available (imageio-ffmpeg): {exc}") from exc
    if not exe or not os.path.exists(exe):
        raise AudioError(f"ffmpeg is not available: {exe!r} does not exist")
    return str(exe)


def _stderr_tail(stderr: bytes | None) -> str:
    text = (stderr or b"").decode("utf-8", errors="replace").strip()
    return text[-_STDERR_TAIL_CHARS:] if text else "(no output)"


def _run_ffmpeg(args: list[str], *, stdin_data: bytes | None = None, what: str) -> bytes:
    """Run ffmpeg with ``args`` (quiet, no stdin interaction); return stdout or raise AudioError."""
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    if stdin_data is None:
        command.append("-nostdin")
    command += args
    try:
        done = subprocess.run(
            command,
            input=stdin_data,
            stdin=None if stdin_data is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=_FFMPEG_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise AudioError(f"{what}: could not run ffmpeg: {exc}") from exc
    if done.returncode != 0:
        cause = subprocess.CalledProcessError(done.returncode, command[:1], done.stdout, done.stderr)
        raise AudioError(f"{what}: ffmpeg exited with {done.returncode}: {_stderr_tail(done.stderr)}") from cause
    return done.stdout


def _int_to_float32(data: np.ndarray) -> np.ndarray:
    """Scale integer PCM to float32 in [-1, 1): int16/32 by 2^(bits-1), uint8 around 128."""
    if data.dtype == np.uint8:
        return (data.astype(np.float32) - 128.0) / 128.0
    if data.dtype == np.int16:
        return data.astype(np.float32) / 32768.0
    if data.dtype == np.int32:  # 24-bit files are read by scipy as left-justified int32
        return (data.astype(np.float64) / 2147483648.0).astype(np.float32)
    if data.dtype == np.int64:
        return (data.astype(np.float64) / 9223372036854775808.0).astype(np.float32)
    if np.issubdtype(data.dtype, np.floating):
        return data.astype(np.float32, copy=False)
    raise AudioError(f"unsupported WAV sample type {data.dtype}")


def read_wav(source: bytes | Path) -> Audio:
    """Read a WAV file (path or bytes) with ``scipy.io.wavfile``.

    Integer PCM (uint8, int16, 24-bit, int32) and float WAVs become float32 (frames × channels).
    Raises ``AudioError`` when the data is not a WAV scipy can read. The data chunk is read as far
    as it goes (a WAV streamed with its size left open is read whole); :func:`decode_file` is the
    strict reader of users' files, refusing a WAV cut short.
    """
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    try:
        with warnings.catch_warnings():  # "Reached EOF prematurely": a size left open, or cut short
            from scipy.io import wavfile  # imported on use: scipy.io costs ~0.5 s at start-up

            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            rate_hz, data = wavfile.read(handle)
    except (ValueError, OSError, EOFError, TypeError) as exc:
        raise AudioError(f"cannot read WAV: {exc}") from exc
    return Audio(_int_to_float32(np.asarray(data)), int(rate_hz))


@dataclass(frozen=True)
class _WavLayout:
    """What a RIFF/RF64 WAV's header says: rate, channels, bytes per frame, and the data chunk's
    declared size (None when left open) and the bytes the file really holds after its start."""

    sample_rate_hz: int
    channels: int
    block_align: int
    declared_bytes: int | None
    held_bytes: int


def _wav_layout(handle: BinaryIO) -> _WavLayout | None:
    """Walk a WAV's chunks up to ``data`` (None if ``handle`` is not a RIFF/RF64 WAV). Raises
    ``AudioError`` for a WAV without ``fmt `` or ``data`` chunk."""
    head = handle.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        return None
    size = handle.seek(0, io.SEEK_END)
    position, fmt, ds64_data = 12, None, None
    while position + 8 <= size:
        handle.seek(position)
        chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
        if chunk_id == b"ds64":
            ds64_data = struct.unpack("<QQ", handle.read(16))[1]
        elif chunk_id == b"fmt ":
            fmt = struct.unpack("<HHIIH", handle.read(14))
        elif chunk_id == b"data":
            if fmt is None:
                break
            declared = ds64_data if chunk_size == 0xFFFFFFFF and ds64_data else chunk_size
            return _WavLayout(
                sample_rate_hz=fmt[2],
                channels=fmt[1],
                block_align=fmt[4],
                declared_bytes=None if declared in _UNKNOWN_DATA_SIZES else declared,
                held_bytes=size - position - 8,
            )
        position += 8 + chunk_size + (chunk_size & 1)
    raise AudioError("not a usable WAV: no `fmt ` chunk before its `data` chunk")


def _check_wav_length(handle: BinaryIO) -> _WavLayout | None:
    """Raise ``AudioError`` when a WAV's header declares more audio than it holds (a file cut short)."""
    layout = _wav_layout(handle)
    if layout is None or layout.declared_bytes is None or layout.held_bytes >= layout.declared_bytes:
        return layout
    byte_rate = max(1, layout.block_align) * max(1, layout.sample_rate_hz)
    raise AudioError(
        f"truncated: header says {layout.declared_bytes / byte_rate:.2f} s, "
        f"file holds {layout.held_bytes / byte_rate:.2f} s"
    )


def write_wav(audio: Audio, *, pcm16: bool = False) -> bytes:
    """Encode ``audio`` as a WAV file in memory.

    32-bit float WAV by default (lossless for our float32 samples); with ``pcm16`` 16-bit PCM,
    clipped to [-1, 1] and rounded to the nearest step of 1/32767.
    """
    buffer = io.BytesIO()
    data = audio.samples
    if pcm16:
        data = np.round(np.clip(data, -1.0, 1.0) * 32767.0).astype(np.int16)
    from scipy.io import wavfile

    wavfile.write(buffer, audio.sample_rate_hz, data)
    return buffer.getvalue()


def decode_file(path: Path, *, check_length: bool = True) -> Audio:
    """Decode any audio file ffmpeg reads (wav, mp3, ogg/opus, flac, m4a...) to float32, at most stereo.

    WAVs scipy can read are read directly. Everything else goes through ffmpeg, decoded to a
    32-bit float WAV (no precision lost, no ffprobe needed). With ``check_length`` (a user's file),
    a WAV whose header declares more audio than the file holds is refused (``truncated: header says
    2.00 s, file holds 1.00 s``); without it (a host's take, already paid for) it is read as far as
    it goes.

    More than two channels are downmixed to stereo: six channels are read as 5.1 in the WAV and
    ffmpeg order (L, R, C, LFE, Ls, Rs) and mixed by ITU-R BS.775 (:data:`BS775_5_1_TO_STEREO`:
    L + 0.707·C + 0.707·Ls, R + 0.707·C + 0.707·Rs, LFE dropped); any other count (3.0, 4.0, 7.1…)
    by ffmpeg's own downmix (``-ac 2``, by the file's channel layout or ffmpeg's default for the
    count). Raises ``AudioError`` for a missing file or data ffmpeg cannot decode.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"cannot decode {path}: no such file")
    audio = None
    try:
        with open(path, "rb") as raw:
            layout = _check_wav_length(raw) if check_length else _wav_layout(raw)
    except (OSError, struct.error, AudioError) as exc:
        raise AudioError(f"cannot decode {path.name}: {exc}") from exc
    if layout is not None:
        with contextlib.suppress(AudioError):  # e.g. an ADPCM or mu-law WAV: ffmpeg tries next
            audio = read_wav(path)
    if audio is None:
        audio = _ffmpeg_decode(path)
    if audio.channels == len(BS775_5_1_TO_STEREO):
        return Audio(audio.samples @ BS775_5_1_TO_STEREO, audio.sample_rate_hz)
    if audio.channels > 2:
        return _ffmpeg_decode(path, ["-ac", "2"])
    return audio


def _ffmpeg_decode(path: Path, extra: list[str] | None = None) -> Audio:
    """Decode ``path``'s first audio stream with ffmpeg to float32 (``extra``: output options)."""
    with tempfile.TemporaryDirectory(prefix="audioflow-") as tmp:
        out = Path(tmp) / "decoded.wav"
        _run_ffmpeg(
            ["-i", str(path), "-vn", "-map", "0:a:0", *(extra or []), "-c:a", "pcm_f32le", "-f", "wav", str(out)],
            what=f"cannot decode {path.name}",
        )
        try:
            return read_wav(out)
        except AudioError as exc:
            raise AudioError(f"cannot decode {path.name}: ffmpeg produced no readable audio") from exc


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, from :func:`probe_file`: rate, channels (None if ffmpeg names a
    layout audioflow does not know) and duration in ms (None when the container gives none)."""

    sample_rate_hz: int | None
    channels: int | None
    duration_ms: float | None


_FFMPEG_PREFIX = re.compile(r"^(\[[^]]*\] ?)+")  # "[in#0 @ 0x55…] [fatal] Error…" → "Error…"
_FFMPEG_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_FFMPEG_AUDIO = re.compile(r"Stream #0:\d+.*?: Audio: [^,]+(?:\([^)]*\))?, (\d+) Hz, ([^,]+)")
_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "downmix": 2, "2.1": 3, "3.0": 3, "3.0(back)": 3, "quad": 4}
_LAYOUT_CHANNELS |= {"quad(side)": 4, "4.0": 4, "3.1": 4, "4.1": 5, "5.0": 5, "5.0(side)": 5, "5.1": 6}
_LAYOUT_CHANNELS |= {"5.1(side)": 6, "6.0": 6, "hexagonal": 6, "6.1": 7, "7.0": 7, "7.1": 8, "octagonal": 8}


def probe_file(path: Path) -> AudioInfo:
    """Check cheaply, without decoding it, that ``path`` is audio :func:`decode_file` can read.

    A WAV is checked by walking its chunk headers (a truncated one is refused as :func:`decode_file`
    refuses it); any other file (and a WAV whose size is left open) by ffmpeg opening it and its
    first audio stream's decoder, reading the rate, channel layout and duration it reports. Raises
    ``AudioError`` for a missing file, a file with no audio stream, or data ffmpeg cannot open.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"cannot read {path}: no such file")
    try:
        with open(path, "rb") as raw:
            layout = _check_wav_length(raw)
    except (OSError, struct.error, AudioError) as exc:
        raise AudioError(f"cannot decode {path.name}: {exc}") from exc
    if layout is not None and layout.declared_bytes is not None and layout.block_align and layout.sample_rate_hz:
        frames = layout.declared_bytes // layout.block_align
        return AudioInfo(layout.sample_rate_hz, layout.channels, frames * 1000.0 / layout.sample_rate_hz)
    return _ffmpeg_probe(path)


def _ffmpeg_probe(path: Path) -> AudioInfo:
    """ffmpeg's own reading of ``path``'s header (``-t 0``: nothing is decoded), each log line
    tagged with its level, so the first ``[fatal]``/``[error]`` line names what is wrong."""
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "level+info", "-i", str(path)]
    command += ["-map", "0:a:0?", "-t", "0", "-f", "null", "-"]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise AudioError(f"cannot read {path.name}: could not run ffmpeg: {exc}") from exc
    text = done.stderr.decode("utf-8", errors="replace")
    stream = _FFMPEG_AUDIO.search(text)
    if done.returncode != 0 or stream is None:
        cause = subprocess.CalledProcessError(done.returncode, command[:1], done.stdout, done.stderr)
        lines = text.splitlines()
        worst = [line for level in ("[fatal]", "[error]") for line in lines if level in line]
        reason = _FFMPEG_PREFIX.sub("", worst[0]).strip() if worst else "ffmpeg found no audio"
        if "Input #0" in text and stream is None:
            reason = "it holds no audio stream"
        raise AudioError(f"cannot decode {path.name}: {reason}") from cause
    duration = _FFMPEG_DURATION.search(text)
    duration_ms = None
    if duration:
        hours, minutes, seconds = duration.groups()
        duration_ms = (int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000.0
    written = stream.group(2).strip()
    channels = _LAYOUT_CHANNELS.get(written) or (int(written.split()[0]) if written.endswith(" channels") else None)
    return AudioInfo(int(stream.group(1)), channels, duration_ms)


def decode_bytes(data: bytes, format: str, *, max_ms: float | None = None) -> Audio:
    """Decode in-memory encoded audio; ``format`` is its extension ("mp3", "m4a", "ogg"...).

    The bytes are written to a temporary file (containers such as m4a need seeking) and decoded
    by :func:`decode_file`, without its length check: these are a host's take or our own encode,
    kept as they are. With ``max_ms``, the header is read first (:func:`probe_file`) and audio
    that says it lasts longer is refused undecoded: a few MB of compressed silence can decode to
    hours of float32. Raises ``AudioError`` when they cannot be decoded, or are too long.
    """
    if not data:
        raise AudioError(f"cannot decode empty {format} data")
    suffix = "." + format.lower().lstrip(".")
    with tempfile.TemporaryDirectory(prefix="audioflow-") as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(bytes(data))
        if max_ms is not None:
            duration_ms = probe_file(path).duration_ms
            if duration_ms is not None and duration_ms > max_ms:
                raise AudioError(f"it lasts {duration_ms / 1000:.0f} s, over the {max_ms / 1000:.0f} s audioflow takes")
        return decode_file(path, check_length=False)


def encode(audio: Audio, format: str, *, bitrate_kbps: int = 192, sample_rate_hz: int | None = None) -> bytes:
    """Encode ``audio`` as ``format`` (one of :data:`SUPPORTED_FORMATS`) and return the file's bytes.

    wav: 24-bit PCM; flac: 24-bit; mp3: libmp3lame CBR ``bitrate_kbps``, channels kept;
    m4a/m4b: AAC-LC (ffmpeg's ``aac``) at ``bitrate_kbps`` in an MPEG-4 (iPod) file;
    ogg/opus: Opus in Ogg at ``bitrate_kbps``, always 48 000 Hz (the rates libopus supports; ffmpeg
    resamples). ``sample_rate_hz`` resamples the output (ignored for Opus). Metadata and encoder
    tags are stripped (bit-exact mode), so the same input gives the same bytes. Samples are piped
    to ffmpeg as float32 little-endian interleaved. Raises ``AudioError`` for an unknown format,
    empty audio or an ffmpeg failure.
    """
    fmt = encoder_format(format)
    if audio.frames == 0:
        raise AudioError("cannot encode empty audio")
    raw = np.ascontiguousarray(audio.samples, dtype="<f4").tobytes()
    with tempfile.TemporaryDirectory(prefix="audioflow-") as tmp:
        out = Path(tmp) / f"encoded.{fmt}"
        args = encoder_args(
            fmt,
            out,
            sample_rate_hz=audio.sample_rate_hz,
            channels=audio.channels,
            bitrate_kbps=bitrate_kbps,
            out_rate_hz=sample_rate_hz,
        )
        _run_ffmpeg(args, stdin_data=raw, what=f"cannot encode {fmt}")
        try:
            return out.read_bytes()
        except OSError as exc:
            raise AudioError(f"cannot encode {fmt}: ffmpeg wrote no output") from exc


def encoder_format(format: str) -> str:
    """``format`` normalised ("MP3", ".mp3" -> "mp3"); raises ``AudioError`` unless :func:`encode` writes it."""
    fmt = format.lower().lstrip(".")
    if fmt not in _FORMAT_ARGS:
        raise AudioError(f"cannot encode {format!r}: supported formats are {', '.join(SUPPORTED_FORMATS)}")
    return fmt


def encoded_rate_hz(format: str, input_rate_hz: int, sample_rate_hz: int | None = None) -> int:
    """The sample rate of the file :func:`encode` writes: 48 000 Hz for Opus, else ``sample_rate_hz``
    when given, else the input's rate."""
    if encoder_format(format) in ("ogg", "opus"):
        return _OPUS_RATE_HZ
    return int(sample_rate_hz) if sample_rate_hz is not None else int(input_rate_hz)


#: Output arguments of wav and flac at 16 bits (24 is :data:`_FORMAT_ARGS`' default), dithered
#: (triangular, ffmpeg's swresample) as they are quantised.
_PCM16_ARGS: dict[str, list[str]] = {
    "wav": ["-c:a", "pcm_s16le", "-af", "aresample=dither_method=triangular", "-f", "wav"],
    "flac": ["-c:a", "flac", "-sample_fmt", "s16", "-af", "aresample=dither_method=triangular", "-f", "flac"],
}


def _output_options(fmt: str, bitrate_kbps: int, sample_rate_hz: int | None, bit_depth: int = 24) -> list[str]:
    out_args = list(_PCM16_ARGS[fmt] if bit_depth == 16 and fmt in _PCM16_ARGS else _FORMAT_ARGS[fmt])
    if fmt in ("mp3", "ogg", "opus", "m4a", "m4b"):
        out_args[2:2] = ["-b:a", f"{int(bitrate_kbps)}k"]
    if fmt in ("ogg", "opus"):
        out_args[2:2] = ["-ar", str(_OPUS_RATE_HZ)]
    elif sample_rate_hz is not None:
        out_args[2:2] = ["-ar", str(int(sample_rate_hz))]
    return out_args


def encoder_args(
    fmt: str,
    out: Path,
    *,
    sample_rate_hz: int,
    channels: int,
    bitrate_kbps: int = 192,
    out_rate_hz: int | None = None,
    bit_depth: int = 24,
) -> list[str]:
    """ffmpeg arguments that read float32 little-endian interleaved PCM (``sample_rate_hz``,
    ``channels``) from stdin and write ``out`` as :func:`encode` does (same codec options, bit-exact,
    no metadata). ``out_rate_hz`` resamples the output (ignored for Opus); ``bit_depth`` (16 or 24)
    is that of wav and flac (16 bits dithered), ignored for lossy formats."""
    args = ["-f", "f32le", "-ar", str(int(sample_rate_hz)), "-ac", str(int(channels))]
    args += ["-i", "pipe:0", "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact"]
    return [*args, *_output_options(fmt, bitrate_kbps, out_rate_hz, bit_depth), str(out)]
