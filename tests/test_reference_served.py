"""The reference receiver served as its own process, checked through --target-url like any receiver."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from conftest import SuiteRun, free_port, stop, wait_for_port
from harness.exitcodes import ExitCode

SECRET = "served-reference-secret-0123456789"


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
        stop(process, timeout=10)
        assert process.stdout is not None
        assert SECRET not in process.stdout.read().decode("utf-8", "replace")


def test_served_reference_receiver_passes_every_requirement(
    served_receiver: str, run_suite: Callable[..., SuiteRun]
) -> None:
    run = run_suite("--target-url", served_receiver, "--webhook-strict", secret=SECRET)
    assert run.failed_requirements() == set()
    assert run.ret == ExitCode.OK
    assert "READY for activation" in run.output
