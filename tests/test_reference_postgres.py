"""What the PostgreSQL inbox adds to the contract (tests/test_reference_inbox.py runs that on every store):
many replicas and processors on one database, on a real server started for the session."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from postgres_server import PostgresServer
from reference_receiver import Event, Processor, Record
from reference_receiver.postgres import PostgresInbox
from reference_receiver.processing import Handler


def record(name: str, modified: str = "2030-01-01 00:00:00", event: str = "Site Status Update") -> Record:
    payload = json.dumps({"event": event, "data": {"doctype": "Site", "name": name, "modified": modified}})
    return Record(key=f"{name}|{modified}", event=event, resource=f"Site:{name}", occurred_at=modified, payload=payload)


@pytest.fixture
def url(postgres: PostgresServer) -> str:
    return postgres.fresh_schema()


@pytest.fixture
def replicas(url: str) -> Iterator[list[PostgresInbox]]:
    """Two inboxes on one database, as two receiver processes have."""
    inboxes = [PostgresInbox(url), PostgresInbox(url)]
    yield inboxes
    for inbox in inboxes:
        inbox.close()


def test_a_duplicate_is_stored_once_whichever_replica_gets_it(replicas: list[PostgresInbox]) -> None:
    keys = [record(f"s{n}") for n in range(200)]
    answers: list[list[bool]] = []
    lock = threading.Lock()

    def put(inbox: PostgresInbox, offset: int) -> None:
        for start in range(0, len(keys), 20):  # overlapping batches, in a different order per thread
            batch = keys[start:] + keys[:start] if offset else keys[start : start + 20]
            result = inbox.put_many(batch[:20])
            with lock:
                answers.append([k.key for k, new in zip(batch[:20], result, strict=True) if new])  # type: ignore[misc]

    threads = [threading.Thread(target=put, args=(replicas[n % 2], n % 3)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    stored = [s.record.key for s in replicas[0].events()]
    assert sorted(stored) == sorted(k.key for k in keys)
    new = [key for batch in answers for key in batch]
    assert sorted(new) == sorted(stored)  # each key answered "new" exactly once, across both replicas


def test_a_claimed_event_is_held_from_other_processors_and_holds_back_its_resource(
    replicas: list[PostgresInbox],
) -> None:
    first, second = replicas
    first.put_many([record("a", "2030-01-01 00:00:01"), record("a", "2030-01-01 00:00:02"), record("b")])
    now = time.time() + 10
    earliest = first.due(now, now, 10)
    held = next(s for s in earliest if s.record.resource == "Site:a")
    with first.claim(held, now) as claim:
        assert claim is not None
        with second.claim(held, now) as other:
            assert other is None  # SKIP LOCKED: passed over, not waited for
        # The later event of "a" is not due anywhere while the earlier one is held (or pending).
        assert {s.record.resource for s in second.due(now, now, 10)} == {"Site:a", "Site:b"}
        assert [s.seq for s in second.due(now, now, 10) if s.record.resource == "Site:a"] == [held.seq]
        claim.settle(_done(held.seq))
    later = [s for s in second.due(now, now, 10) if s.record.resource == "Site:a"]
    assert [s.record.occurred_at for s in later] == ["2030-01-01 00:00:02"]


def _done(seq: int) -> object:
    from reference_receiver.inbox import Outcome

    return Outcome(seq, "done")


def test_processors_on_two_replicas_handle_each_event_once_one_at_a_time_in_each_resources_order(
    replicas: list[PostgresInbox],
) -> None:
    resources, per_resource = 6, 15
    events = [record(f"r{r}", f"2030-01-01 00:00:{n:02d}") for n in range(per_resource) for r in range(resources)]
    newest_first = events[::-1]  # as the Cloud's workers send a backlog: arrival order is not the clock's
    replicas[0].put_many(newest_first[::2])
    replicas[1].put_many(newest_first[1::2])
    lock = threading.Lock()
    in_hand: set[str] = set()
    handled: list[tuple[str, str]] = []
    overlaps: list[str] = []

    def handler(event: Event) -> None:
        resource = f"Site:{event.data['name']}"
        with lock:
            if resource in in_hand:  # two processors in one resource at once: order could not hold
                overlaps.append(resource)
            in_hand.add(resource)
        time.sleep(0.002)
        with lock:
            in_hand.discard(resource)
            handled.append((resource, event.data["modified"]))

    handlers: dict[str, list[Handler]] = {"Site Status Update": [handler]}
    processors = [Processor(inbox, handlers, order_window=0) for inbox in replicas]
    deadline = time.monotonic() + 60

    def work(processor: Processor) -> None:
        while len(handled) < len(events) and time.monotonic() < deadline:
            processor.run_once(time.time() + 1)

    threads = [threading.Thread(target=work, args=(p,)) for p in processors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert overlaps == []
    assert sorted(handled) == sorted((e.resource, e.occurred_at) for e in events)  # each exactly once
    for r in range(resources):
        clocks = [clock for resource, clock in handled if resource == f"Site:r{r}"]
        assert clocks == sorted(clocks)
    assert {s.state for s in replicas[0].events()} == {"done"}


def test_what_a_handler_writes_through_its_connection_commits_with_the_outcome_or_not_at_all(url: str) -> None:
    inbox = PostgresInbox(url)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE effects (key TEXT NOT NULL)")
    failures = iter([True, False])

    def handler(event: Event) -> None:
        event.connection.execute("INSERT INTO effects (key) VALUES (%s)", (event.key,))
        if next(failures):
            raise RuntimeError("the first attempt fails after writing")

    processor = Processor(inbox, {"Site Status Update": [handler]}, order_window=0)
    inbox.put_many([record("a")])
    processor.run_once(time.time() + 1)
    with psycopg.connect(url, autocommit=True) as db:
        assert db.execute("SELECT count(*) FROM effects").fetchone() == (0,)  # undone with the failed attempt
    processor.run_once(time.time() + 100)  # past the retry's delay
    with psycopg.connect(url, autocommit=True) as db:
        assert db.execute("SELECT key FROM effects").fetchall() == [("a|2030-01-01 00:00:00",)]
    (stored,) = inbox.events()
    assert (stored.state, stored.attempts) == ("done", 1)
    inbox.close()


HOLDER = """
import sys, time
from reference_receiver.postgres import PostgresInbox
inbox = PostgresInbox(sys.argv[1])
(stored,) = inbox.events()
with inbox.claim(stored, time.time() + 10) as claim:
    print("held" if claim else "missed", flush=True)
    time.sleep(60)
