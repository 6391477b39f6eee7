"""The suite's speed: the default run's wall time, and the harness's cost per exchange against the floor.

``python benchmarks/suite.py`` (``--quick`` for a short run, ``--help`` for the counts). Never run as a test.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchlib import Row, at_most, median, ms, percentile, print_table, write_json

from harness.config.secret import Secret
from harness.payloads.events import VALIDATE
from harness.sending.client import Client, Target
from harness.sending.embedded import EmbeddedReceiver
from harness.wire import transport

SUITE_COMMAND = ("-m", "pytest", "--pyargs", "conformance_tests", "-p", "no:cacheprovider", "-q")
SUITE_LIMIT = 2.0  # seconds, pytest start-up included
RATIO_LIMIT = 3.0  # the harness's median exchange against the raw one
BLOCK = 10  # exchanges of one kind in a row, alternating kinds
OPTIONS = transport.Options()  # the Cloud's, as in the default run


#: How each mode of --bytecode shows in the table.
BYTECODE = {
    "cached": "bytecode cached",
    "uncached": "no bytecode: every module compiled on each run",
    "inherit": "bytecode as this environment has it",
}


def suite_env(bytecode: str, empty_dir: str) -> dict[str, str]:
    """The environment of a default run: the embedded target always, bytecode as ``bytecode`` says.

    "cached" is what a pip-installed kit gets (pip compiles at install time, the warm-up run writes the
    rest); "uncached" points the bytecode cache at an empty directory and writes nothing, so every run
    compiles every module and rewrites every test module's assertions.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_")}
    if bytecode != "inherit":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.pop("PYTHONPYCACHEPREFIX", None)
    if bytecode == "uncached":
        env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=empty_dir)
    return env


def suite_times(runs: int, timeout: float, bytecode: str) -> list[float]:
    """Wall times of ``runs`` default runs (after one warm-up), each a fresh interpreter in an empty directory."""
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as cwd:
        env = suite_env(bytecode, os.path.join(cwd, "no-pycache"))
        for _ in range(runs + 1):
            started = time.perf_counter()
            done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
                [sys.executable, *SUITE_COMMAND], cwd=cwd, env=env, capture_output=True, timeout=timeout, check=False
            )
            times.append(time.perf_counter() - started)
            if done.returncode != 0 or b"READY for activation" not in done.stdout:
                tail = done.stdout.decode(errors="replace")[-2000:]
                raise RuntimeError(f"the default run did not end READY (exit {done.returncode}):\n{tail}")
    return times[1:]


# --- one exchange: the harness against the raw floor -----------------------------------------------


@dataclass(frozen=True)
class Wire:
    """The bytes the harness puts on the wire for one request, so the raw client can send the same."""

    method: str
    path: str
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


def handshake(url: str, secret: Secret) -> transport.Request:
    """The suite's handshake (HS-1), built by the client the suite uses."""
    return Client(Target(url, secret), transport.Options()).delivery(VALIDATE)


def captured(secret: Secret) -> Wire:
    """Send the handshake through the harness to a one-shot listener, and keep what arrived."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(10)
        received: list[bytes] = []
        listener = threading.Thread(target=_capture_one, args=(server, received), daemon=True)
        listener.start()
        exchange = transport.send(handshake(f"http://127.0.0.1:{server.getsockname()[1]}/webhook", secret), OPTIONS)
        listener.join(10)
    if exchange.response is None or not received:
        raise RuntimeError(f"could not capture the harness's request: {exchange.error}")
    head, body = received[0].split(b"\r\n\r\n", 1)
    request_line, *lines = head.split(b"\r\n")
    method, path, _ = request_line.decode("ascii").split(" ")
    headers = tuple((name.strip(), value.strip()) for name, value in (line.split(b":", 1) for line in lines))
    return Wire(method, path, headers, body)


def _capture_one(server: socket.socket, received: list[bytes]) -> None:
    connection, _ = server.accept()
    with connection:
        connection.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _content_length(data):
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
        received.append(data)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")


def _content_length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def harness_once(request: transport.Request) -> float:
    started = time.perf_counter()
    exchange = transport.send(request, OPTIONS)
    elapsed = time.perf_counter() - started
    if exchange.response is None or exchange.response.status != 200:
        raise RuntimeError(f"the harness's handshake failed: {exchange.error or exchange.response}")
    return elapsed


def raw_once(port: int, wire: Wire) -> float:
    """The same bytes on a new connection with http.client: the floor a Python client can reach."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.putrequest(wire.method, wire.path, skip_host=True, skip_accept_encoding=True)
        for name, value in wire.headers:
            connection.putheader(name.decode("latin-1"), value)
        connection.endheaders(wire.body)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"the raw handshake got {response.status}")
    return elapsed


