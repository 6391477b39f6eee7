"""Latency: the check's wall time behind a proxy adding a round-trip time, and the load drill beside wrk.

``python benchmarks/latency.py`` (``--quick``, ``--rtt MS``, ``--help``). Never run as a test. In one run:

(a) ``python -m harness check URL`` against ``python -m reference_receiver``, through a loopback proxy that adds
    ``--rtt`` (default 50 ms) and directly; (b) ``python -m harness check`` with no URL (the embedded receiver);
(c) the load drill (``harness.sending.load.drill``) beside wrk against another reference receiver, alternating.

The proxy's model of a network with that round-trip time: it accepts at once, then holds the connection one RTT
before it connects upstream (the TCP handshake), and delivers every chunk, in each direction, half an RTT after it
read it (a half-close too). A new connection per exchange, as the Cloud and the harness make, costs 2 RTT; an
exchange on a kept-alive connection 1 RTT. No TLS (an https receiver adds one RTT with TLS 1.3, two with 1.2),
no bandwidth limit, no loss.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchlib import REPO, Row, at_least, free_port, median, ms, print_table, running, write_json
from loadgen import CONNECTIONS, Load, wrk_load

from harness.config.secret import Secret
from harness.sending.drill import drill
from harness.sending.load import LoadResult
from harness.wire import transport

RTT_MS = 50.0
DRILL_DELIVERIES = 2000
#: wrk's connections, so that both tools keep as many requests in flight and the ratio compares the tools.
DRILL_CONCURRENCY = CONNECTIONS
#: The concurrency the Cloud's own workers reach at most; shown for context.
CLOUD_CONCURRENCY = 8
RATIO_FLOOR = 0.5  # the drill against wrk as receiver.py runs it (keep-alive)
CHECK_TIMEOUT = 300.0  # seconds, one check run


# --- the proxy (a subprocess of its own: --proxy LISTEN UPSTREAM RTT_MS) ------------------------------------


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy ``reader`` to ``writer``, each chunk (and the end) written ``delay`` s after it was read."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        while True:
            try:
                data = await reader.read(65536)
            except OSError:
                data = b""
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                return

    async def write() -> None:
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    await asyncio.gather(read(), write())


async def _relay(upstream: int, rtt: float, client: asyncio.StreamReader, back: asyncio.StreamWriter) -> None:
    await asyncio.sleep(rtt)  # the handshake's round trip: nothing crosses before it
    try:
        server, forth = await asyncio.open_connection("127.0.0.1", upstream)
    except OSError:
        back.close()
        return
    await asyncio.gather(_pipe(client, forth, rtt / 2), _pipe(server, back, rtt / 2), return_exceptions=True)
    for writer in (forth, back):
        writer.close()


async def _proxy(listen: int, upstream: int, rtt: float) -> None:
    server = await asyncio.start_server(lambda r, w: _relay(upstream, rtt, r, w), "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


def serve_proxy(listen: int, upstream: int, rtt_ms: float) -> None:
    with contextlib.suppress(KeyboardInterrupt):  # benchlib.stop() ends it with Ctrl-C
        asyncio.run(_proxy(listen, upstream, rtt_ms / 1000))


# --- the processes -------------------------------------------------------------------------------------------


def environment(secret: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_")}
    return env | ({"WEBHOOK_SECRET": secret} if secret is not None else {})


@contextlib.contextmanager
def receiver(tmp: Path, secret: str, name: str) -> Iterator[int]:
    """``python -m reference_receiver`` with a durable inbox of its own, as benchmarks/receiver.py starts it."""
    port = free_port()
    env = environment(secret) | {"WEBHOOK_INBOX": str(tmp / f"{name}.sqlite")}
    argv = [sys.executable, "-m", "reference_receiver", "--port", str(port)]
    with running(argv, env, port, tmp / f"{name}.log"):
        yield port


@contextlib.contextmanager
def proxy(tmp: Path, upstream: int, rtt_ms: float) -> Iterator[int]:
    port = free_port()
    argv = [sys.executable, __file__, "--proxy", str(port), str(upstream), str(rtt_ms)]
    with running(argv, environment(None), port, tmp / "proxy.log"):
        yield port


@dataclass(frozen=True)
class Check:
    seconds: float
    code: int
    verdict: str

    def value(self) -> str:
        return f"{self.seconds:.2f} s (exit {self.code}: {self.verdict})"

    def result(self) -> str:
        return "" if self.code == 0 else "FLAGGED: not READY, so the run did not measure the full suite"


def check(url: str | None, secret: str | None) -> Check:
    """Wall time of ``python -m harness check [URL]``, interpreter start-up included."""
    argv = [sys.executable, "-m", "harness", "check", *([url] if url else [])]
    started = time.perf_counter()
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
            argv, cwd=REPO, env=environment(secret), capture_output=True, text=True, timeout=CHECK_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return Check(CHECK_TIMEOUT, -1, f"no end within {CHECK_TIMEOUT:g} s")
    seconds = time.perf_counter() - started
    lines = (done.stdout + done.stderr).strip().splitlines() or ["no output"]
    verdict = next((line for line in reversed(lines) if "READY" in line or "VERDICT" in line), lines[-1])
    return Check(seconds, done.returncode, verdict.split(" Target: ")[0].strip()[:120])


# --- the rows --------------------------------------------------------------------------------------------------


def check_rows(tmp: Path, rtt_ms: float) -> list[Row]:
    secret = secrets.token_urlsafe(30)[:30]
    embedded = check(None, None)  # first: it also warms the bytecode up for the two others
    with receiver(tmp, secret, "checked") as port:
        direct = check(f"http://127.0.0.1:{port}/webhook", secret)
        with proxy(tmp, port, rtt_ms) as proxied_port:
            proxied = check(f"http://127.0.0.1:{proxied_port}/webhook", secret)
    added = proxied.seconds - direct.seconds
    # Each exchange the check waits for costs 2 RTT more (a new connection each): how many it waited for in a row.
    serial = added / (2 * rtt_ms / 1000)
    return [
        Row(f"check via the proxy, RTT {rtt_ms:g} ms", proxied.value(), "", proxied.result()),
        Row("check direct to the same receiver", direct.value(), "", direct.result()),
        Row(
            f"check: time added by RTT {rtt_ms:g} ms",
            f"{added:.2f} s, about {serial:.0f} exchanges one after the other (2 RTT each)",
        ),
        Row("check with no URL (embedded receiver)", embedded.value(), "", embedded.result()),
    ]


@dataclass(frozen=True)
class Round:
    wrk: Load
    drilled: LoadResult
    drilled_cloud: LoadResult


def _time_wait() -> int:
    """TCP connections in TIME_WAIT on this machine (IPv4), or -1 where /proc/net/tcp cannot be read."""
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return -1
    return sum(1 for line in lines if line.split()[3:4] == ["06"])


def rounds(tmp: Path, count: int, seconds: float) -> tuple[list[Round], Load, int]:
    """wrk keep-alive and the drill (at wrk's concurrency, then the Cloud's), in turns, against one durable reference
    receiver after a warm-up of each; then wrk with Connection: close; and the most connections seen in TIME_WAIT.

    wrk with Connection: close comes last: its ~2,300 new connections a second leave tens of thousands in
    TIME_WAIT for a minute, close to the 28,000 ephemeral ports of a default Linux, and a drill run after it lost
    up to half its rate to the kernel's search for a free port (the drill closes first, as the Cloud does, so its
    own connections wait on its side)."""
    secret = secrets.token_urlsafe(30)[:30]
    done: list[Round] = []
    waiting = _time_wait()
    with receiver(tmp, secret, "loaded") as port:
        url = f"http://127.0.0.1:{port}/webhook"
        options = transport.Options()

        def drilled(concurrency: int) -> LoadResult:
            return drill(url, Secret(secret), options, DRILL_DELIVERIES, concurrency)

        wrk_load(port, secret, "warm", 1, tmp)
        drill(url, Secret(secret), options, 500, DRILL_CONCURRENCY)
        for k in range(count):
            keep = wrk_load(port, secret, f"keep{k}", seconds, tmp)
            done.append(Round(keep, drilled(DRILL_CONCURRENCY), drilled(CLOUD_CONCURRENCY)))
            waiting = max(waiting, _time_wait())
        close = wrk_load(port, secret, "close", seconds, tmp, close=True)
    return done, close, waiting


def _middle(values: list[float]) -> float:
    return median(values) if values else 0.0


def _wrk_value(loads: list[Load]) -> str:
    errors = sum(load.errors for load in loads)
    rps = _middle([load.rps for load in loads])
    p99 = _middle([load.p99 for load in loads])
    return f"{rps:.0f} req/s, p99 {ms(p99)}" + (f"; ERRORS: {errors}" if errors else "")


def _drill_value(results: list[LoadResult]) -> str:
    rate = _middle([r.throughput for r in results])
    p99 = _middle([r.latency.p99 for r in results if r.latency])
    bad = sum(r.sent - r.by_class["2xx"] for r in results) + sum(r.planned - r.sent for r in results)
    return f"{rate:.0f} deliveries/s, p99 {ms(p99)}" + (f"; ERRORS: {bad} not answered 2xx" if bad else "")


def load_rows(tmp: Path, count: int, seconds: float) -> list[Row]:
    if shutil.which("wrk") is None:
        return [
            Row("drill / wrk", "no figures", f">= {RATIO_FLOOR:g}x", "FAILED: wrk is not on PATH (apt-get install wrk)")
        ]
    done, close, waiting = rounds(tmp, count, seconds)
    ratios = [r.drilled.throughput / r.wrk.rps for r in done if r.wrk.rps]
    drilled = _middle([r.drilled.throughput for r in done])
    each = ", ".join(f"{x:.2f}" for x in ratios)
    times = f"median of {count} rounds, " if count > 1 else ""
    of_rounds = f" ({times[:-2]})" if times else ""
    wrk_args = f"wrk -t2 -c{CONNECTIONS}, {seconds:g} s"
    return [
        Row(f"wrk keep-alive ({wrk_args}, {times}as receiver.py runs it)", _wrk_value([r.wrk for r in done])),
        Row(f"wrk Connection: close ({wrk_args}, once, after the rounds)", _wrk_value([close])),
        Row(
            f"drill, {DRILL_DELIVERIES} deliveries at concurrency {DRILL_CONCURRENCY}{of_rounds}",
            _drill_value([r.drilled for r in done]),
        ),
        Row(
            f"drill, {DRILL_DELIVERIES} deliveries at concurrency {CLOUD_CONCURRENCY} (the Cloud's workers)",
            _drill_value([r.drilled_cloud for r in done]),
        ),
        Row(
            f"drill c{DRILL_CONCURRENCY} / wrk keep-alive, each round",
            f"median {_middle(ratios):.2f}x" + (f" (rounds: {each})" if count > 1 else ""),
            f">= {RATIO_FLOOR:g}x",
            at_least(_middle(ratios), RATIO_FLOOR, "x"),
        ),
        Row(
            f"drill c{DRILL_CONCURRENCY} / wrk Connection: close",
            f"{drilled / close.rps if close.rps else 0:.2f}x",
            "(both a new connection each)",
        ),
        Row("connections in TIME_WAIT during the rounds, at most", f"{waiting:,}" if waiting >= 0 else "n/a"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt", type=float, default=RTT_MS, help=f"round-trip time in ms (default {RTT_MS:g})")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of wrk and the drill (default 3)")
    parser.add_argument("--duration", type=float, default=5, help="seconds of each wrk run (default 5)")
    parser.add_argument("--quick", action="store_true", help="1 round, 2 s wrk runs")
    parser.add_argument("--skip-check", action="store_true", help="only (c), the drill and wrk")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON (for run_all.py)")
    parser.add_argument("--proxy", nargs=3, type=float, metavar=("LISTEN", "UPSTREAM", "RTT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.proxy:
        listen, upstream, rtt = args.proxy
        serve_proxy(int(listen), int(upstream), rtt)
        return 0
    count, seconds = (1, 2.0) if args.quick else (args.rounds, args.duration)
    if not 0 < args.rtt <= 1000 or not 1 <= count <= 10 or not 1 <= seconds <= 60:
        parser.error("--rtt must be within 0-1000 ms, --rounds within 1-10, --duration within 1-60 s")
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        table = ([] if args.skip_check else check_rows(Path(tmp), args.rtt)) + load_rows(Path(tmp), count, seconds)
    print_table(table, "Latency and the load drill")
    write_json(args.json, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
