"""Reading, writing, decoding and encoding audio: the one boundary to ffmpeg and WAV files.

ffmpeg is the binary shipped by ``imageio-ffmpeg`` (``imageio_ffmpeg.get_ffmpeg_exe()``), looked up
lazily on first use. Every failure (unreadable data, ffmpeg error, unsupported format) is raised as
``AudioError`` from its cause, carrying the tail of ffmpeg's stderr when there is one.
"""

from __future__ import annotations

import functools
import io
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from audioflow.audio.types import Audio
from audioflow.errors import AudioError

__all__ = [
    "SUPPORTED_FORMATS",
    "decode_bytes",
    "decode_file",
    "encode",
    "ffmpeg_exe",
    "read_wav",
    "write_wav",
]

SUPPORTED_FORMATS: tuple[str, ...] = ("wav", "mp3", "ogg", "opus", "flac")
"""Formats :func:`encode` writes. ``ogg`` and ``opus`` both mean Opus in an Ogg container."""

_OPUS_RATE_HZ = 48_000  # libopus only runs at 8/12/16/24/48 kHz; we always bounce at 48 kHz.
_STDERR_TAIL_CHARS = 800
_FFMPEG_TIMEOUT_S = 3600.0

# Output arguments per format (after the input). Bit depths: wav 24-bit PCM, flac 24-bit in s32.
_FORMAT_ARGS: dict[str, list[str]] = {
    "wav": ["-c:a", "pcm_s24le", "-f", "wav"],
    "flac": ["-c:a", "flac", "-sample_fmt", "s32", "-bits_per_raw_sample", "24", "-f", "flac"],
    "mp3": ["-c:a", "libmp3lame", "-f", "mp3"],
    "ogg": ["-c:a", "libopus", "-f", "ogg"],
    "opus": ["-c:a", "libopus", "-f", "ogg"],
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
    Raises ``AudioError`` when the data is not a WAV scipy can read.
    """
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    try:
        rate_hz, data = wavfile.read(handle)
    except (ValueError, OSError, EOFError, TypeError) as exc:
        raise AudioError(f"cannot read WAV: {exc}") from exc
    return Audio(_int_to_float32(np.asarray(data)), int(rate_hz))


def write_wav(audio: Audio, *, pcm16: bool = False) -> bytes:
    """Encode ``audio`` as a WAV file in memory.

    32-bit float WAV by default (lossless for our float32 samples); with ``pcm16`` 16-bit PCM,
    clipped to [-1, 1] and rounded to the nearest step of 1/32767.
    """
    buffer = io.BytesIO()
    data = audio.samples
    if pcm16:
        data = np.round(np.clip(data, -1.0, 1.0) * 32767.0).astype(np.int16)
    wavfile.write(buffer, audio.sample_rate_hz, data)
    return buffer.getvalue()


def decode_file(path: Path) -> Audio:
    """Decode any audio file ffmpeg reads (wav, mp3, ogg/opus, flac, m4a...) to float32.

    WAVs scipy can read are read directly. Everything else goes through ffmpeg, decoded to a
    32-bit float WAV (no precision lost, no ffprobe needed). Raises ``AudioError`` for a missing
    file or data ffmpeg cannot decode.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"cannot decode {path}: no such file")
    if path.suffix.lower() == ".wav":
        try:
            return read_wav(path)
        except AudioError:
            pass  # e.g. an ADPCM or mu-law WAV: let ffmpeg try
    with tempfile.TemporaryDirectory(prefix="audioflow-") as tmp:
        out = Path(tmp) / "decoded.wav"
        _run_ffmpeg(
            ["-i", str(path), "-vn", "-map", "0:a:0", "-c:a", "pcm_f32le", "-f", "wav", str(out)],
            what=f"cannot decode {path.name}",
        )
        try:
            return read_wav(out)
        except AudioError as exc:
            raise AudioError(f"cannot decode {path.name}: ffmpeg produced no readable audio") from exc


def decode_bytes(data: bytes, format: str) -> Audio:
    """Decode in-memory encoded audio; ``format`` is its extension ("mp3", "m4a", "ogg"...).

    The bytes are written to a temporary file (containers such as m4a need seeking) and decoded
    by :func:`decode_file`. Raises ``AudioError`` when they cannot be decoded.
    """
    if not data:
        raise AudioError(f"cannot decode empty {format} data")
    suffix = "." + format.lower().lstrip(".")
    with tempfile.TemporaryDirectory(prefix="audioflow-") as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(bytes(data))
        return decode_file(path)


def encode(audio: Audio, format: str, *, bitrate_kbps: int = 192, sample_rate_hz: int | None = None) -> bytes:
    """Encode ``audio`` as ``format`` (one of :data:`SUPPORTED_FORMATS`) and return the file's bytes.

    wav: 24-bit PCM; flac: 24-bit; mp3: libmp3lame CBR ``bitrate_kbps``, channels kept;
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


def _output_options(fmt: str, bitrate_kbps: int, sample_rate_hz: int | None) -> list[str]:
    out_args = list(_FORMAT_ARGS[fmt])
    if fmt in ("mp3", "ogg", "opus"):
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
) -> list[str]:
    """ffmpeg arguments that read float32 little-endian interleaved PCM (``sample_rate_hz``,
    ``channels``) from stdin and write ``out`` as :func:`encode` does (same codec options, bit-exact,
    no metadata). ``out_rate_hz`` resamples the output (ignored for Opus)."""
    args = ["-f", "f32le", "-ar", str(int(sample_rate_hz)), "-ac", str(int(channels))]
    args += ["-i", "pipe:0", "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact"]
    return [*args, *_output_options(fmt, bitrate_kbps, out_rate_hz), str(out)]
