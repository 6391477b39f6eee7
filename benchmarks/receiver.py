"""Receiver throughput and latency at 50 connections: the docs sample, the reference durable on SQLite and on
PostgreSQL (1 and 2 workers), and without persistence.

``python benchmarks/receiver.py`` (``--quick`` for 3 s runs, ``--help``). Each server is a subprocess on a free
loopback port, loaded with wrk (or a Python fallback without it), one after the other, each warmed up first.
Every request carries a distinct event: the reference receiver deduplicates identical ones. PostgreSQL is a
real server started for the run (tests/postgres_server.py: initdb in a temporary directory, fsync on, as a
production server); ``--no-postgres`` leaves it out.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from benchlib import REPO, Row, at_least, at_most, free_port, ms, print_table, running, write_json
from loadgen import CONNECTIONS, Load, body_parts, python_load, site_name, wrk_load

from postgres_server import PostgresServer, running_postgres

THROUGHPUT_FLOOR = 4.0  # reference durable against the docs sample
P99_LIMIT = 0.050  # seconds, reference durable
SAMPLE_SECRET = "super-secret-key"  # noqa: S105 - the documentation's sample hard-codes it


@dataclass(frozen=True)
class Server:
    """How to start one server: ``{port}`` in its arguments and environment is replaced by its port."""

    name: str
    argv: list[str]
    env: dict[str, str]
    secret: str
    inbox: Path | None = None
    quiet: bool = False  # its stdout to /dev/null (the docs sample prints every event)
    #: The server whose database holds the inbox: a fresh schema each round.
    postgres: PostgresServer | None = None

    def command(self, port: int) -> tuple[list[str], dict[str, str]]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "SAMPLE_"))}
        env.update((k, v.replace("{port}", str(port))) for k, v in self.env.items())
        return [a.replace("{port}", str(port)) for a in self.argv], env


def servers(tmp: Path, postgres: PostgresServer | None) -> list[Server]:
    """The servers, as their documentation serves them."""
    secret = secrets.token_urlsafe(30)[:30]
    sample = [sys.executable, str(REPO / "tests" / "cloud_sample.py")]
    reference = [sys.executable, "-m", "reference_receiver", "--port", "{port}"]
    inbox = tmp / "inbox.sqlite"
    return [
        Server("docs sample", sample, {"SAMPLE_PORT": "{port}", "SAMPLE_DEBUG": "1"}, SAMPLE_SECRET, quiet=True),
        Server("reference, durable", reference, {"WEBHOOK_SECRET": secret, "WEBHOOK_INBOX": str(inbox)}, secret, inbox),
        Server(
            "reference, persistence off", reference, {"WEBHOOK_SECRET": secret, "WEBHOOK_INBOX": ":memory:"}, secret
        ),
    ] + [
        Server(
            f"reference, PostgreSQL, {workers} worker{'s' if workers > 1 else ''}",
            [*reference, "--workers", str(workers)],
            {"WEBHOOK_SECRET": secret},
            secret,
            postgres=postgres,
        )
        for workers in ((1, 2) if postgres is not None else ())
    ]


def load(port: int, secret: str, tag: str, seconds: float, tmp: Path, use_wrk: bool) -> Load:
    if use_wrk:
        return wrk_load(port, secret, tag, seconds, tmp)
    return python_load(port, secret, tag, CONNECTIONS, seconds)


# --- one server ----------------------------------------------------------------------------------


def check_delivery(port: int, secret: str) -> None:
    """One delivery before the load: a wrong secret or a broken server shows here, not as 10 s of errors."""
    prefix, suffix = body_parts()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        body = f"{prefix}{site_name('check', 0, 0)}{suffix}"
        connection.request("POST", "/webhook", body, {"Content-Type": "application/json", "X-Webhook-Secret": secret})
        status = connection.getresponse().status
    finally:
        connection.close()
    if not 200 <= status < 300:
        raise RuntimeError(f"a delivery got {status} before the load")


def inbox_rows(path: Path) -> int | None:
    """Rows in the durable inbox, read-only; None when there is no such file or table (yet)."""
    if not path.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return int(db.execute("SELECT count(*) FROM inbox").fetchone()[0])
    except sqlite3.Error:
        return None


def measure(server: Server, seconds: float, warmup: float, tmp: Path, use_wrk: bool) -> tuple[Load, str]:
    """The load on one server, and what its durable inbox holds afterwards."""
    port = free_port()
    argv, env = server.command(port)
    url = server.postgres.fresh_schema() if server.postgres is not None else None
    if url is not None:
        env["WEBHOOK_INBOX"] = url
    if server.inbox is not None:  # a fresh inbox for each round
        for end in ("", "-wal", "-shm", "-journal"):
            server.inbox.with_name(server.inbox.name + end).unlink(missing_ok=True)
    log = tmp / f"server-{port}.log"
    with running(argv, env, port, log, subprocess.DEVNULL if server.quiet else None):
        check_delivery(port, server.secret)
        warm = load(port, server.secret, f"warm{port}", warmup, tmp, use_wrk)
        measured = load(port, server.secret, f"run{port}", seconds, tmp, use_wrk)
    if url is not None:
        return measured, durability(postgres_rows(url), [warm, measured])
    if server.inbox is None:
        return measured, ""
    return measured, durability(inbox_rows(server.inbox), [warm, measured])


def postgres_rows(url: str) -> int | None:
    import psycopg

    try:
        with psycopg.connect(url) as db:
            row = db.execute("SELECT count(*) FROM webhook_inbox").fetchone()
    except psycopg.Error:
        return None
    return None if row is None else int(row[0])


def durability(rows: int | None, loads: list[Load]) -> str:
    """Rows in the inbox against the deliveries answered 2xx (the check's one, the warm-up's and the run's).

    The load tools do not count the requests still in flight when they stop (up to one per connection and
    run), so a few more rows than answers is expected; fewer means accepted events were lost.
    """
    answered = 1 + sum(load.requests - load.errors for load in loads)
    if rows is None:
        return f"inbox: n/a (no inbox table) for {answered} deliveries answered 2xx"
    lost = f"; LOST: {answered - rows} accepted events are not in the inbox" if rows < answered else ""
    return f"inbox: {rows} rows for {answered} deliveries answered 2xx (+ up to {CONNECTIONS} in flight per run){lost}"


def median_run(runs: list[tuple[Load, str]]) -> tuple[Load, str, int]:
    """The run with the median throughput (the better of two), the note that says LOST if any does, and the
    errors of all rounds."""
    load, note = sorted(runs, key=lambda run: run[0].rps)[len(runs) // 2]
    note = next((n for _, n in runs if "LOST" in n), note)
    return load, note, sum(run[0].errors for run in runs)


def rows_for(runs: dict[str, list[tuple[Load, str]]]) -> list[Row]:
    table = []
    results = {name: median_run(server_runs) for name, server_runs in runs.items()}
    rounds = f", median of {len(next(iter(runs.values())))} rounds" if len(next(iter(runs.values()))) > 1 else ""
    for name, (result, note, error_count) in results.items():
        errors = f"ERRORS: {error_count} non-2xx answers or socket errors" if error_count else ""
        value = f"{result.rps:.0f} req/s, p50 {ms(result.p50)}, p99 {ms(result.p99)} ({result.requests} requests)"
        target, verdict = "", ""
        if name == "reference, durable":  # the goal is SQLite's: PostgreSQL's rows are figures beside it
            target, verdict = f"p99 < {P99_LIMIT * 1000:g} ms", at_most(result.p99 * 1000, P99_LIMIT * 1000, " ms")
        figure = f"{name}: {CONNECTIONS} connections, {result.tool}{rounds}"
        table.append(Row(figure, value, target, _join(verdict, errors)))
        if note:
            table.append(Row(f"{name}: durability", note))
    sample, durable, off = (
        results[k][0].rps for k in ("docs sample", "reference, durable", "reference, persistence off")
    )
    ratio = durable / sample if sample else 0.0
    table.append(
        Row(
            "throughput durable / docs sample",
            f"{ratio:.2f}x",
            f">= {THROUGHPUT_FLOOR:g}x",
            at_least(ratio, THROUGHPUT_FLOOR, "x"),
        )
    )
    table.append(
        Row(
            "throughput persistence off / durable", f"{off / durable if durable else 0:.2f}x", "(the cost of the inbox)"
        )
    )
    postgres = {k: v[0].rps for k, v in results.items() if "PostgreSQL" in k}
    if len(postgres) == 2 and durable:
        one, two = postgres.values()
        table.append(Row("throughput PostgreSQL 1 worker / SQLite durable", f"{one / durable:.2f}x"))
        table.append(Row("throughput PostgreSQL 2 workers / 1 worker", f"{two / one if one else 0:.2f}x"))
    return table


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds of load per server (default 10)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up load per server (default 2)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds over the three servers (default 1)")
    parser.add_argument("--quick", action="store_true", help="3 s of load and 1 s of warm-up per server, 1 round")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator even if wrk is here")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON (for run_all.py)")
    parser.add_argument("--no-postgres", action="store_true", help="leave out the PostgreSQL inbox's two servers")
    args = parser.parse_args(argv)
    seconds, warmup = (3.0, 1.0) if args.quick else (args.duration, args.warmup)
    args.rounds = 1 if args.quick else args.rounds
    if not 1 <= seconds <= 300 or not 0 < warmup <= 60 or not 1 <= args.rounds <= 10:
        parser.error("--duration must be within 1-300 s, --warmup within 0-60 s, --rounds within 1-10")
    use_wrk = shutil.which("wrk") is not None and not args.python_load
    if not use_wrk:
        why = "as asked" if args.python_load else "wrk is not on PATH"
        print(f"using the Python load generator ({why}): it may itself be the bottleneck", file=sys.stderr)
    runs: dict[str, list[tuple[Load, str]]] = {}
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-receiver-"))
        postgres = None if args.no_postgres else stack.enter_context(running_postgres())
        for _ in range(args.rounds):  # A B C, A B C...: a burst of noise does not hit one server only
            for server in servers(Path(tmp), postgres):
                runs.setdefault(server.name, []).append(measure(server, seconds, warmup, Path(tmp), use_wrk))
    table = rows_for(runs)
    print_table(table, "Receivers")
    write_json(args.json, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
