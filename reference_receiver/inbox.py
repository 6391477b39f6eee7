"""The inbox: where an event is stored, once, before the Cloud hears 2xx, and where processing finds it.

``Inbox`` is the interface a team implements to put PostgreSQL or a queue behind the receiver (see the
README); ``SqliteInbox`` (the default, WAL, fsync at commit) and ``MemoryInbox`` (nothing durable) are
the two shipped. ``GroupCommit`` batches the stores of concurrent requests into one transaction: one
fsync serves them all, which is what lets a durable receiver keep up with a burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from .core import Record

__all__ = ["Claim", "GroupCommit", "Inbox", "MemoryInbox", "Outcome", "SqliteInbox", "Stored"]

#: States of a stored event: "pending" (may carry attempts and an error: a retry is due later), then
#: "done", "failed" (kept until an operator acts), "superseded" or "ignored".
PURGED = ("done", "superseded", "ignored")


@dataclass(frozen=True)
class Stored:
    """An event as the inbox holds it."""

    seq: int
    record: Record
    received_at: float
    state: str = "pending"
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class Outcome:
    """The end of one processing attempt: a final ``state``, or "pending" again with ``retry_at``.
    "pending" and "failed" count a failed attempt."""

    seq: int
    state: str
    error: str | None = None
    retry_at: float = 0.0


@dataclass
class Claim:
    """One event held by one processor while its handlers run: ``settle`` records the outcome, in the same
    transaction as ``connection``'s writes where the store has one (PostgreSQL): write a handler's effects
    through it and they commit with the outcome, exactly once."""

    stored: Stored
    settle: Callable[[Outcome], None]
    #: The store's connection, inside the claim's transaction (None for stores without one).
    connection: Any = field(default=None)


class Inbox(Protocol):
    """Storage for accepted events. Every method may be called from any thread."""

    def put_many(self, records: Sequence[Record]) -> list[bool]:
        """Store the records durably (one transaction); for each, True if new, False if a duplicate."""

    def due(self, now: float, settled_before: float, limit: int) -> list[Stored]:
        """Pending events to process now: per resource only the earliest (by its own clock), and only
        if it arrived before ``settled_before`` and is not waiting for a retry."""

    def newest_done(self, resource: str) -> str:
        """The latest ``occurred_at`` of a processed event of the resource ("" if none)."""

    def settle(self, outcomes: Sequence[Outcome]) -> None:
        """Record what processing did to each event (one transaction)."""

    def claim(self, stored: Stored, now: float) -> AbstractContextManager[Claim | None]:
        """Hold ``stored`` while its handlers run: None if it is no longer due, or another processor holds
        it. Stores shared by several processes make this exclusive; the outcome is recorded on exit."""

    def writable(self) -> str | None:
        """None if an event could be stored now, else why not (for the health check)."""

    def purge(self, before: float) -> int:
        """Forget finished events received before ``before``; the number forgotten."""

    def events(self) -> list[Stored]:
        """Every stored event, oldest first (for operators and tests)."""

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    resource TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (resource, occurred_at, seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS inbox_arrived ON inbox (received_at, seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS inbox_done ON inbox (resource, occurred_at) WHERE state = 'done';
"""
_COLUMNS = "seq, key, event, resource, occurred_at, payload, received_at, state, attempts, last_error"


