"""Slow-client flood: real deliveries to the reference receiver while thousands of connections dribble headers.

``python benchmarks/flood.py`` (``--quick``, ``--connections N``, ``--help``). Never run as a test. In one run,
against one ``python -m reference_receiver`` with a durable inbox:

(a) real deliveries with no flood (the baseline);
(b) a flood client, in a process of its own (it needs a file descriptor per connection), opens ``--connections``
    connections from loopback, each sending a request line and then one header line a second, never finishing
    its head, as a client without the secret can; a connection the receiver closes (408 after its head deadline)
    is opened again, so that the flood keeps holding as many;
(c) real deliveries while the flood holds its connections: each a new connection, as the Cloud makes them, from
    8 threads (the Cloud's workers), a 5 s timeout each (the Cloud's). A delivery that fails (no answer, a reset,
    a timeout) counts as not 2xx, with the time it took.

``--package-from DIR`` runs the ``reference_receiver`` package found in DIR instead of this checkout's (for the
figures before a change: ``git archive REV reference_receiver | tar -x -C DIR``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import resource
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from benchlib import REPO, Row, at_least, at_most, free_port, median, ms, percentile, print_table, running, write_json
from loadgen import body_parts, site_name

CONNECTIONS = 10_000
WORKERS = 8  # the Cloud's
TIMEOUT = 5.0  # seconds, the Cloud's connect and read timeouts
PAUSE = 0.05  # seconds between two deliveries of one worker
P99_LIMIT = 1.0  # seconds, real deliveries during the flood
HELD_FLOOR = 0.9  # of --connections: below it the flood did not hold its connections and measured less
CONNECTING = 256  # connections the flood client opens at once (a ramp, not a SYN flood: the backlog is not the point)
REPORT_EVERY = 0.5  # seconds between two lines of the flood client's report
RAMP_TIMEOUT = 90.0  # seconds for the flood to hold its connections before the deliveries start


# --- the flood client (a subprocess of its own: --flood PORT CONNECTIONS SECONDS) ---------------------------------

HEAD_START = b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
HEADER_LINE = b"X-Slow: 1\r\n"
TICKS = 10  # the connections are split in TICKS groups, one written to every 1/TICKS s: one line a second each


@dataclass
class _Flood:
    open: dict[int, asyncio.Transport] = field(default_factory=dict)
    connects: int = 0
    closed_by_server: int = 0
    connect_errors: int = 0
    answers: Counter[str] = field(default_factory=Counter)


class _Slow(asyncio.Protocol):
    """One connection that never finishes its head: notes the answer it gets and when it is closed."""

    def __init__(self, flood: _Flood, index: int) -> None:
        self.flood, self.index = flood, index
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.answered = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes
        stream.write(HEAD_START)
        self.flood.open[self.index] = stream

    def data_received(self, data: bytes) -> None:
        if not self.answered:
            self.answered = True
            status = data.split(b" ", 2)[1].decode("ascii", "replace") if data.startswith(b"HTTP/") else "other"
            self.flood.answers[status] += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.flood.open.pop(self.index, None)
        self.flood.closed_by_server += 1
        if not self.lost.done():
            self.lost.set_result(None)


async def _hold(port: int, index: int, flood: _Flood, gate: asyncio.Semaphore, until: float) -> None:
    """Keep connection ``index`` open until ``until``, opening it again whenever the receiver closes it."""
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        try:
            async with gate:
                _, slow = await asyncio.wait_for(
                    loop.create_connection(lambda: _Slow(flood, index), "127.0.0.1", port), TIMEOUT
                )
        except (OSError, TimeoutError):
            flood.connect_errors += 1
            await asyncio.sleep(0.5)
            continue
        flood.connects += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(slow.lost), max(0.0, until - loop.time()))


async def _dribble(flood: _Flood, until: float) -> None:
    loop = asyncio.get_running_loop()
    tick = 0
    while loop.time() < until:
        await asyncio.sleep(1 / TICKS)
        tick = (tick + 1) % TICKS
        for index, transport in list(flood.open.items()):
            if index % TICKS == tick and not transport.is_closing():
                transport.write(HEADER_LINE)


async def _report(flood: _Flood, until: float) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        line = {
            "held": len(flood.open),
            "connects": flood.connects,
            "closed": flood.closed_by_server,
            "connect_errors": flood.connect_errors,
            "answers": dict(flood.answers),
        }
        print(json.dumps(line), flush=True)
        await asyncio.sleep(REPORT_EVERY)


async def _flood(port: int, connections: int, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    flood, gate = _Flood(), asyncio.Semaphore(CONNECTING)
    holders = [_hold(port, i, flood, gate, until) for i in range(connections)]
    await asyncio.gather(_dribble(flood, until), _report(flood, until), *holders)
    for transport in list(flood.open.values()):
        transport.abort()


def raise_open_files(needed: int) -> None:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; fail if that is still too few."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise SystemExit(f"flood: {needed} connections need {needed} file descriptors; the hard limit is {hard}")


def affordable(connections: int) -> int:
    """As many of ``connections`` as the hard RLIMIT_NOFILE lets one process hold (with room for the rest)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return connections if hard == resource.RLIM_INFINITY else max(1, min(connections, hard - 128))


