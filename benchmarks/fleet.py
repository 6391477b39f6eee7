"""A fleet: 200 loopback receivers behind a proxy adding 20 ms per round trip, checked three ways.

``python benchmarks/fleet.py`` (``--receivers N``, ``--rtt MS``, ``--quick``: 40 receivers). Never run as a test.
In one run, over the same receivers:

(a) serially: ``check-many --targets-at-once 1``, one whole run after the other (a shell loop of ``check``
    would add an interpreter's start to each);
(b) ``check-many`` on this machine, ``--targets-at-once`` 8 (the default);
(c) ``check-many --queue`` with two ``rq worker`` processes on a Redis server of its own.

The receivers are gallery receivers (tests/gallery.py) in one process of their own, one port each: nine in ten
get everything right, the tenth is one of the broken kinds in turn. The proxy is benchmarks/latency.py's model
of a network (a new connection costs 2 RTT), one listening port per receiver, in one process. Every way must
give every target the same verdict; the table says whether they did.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchlib import REPO, Row, print_table, write_json
from latency import _relay

sys.path.insert(0, str(REPO / "tests"))

RECEIVERS = 200
RTT_MS = 20.0
WORKERS = 2
AT_ONCE = 8
RUN_TIMEOUT = 3600.0


# --- the receivers and the proxy (subprocesses of their own) ----------------------------------------------------


def serve_receivers(count: int, ports_file: Path) -> None:
    """Serve ``count`` gallery receivers; write their ports to ``ports_file``; serve until killed."""
    from fleet_receivers import serving

    import gallery

    # Not fails_second_handshake: it fails every handshake after its first, ever, so the three ways, which share
    # these receivers, would find it in three states (the first run's HS-2; then HS-1 and HS-2).
    broken = [b for b in gallery.GALLERY if not b.args and b.secret and b.name != "fails_second_handshake"]
    chosen = [
        broken[(n // 10) % len(broken)] if n % 10 == 9 else gallery.Broken(gallery.correct, frozenset())
        for n in range(count)
    ]
    with serving(chosen) as served:
        ports_file.write_text(json.dumps([s.url for s in served]))
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


async def _proxies(pairs: list[tuple[int, int]], rtt: float) -> None:
    servers = [
        await asyncio.start_server(lambda r, w, up=up: _relay(up, rtt, r, w), "127.0.0.1", listen)
        for listen, up in pairs
    ]
    await asyncio.gather(*(server.serve_forever() for server in servers))


def serve_proxies(pairs_file: Path, rtt_ms: float) -> None:
    pairs = [tuple(pair) for pair in json.loads(pairs_file.read_text())]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_proxies(pairs, rtt_ms / 1000))  # type: ignore[arg-type]


@contextlib.contextmanager
def child(argv: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)  # noqa: S603
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for(path: Path, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{process.args!r} did not start")
        time.sleep(0.1)


# --- the three ways -----------------------------------------------------------------------------------------------


def distinct_ports(count: int) -> list[int]:
    """``count`` free loopback ports, all different: held open together while they are chosen."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.create_server(("127.0.0.1", 0))) for _ in range(count)]
        return [int(sock.getsockname()[1]) for sock in sockets]


def environment(count: int) -> dict[str, str]:
    import gallery

    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "FLEET_SECRET_"))}
    return env | {f"FLEET_SECRET_{n}": gallery.SECRET for n in range(1, count + 1)}


def check_many(csv: Path, report: Path, env: dict[str, str], *options: str) -> tuple[float, dict[str, object]]:
    """Wall seconds of one check-many run, and the verdict it gave each target."""
    argv = [sys.executable, "-m", "harness", "check-many", str(csv), "--report-json", str(report), *options]
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, timeout=RUN_TIMEOUT, check=False)  # noqa: S603
    seconds = time.perf_counter() - started
    targets = json.loads(report.read_text())["targets"]
    return seconds, {t["url"]: (t["status"], t["failed"], t["should_failed"]) for t in targets}


def differing(*runs: dict[str, object], level: int) -> list[str]:
    """The targets whose verdict (``level`` 2: status and MUSTs failed; 3: SHOULDs too) differs between runs."""
    first = runs[0]
    return [
        f"#{n} {first[url][:level]} / " + " / ".join(str(run[url][:level]) for run in runs[1:])  # type: ignore[index]
        for n, url in enumerate(first, 1)
        if len({str(run[url][:level]) for run in runs}) > 1  # type: ignore[index]
    ]