class SqliteInbox:
    """The inbox in one SQLite file, in WAL mode with ``synchronous=FULL``: a commit is on disk."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()  # a connection per thread, as SQLite wants
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        self._db().executescript(_SCHEMA)
        self._identity = _identity(path)

    def _db(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("the inbox is closed")
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=10, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # the WAL is fsynced at every commit
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def put_many(self, records: Sequence[Record]) -> list[bool]:
        now = time.time()
        with self._transaction() as db:
            return [
                db.execute(
                    # Only a duplicate key is skipped: OR IGNORE would also skip a NOT NULL violation,
                    # and the event would be acknowledged without being stored.
                    "INSERT INTO inbox (key, event, resource, occurred_at, payload, received_at)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                    (r.key, r.event, r.resource, r.occurred_at, r.payload, now),
                ).rowcount
                == 1
                for r in records
            ]

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # Writers of this process queue on a lock, which wakes the next one at once; SQLite's own busy
        # handler sleeps in steps of up to 100 ms, which showed as a 700 ms p99 under load.
        db = self._db()
        with self._write_lock:
            if _identity(self.path) != self._identity:  # SQLite would write on into an unlinked file
                raise OSError(f"the inbox file {self.path} was removed or replaced: restart the receiver")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def due(self, now: float, settled_before: float, limit: int) -> list[Stored]:
        rows = self._db().execute(
            f"SELECT {_COLUMNS} FROM inbox AS i WHERE state = 'pending' AND received_at < ?"  # noqa: S608 - constant names
            " AND next_attempt_at <= ? AND NOT EXISTS (SELECT 1 FROM inbox AS j WHERE j.state = 'pending'"
            " AND j.resource = i.resource AND (j.occurred_at, j.seq) < (i.occurred_at, i.seq))"
            " ORDER BY received_at, seq LIMIT ?",  # walks inbox_arrived, stops at the LIMIT
            (settled_before, now, limit),
        )
        return [_stored(row) for row in rows]

    def newest_done(self, resource: str) -> str:
        row = (
            self._db()
            .execute("SELECT MAX(occurred_at) FROM inbox WHERE state = 'done' AND resource = ?", (resource,))
            .fetchone()
        )
        return row[0] or ""

    def settle(self, outcomes: Sequence[Outcome]) -> None:
        with self._transaction() as db:
            db.executemany(
                "UPDATE inbox SET state = ?, last_error = ?, next_attempt_at = ?,"
                " attempts = attempts + (? IN ('pending', 'failed')) WHERE seq = ?",
                [(o.state, o.error, o.retry_at, o.state, o.seq) for o in outcomes],
            )

    def claim(self, stored: Stored, now: float) -> AbstractContextManager[Claim | None]:
        return _sole_claim(self, stored)

    def writable(self) -> str | None:
        return None if _identity(self.path) == self._identity else f"the inbox file {self.path} is gone"

    def purge(self, before: float) -> int:
        with self._transaction() as db:
            return db.execute(
                "DELETE FROM inbox WHERE state IN ('done', 'superseded', 'ignored') AND received_at < ?", (before,)
            ).rowcount

    def events(self) -> list[Stored]:
        rows = self._db().execute(f"SELECT {_COLUMNS} FROM inbox ORDER BY seq")  # noqa: S608 - constant names
        return [_stored(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for db in self._connections:
                db.close()
            self._connections.clear()


@contextlib.contextmanager
def _sole_claim(inbox: Inbox, stored: Stored) -> Iterator[Claim | None]:
    """A claim on a store that one processor alone reads: nobody else can hold the event."""
    outcomes: list[Outcome] = []
    yield Claim(stored, outcomes.append)
    inbox.settle(outcomes)


def _identity(path: str) -> tuple[int, int] | None:
    """Which file ``path`` is; None once it is gone."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def _stored(row: tuple[object, ...]) -> Stored:
    seq, key, event, resource, occurred_at, payload, received_at, state, attempts, last_error = row
    record = Record(str(key), str(event), str(resource), str(occurred_at), str(payload))
    error = None if last_error is None else str(last_error)
    return Stored(_int(seq), record, float(str(received_at)), str(state), _int(attempts), error)


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


