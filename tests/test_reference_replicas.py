"""Two replicas of the reference receiver on one PostgreSQL database, behind a round-robin balancer: a burst
with duplicates, one replica SIGKILLed in the middle and started again, then everything sent again. Every
acknowledged event is stored exactly once and processed exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psycopg
import pytest
from round_robin import round_robin

from postgres_server import PostgresServer

SECRET = "replica-secret-0123456789abcdef"
#: A replica whose handler writes its effect through the claim's connection, as the template recommends.
REPLICA = """
import sys
from reference_receiver import Event, on
from reference_receiver.__main__ import main

@on("Site Status Update")
def count(event: Event) -> None:
    event.connection.execute("INSERT INTO effects (key) VALUES (%s)", (event.key,))

sys.exit(main(sys.argv[1:]))
"""
DELIVERIES, DUPLICATES, CONCURRENCY = 2_000, 200, 100


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = field(default=None)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", REPLICA, "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the replica exited at start-up"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the replica did not start listening")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def replicas(postgres: PostgresServer) -> Iterator[tuple[str, list[Replica]]]:
    url = postgres.fresh_schema()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE effects (key TEXT NOT NULL)")
    env = {
        **os.environ,
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_INBOX": url,
        "WEBHOOK_ORDER_WINDOW": "0.2",
        "WEBHOOK_LOG_LEVEL": "WARNING",
    }
    pair = [Replica(_free_port(), env), Replica(_free_port(), env)]
    for replica in pair:
        replica.start()
    try:
        yield url, pair
    finally:
        for replica in pair:
            replica.stop()


def _bodies() -> list[bytes]:
    """Distinct Site Status Updates, then 10% of them again (the Cloud retries), shuffled together."""
    distinct = [
        json.dumps(
            {
                "event": "Site Status Update",
                "data": {
                    "doctype": "Site",
                    "name": f"replica-{n}.example.com",
                    "status": "Active",
                    "modified": f"2030-01-01 00:{n // 60 % 60:02d}:{n % 60:02d}.{n:06d}",
                },
            }
        ).encode()
        for n in range(DELIVERIES)
    ]
    rng = random.Random(13)
    burst = distinct + rng.sample(distinct, DUPLICATES)
    rng.shuffle(burst)
    return burst


async def _send_all(port: int, bodies: list[bytes], on_ack: object = None) -> list[int]:
    """Each body POSTed on a new connection, CONCURRENCY at once; its status, or 0 when it got no answer."""
    statuses = [0] * len(bodies)
    gate = asyncio.Semaphore(CONCURRENCY)
    headers = {"Content-Type": "application/json", "X-Webhook-Secret": SECRET}
    connector = aiohttp.TCPConnector(force_close=True, limit=CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(index: int) -> None:
            async with gate:
                try:
                    url = f"http://127.0.0.1:{port}/webhook"
                    async with session.post(url, data=bodies[index], headers=headers) as r:
                        await r.read()
                        statuses[index] = r.status
                except (aiohttp.ClientError, TimeoutError, OSError):
                    statuses[index] = 0
                if callable(on_ack):
                    on_ack(sum(1 for s in statuses if s))

        await asyncio.gather(*(one(i) for i in range(len(bodies))))
    return statuses


def test_a_replica_killed_mid_burst_loses_nothing_acknowledged_and_nothing_runs_twice(
    replicas: tuple[str, list[Replica]],
) -> None:
    url, (first, second) = replicas
    bodies = _bodies()
    with round_robin([first.port, second.port]) as balancer:
        killed = False

        def kill_in_the_middle(answered: int) -> None:
            nonlocal killed
            if not killed and answered >= len(bodies) // 2:
                killed = True
                first.kill()

        statuses = asyncio.run(_send_all(balancer.port, bodies, kill_in_the_middle))
        assert killed
        first.start()
        again = asyncio.run(_send_all(balancer.port, bodies))
    acknowledged = {body for body, status in zip(bodies * 2, statuses + again, strict=True) if 200 <= status < 300}
    assert all(200 <= status < 300 for status in again), "after the restart every delivery is acknowledged"
    assert {s for s in statuses if not 200 <= s < 300} <= {0, 503}  # in flight to the killed one, or shed
    assert min(balancer.sent.values()) > 0  # both replicas took deliveries

    keys = _keys_of(acknowledged)
    deadline = time.monotonic() + 60
    with psycopg.connect(url, autocommit=True) as db:
        while time.monotonic() < deadline:
            pending = db.execute("SELECT count(*) FROM webhook_inbox WHERE state <> 'done'").fetchone()
            if pending == (0,):
                break
            time.sleep(0.2)
        stored = [bytes(row[0]).decode() for row in db.execute("SELECT key FROM webhook_inbox")]
        effects = [row[0] for row in db.execute("SELECT key FROM effects")]
        states = dict(db.execute("SELECT state, count(*) FROM webhook_inbox GROUP BY state").fetchall())
    assert len(stored) == len(set(stored)) == DELIVERIES  # each event once, the duplicates none
    assert keys <= set(stored)
    assert states == {"done": DELIVERIES}
    assert sorted(effects) == sorted(stored)  # every event processed exactly once


def _keys_of(bodies: set[bytes]) -> set[str]:
    """The inbox keys of these deliveries, as the receiver computes them."""
    from reference_receiver import Config, Receiver

    receiver = Receiver(Config(secret=SECRET))
    keys = set()
    for body in bodies:
        record = receiver.accept(body).record
        assert record is not None
        keys.add(record.key)
    return keys


def test_workers_share_one_port_and_one_postgresql_inbox(postgres: PostgresServer) -> None:
    url = postgres.fresh_schema()
    port = _free_port()
    env = {**os.environ, "WEBHOOK_SECRET": SECRET, "WEBHOOK_INBOX": url, "WEBHOOK_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "reference_receiver", "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        bodies = _bodies()[:300]
        deadline, statuses = time.monotonic() + 30, [0]
        while time.monotonic() < deadline:  # until both workers answer
            statuses = asyncio.run(_send_all(port, bodies[:1]))
            if statuses == [200] and _receiver_processes(url) == 2:
                break
            time.sleep(0.2)
        assert _receiver_processes(url) == 2
        statuses = asyncio.run(_send_all(port, bodies))
        assert set(statuses) == {200}
        with psycopg.connect(url, autocommit=True) as db:
            assert db.execute("SELECT count(*) FROM webhook_inbox").fetchone() == (len(set(bodies)),)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0  # every worker finished its requests and stopped


def _receiver_processes(url: str) -> int:
    """How many processes hold the inbox's connections: one per worker."""
    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute(
            "SELECT count(DISTINCT application_name) FROM pg_stat_activity"
            " WHERE application_name LIKE 'webhook-receiver %'"
        ).fetchone()
    return 0 if row is None else int(row[0])


def test_more_than_one_worker_on_sqlite_is_refused_with_the_reason(tmp_path: Path) -> None:
    env = {**os.environ, "WEBHOOK_SECRET": SECRET, "WEBHOOK_INBOX": str(tmp_path / "inbox.sqlite3")}
    result = subprocess.run(
        [sys.executable, "-m", "reference_receiver", "--workers", "2", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--workers 2 needs a PostgreSQL inbox" in result.stderr
    assert not (tmp_path / "inbox.sqlite3").exists()  # refused before anything was opened