def run_flood(port: int, connections: int, seconds: float) -> None:
    raise_open_files(connections + 64)
    with contextlib.suppress(ImportError):  # the receiver's own loop: the client should not be the bottleneck
        import uvloop

        uvloop.install()
    with contextlib.suppress(KeyboardInterrupt):  # benchlib.stop() ends it with Ctrl-C
        asyncio.run(_flood(port, connections, seconds))


# --- the flood as seen from the benchmark ---------------------------------------------------------------------


class FloodProcess:
    """The flood client's process, and the reports it prints (read on a thread)."""

    def __init__(self, port: int, connections: int, seconds: float) -> None:
        argv = [sys.executable, __file__, "--flood", str(port), str(connections), str(seconds)]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)  # noqa: S603
        self.reports: list[tuple[float, dict[str, object]]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self.reports.append((time.monotonic(), json.loads(line)))

    def held(self) -> int:
        return int(self.reports[-1][1]["held"]) if self.reports else 0  # type: ignore[call-overload]

    def wait_held(self, connections: int, timeout: float) -> None:
        """Wait until the flood holds ``HELD_FLOOR`` of its connections; raise if it dies or never does."""
        deadline = time.monotonic() + timeout
        while self.held() < connections * HELD_FLOOR:
            if self.process.poll() is not None:
                raise RuntimeError(f"the flood client exited with {self.process.returncode}: {self.error()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the flood held {self.held()} of {connections} connections after {timeout:g} s")
            time.sleep(0.1)
        time.sleep(1.0)  # every connection has sent a header line or two

    def held_between(self, start: float, end: float) -> list[int]:
        return [int(report["held"]) for at, report in self.reports if start <= at <= end]  # type: ignore[call-overload]

    def last(self) -> dict[str, object]:
        return self.reports[-1][1] if self.reports else {}

    def error(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read().decode(errors="replace").strip()[-500:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._reader.join(5)


@contextlib.contextmanager
def flooding(port: int, connections: int, seconds: float) -> Iterator[FloodProcess]:
    flood = FloodProcess(port, connections, seconds)
    try:
        flood.wait_held(connections, RAMP_TIMEOUT)
        yield flood
    finally:
        flood.stop()


# --- real deliveries ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deliveries:
    statuses: list[int]  # 0: no answer (a reset, a timeout)
    seconds: list[float]
    started: float
    ended: float

    @property
    def ok(self) -> int:
        return sum(200 <= s < 300 for s in self.statuses)

    @property
    def share_ok(self) -> float:
        return self.ok / len(self.statuses) if self.statuses else 0.0

    def value(self) -> str:
        if not self.statuses:
            return "no deliveries"
        others = Counter(str(s or "no answer") for s in self.statuses if not 200 <= s < 300)
        refused = f"; not 2xx: {', '.join(f'{n} {what}' for what, n in others.most_common())}" if others else ""
        return (
            f"{self.share_ok:.1%} 2xx of {len(self.statuses)}, p50 {ms(median(self.seconds))}, "
            f"p99 {ms(percentile(self.seconds, 0.99))}, max {ms(max(self.seconds))}{refused}"
        )


def deliver(port: int, secret: str, name: str) -> tuple[int, float]:
    """One delivery on a new connection, as the Cloud sends it: its status (0 without one) and its time."""
    prefix, suffix = body_parts()
    body = f"{prefix}{name}{suffix}"
    headers = {"Content-Type": "application/json", "X-Webhook-Secret": secret}
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request("POST", "/webhook", body, headers)
        response = connection.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException):
        status = 0
    finally:
        connection.close()
    return status, time.perf_counter() - started


def deliveries(port: int, secret: str, tag: str, seconds: float) -> Deliveries:
    """Deliveries from ``WORKERS`` threads, each one after the other, for ``seconds``."""
    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    started = time.monotonic()
    until = started + seconds

    def worker(index: int) -> None:
        n = 0
        while time.monotonic() < until:
            n += 1
            result = deliver(port, secret, site_name(tag, index, n))
            with lock:
                results.append(result)
            time.sleep(PAUSE)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 3 * TIMEOUT)
    with lock:
        statuses, times = [s for s, _ in results], [t for _, t in results]
    return Deliveries(statuses, times, started, time.monotonic())


# --- the run ----------------------------------------------------------------------------------------------------


def inbox_rows(path: Path) -> int | None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return int(db.execute("SELECT count(*) FROM inbox").fetchone()[0])
    except sqlite3.Error:
        return None


@dataclass(frozen=True)
class Run:
    label: str
    connections: int
    quiet: Deliveries
    flooded: Deliveries
    held: list[int]
    flood: dict[str, object]
    rows: int | None


def receiver_command(package_from: Path | None, port: int) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_")}
    if package_from is not None:  # its reference_receiver first on the path, this checkout's harness after it
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_from), env.get("PYTHONPATH", "")) if p)
    isolated = ["-P"] if package_from is not None else []  # no checkout on the path ahead of PYTHONPATH
    return [sys.executable, *isolated, "-m", "reference_receiver", "--port", str(port)], env


