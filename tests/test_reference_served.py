"""The reference receiver served as its own process, checked through --target-url like any receiver."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from conftest import SuiteRun
from harness.exitcodes import ExitCode

SECRET = "served-reference-secret-0123456789"


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the receiver exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listened on port {port} within {timeout} s")


@pytest.fixture
def served_receiver() -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "WEBHOOK_SECRET": SECRET}
    process = subprocess.Popen(
        [sys.executable, "-m", "reference_receiver", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        assert SECRET not in process.stdout.read().decode("utf-8", "replace")


def test_served_reference_receiver_passes_every_requirement(
    served_receiver: str, run_suite: Callable[..., SuiteRun]
) -> None:
    run = run_suite("--target-url", served_receiver, "--webhook-strict", secret=SECRET)
    assert run.failed_requirements() == set()
    assert run.ret == ExitCode.OK
    assert "READY for activation" in run.output
