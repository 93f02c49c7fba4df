"""WAV files read and written block by block, so a programme never has to fit in memory.

:class:`AudioFile` is a lazily read WAV (RIFF or RF64; 8/16/24/32-bit PCM, 32/64-bit float): its header
is parsed once, and :meth:`AudioFile.read` returns any range of frames as float32 with one seek and
one read. :class:`WavWriter` writes a float32 WAV block by block, byte-identical to what
``scipy.io.wavfile.write`` writes for the same samples (a ``fact`` chunk, an 18-byte ``fmt``), switching
to RF64 (EBU Tech 3306) when the data passes 4 GiB, and hashes the bytes as it writes them, so the
store can adopt the finished file by its digest without reading it again. :func:`convert_wav` copies a
WAV block by block into another WAV encoding (32-bit float, 24-bit PCM: stems) with soundfile.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from audioflow.audio.types import Audio
from audioflow.errors import AudioError

__all__ = ["WAV_SUBTYPES", "AudioFile", "WavWriter", "convert_wav"]

#: The encodings :func:`convert_wav` writes: soundfile (libsndfile) subtypes.
WAV_SUBTYPES = ("FLOAT", "PCM_24", "PCM_16")
_PCM_MAX = {"PCM_24": 1.0 - 2.0**-23, "PCM_16": 1.0 - 2.0**-15}

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
_RIFF_LIMIT = 0xFFFFFFFF
_HEADER_PROBE_BYTES = 1 << 16


@dataclass(frozen=True)
class AudioFile:
    """A WAV file on disk, read lazily: ``frames`` × ``channels`` at ``sample_rate_hz``.

    Quacks like :class:`~audioflow.audio.types.Audio` for the mix engine (``frames``, ``channels``,
    ``sample_rate_hz``, ``duration_ms``) without loading samples. Open with :meth:`open`.
    """

    path: Path
    sample_rate_hz: int
    channels: int
    frames: int
    data_offset: int  # bytes from the file's start to the first sample
    sample_bytes: int  # bytes per sample of one channel
    is_float: bool

    @classmethod
    def open(cls, path: Path | str) -> AudioFile:
        """Parse the header of the WAV at ``path``. Raises ``AudioError`` if it is not a WAV we read."""
        path = Path(path)
        try:
            with open(path, "rb") as handle:
                head = handle.read(_HEADER_PROBE_BYTES)
                size = os.fstat(handle.fileno()).st_size
        except OSError as exc:
            raise AudioError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
        return _parse_header(path, head, size)

    @property
    def duration_ms(self) -> float:
        """Duration in milliseconds: frames / sample_rate_hz * 1000."""
        return self.frames * 1000.0 / self.sample_rate_hz

    def read(self, first: int, count: int) -> np.ndarray:
        """Frames [first, first+count) (clamped to the file) as float32 of shape (n, channels).

        Integer PCM is scaled like :func:`audioflow.audio.io.read_wav`. Raises ``AudioError`` on I/O failure.
        """
        first = max(0, min(int(first), self.frames))
        count = max(0, min(int(count), self.frames - first))
        try:
            with open(self.path, "rb") as handle:
                return self._read_from(handle, first, count)
        except OSError as exc:
            raise AudioError(f"cannot read {self.path.name}: {exc.strerror or exc}") from exc

    def load(self) -> Audio:
        """The whole file in memory."""
        return Audio(self.read(0, self.frames), self.sample_rate_hz)

    def blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        """Every frame in order, ``block_frames`` at a time (the last block may be shorter)."""
        try:
            with open(self.path, "rb") as handle:
                for first in range(0, self.frames, block_frames):
                    yield self._read_from(handle, first, min(block_frames, self.frames - first))
        except OSError as exc:
            raise AudioError(f"cannot read {self.path.name}: {exc.strerror or exc}") from exc

    def _read_from(self, handle: BinaryIO, first: int, count: int) -> np.ndarray:
        width = self.sample_bytes * self.channels
        handle.seek(self.data_offset + first * width)
        raw = bytearray(count * width)
        if handle.readinto(raw) != len(raw):  # type: ignore[attr-defined]
            raise AudioError(f"cannot read {self.path.name}: the file is shorter than its header says")
        return _to_float32(raw, self.sample_bytes, self.is_float).reshape(count, self.channels)


def _to_float32(raw: bytearray, sample_bytes: int, is_float: bool) -> np.ndarray:
    if is_float:  # float32 is a writable view of the buffer just read: no copy
        return np.frombuffer(raw, "<f4" if sample_bytes == 4 else "<f8").astype(np.float32, copy=False)
    if sample_bytes == 1:
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    if sample_bytes == 2:
        return np.frombuffer(raw, "<i2").astype(np.float32) / np.float32(32768.0)
    if sample_bytes == 3:  # little-endian 24-bit: widen to left-justified int32, as scipy reads it
        triples = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        wide = np.zeros((triples.shape[0], 4), np.uint8)
        wide[:, 1:] = triples
        return (wide.view("<i4")[:, 0].astype(np.float64) / 2147483648.0).astype(np.float32)
    return (np.frombuffer(raw, "<i4").astype(np.float64) / 2147483648.0).astype(np.float32)


def _parse_header(path: Path, head: bytes, size: int) -> AudioFile:
    """Walk the RIFF/RF64 chunks for ``fmt `` and ``data`` (ds64 gives RF64's 64-bit data size)."""
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        raise AudioError(f"cannot read {path.name}: not a WAV file")
    position, fmt, data_size64 = 12, None, None
    while position + 8 <= len(head):
        chunk_id, chunk_size = head[position : position + 4], struct.unpack_from("<I", head, position + 4)[0]
        body = position + 8
        if chunk_id == b"ds64":
            data_size64 = struct.unpack_from("<Q", head, body + 8)[0]
        elif chunk_id == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", head, body)
            if fmt[0] == _EXTENSIBLE and chunk_size >= 26:
                fmt = (struct.unpack_from("<H", head, body + 24)[0], *fmt[1:])  # the sub-format's tag
        elif chunk_id == b"data":
            if fmt is None:
                break
            tag, channels, rate, _, _, bits = fmt
            supported = (tag == _PCM and bits in (8, 16, 24, 32)) or (tag == _FLOAT and bits in (32, 64))
            if not supported or channels < 1 or rate < 1:
                raise AudioError(f"cannot read {path.name}: unsupported WAV encoding (tag {tag}, {bits} bits)")
            data_size = data_size64 if (chunk_size == _RIFF_LIMIT and data_size64 is not None) else chunk_size
            data_size = min(data_size, size - body)  # a truncated file: read what is there
            width = bits // 8 * channels
            return AudioFile(path, rate, channels, data_size // width, body, bits // 8, tag == _FLOAT)
        position = body + chunk_size + (chunk_size & 1)
    raise AudioError(f"cannot read {path.name}: no fmt/data chunk in the first {_HEADER_PROBE_BYTES} bytes")


class WavWriter:
    """Write a float32 WAV of exactly ``frames`` × ``channels`` block by block; hash it on the way.

    The header is written first (the length is known up front), so the bytes are written once, in
    order, and ``digest`` (hex sha256 of the whole file) is ready at :meth:`close`. Up to 4 GiB of
    data the file is byte-identical to ``scipy.io.wavfile.write``'s; beyond, it is RF64. Raises
    ``AudioError`` on I/O failure or when the blocks do not add up to ``frames``.
    """

    def __init__(self, path: Path | str, *, sample_rate_hz: int, channels: int, frames: int):
        self.path = Path(path)
        self.channels = int(channels)
        self.frames = int(frames)
        self.written = 0
        self._hash = hashlib.sha256()
        self.digest = ""
        self.size = 0
        try:
            self._handle = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise AudioError(f"cannot write {self.path.name}: {exc.strerror or exc}") from exc
        self._put(_float32_header(int(sample_rate_hz), self.channels, self.frames))

    def _put(self, data: bytes) -> None:
        try:
            self._handle.write(data)
        except OSError as exc:
            self._handle.close()
            raise AudioError(f"cannot write {self.path.name}: {exc.strerror or exc}") from exc
        self._hash.update(data)
        self.size += len(data)

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` (n × channels, any float dtype; written as little-endian float32)."""
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise AudioError(f"cannot write a {block.shape} block to a {self.channels}-channel WAV")
        if self.written + block.shape[0] > self.frames:
            raise AudioError(f"{self.path.name}: more than the {self.frames} frames announced")
        self._put(np.ascontiguousarray(block, dtype="<f4").tobytes())
        self.written += block.shape[0]

    def close(self) -> str:
        """Flush, fsync and close; return the file's hex sha256."""
        if self.written != self.frames:
            self._handle.close()
            raise AudioError(f"{self.path.name}: {self.written} frames written of the {self.frames} announced")
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        except OSError as exc:
            raise AudioError(f"cannot write {self.path.name}: {exc.strerror or exc}") from exc
        self.digest = self._hash.hexdigest()
        return self.digest

    def abort(self) -> None:
        """Close and delete the partial file."""
        self._handle.close()
        self.path.unlink(missing_ok=True)


def _float32_header(rate_hz: int, channels: int, frames: int) -> bytes:
    """scipy's float32 header (fmt of 18 bytes, fact, data), or its RF64 form beyond 4 GiB."""
    block_align = 4 * channels
    data_size = frames * block_align
    fmt = b"fmt " + struct.pack("<IHHIIHHH", 18, _FLOAT, channels, rate_hz, rate_hz * block_align, block_align, 32, 0)
    riff_size = 4 + len(fmt) + 12 + 8 + data_size
    if riff_size <= _RIFF_LIMIT:
        fact = b"fact" + struct.pack("<II", 4, frames)
        return b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + fmt + fact + b"data" + struct.pack("<I", data_size)
    ds64 = b"ds64" + struct.pack("<IQQQI", 28, riff_size + 36, data_size, frames, 0)
    fact = b"fact" + struct.pack("<II", 4, min(frames, _RIFF_LIMIT))
    head = b"RF64" + struct.pack("<I", _RIFF_LIMIT) + b"WAVE" + ds64 + fmt + fact
    return head + b"data" + struct.pack("<I", _RIFF_LIMIT)


def convert_wav(source: AudioFile, path: Path | str, subtype: str, *, block_frames: int = 1 << 16) -> None:
    """Write ``source`` to a WAV at ``path`` as ``subtype`` (one of :data:`WAV_SUBTYPES`: 32-bit float,
    or PCM whose samples beyond full scale are clipped), block by block, so memory stays one block.
    Raises ``AudioError`` when the file cannot be written."""
    import soundfile  # imported on use: only stems need it

    if subtype not in WAV_SUBTYPES:
        raise AudioError(f"cannot write a {subtype} WAV: use one of {', '.join(WAV_SUBTYPES)}")
    ceiling = _PCM_MAX.get(subtype)
    try:
        with soundfile.SoundFile(path, "w", source.sample_rate_hz, source.channels, subtype, format="WAV") as out:
            for block in source.blocks(block_frames):
                out.write(block if ceiling is None else np.clip(block, -1.0, ceiling))
    except (OSError, RuntimeError) as exc:  # libsndfile's errors come as RuntimeError (LibsndfileError)
        raise AudioError(f"cannot write {Path(path).name}: {exc}") from exc
