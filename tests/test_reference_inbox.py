"""The inbox (both shipped stores, one contract), group commit, and the processor: handlers, retries, order."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reference_receiver import Event, GroupCommit, Inbox, MemoryInbox, Processor, Record, SqliteInbox, on
from reference_receiver.inbox import Outcome
from reference_receiver.postgres import PostgresInbox
from reference_receiver.processing import Handler


def record(
    name: str = "a.example.com", modified: str = "2030-01-01 00:00:00", event: str = "Site Status Update"
) -> Record:
    data = {"doctype": "Site", "name": name, "status": "Active", "modified": modified}
    payload = json.dumps({"event": event, "data": data})
    return Record(key=f"{name}|{modified}", event=event, resource=f"Site:{name}", occurred_at=modified, payload=payload)


def soon(seconds: float = 1) -> float:
    """A moment after the events just stored: they are due (the processor is given its clock)."""
    return time.time() + seconds


@pytest.fixture(params=["sqlite", "memory", "postgres"])
def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Inbox]:
    """Each shipped store, under one contract; PostgreSQL on a real server, in a schema of its own."""
    store: Inbox
    if request.param == "sqlite":
        store = SqliteInbox(str(tmp_path / "inbox.sqlite3"))
    elif request.param == "memory":
        store = MemoryInbox()
    else:
        store = PostgresInbox(request.getfixturevalue("postgres").fresh_schema())
    yield store
    store.close()


# --- Storing ----------------------------------------------------------------------------------------


def test_an_event_is_stored_once_however_often_it_is_put(inbox: Inbox) -> None:
    assert inbox.put_many([record(), record("b")]) == [True, True]
    assert inbox.put_many([record(), record("c"), record("c")]) == [False, True, False]
    assert [s.record.resource for s in inbox.events()] == ["Site:a.example.com", "Site:b", "Site:c"]
    assert {s.state for s in inbox.events()} == {"pending"}


def test_sqlite_inbox_survives_reopening_and_its_file_is_wal(tmp_path: Path) -> None:
    path = str(tmp_path / "inbox.sqlite3")
    first = SqliteInbox(path)
    first.put_many([record()])
    first.close()
    again = SqliteInbox(path)
    assert [s.record for s in again.events()] == [record()]
    assert again.put_many([record()]) == [False]
    again.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_failed_store_stores_nothing_of_the_batch(tmp_path: Path) -> None:
    inbox = SqliteInbox(str(tmp_path / "inbox.sqlite3"))
    broken = Record(key="x", event="e", resource="r", occurred_at="", payload=None)  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        inbox.put_many([record(), broken])
    assert inbox.events() == []
    inbox.close()


def test_group_commit_stores_concurrent_requests_in_few_transactions(tmp_path: Path) -> None:
    inbox = SqliteInbox(str(tmp_path / "inbox.sqlite3"))
    batches: list[int] = []
    put_many = inbox.put_many

    def counting(records: list[Record]) -> list[bool]:
        batches.append(len(records))
        return put_many(records)

    inbox.put_many = counting  # type: ignore[method-assign]
    writer = GroupCommit(inbox)

    async def burst() -> list[bool]:
        return await asyncio.gather(*(writer.store(record(f"s{i % 150}")) for i in range(200)))

    results = asyncio.run(burst())
    writer.close()
    assert results.count(True) == 150
    assert len(inbox.events()) == 150
    assert sum(batches) == 200
    assert len(batches) < 20  # together, not one commit per request
    inbox.close()


def test_group_commit_fails_every_request_of_a_batch_the_store_refused() -> None:
    class Full(MemoryInbox):
        def put_many(self, records: object) -> list[bool]:
            raise OSError("disk full")

    writer = GroupCommit(Full())

    async def two() -> list[object]:
        return await asyncio.gather(writer.store(record()), writer.store(record("b")), return_exceptions=True)

    assert [type(r) for r in asyncio.run(two())] == [OSError, OSError]
    writer.close()
    with pytest.raises(RuntimeError, match="stopped"):
        asyncio.run(writer.store(record()))


def test_group_commit_does_not_fail_a_batch_for_the_one_record_the_store_refuses() -> None:
    class Picky(MemoryInbox):
        def put_many(self, records: list[Record]) -> list[bool]:  # type: ignore[override]
            if any(r.resource == "Site:poison" for r in records):
                raise ValueError("cannot store this one")
            return super().put_many(records)

    inbox = Picky()
    writer = GroupCommit(inbox)

    async def burst() -> list[object]:
        names = ["a", "poison", "b", "c"]
        return await asyncio.gather(*(writer.store(record(n)) for n in names), return_exceptions=True)

    results = asyncio.run(burst())
    writer.close()
    assert [type(r) for r in results] == [bool, ValueError, bool, bool]
    assert sorted(s.record.resource for s in inbox.events()) == ["Site:a", "Site:b", "Site:c"]


def test_group_commit_fails_a_batch_at_once_when_the_store_itself_is_unavailable() -> None:
    calls: list[int] = []

    class Locked(MemoryInbox):
        def put_many(self, records: list[Record]) -> list[bool]:  # type: ignore[override]
            calls.append(len(records))
            raise sqlite3.OperationalError("database is locked")

    writer = GroupCommit(Locked())

    async def burst() -> list[object]:
        return await asyncio.gather(*(writer.store(record(f"s{i}")) for i in range(20)), return_exceptions=True)

    results = asyncio.run(burst())
    writer.close()
    assert {type(r) for r in results} == {sqlite3.OperationalError}
    assert len(calls) < 5  # not once more per record, each waiting out the store's busy timeout


def test_a_removed_inbox_file_refuses_writes_instead_of_losing_them(tmp_path: Path) -> None:
    inbox = SqliteInbox(str(tmp_path / "inbox.sqlite3"))
    inbox.put_many([record()])
    for path in tmp_path.iterdir():
        path.unlink()
    with pytest.raises(OSError, match="removed or replaced"):
        inbox.put_many([record("b")])
    inbox.close()


def test_a_closed_sqlite_inbox_refuses_every_call(tmp_path: Path) -> None:
    inbox = SqliteInbox(str(tmp_path / "inbox.sqlite3"))
    inbox.close()
    with pytest.raises(RuntimeError, match="closed"):
        inbox.events()


# --- Processing -------------------------------------------------------------------------------------


def processor(inbox: Inbox, handlers: dict[str, list[Handler]], **kwargs: float) -> Processor:
    return Processor(inbox, handlers, order_window=kwargs.pop("order_window", 0), **kwargs)  # type: ignore[arg-type]


def test_handlers_get_each_event_once_with_its_data(inbox: Inbox) -> None:
    seen: list[Event] = []
    registry: dict[str, list[Handler]] = {}
    on("Site Status Update", registry)(seen.append)
    inbox.put_many([record(), record("b")])
    work = processor(inbox, registry)
    assert work.run_once(now=soon()) == 2
    assert work.run_once(now=soon()) == 0
    assert [(e.name, e.data["name"], e.attempt) for e in seen] == [
        ("Site Status Update", "a.example.com", 1),
        ("Site Status Update", "b", 1),
    ]
    assert {s.state for s in inbox.events()} == {"done"}


def test_an_event_without_a_handler_is_marked_ignored(inbox: Inbox) -> None:
    inbox.put_many([record()])
    processor(inbox, {}).run_once(now=soon())
    assert [s.state for s in inbox.events()] == ["ignored"]


def test_a_failing_handler_is_retried_later_then_marked_failed_with_its_error(inbox: Inbox) -> None:
    attempts: list[int] = []

    def flaky(event: Event) -> None:
        attempts.append(event.attempt)
        raise RuntimeError("database down")

    inbox.put_many([record()])
    work = processor(inbox, {"Site Status Update": [flaky]}, max_attempts=3)
    now = soon()
    assert work.run_once(now) == 1
    assert work.run_once(now) == 0  # waiting for its retry
    stored = inbox.events()[0]
    assert (stored.state, stored.attempts, stored.last_error) == ("pending", 1, "RuntimeError: database down")
    for _ in range(5):
        now += 600
        work.run_once(now)
    assert attempts == [1, 2, 3]
    stored = inbox.events()[0]
    assert (stored.state, stored.attempts, stored.last_error) == ("failed", 3, "RuntimeError: database down")


def test_events_of_one_document_are_processed_in_the_order_of_their_clock(inbox: Inbox) -> None:
    seen: list[str] = []
    registry: dict[str, list[Handler]] = {"Site Status Update": [lambda e: seen.append(e.data["modified"])]}
    # Arrival order is not the events' order: the Cloud sends newest first from several workers.
    inbox.put_many([record(modified="2030-01-03"), record(modified="2030-01-01"), record(modified="2030-01-02")])
    work = processor(inbox, registry)
    while work.run_once(now=soon()):
        pass
    assert seen == ["2030-01-01", "2030-01-02", "2030-01-03"]


def test_a_retrying_event_holds_back_the_later_events_of_its_document(inbox: Inbox) -> None:
    seen: list[str] = []
    fail_once = {"2030-01-01"}

    def handler(event: Event) -> None:
        if event.data["modified"] in fail_once:
            fail_once.clear()
            raise RuntimeError("try again")
        seen.append(event.data["modified"])

    inbox.put_many([record(modified="2030-01-01"), record(modified="2030-01-02"), record("other")])
    work = processor(inbox, {"Site Status Update": [handler]})
    work.run_once(now=soon())
    work.run_once(now=soon())
    assert seen == ["2030-01-01 00:00:00"]  # the other document; 2030-01-02 waits for 2030-01-01
    work.run_once(now=soon(600))
    work.run_once(now=soon(600))
    assert seen == ["2030-01-01 00:00:00", "2030-01-01", "2030-01-02"]


def test_an_older_snapshot_arriving_after_a_newer_one_was_processed_is_superseded(inbox: Inbox) -> None:
    seen: list[str] = []
    work = processor(inbox, {"Site Status Update": [lambda e: seen.append(e.data["modified"])]})
    inbox.put_many([record(modified="2030-01-02")])
    work.run_once(now=soon())
    inbox.put_many([record(modified="2030-01-01")])  # a retry of an old delivery, minutes late
    work.run_once(now=soon())
    assert seen == ["2030-01-02"]
    assert [s.state for s in inbox.events()] == ["done", "superseded"]


def test_events_wait_for_the_order_window_so_late_ones_can_be_put_first(inbox: Inbox) -> None:
    inbox.put_many([record()])
    received = inbox.events()[0].received_at
    work = processor(inbox, {"Site Status Update": [lambda e: None]}, order_window=5)
    assert work.run_once(now=received + 1) == 0
    assert work.run_once(now=received + 6) == 1


def test_processed_events_are_purged_after_the_retention_but_pending_and_failed_ones_are_kept(inbox: Inbox) -> None:
    inbox.put_many([record(), record("b"), record("c")])
    first, _, third = inbox.events()
    inbox.settle([Outcome(first.seq, "done"), Outcome(third.seq, "failed", "gave up")])
    assert inbox.purge(before=first.received_at + 1) == 1
    assert [s.record.resource for s in inbox.events()] == ["Site:b", "Site:c"]
    assert inbox.newest_done("Site:a.example.com") == ""  # both stores forget what they purged


def test_a_handler_that_exits_is_a_failed_attempt_and_processing_goes_on(inbox: Inbox) -> None:
    def exits(event: Event) -> None:
        raise SystemExit(1)

    inbox.put_many([record()])
    work = processor(inbox, {"Site Status Update": [exits]}, max_attempts=1)
    work.run_once(now=soon())
    stored = inbox.events()[0]
    assert (stored.state, stored.last_error) == ("failed", "SystemExit: 1")


def test_an_exception_that_cannot_be_printed_is_still_recorded(inbox: Inbox) -> None:
    class UnprintableError(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    def handler(event: Event) -> None:
        raise UnprintableError

    inbox.put_many([record()])
    processor(inbox, {"Site Status Update": [handler]}, max_attempts=1).run_once(now=soon())
    assert (inbox.events()[0].state, inbox.events()[0].last_error) == ("failed", "UnprintableError")


def test_each_handled_event_is_recorded_at_once_so_a_stop_midway_repeats_nothing(inbox: Inbox) -> None:
    handled: list[str] = []
    inbox.put_many([record("a"), record("b"), record("c")])

    def handler(event: Event) -> None:
        handled.append(event.data["name"])
        if event.data["name"] == "b":
            work.stop()  # as SIGTERM would, while the batch is under way

    work = processor(inbox, {"Site Status Update": [handler]})
    work.run_once(now=soon())
    assert handled == ["a", "b"]
    assert [s.state for s in inbox.events()] == ["done", "done", "pending"]


def test_the_processor_thread_runs_until_stopped(inbox: Inbox) -> None:
    done = threading.Event()
    work = Processor(inbox, {"Site Status Update": [lambda e: done.set()]}, order_window=0, poll=0.01).start()
    inbox.put_many([record()])
    assert done.wait(5)
    work.stop()
    assert not work.alive


def test_handlers_only_register_for_document_events() -> None:
    for event in ("Webhook Validate", "Site Status Updated"):
        with pytest.raises(ValueError, match="not a document event"):
            on(event, {})
