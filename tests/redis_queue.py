"""A real Redis server and real ``rq worker`` processes, for the fleet's queue tests and benchmark.

Debian's ``redis-server`` (``.ci/run`` installs it when missing), on a free loopback port, with its files in
a temporary directory, persisting nothing, stopped at the end. Workers are the ``rq`` command installed with
the kit, started as a user starts them, each with the environment it is given.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["everything_in", "redis_server", "rq_workers"]


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_server(command: str) -> Iterator[str]:
    """A Redis server of its own; yields its URL."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="fleet-redis-") as directory:
        process = subprocess.Popen(
            [
                command,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                directory,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(port, process)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_for(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    import redis

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode} before answering")
        with contextlib.suppress(redis.RedisError):
            if redis.Redis(port=port, socket_connect_timeout=1).ping():
                return
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout} s")


def _rq_command() -> list[str]:
    """``rq`` as installed beside this interpreter (the kit's dependency), as the README tells users to run it."""
    installed = Path(sys.executable).parent / "rq"
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "rq.cli"]


@contextlib.contextmanager
def rq_workers(
    url: str, count: int, environ: Mapping[str, str], queue: str = "webhook-conformance", logs: Path | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` workers listening on ``queue``, each with ``environ`` as its whole environment but PATH."""
    env = {"PATH": os.environ.get("PATH", ""), **environ}
    workers = []
    try:
        for number in range(count):
            log = (logs / f"worker-{number}.log").open("wb") if logs else subprocess.DEVNULL
            workers.append(
                subprocess.Popen(
                    [*_rq_command(), "worker", "--url", url, queue], env=env, stdout=log, stderr=subprocess.STDOUT
                )
            )
        _wait_for_workers(url, queue, count, workers)
        yield workers
    finally:
        for worker in workers:
            worker.terminate()  # a warm shutdown: the job in hand ends first
        for worker in workers:
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)


def _wait_for_workers(
    url: str, queue: str, count: int, workers: list[subprocess.Popen[bytes]], timeout: float = 30.0
) -> None:
    import redis
    from rq import Queue, Worker

    connection = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    while Worker.count(queue=Queue(queue, connection=connection)) < count:
        if any(w.poll() is not None for w in workers) or time.monotonic() > deadline:
            raise RuntimeError(f"{count} rq workers did not start listening on {queue!r}")
        time.sleep(0.1)


def everything_in(url: str) -> str:
    """Every key and value in the Redis server, as text: compressed and pickled values opened, so that a
    secret inside an RQ job's data or result is found."""
    import redis

    connection = redis.Redis.from_url(url)
    shown: list[str] = []
    for key in connection.scan_iter(count=1000):
        shown.append(_opened(key))
        values = _values(connection, key, connection.type(key).decode())
        shown += [_opened(value) for value in values if value is not None]
    return "\n".join(shown)


def _values(connection: Any, key: bytes, kind: str) -> list[Any]:
    if kind == "string":
        return [connection.get(key)]
    if kind == "hash":
        return [v for pair in connection.hgetall(key).items() for v in pair]
    if kind in ("list", "zset"):
        return list(connection.lrange(key, 0, -1) if kind == "list" else connection.zrange(key, 0, -1))
    if kind == "set":
        return list(connection.smembers(key))
    if kind == "stream":
        return [v for _, entry in connection.xrange(key) for pair in entry.items() for v in pair]
    return []


def _opened(raw: bytes) -> str:
    texts = [raw.decode("latin-1")]
    candidates = [raw]
    with contextlib.suppress(zlib.error):
        candidates.append(zlib.decompress(raw))
        texts.append(candidates[-1].decode("latin-1"))
    for candidate in candidates:
        with contextlib.suppress(Exception):
            texts.append(repr(pickle.loads(candidate)))  # noqa: S301 - our own test server's data
    return "\n".join(texts)
