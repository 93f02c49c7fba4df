"""ffmpeg through pipes, block by block: an encoder fed float32 PCM on stdin, a decoder read from stdout.

Each pipe has a thread on our side (writing to the encoder's stdin, reading the decoder's stdout)
with a short queue, so ffmpeg works on one core while numpy works on the other, and neither side
waits on a 64 KiB pipe buffer. ffmpeg's stderr goes to a temporary file (never a pipe nobody
drains); its tail is quoted in the ``AudioError`` raised when ffmpeg fails.
"""

from __future__ import annotations

import contextlib
import io
import queue
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from audioflow.audio.io import encoder_args, encoder_format, ffmpeg_exe
from audioflow.errors import AudioError

__all__ = ["EncoderPipe", "decode_blocks"]

_QUEUE_BLOCKS = 4
_STDERR_TAIL_CHARS = 800
_DONE = object()


def _start(args: list[str], *, stdin: Any, stdout: Any, what: str) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    stderr = tempfile.TemporaryFile(prefix="audioflow-ffmpeg-")  # noqa: SIM115 - closed by the pipe's owner
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args]
    try:
        process = subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=stderr)
    except OSError as exc:
        stderr.close()
        raise AudioError(f"{what}: could not run ffmpeg: {exc}") from exc
    return process, stderr


def _failure(what: str, process: subprocess.Popen[bytes], stderr: IO[bytes]) -> AudioError:
    stderr.seek(0)
    text = stderr.read().decode("utf-8", errors="replace").strip()
    tail = text[-_STDERR_TAIL_CHARS:] if text else "(no output)"
    return AudioError(f"{what}: ffmpeg exited with {process.returncode}: {tail}")


