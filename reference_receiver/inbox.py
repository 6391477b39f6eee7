"""The inbox: where an event is stored, once, before the Cloud hears 2xx, and where processing finds it.

``Inbox`` is the interface a team implements to put PostgreSQL or a queue behind the receiver (see the
README); ``SqliteInbox`` (the default, WAL, fsync at commit) and ``MemoryInbox`` (nothing durable) are
the two shipped. ``GroupCommit`` batches the stores of concurrent requests into one transaction: one
fsync serves them all, which is what lets a durable receiver keep up with a burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import heapq
import itertools
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from .core import Record

__all__ = ["Claim", "GroupCommit", "Inbox", "MemoryInbox", "Outcome", "SqliteInbox", "Stored"]

log = logging.getLogger("reference_receiver")

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
    #: After the handlers: why their writes cannot commit (a handler swallowed a database error), or None.
    problem: Callable[[], str | None] = field(default=lambda: None)


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
    """The inbox in one SQLite file, in WAL mode with ``synchronous=FULL``: a commit is on disk.

    The file, its -wal and its -shm are the owner's alone (0600): they hold every payload. Opening fails,
    naming the cause, on a file that cannot be written; ``writable`` tells the health check the same later.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()  # a connection per thread, as SQLite wants
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        #: Free bytes on the inbox's file system when a write last failed for want of space; None since
        #: a write succeeded.
        self._full_at: int | None = None
        self._identity: tuple[tuple[int, int] | None, ...] = (None, None)
        # SQLite puts the -wal and -shm beside the file a symbolic link names, not beside the link.
        real = os.path.realpath(path)
        self._files = (path, *_companions(real))
        self._directory = os.path.dirname(real)
        try:
            _create_private(real)
            for companion in self._files[1:]:  # left by an earlier run, perhaps with a looser mode
                _tighten(companion)
        except OSError as e:
            raise OSError(f"cannot create the inbox {path}: {_cause(e)}") from None
        # Before SQLite, whose words for these are "attempt to write a readonly database" or nothing at all
        # (it opens a file it may not write read-only, and fails at the first write).
        problem = self._not_writable()
        if problem:
            raise OSError(problem)
        try:
            self._db().executescript(_SCHEMA)
        except sqlite3.Error as e:
            self.close()
            raise OSError(f"cannot open the inbox {path}: {e}") from None
        self._identity = self._watched()  # which files these are: SQLite keeps writing to them if unlinked
        problem = self.writable() or ""
        if problem:
            self.close()
            raise OSError(problem)

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
            gone = self._files_changed()
            if gone:  # SQLite would write on into an unlinked file, lost at the next start
                raise OSError(f"{gone}: restart the receiver")
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:  # a failed COMMIT may leave it open: the next BEGIN would fail
                        db.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OSError) as e:
                if _out_of_space(e):
                    self._full_at = _free_bytes(self._directory)
                raise
            self._full_at = None

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
        """Why an event could not be stored now, from a few ``stat`` calls and no write: the inbox or its
        -wal was removed or replaced (SQLite would write on into the unlinked file); a file, or the
        directory where one must be created, is not writable (a read-only mount; a changed mode, which
        the next connection and the next start meet); or the last write failed for want of space and no
        space has come back since. A full disk alone is no answer: SQLite reuses the room in its -wal,
        and writes go on until they need more."""
        if self._closed:
            return "the inbox is closed"
        return self._files_changed() or self._not_writable() or self._no_space() or None

    def _files_changed(self) -> str:
        watched = zip(_NAMES[:2], self._files[:2], self._identity, self._watched(), strict=True)
        # A file that was not there at the start is not watched (SQLite had none to write to).
        changed = [f"{name} {path}" for name, path, was, now in watched if was is not None and was != now]
        if not changed:
            return ""
        return f"the inbox {' and '.join(changed)} {'was' if len(changed) == 1 else 'were'} removed or replaced"

    def _watched(self) -> tuple[tuple[int, int] | None, ...]:
        """Which files the inbox and its -wal are (None for one that is not there). The -shm holds no
        events: SQLite rebuilds it."""
        return _identity(self._files[0]), _identity(self._files[1])

    def _not_writable(self) -> str:
        files = self._files
        for name, path in zip(_NAMES, files, strict=True):
            if os.path.exists(path) and not _may_write(path):
                return f"the inbox {name} {path} is not writable{_read_only_mount(path)}"
        # The directory matters only for a file SQLite has to create (at the start, or after the -shm was
        # removed): it writes to files already there whatever the directory's mode.
        if not all(map(os.path.exists, files)) and not _may_write(self._directory):
            return f"the inbox's directory {self._directory} is not writable{_read_only_mount(self._directory)}"
        return ""

    def _no_space(self) -> str:
        full_at = self._full_at
        if full_at is None or _free_bytes(self._directory) >= full_at + _SPACE_BACK:
            return ""
        return f"no space left for the inbox {self.path}: the last write failed for want of space"

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


