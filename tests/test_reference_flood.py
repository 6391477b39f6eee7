"""Clients without the secret flood the served receiver with slow connections; real deliveries still get 2xx.

The receiver runs as its own process (``python -m reference_receiver``), as in production; the slow clients
are sockets of this process on loopback, each sending a request line and then one header line a second,
never finishing its head. Only correctness is asserted (every real delivery is answered 2xx and stored):
how fast is for ``benchmarks/flood.py``, at 10,000 connections.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from conftest import free_port, site_delivery, stop, stored_names, wait_for_port

SECRET = "flood-reference-secret-0123456789"
SLOW_CONNECTIONS = 1500  # more than WEBHOOK_MAX_CONNECTIONS' default (1000), which counted them all
DELIVERIES = 40
WORKERS = 8  # the Cloud's
HEAD_START = b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


def open_files_at_least(needed: int) -> None:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; skip if that is fewer than ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed <= hard or (hard == resource.RLIM_INFINITY and soft < needed):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < needed:
        pytest.skip(f"needs {needed} file descriptors; the hard limit is {hard}")


@dataclass
class Receiver:
    process: subprocess.Popen[bytes]
    port: int
    inbox: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"


@contextlib.contextmanager
def receiver(tmp_path: Path, preexec: Callable[[], None] | None = None) -> Iterator[Receiver]:
    """``python -m reference_receiver`` with a durable inbox, stopped (SIGTERM, then SIGKILL) at the end."""
    port, inbox = free_port(), tmp_path / "inbox.sqlite3"
    env = {**os.environ, "WEBHOOK_SECRET": SECRET, "WEBHOOK_INBOX": str(inbox)}
    env.pop("WEBHOOK_MAX_CONNECTIONS", None)  # the default, as shipped
    process = subprocess.Popen(
        [sys.executable, "-m", "reference_receiver", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=preexec,  # only setrlimit, before exec
    )
    try:
        wait_for_port(port, process)
        yield Receiver(process, port, inbox)
    finally:
        if process.poll() is None:
            stop(process, timeout=10)


class SlowClients:
    """``count`` connections that send a request line, then a header line every ``every`` seconds, forever."""

    def __init__(self, port: int, count: int, every: float = 1.0) -> None:
        self.socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
        for sock in self.socks:
            sock.sendall(HEAD_START)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._dribble, args=(every,), daemon=True)
        self._thread.start()

    def _dribble(self, every: float) -> None:
        while not self._stop.wait(every):
            for sock in self.socks:
                with contextlib.suppress(OSError):  # one the receiver closed: a refusal counts, not an error
                    sock.sendall(b"X-Slow: 1\r\n")

    def held(self) -> int:
        """How many are still open, with no answer: the receiver is holding them."""
        count = 0
        for sock in self.socks:
            sock.setblocking(False)
            try:
                sock.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                count += 1
            except OSError:
                pass
            finally:
                sock.setblocking(True)
        return count

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in self.socks:
            sock.close()


@contextlib.contextmanager
def slow_clients(port: int, count: int) -> Iterator[SlowClients]:
    clients = SlowClients(port, count)
    try:
        clients._stop.wait(1.2)  # every connection is accepted and has sent a header line after its request line
        yield clients
    finally:
        clients.close()


def deliver(url: str, name: str) -> int:
    """A real delivery on a new connection, as the Cloud sends it: its status, 0 without an answer."""
    headers = {"X-Webhook-Secret": SECRET, "Content-Type": "application/json"}
    try:
        return requests.post(url, data=site_delivery(name), headers=headers, timeout=5).status_code
    except requests.RequestException:
        return 0


def deliver_all(url: str, names: list[str]) -> list[int]:
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda name: deliver(url, name), names))


def test_real_deliveries_get_2xx_while_1500_slow_clients_hold_connections(tmp_path: Path) -> None:
    open_files_at_least(SLOW_CONNECTIONS + 200)
    names = [f"flood-{i}.example.com" for i in range(DELIVERIES)]
    with receiver(tmp_path) as served, slow_clients(served.port, SLOW_CONNECTIONS) as slow:
        statuses = deliver_all(served.url, names)
        held = slow.held()
    assert statuses == [200] * DELIVERIES  # not one 503: idle connections do not take the place of a request
    assert sorted(stored_names(served.inbox)) == sorted(names)
    # The receiver made room for no one: its file-descriptor limit (the hard one, which it raised to) is ample.
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] >= 2 * SLOW_CONNECTIONS:
        assert held == SLOW_CONNECTIONS


FD_LIMIT = 600  # the receiver's own, far fewer than the slow connections


def few_file_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def test_past_its_file_descriptor_limit_the_receiver_closes_the_longest_waiting_slow_client(tmp_path: Path) -> None:
    # 800 slow connections against a receiver allowed 600 files: without making room, accept() fails (EMFILE)
    # and a real delivery is never read; with it, the slow connection that waited longest gets a 503 and is
    # closed, and the delivery gets in.
    open_files_at_least(1000)
    names = [f"fd-limit-{i}.example.com" for i in range(DELIVERIES)]
    with receiver(tmp_path, few_file_descriptors) as served, slow_clients(served.port, 800) as slow:
        statuses = deliver_all(served.url, names)
        held = slow.held()
    assert statuses == [200] * DELIVERIES
    assert sorted(stored_names(served.inbox)) == sorted(names)
    assert 0 < held < 800  # some slow connections were let go, not all