def interleaved(kinds: Sequence[Callable[[], float]], count: int, warmup: int) -> list[list[float]]:
    """``count`` timings of each kind, in alternating blocks, after ``warmup`` untimed calls of each."""
    for kind in kinds:
        for _ in range(warmup):
            kind()
    timings: list[list[float]] = [[] for _ in kinds]
    while len(timings[-1]) < count:
        for kind, times in zip(kinds, timings, strict=True):
            times.extend(kind() for _ in range(min(BLOCK, count - len(times))))
    return timings


def exchange_times(count: int) -> tuple[list[float], list[float]]:
    receiver = EmbeddedReceiver()
    try:
        url = receiver.target.url
        port = urllib.parse.urlsplit(url).port or 80
        wire = captured(receiver.secret)
        wire = Wire(wire.method, wire.path, _with_host(wire.headers, f"127.0.0.1:{port}"), wire.body)
        request = handshake(url, receiver.secret)
        harness, raw = interleaved([lambda: harness_once(request), lambda: raw_once(port, wire)], count, warmup=20)
        return harness, raw
    finally:
        receiver.stop()


def _with_host(headers: tuple[tuple[bytes, bytes], ...], host: str) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((n, host.encode() if n.lower() == b"host" else v) for n, v in headers)


# --- the rows --------------------------------------------------------------------------------------


def rows(runs: int, count: int, timeout: float, bytecode: str) -> list[Row]:
    times = suite_times(runs, timeout, bytecode)
    harness, raw = exchange_times(count)
    ratio = median(harness) / median(raw)
    return [
        Row(
            f"default suite wall time, pytest start-up included ({runs} runs, {BYTECODE[bytecode]})",
            f"median {median(times):.2f} s, min {min(times):.2f} s",
            f"< {SUITE_LIMIT:g} s",
            at_most(median(times), SUITE_LIMIT, " s"),
        ),
        Row(f"handshake via harness transport.send ({count}x)", _spread(harness)),
        Row(f"handshake via raw http.client, same bytes ({count}x)", _spread(raw)),
        Row("harness / raw, medians", f"{ratio:.2f}x", f"<= {RATIO_LIMIT:g}x", at_most(ratio, RATIO_LIMIT, "x")),
    ]


def _spread(times: Sequence[float]) -> str:
    return f"median {ms(median(times))}, p95 {ms(percentile(times, 0.95))}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed default runs, after one warm-up (default 5)")
    parser.add_argument("--exchanges", type=int, default=500, help="handshakes of each kind (default 500)")
    parser.add_argument("--timeout", type=float, default=120, help="bound on one default run, in s (default 120)")
    parser.add_argument(
        "--bytecode",
        choices=list(BYTECODE),
        default="cached",
        help="bytecode of the default runs: cached (default, as after pip install), uncached (compiled on each "
        "run), or inherit (this environment's PYTHONDONTWRITEBYTECODE and PYTHONPYCACHEPREFIX)",
    )
    parser.add_argument("--quick", action="store_true", help="2 runs and 100 exchanges of each kind")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON (for run_all.py)")
    args = parser.parse_args(argv)
    runs, count = (2, 100) if args.quick else (args.runs, args.exchanges)
    if runs < 1 or count < 1:
        parser.error("--runs and --exchanges must be positive")
    results = rows(runs, count, args.timeout, args.bytecode)
    print_table(results, "Suite")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