def with_workers(tmp: Path, env: dict[str, str], csv: Path) -> tuple[float, dict[str, object]]:
    from redis_queue import redis_server, rq_workers

    command = shutil.which("redis-server")
    if command is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    with redis_server(command) as url, rq_workers(url, WORKERS, env):
        return check_many(csv, tmp / "queue.json", env, "--queue", url)


def rows(count: int, rtt_ms: float) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as name:
        tmp = Path(name)
        ports = tmp / "receivers.json"
        me = [sys.executable, __file__]
        with child([*me, "--serve-receivers", str(count), str(ports)], tmp / "receivers.log") as receivers:
            _wait_for(ports, receivers)
            urls = json.loads(ports.read_text())
            upstreams = [int(url.split(":")[2].split("/")[0]) for url in urls]
            pairs = list(zip(distinct_ports(len(urls)), upstreams, strict=True))
            (tmp / "pairs.json").write_text(json.dumps(pairs))
            with child([*me, "--serve-proxies", str(tmp / "pairs.json"), str(rtt_ms)], tmp / "proxy.log"):
                time.sleep(2)
                csv = tmp / "targets.csv"
                lines = ["url,secret_env"] + [
                    f"http://127.0.0.1:{listen}/webhook,FLEET_SECRET_{n}" for n, (listen, _) in enumerate(pairs, 1)
                ]
                csv.write_text("\n".join(lines) + "\n")
                env = environment(count)
                serial = check_many(csv, tmp / "serial.json", env, "--targets-at-once", "1")
                local = check_many(csv, tmp / "local.json", env, "--targets-at-once", str(AT_ONCE))
                queue = with_workers(tmp, env, csv)
    ready = sum(verdict[0] == "READY" for verdict in serial[1].values())  # type: ignore[index]
    verdicts = differing(serial[1], local[1], queue[1], level=2)
    findings = differing(serial[1], local[1], queue[1], level=3)
    where = f"{count} loopback receivers behind a proxy adding {rtt_ms:g} ms per round trip ({ready} READY)"
    return [
        Row(f"fleet: {where}, checked serially (check-many --targets-at-once 1)", f"{serial[0]:.1f} s"),
        Row(
            f"fleet: the same with check-many, {AT_ONCE} at once on this machine",
            f"{local[0]:.1f} s ({serial[0] / local[0]:.1f}x)",
        ),
        Row(
            f"fleet: the same with check-many --queue and {WORKERS} rq workers on this machine",
            f"{queue[0]:.1f} s ({serial[0] / queue[0]:.1f}x)",
        ),
        Row(
            "fleet: targets whose verdict (status, MUSTs failed) differs (serial / local / queue)",
            "; ".join(verdicts) or "none",
            "none",
            "met" if not verdicts else "not met",
        ),
        Row("fleet: targets whose SHOULD findings differ (timing: DLV-7 latency)", "; ".join(findings) or "none"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receivers", type=int, default=RECEIVERS, help=f"how many (default {RECEIVERS})")
    parser.add_argument("--rtt", type=float, default=RTT_MS, help=f"round-trip time in ms (default {RTT_MS:g})")
    parser.add_argument("--quick", action="store_true", help="40 receivers")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON (for run_all.py)")
    parser.add_argument("--serve-receivers", nargs=2, metavar=("COUNT", "PORTS_FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--serve-proxies", nargs=2, metavar=("PAIRS_FILE", "RTT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_receivers:
        serve_receivers(int(args.serve_receivers[0]), Path(args.serve_receivers[1]))
        return 0
    if args.serve_proxies:
        serve_proxies(Path(args.serve_proxies[0]), float(args.serve_proxies[1]))
        return 0
    count = 40 if args.quick else args.receivers
    if not 1 <= count <= 1000 or not 0 < args.rtt <= 1000:
        parser.error("--receivers must be within 1-1000, --rtt within 0-1000 ms")
    table = rows(count, args.rtt)
    print_table(table, "A fleet")
    write_json(args.json, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
