"""The reference receiver as its own process, in production mode: the whole suite, a crash, a shutdown.

``python -m reference_receiver`` is started as a service manager would, with its inbox in a temporary
directory; the inbox file is read directly to see what the receiver promised and what it kept.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from conftest import SuiteRun, free_port, site_delivery, stop, stored_names, wait_for_port
from harness.config.exitcodes import ExitCode

SECRET = "served-reference-secret-0123456789"
HERE = Path(__file__).parent


class Receiver:
    """One run of the receiver process on ``port``, with its inbox at ``inbox``."""

    def __init__(self, inbox: Path, port: int, script: Path | None = None, **env: str) -> None:
        self.inbox, self.port = inbox, port
        self.url = f"http://127.0.0.1:{port}/webhook"
        command = [sys.executable, str(script)] if script else [sys.executable, "-m", "reference_receiver"]
        environ = {**os.environ, "WEBHOOK_SECRET": SECRET, "WEBHOOK_INBOX": str(inbox), **env}
        self.process = subprocess.Popen(
            [*command, "--port", str(port)], env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        wait_for_port(port, self.process)

    def output(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.read().decode("utf-8", "replace")


@contextmanager
def running(inbox: Path, port: int | None = None, script: Path | None = None, **env: str) -> Iterator[Receiver]:
    receiver = Receiver(inbox, port or free_port(), script, **env)
    try:
        yield receiver
    finally:
        if receiver.process.poll() is None:
            stop(receiver.process, timeout=10)


def deliver(url: str, name: str) -> bool:
    """Whether the receiver acknowledged the delivery (2xx)."""
    headers = {"X-Webhook-Secret": SECRET, "Content-Type": "application/json"}
    try:
        return requests.post(url, data=site_delivery(name), headers=headers, timeout=5).ok
    except requests.RequestException:
        return False


# --- The suite ----------------------------------------------------------------------------------------


def test_served_reference_receiver_passes_every_requirement(tmp_path: Path, run_suite: Callable[..., SuiteRun]) -> None:
    with running(tmp_path / "inbox.sqlite3") as receiver:
        run = run_suite("--target-url", receiver.url, "--webhook-strict", secret=SECRET)
        assert run.failed_requirements() == set()
        assert run.ret == ExitCode.OK
        assert "READY for activation" in run.output
        health = requests.get(f"http://127.0.0.1:{receiver.port}/healthz", timeout=5)
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert SECRET not in receiver.output()


# --- A crash in the middle of a burst -----------------------------------------------------------------


@dataclass
class Crash:
    acknowledged: set[str]  # before the crash
    kept: list[str]  # in the inbox after the restart
    stored: list[str]  # in the inbox after everything was sent again
    resent: int  # acknowledged when sent again


def crash_mid_burst(inbox: Path, script: Path | None = None) -> Crash:
    """Send 600 events at concurrency 20, SIGKILL the receiver once 150 are acknowledged, restart it and
    send all 600 again."""
    names = [f"crash-{i}.example.com" for i in range(600)]
    acked: set[str] = set()
    lock, enough = threading.Lock(), threading.Event()
    port = free_port()
    with running(inbox, port, script) as receiver:

        def send(name: str) -> None:
            if deliver(receiver.url, name):
                with lock:
                    acked.add(name)
                    if len(acked) >= 150:
                        enough.set()

        with ThreadPoolExecutor(20) as pool:
            futures = [pool.submit(send, name) for name in names]
            assert enough.wait(30), "the receiver never acknowledged 150 events"
            receiver.process.send_signal(signal.SIGKILL)
            receiver.process.wait(10)
            for future in futures:  # an answer read after the kill was still sent before it
                future.result()
    with running(inbox, port, script) as receiver:
        kept = stored_names(inbox)
        with ThreadPoolExecutor(20) as pool:
            resent = list(pool.map(lambda name: deliver(receiver.url, name), names))
    return Crash(set(acked), kept, stored_names(inbox), resent.count(True))


def test_after_a_crash_every_acknowledged_event_is_stored_and_a_resend_is_not_duplicated(tmp_path: Path) -> None:
    crash = crash_mid_burst(tmp_path / "inbox.sqlite3")
    assert 150 <= len(crash.acknowledged) < 600  # the crash came in the middle of the burst
    assert crash.acknowledged <= set(crash.kept)  # nothing acknowledged was lost
    assert crash.resent == 600
    assert len(crash.stored) == len(set(crash.stored)) == 600  # and nothing re-sent was stored twice


def test_the_crash_test_catches_a_receiver_that_acknowledges_before_storing(tmp_path: Path) -> None:
    crash = crash_mid_burst(tmp_path / "inbox.sqlite3", HERE / "acks_before_storing.py")
    assert crash.acknowledged - set(crash.kept)  # acknowledged, then lost in the crash


# --- Shutdown -------------------------------------------------------------------------------------------


def test_sigterm_finishes_the_request_in_flight_and_exits_0(tmp_path: Path) -> None:
    body = site_delivery("in-flight.example.com")
    head = (
        "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Webhook-Secret: {SECRET}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with running(tmp_path / "inbox.sqlite3") as receiver:
        with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as sock:
            sock.sendall(head + body[:-10])
            time.sleep(0.3)  # the request has started
            receiver.process.send_signal(signal.SIGTERM)
            time.sleep(0.3)  # the server is shutting down, waiting for this request
            sock.sendall(body[-10:])
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        # uvicorn re-raises the signal once it has shut down, as a service manager expects.
        assert receiver.process.wait(10) in (0, -signal.SIGTERM)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", receiver.port), timeout=1).close()
    assert stored_names(tmp_path / "inbox.sqlite3") == ["in-flight.example.com"]
    lines = receiver.output().splitlines()
    assert lines
    assert all(json.loads(line)["level"] for line in lines)  # structured: one JSON object per line
    assert SECRET not in "\n".join(lines)