def measure(tmp: Path, connections: int, baseline: float, seconds: float, package_from: Path | None) -> Run:
    secret = secrets.token_urlsafe(30)[:30]
    port, inbox = free_port(), tmp / "flood-inbox.sqlite"
    argv, env = receiver_command(package_from, port)
    env |= {"WEBHOOK_SECRET": secret, "WEBHOOK_INBOX": str(inbox)}
    with running(argv, env, port, tmp / "receiver.log"):
        quiet = deliveries(port, secret, "quiet", baseline)
        with flooding(port, connections, RAMP_TIMEOUT + seconds + 30) as flood:
            flooded = deliveries(port, secret, "flooded", seconds)
            held = flood.held_between(flooded.started, flooded.ended)
            report = flood.last()
    label = f"receiver from {package_from}" if package_from else "this checkout's receiver"
    return Run(label, connections, quiet, flooded, held, report, inbox_rows(inbox))


def rows_for(run: Run) -> list[Row]:
    n = run.connections
    held = f"min {min(run.held, default=0):,}, median {median(run.held or [0]):,.0f} of {n:,}"
    answers = ", ".join(f"{count:,} {status}" for status, count in sorted(dict(run.flood.get("answers", {})).items()))  # type: ignore[call-overload]
    churn = f"{run.flood.get('connects', 0):,} connections opened in all; the receiver answered {answers or 'none'}"
    held_median = median(run.held or [0])
    answered = run.quiet.ok + run.flooded.ok
    lost = run.rows is not None and run.rows < answered
    p99 = percentile(run.flooded.seconds, 0.99) if run.flooded.seconds else float("inf")
    return [
        Row(f"flood ({run.label}): real deliveries, no flood", run.quiet.value()),
        Row(
            f"flood: slow connections held during the deliveries (one header line a second each, {WORKERS} threads "
            "delivering beside)",
            f"{held} ({churn})",
            f"median >= {HELD_FLOOR:.0%} of {n:,}",
            "met" if held_median >= n * HELD_FLOOR else "FLAGGED: the flood held fewer, and measured less",
        ),
        Row(
            f"flood: real deliveries while {n:,} slow connections are held",
            run.flooded.value(),
            f"100% 2xx, p99 < {P99_LIMIT:g} s",
            "; ".join(
                v
                for v in (
                    at_least(run.flooded.share_ok, 1.0) if run.flooded.share_ok < 1 else "",
                    at_most(p99, P99_LIMIT, " s") if p99 > P99_LIMIT else "",
                )
                if v
            )
            or "met",
        ),
        Row(
            "flood: durability",
            f"inbox: {run.rows if run.rows is not None else 'n/a'} rows for {answered} deliveries answered 2xx"
            + ("; LOST: accepted events are not in the inbox" if lost else ""),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--connections", type=int, default=CONNECTIONS, help=f"slow connections (default {CONNECTIONS})"
    )
    parser.add_argument(
        "--duration", type=float, default=25, help="seconds of deliveries during the flood (default 25)"
    )
    parser.add_argument("--baseline", type=float, default=5, help="seconds of deliveries before the flood (default 5)")
    parser.add_argument("--quick", action="store_true", help="8 s of deliveries during the flood, 2 s before")
    parser.add_argument("--package-from", type=Path, metavar="DIR", help="run the reference_receiver package in DIR")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON (for run_all.py)")
    parser.add_argument("--flood", nargs=3, type=float, metavar=("PORT", "N", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.flood:
        port, connections, seconds = args.flood
        run_flood(int(port), int(connections), seconds)
        return 0
    seconds, baseline = (8.0, 2.0) if args.quick else (args.duration, args.baseline)
    if not 1 <= args.connections <= 60_000 or not 1 <= seconds <= 300 or not 1 <= baseline <= 60:
        parser.error("--connections must be within 1-60000, --duration within 1-300 s, --baseline within 1-60 s")
    if args.package_from is not None and not (args.package_from / "reference_receiver").is_dir():
        parser.error(f"{args.package_from} holds no reference_receiver package")
    connections = affordable(args.connections)
    if connections < args.connections:
        print(f"flood: {connections} connections, not {args.connections}: the hard RLIMIT_NOFILE", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp:
        run = measure(Path(tmp), connections, baseline, seconds, args.package_from)
    table = rows_for(run)
    print_table(table, "Slow-client flood")
    write_json(args.json, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