#: Only the owner may read or write the inbox's files: they hold every payload (teams, emails, sites).
_PRIVATE = 0o600
#: What ``SqliteInbox._files`` names, in order.
_NAMES = ("file", "write-ahead log", "shared-memory file")
#: Free space, beyond what there was when a write failed for want of it, that makes the inbox writable
#: again for the health check (a few blocks freed by chance do not; a write that succeeds always does).
_SPACE_BACK = 64 * 1024


def _companions(path: str) -> tuple[str, str]:
    """The files SQLite keeps beside the inbox in WAL mode."""
    return f"{path}-wal", f"{path}-shm"


def _create_private(path: str) -> None:
    """Create the inbox file 0600 whatever the umask (SQLite gives the -wal and -shm its mode); an existing
    one loses any access by group and others, never gaining any."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE)
    except FileExistsError:
        _tighten(path)
        return
    try:
        os.fchmod(fd, _PRIVATE)  # the umask may have taken the owner's bits too (umask 0277 gives 0400)
    finally:
        os.close(fd)


def _tighten(path: str) -> None:
    """Take group and other access away from an existing file (an earlier version left 0644 under the
    usual umask); a file that is not there, or not ours to change, is left as it is."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
            log.warning("inbox file was readable by others: now owner-only", extra={"file": path, "was": oct(mode)})
    except FileNotFoundError:
        pass
    except PermissionError:  # not the owner: say so, and go on (writable() tells whether it can be written)
        log.warning("inbox file is readable by others and not ours to change", extra={"file": path})


def _identity(path: str) -> tuple[int, int] | None:
    """Which file ``path`` is; None once it is gone."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def _may_write(path: str) -> bool:
    """Whether this process may write ``path``: ``access`` also says no on a read-only mount, for root too."""
    effective = os.access in os.supports_effective_ids  # the set-uid case: the rights the process has
    return os.access(path, os.W_OK, effective_ids=effective)


def _read_only_mount(path: str) -> str:
    try:
        return " (a read-only file system)" if os.statvfs(path).f_flag & os.ST_RDONLY else ""
    except OSError:
        return ""


def _free_bytes(directory: str) -> int:
    """Free bytes on the file system of ``directory``, as this process may use them (root may use the
    reserve)."""
    try:
        fs = os.statvfs(directory)
    except OSError:
        return 0
    blocks = fs.f_bfree if os.geteuid() == 0 else fs.f_bavail
    return blocks * fs.f_frsize


def _out_of_space(error: BaseException) -> bool:
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def _cause(error: BaseException) -> str:
    """A short cause: "permission denied" rather than "[Errno 13] Permission denied: '/x/inbox.sqlite3'"."""
    if isinstance(error, OSError) and error.strerror:
        where = os.path.dirname(os.path.abspath(error.filename)) if error.filename else ""
        return error.strerror.lower() + (_read_only_mount(where) if where else "")
    return str(error)


@contextlib.contextmanager
def _sole_claim(inbox: Inbox, stored: Stored) -> Iterator[Claim | None]:
    """A claim on a store that one processor alone reads: nobody else can hold the event."""
    outcomes: list[Outcome] = []
    yield Claim(stored, outcomes.append)
    inbox.settle(outcomes)


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

    def __init__(self, inbox: Inbox, max_batch: int = 512, timeout: float = 4.0) -> None:
        self.inbox = inbox
        #: Seconds a request waits for its store: less than the Cloud's 5 s timeout.
        self.timeout = timeout
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
        try:  # a store that cannot finish before the Cloud gives up answers 503; the Cloud retries
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            raise TimeoutError(f"the inbox did not store the event within {self.timeout:g} s") from None

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
