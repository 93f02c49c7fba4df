"""Functions run in child processes (spawn) by the store tests; only light imports here."""

from __future__ import annotations

import time
from pathlib import Path

from audioflow.cache import ArtifactStore


def write_same_artifact(root: str, data: bytes, input_digest: str, rounds: int) -> str:
    store = ArtifactStore(Path(root))
    digest = ""
    for _ in range(rounds):
        artifact = store.put_bytes(data, "wav")
        store.put_step(input_digest, artifact, {"duration_ms": 1000.0, "step": "scene[1]"})
        record = store.get_step(input_digest)
        assert record is not None and record.artifact.digest == artifact.digest
        digest = artifact.digest
    return digest


def hold_lock(root: str, input_digest: str, log: str, hold_s: float) -> None:
    store = ArtifactStore(Path(root))
    with store.lock(input_digest):
        with open(log, "a") as handle:
            handle.write(f"start {time.monotonic()}\n")
        time.sleep(hold_s)
        with open(log, "a") as handle:
            handle.write(f"end {time.monotonic()}\n")


def count_under_lock(root: str, input_digest: str, counter: str, rounds: int) -> None:
    """Read-modify-write ``counter`` ``rounds`` times under the digest's lock (lost updates show a broken lock)."""
    store = ArtifactStore(Path(root))
    for _ in range(rounds):
        with store.lock(input_digest):
            value = int(Path(counter).read_text() or "0")
            time.sleep(0.001)
            Path(counter).write_text(str(value + 1))


def write_forever(target: str) -> None:
    """Start an atomic write of ``target`` and hang inside it (fsync never returns) until killed."""
    import os
    import sys

    from audioflow.cache import write_atomic

    def hang(fd: int) -> None:
        print("writing", flush=True)
        time.sleep(600)

    os.fsync = hang  # type: ignore[assignment]
    sys.stdout.flush()
    write_atomic(Path(target), b"partial output " * 1000)


def race_for_lease(url: str, digest: str, env: dict[str, str], start_at: float) -> bool:
    """Wait until ``start_at`` (time.time()), then try once to take the lease on ``digest``."""
    import os

    from audioflow.cache import S3Store

    os.environ.update(env)
    store = S3Store(url, mirror=Path(env["XDG_CACHE_HOME"]) / str(os.getpid()))
    lease = store.lease(digest)
    time.sleep(max(0.0, start_at - time.time()))
    return lease.try_acquire()