"""


def test_a_processor_killed_while_holding_an_event_frees_it_at_once(url: str) -> None:
    inbox = PostgresInbox(url)
    inbox.put_many([record("a")])
    (stored,) = inbox.events()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with inbox.claim(stored, time.time() + 10) as claim:
            assert claim is None
        holder.kill()
        holder.wait(10)
        deadline, claimed = time.monotonic() + 10, False
        while not claimed and time.monotonic() < deadline:  # the server notices the closed socket
            with inbox.claim(stored, time.time() + 10) as claim:
                claimed = claim is not None
                if claim is not None:
                    claim.settle(_done(stored.seq))  # type: ignore[arg-type]
            time.sleep(0.05)
        assert claimed
    finally:
        holder.kill()
        holder.wait(10)
        inbox.close()


def test_connections_the_server_dropped_are_opened_again(url: str) -> None:
    inbox = PostgresInbox(url, health_ttl=0)
    inbox.put_many([record("a")])
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'webhook-receiver %'"
        )
    assert inbox.put_many([record("b")]) == [True]  # once more, on a new connection
    assert inbox.writable() is None
    assert len(inbox.events()) == 2
    inbox.close()


def test_a_database_made_read_only_is_reported_by_the_health_check_and_refused_at_start(
    postgres: PostgresServer,
) -> None:
    with psycopg.connect(postgres.url, autocommit=True) as db:
        db.execute("CREATE DATABASE turns_read_only")
    url = postgres.url_for("turns_read_only")
    inbox = PostgresInbox(url, health_ttl=0)
    try:
        assert inbox.writable() is None
        with psycopg.connect(postgres.url, autocommit=True) as db:
            db.execute("ALTER DATABASE turns_read_only SET default_transaction_read_only = on")
            db.execute(  # the setting applies to new sessions: make the inbox open new ones
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'turns_read_only'"
            )
        assert inbox.writable() == "the database's sessions are read-only"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            inbox.put_many([record("a")])
        with pytest.raises(OSError, match=r"PostgreSQL inbox.*read-only"):
            PostgresInbox(url)
    finally:
        inbox.close()
        with psycopg.connect(postgres.url, autocommit=True) as db:
            db.execute("DROP DATABASE turns_read_only WITH (FORCE)")


def test_an_unreachable_server_is_a_clear_error_without_the_password(postgres: PostgresServer) -> None:
    with pytest.raises(OSError, match="cannot open the PostgreSQL inbox") as caught:
        PostgresInbox("postgresql://user:hunter2-password@127.0.0.1:9/db", connect_timeout=1)
    assert "hunter2" not in str(caught.value)


def test_text_a_json_payload_can_carry_is_stored_as_sent(url: str) -> None:
    inbox = PostgresInbox(url)
    odd = Record(key="k\x00\u00e9", event="E\x00", resource="Site:\x00a", occurred_at="\x00", payload="{}")
    assert inbox.put_many([odd, odd]) == [True, False]
    (stored,) = inbox.events()
    assert (stored.record.key, stored.record.resource, stored.record.occurred_at) == (odd.key, odd.resource, "\x00")
    assert inbox.put_many([odd]) == [False]
    inbox.close()


def test_the_database_password_is_never_logged_or_shown(
    postgres: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    from reference_receiver import Config, create_app, start_in_thread

    # The test server trusts 127.0.0.1, so any password opens it: the URL carries one as production URLs do.
    url = postgres.fresh_schema().replace("postgres@", "postgres:db-password-0123456789@")
    config = Config(secret="s" * 30, inbox=url)
    with caplog.at_level(logging.DEBUG), start_in_thread(create_app(config)) as server:
        body = json.dumps({"event": "Site Status Update", "data": {"doctype": "Site", "name": "a", "status": "Active"}})
        request = urllib.request.Request(  # noqa: S310 - loopback
            server.url, body.encode(), {"Content-Type": "application/json", "X-Webhook-Secret": "s" * 30}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            assert answer.status == 200
    shown = caplog.text + repr(config) + str(config) + "".join(repr(r.__dict__) for r in caplog.records)
    assert "db-password-0123456789" not in shown
    assert "receiver started" in caplog.text


# --- Found by review: each of these broke once --------------------------------------------------------------


def test_a_handler_that_swallows_a_database_error_fails_its_attempt_and_holds_up_nothing_else(url: str) -> None:
    inbox = PostgresInbox(url)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE effects (key TEXT PRIMARY KEY)")
        db.execute("INSERT INTO effects VALUES ('taken')")

    def handler(event: Event) -> None:  # the "idempotent insert" written the wrong way
        with contextlib.suppress(psycopg.errors.UniqueViolation):
            event.connection.execute("INSERT INTO effects (key) VALUES ('taken')")

    def fine(event: Event) -> None:
        pass

    processor = Processor(inbox, {"Site Status Update": [handler], "Bench Status Update": [fine]}, order_window=0)
    inbox.put_many([record("a"), record("b", event="Bench Status Update")])
    processor.run_once(time.time() + 1)
    states = {s.record.event: (s.state, s.attempts, s.last_error or "") for s in inbox.events()}
    assert states["Bench Status Update"][0] == "done"  # the other event went on
    state, attempts, error = states["Site Status Update"]
    assert (state, attempts) == ("pending", 1)  # a failed attempt, retried later, failed in the end
    assert "left its transaction aborted" in error
    assert inbox.writable() is None  # a handler's error is not the store's
    inbox.close()


def test_an_earlier_event_arriving_while_a_later_one_is_in_hand_waits_and_is_superseded(
    replicas: list[PostgresInbox],
) -> None:
    first, second = replicas
    first.put_many([record("a", "2030-01-01 00:00:02")])
    now = time.time() + 10
    (later,) = first.due(now, now, 10)
    handled: list[str] = []
    handlers: dict[str, list[Handler]] = {"Site Status Update": [lambda e: handled.append(e.data["modified"])]}
    processor = Processor(second, handlers, order_window=0)
    with first.claim(later, now) as claim:
        assert claim is not None
        second.put_many([record("a", "2030-01-01 00:00:01")])  # a retry of an older snapshot, late, elsewhere
        processor.run_once(now)
        assert handled == []  # not while the later one is in another processor's hands
        claim.settle(_done(later.seq))  # type: ignore[arg-type]
    processor.run_once(now)
    assert handled == []
    assert {s.record.occurred_at: s.state for s in first.events()} == {
        "2030-01-01 00:00:02": "done",
        "2030-01-01 00:00:01": "superseded",
    }


def test_a_store_behind_a_held_table_lock_gives_up_instead_of_waiting(url: str) -> None:
    inbox = PostgresInbox(url, health_ttl=0)
    with psycopg.connect(url) as migration:
        migration.execute("LOCK TABLE webhook_inbox IN ACCESS EXCLUSIVE MODE")  # held until the block ends
        with pytest.raises(psycopg.OperationalError):  # lock_timeout: a 503, not a wait as long as the lock
            inbox.put_many([record("a")])
        assert inbox.writable() is not None
        migration.rollback()
    assert inbox.writable() is None  # recovered with the server, before any delivery succeeds
    assert inbox.put_many([record("a")]) == [True]
    inbox.close()


def test_health_checks_share_one_connection_however_many_come_at_once(url: str) -> None:
    inbox = PostgresInbox(url)
    inbox.put_many([record("a")])
    threads = [threading.Thread(target=lambda: [inbox.writable() for _ in range(20)]) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'webhook-receiver %'"
        ).fetchone()
    assert row is not None
    assert row[0] <= 2  # this thread's and the health check's
    inbox.close()


def test_a_user_who_may_only_read_and_write_the_table_can_run_the_receiver(postgres: PostgresServer) -> None:
    url = postgres.fresh_schema()
    PostgresInbox(url).close()  # the table is made once, by its owner
    schema = url.rsplit("%3D", 1)[1]
    with psycopg.connect(postgres.url, autocommit=True) as db:
        db.execute("DROP ROLE IF EXISTS replica_user")
        db.execute("CREATE ROLE replica_user LOGIN")
        db.execute(f"GRANT USAGE ON SCHEMA {schema} TO replica_user")
        db.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.webhook_inbox TO replica_user")
        db.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO replica_user")
    inbox = PostgresInbox(url.replace("postgres@", "replica_user@"))
    assert inbox.put_many([record("a")]) == [True]
    assert inbox.writable() is None
    inbox.close()


@pytest.mark.parametrize(
    "inbox",
    [
        "host=db.internal user=webhooks password=Hunter2-pw dbname=webhooks",
        "postgresql+psycopg://webhooks:Hunter2-pw@db.internal/webhooks",
        "POSTGRESQL://webhooks:Hunter2-pw@db.internal/webhooks",
        "mysql://webhooks:Hunter2-pw@db.internal/webhooks",
    ],
)
def test_an_inbox_value_that_is_not_a_file_or_a_postgresql_url_is_refused_without_quoting_it(inbox: str) -> None:
    from reference_receiver import Config

    with pytest.raises(ValueError, match="WEBHOOK_INBOX") as refused:
        Config(secret="s" * 30, inbox=inbox)
    assert "Hunter2" not in str(refused.value)


def test_a_bad_url_s_parts_are_not_quoted_back_with_its_password(postgres: PostgresServer) -> None:
    url = f"postgresql://postgres:Leak%zzMe@127.0.0.1:{postgres.port}/postgres"
    with pytest.raises(OSError, match="cannot open the PostgreSQL inbox") as refused:
        PostgresInbox(url)
    assert "Leak" not in str(refused.value)


def test_workers_that_cannot_start_end_the_receiver_with_a_failure(tmp_path: Path) -> None:
    env = {**os.environ, "WEBHOOK_SECRET": "s" * 30, "WEBHOOK_INBOX": "postgresql://u@127.0.0.1:9/db"}
    result = subprocess.run(
        [sys.executable, "-m", "reference_receiver", "--workers", "2", "--port", "0"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0  # uvicorn's supervisor returns normally when a worker fails to start
