"""Start one of the gallery's stand-alone receivers as its own process on a free loopback port.

Every receiver is a file in this folder that takes its port as its only argument and its secret from
``WEBHOOK_SECRET``. :func:`launched` runs one for the length of a ``with`` block.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import tools

__all__ = ["RECEIVERS", "ReceiverStartError", "launched"]

HERE = Path(__file__).resolve().parent
STARTUP_SECONDS = 20.0
STOP_SECONDS = 5.0

_PYTHON = (
    "fastapi_strict_models",
    "fastapi_tolerant_models",
    "starlette_bad_gzip",
    "starlette_gzip",
    "starlette_endless_body",
    "django_append_slash",
    "django_same_origin_307",
    "aiohttp_freshness_on_all_dates",
    "aiohttp_freshness_window",
    "aiohttp_rejects_out_of_order",
    "aiohttp_orders_later",
)
_NODE = ("node_dies_on_null", "node_checks_shape")

#: How to start each receiver, by name; the port is appended as the last argument.
RECEIVERS: dict[str, list[str]] = {
    **{name: [sys.executable, str(HERE / f"{name}.py")] for name in _PYTHON},
    **{name: ["node", str(HERE / f"{name}.js")] for name in _NODE},
}


class ReceiverStartError(RuntimeError):
    """The receiver exited, or never listened, before it was ready."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_until_listening(name: str, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _listening(port):
        if process.poll() is not None:
            raise ReceiverStartError(
                f"{name} exited with {process.returncode} before listening:\n{log.read_text('utf-8', 'replace')}"
            )
        if time.monotonic() > deadline:
            raise ReceiverStartError(
                f"{name} did not listen on 127.0.0.1:{port} within {STARTUP_SECONDS:.0f} s:\n"
                + log.read_text("utf-8", "replace")
            )
        time.sleep(0.02)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:  # already dead, e.g. node_dies_on_null after its null body
        return
    process.terminate()
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def launched(name: str, secret: str) -> Iterator[str]:
    """Run receiver ``name`` with ``WEBHOOK_SECRET=secret``; yields its URL, ``http://127.0.0.1:PORT/webhook``.

    Its stdout and stderr go to a file in a temporary folder, shown if it fails to start. At exit it gets
    SIGTERM, then SIGKILL after 5 s; a receiver that has already died is fine.
    """
    argv = list(RECEIVERS[name])
    if argv[0] == "node":
        argv[0] = tools.require("node")  # a skip where Node.js is missing, as the README's test line says
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix=f"receiver-{name}-") as folder:
        log = Path(folder) / "output.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [*argv, str(port)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, "WEBHOOK_SECRET": secret},
            )
        try:
            _wait_until_listening(name, process, port, log)
            yield f"http://127.0.0.1:{port}/webhook"
        finally:
            _stop(process)