class EncoderPipe:
    """ffmpeg encoding float32 blocks to ``path`` as ``format`` (the options of :func:`io.encode`).

    ``sample_rate_hz``/``channels`` describe the blocks; ``out_rate_hz`` resamples the output
    (ignored for Opus, always 48 kHz); ``bit_depth`` (16 or 24) is that of wav and flac.
    :meth:`write` queues a block (a writer thread feeds
    ffmpeg); :meth:`close` waits for the file; :meth:`abort` kills ffmpeg. Use as a context
    manager: leaving on an exception aborts. Raises ``AudioError`` when ffmpeg fails.
    """

    def __init__(
        self,
        path: Path,
        format: str,
        *,
        sample_rate_hz: int,
        channels: int,
        bitrate_kbps: int = 192,
        out_rate_hz: int | None = None,
        bit_depth: int = 24,
    ):
        self.format = encoder_format(format)
        self.channels = int(channels)
        self._what = f"cannot encode {self.format}"
        args = encoder_args(
            self.format,
            Path(path),
            sample_rate_hz=sample_rate_hz,
            channels=channels,
            bitrate_kbps=bitrate_kbps,
            out_rate_hz=out_rate_hz,
            bit_depth=bit_depth,
        )
        self._process, self._stderr = _start(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, what=self._what)
        self._queue: queue.Queue[Any] = queue.Queue(_QUEUE_BLOCKS)
        self._broken = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._feed, name="audioflow-encoder", daemon=True)
        self._thread.start()

    def _feed(self) -> None:
        """Writer thread: whatever goes wrong, it keeps taking blocks until _DONE, so write() never hangs."""
        stdin = self._process.stdin
        assert stdin is not None
        while (item := self._queue.get()) is not _DONE:
            if self._broken:
                continue  # drain: ffmpeg has gone, close() reports why
            try:
                stdin.write(item)
            except BaseException as exc:  # BrokenPipeError, or MemoryError in this thread
                self._broken, self._error = True, exc
        try:
            stdin.close()
        except BaseException as exc:
            self._broken, self._error = True, exc

    def write(self, block: np.ndarray) -> None:
        """Queue ``block`` (frames × channels) for the encoder; blocks when the queue is full."""
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise AudioError(f"{self._what}: a {block.shape} block for a {self.channels}-channel encoder")
        if self._broken:
            raise self._finish()
        if block.shape[0]:
            self._queue.put(np.ascontiguousarray(block, dtype="<f4").tobytes())

    def _finish(self) -> AudioError:
        self._queue.put(_DONE)
        self._thread.join()
        self._process.wait()
        error = _failure(self._what, self._process, self._stderr)
        self._stderr.close()
        return error

    def close(self) -> None:
        """End the input and wait for ffmpeg to write the file. Raises ``AudioError`` if it failed."""
        self._queue.put(_DONE)
        self._thread.join()
        returncode = self._process.wait()
        if returncode != 0 or self._broken:
            error = _failure(self._what, self._process, self._stderr)
            if returncode == 0 and self._error is not None:
                error = AudioError(f"{self._what}: {type(self._error).__name__}: {self._error}")
            raise error from self._error
        self._stderr.close()

    def abort(self) -> None:
        """Stop ffmpeg (what it wrote is incomplete: the caller deletes it)."""
        self._process.kill()
        self._broken = True
        self._queue.put(_DONE)
        self._thread.join()
        self._process.wait()
        self._stderr.close()

    def __enter__(self) -> EncoderPipe:
        return self

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def decode_blocks(path: Path, *, sample_rate_hz: int, channels: int, block_frames: int) -> Iterator[np.ndarray]:
    """Decode ``path`` (any format ffmpeg reads) to float32 blocks of ``block_frames`` × ``channels``
    at ``sample_rate_hz`` (ffmpeg converts if the file differs; pass the file's own to measure it
    as is). A reader thread keeps ffmpeg decoding while the caller works on the previous block.
    Raises ``AudioError`` when ffmpeg fails."""
    what = f"cannot decode {Path(path).name}"
    # asetnsamples: the decoded frames leave ffmpeg in blocks of 64 Ki frames (not a codec frame each:
    # fewer hand-offs between ffmpeg's threads and fewer pipe writes; the samples are the same)
    args = ["-nostdin", "-i", str(path), "-vn", "-map", "0:a:0", "-af", "asetnsamples=n=65536:p=0", "-f", "f32le"]
    args += ["-ac", str(int(channels)), "-ar", str(int(sample_rate_hz)), "pipe:1"]
    process, stderr = _start(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, what=what)
    blocks: queue.Queue[Any] = queue.Queue(_QUEUE_BLOCKS)
    stop = threading.Event()
    width = 4 * int(channels)

    failed: list[BaseException] = []

    def read() -> None:
        """Reader thread: it always ends with _DONE, after the last block or the error it met."""
        stdout = process.stdout
        assert isinstance(stdout, io.BufferedReader)
        try:
            while not stop.is_set():
                buffer = bytearray(block_frames * width)
                size = stdout.readinto(buffer)
                if not size:
                    break
                while size % width and (more := stdout.read(width - size % width)):  # a partial frame
                    buffer[size : size + len(more)] = more
                    size += len(more)
                blocks.put(np.frombuffer(buffer, "<f4", count=size // 4).reshape(-1, channels))
        except BaseException as exc:  # e.g. MemoryError in this thread: re-raised by the caller below
            failed.append(exc)
        finally:
            blocks.put(_DONE)

    thread = threading.Thread(target=read, name="audioflow-decoder", daemon=True)
    thread.start()
    try:
        while (block := blocks.get()) is not _DONE:
            yield block
        if failed:
            raise AudioError(f"{what}: {type(failed[0]).__name__}: {failed[0]}") from failed[0]
        if process.wait() != 0:
            raise _failure(what, process, stderr)
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()
        while thread.is_alive():  # unblock a reader waiting on a full queue
            with contextlib.suppress(queue.Empty):
                blocks.get(timeout=0.05)
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
        stderr.close()