class MemoryInbox:
    """The inbox in memory: nothing survives the process. For tests, benchmarks and throwaway runs.

    Indexed like the SQLite inbox, so that it stays as fast with 100,000 events as with 10.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[int, Stored] = {}  # by seq, in arrival order
        self._seqs: dict[str, int] = {}  # by key
        self._pending: dict[int, None] = {}  # the pending seqs, in arrival order
        self._queues: dict[str, list[tuple[str, int]]] = {}  # pending (occurred_at, seq), a heap per resource
        self._retry_at: dict[int, float] = {}
        self._newest_done: dict[str, str] = {}
        self._seq = itertools.count(1)

    def put_many(self, records: Sequence[Record]) -> list[bool]:
        now, new = time.time(), []
        with self._lock:
            for r in records:
                new.append(r.key not in self._seqs)
                if new[-1]:
                    seq = self._seqs[r.key] = next(self._seq)
                    self._rows[seq] = Stored(seq, r, now)
                    self._pending[seq] = None
                    heapq.heappush(self._queues.setdefault(r.resource, []), (r.occurred_at, seq))
        return new

    def due(self, now: float, settled_before: float, limit: int) -> list[Stored]:
        ready: list[Stored] = []
        with self._lock:
            for seq in self._pending:
                row = self._rows[seq]
                if row.received_at >= settled_before or len(ready) >= limit:
                    break
                if self._retry_at.get(seq, 0.0) <= now and self._queues[row.record.resource][0][1] == seq:
                    ready.append(row)
        return ready

    def newest_done(self, resource: str) -> str:
        with self._lock:
            return self._newest_done.get(resource, "")

    def settle(self, outcomes: Sequence[Outcome]) -> None:
        with self._lock:
            for o in outcomes:
                row = self._rows[o.seq]
                failed_attempt = o.state in ("pending", "failed")
                row = self._rows[o.seq] = replace(
                    row, state=o.state, attempts=row.attempts + failed_attempt, last_error=o.error
                )
                self._retry_at[o.seq] = o.retry_at
                if o.state != "pending":
                    self._forget_pending(row)
                if o.state == "done":
                    self._note_done(row)

    def _forget_pending(self, row: Stored) -> None:
        self._pending.pop(row.seq, None)
        self._retry_at.pop(row.seq, None)
        queue = self._queues[row.record.resource]
        queue.remove((row.record.occurred_at, row.seq))
        heapq.heapify(queue)
        if not queue:
            del self._queues[row.record.resource]

    def _note_done(self, row: Stored) -> None:
        resource = row.record.resource
        self._newest_done[resource] = max(self._newest_done.get(resource, ""), row.record.occurred_at)

    def claim(self, stored: Stored, now: float) -> AbstractContextManager[Claim | None]:
        return _sole_claim(self, stored)

    def writable(self) -> str | None:
        return None

    def purge(self, before: float) -> int:
        with self._lock:
            gone = [r for r in self._rows.values() if r.state in PURGED and r.received_at < before]
            for row in gone:
                del self._rows[row.seq], self._seqs[row.record.key]
            self._newest_done = {}  # as the SQLite inbox, which reads it from the done events it still has
            for row in self._rows.values():
                if row.state == "done":
                    self._note_done(row)
        return len(gone)

    def events(self) -> list[Stored]:
        with self._lock:
            return list(self._rows.values())

    def close(self) -> None:
        pass


#: Errors about a record rather than the store: worth retrying the rest of its batch without it. Others
#: (locked, disk full, I/O) would fail every record alike, each after its own busy timeout.
_RECORD_ERRORS = (ValueError, sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError)


class GroupCommit:
    """Stores the records of concurrent requests together: one transaction, one fsync, per batch.

    Requests on the event loop wait on ``store``; while one batch is being committed on the writer
    thread, the next one gathers. The loop is woken once per batch, not once per request.
    """

    def __init__(self, inbox: Inbox, max_batch: int = 512) -> None:
        self.inbox = inbox
        self._max_batch = max_batch
        self._waiting: list[tuple[Record, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inbox-writer")
        self._closed = False

    async def store(self, record: Record) -> bool:
        """True once the record is on disk, False for a duplicate (stored before); raises if the store fails."""
        if self._closed:
            raise RuntimeError("the inbox writer has stopped")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((record, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    @property
    def alive(self) -> bool:
        return not self._closed

    async def drain(self) -> None:
        """Wait for what was submitted to be stored."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    def close(self) -> None:
        self._closed = True
        self._writer.shutdown(wait=True)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
                await self._commit(loop, batch)
        finally:
            self._flusher = None

    async def _commit(self, loop: asyncio.AbstractEventLoop, batch: list[tuple[Record, asyncio.Future[bool]]]) -> None:
        try:
            results = await loop.run_in_executor(self._writer, self.inbox.put_many, [r for r, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"the inbox answered {len(results)} results for {len(batch)} records")
        except Exception as e:
            if len(batch) > 1 and isinstance(e, _RECORD_ERRORS):  # one bad record must not fail the others
                for item in batch:
                    if not item[1].done():
                        await self._commit(loop, [item])
                return
            # Disk full, file gone, database locked...: the requests answer 503, and the Cloud retries.
            for _, future in batch:
                if not future.done():
                    future.set_exception(e)
            return
        for (_, future), new in zip(batch, results, strict=True):
            if not future.done():  # the request may have been cancelled (the client went away)
                future.set_result(new)
