"""Strict framing on the served receiver: a field of a chunked body's trailer is never a request header.

httptools reports trailer fields through the same ``on_header`` callback as the head's, after the head is
complete, and uvicorn appended them to the request's headers: a secret sent in a trailer opened the door. The
receiver runs as its own process (``python -m reference_receiver``); requests are raw bytes on loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import free_port, raw_exchange, site_delivery, stop, stored_names, wait_for_port

SECRET = "framing-reference-secret-0123456789"


@dataclass
class Receiver:
    port: int
    inbox: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    port, inbox = free_port(), tmp_path_factory.mktemp("framing") / "inbox.sqlite3"
    env = {**os.environ, "WEBHOOK_SECRET": SECRET, "WEBHOOK_INBOX": str(inbox)}
    process = subprocess.Popen(
        [sys.executable, "-m", "reference_receiver", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield Receiver(port, inbox)
    finally:
        stop(process, timeout=10)


def chunked(body: bytes, head: list[str], trailer: list[str]) -> tuple[bytes, bytes]:
    """A chunked POST to /webhook, as (everything up to the last chunk, the trailer and the end)."""
    lines = ["POST /webhook HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += ["Transfer-Encoding: chunked", "Connection: close", *head]
    start = ("\r\n".join(lines) + "\r\n\r\n").encode() + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n"
    end = "".join(f"{field}\r\n" for field in trailer).encode() + b"\r\n"
    return start, end


@pytest.mark.parametrize("pause", [0.0, 0.2], ids=["in-one-write", "trailer-later"])
def test_a_secret_sent_only_in_a_trailer_gets_401_and_nothing_is_stored(served: Receiver, pause: float) -> None:
    name = f"trailer-secret-{pause}.example.com"
    start, end = chunked(site_delivery(name), head=[], trailer=[f"X-Webhook-Secret: {SECRET}"])
    parts = (start, end) if pause else (start + end,)
    assert raw_exchange(served.port, *parts, pause=pause) == 401
    assert name not in stored_names(served.inbox)


def test_a_trailer_cannot_add_a_second_secret_to_the_head(served: Receiver) -> None:
    # Two X-Webhook-Secret fields are refused (which one counts would be a guess): a trailer must not make two.
    name = "trailer-second-secret.example.com"
    start, end = chunked(site_delivery(name), head=[f"X-Webhook-Secret: {SECRET}"], trailer=["X-Webhook-Secret: wrong"])
    assert raw_exchange(served.port, start + end) == 200
    assert name in stored_names(served.inbox)


def test_a_chunked_delivery_with_the_secret_in_its_head_and_a_harmless_trailer_is_stored(served: Receiver) -> None:
    name = "trailer-harmless.example.com"  # the positive control: trailers are allowed, only ignored
    start, end = chunked(site_delivery(name), head=[f"X-Webhook-Secret: {SECRET}"], trailer=["X-Checksum: 0"])
    assert raw_exchange(served.port, start + end) == 200
    assert name in stored_names(served.inbox)
