"""The inbox in PostgreSQL, shared by any number of receiver processes and processors (psycopg 3).

``WEBHOOK_INBOX=postgresql://user@host/db`` selects it. The contract is the SQLite inbox's; what sharing adds:

- **Stored once, whichever replica gets it.** ``INSERT ... ON CONFLICT (key) DO NOTHING``: a duplicate that
  arrives at another replica while the first is being committed waits on the unique index for that commit,
  so even a duplicate is acknowledged only once the event is on disk.
- **Handled by one processor at a time, in each resource's own order.** A processor claims an event with
  ``SELECT ... FOR UPDATE SKIP LOCKED`` and keeps the row locked, in one transaction, while the handlers run;
  the outcome is written in that transaction. Row locks rather than advisory locks: the lock is on the very
  row whose state it guards, it is released when the holder commits, rolls back or dies (a killed replica
  frees its events at once, no lease to expire), and ``SKIP LOCKED`` lets other processors pass it without
  waiting. An event is due only when no earlier event of its resource is still pending, locked or not, so a
  claimed event holds back the later ones of its resource in every processor.
- **Exactly once for what handlers write to this database.** A handler gets the claim's connection as
  ``event.connection``: its writes commit with the outcome (a savepoint undoes them if it fails), so a replica
  killed mid-handler leaves neither the outcome nor the effects, and the event is handled again elsewhere.

Text that identifies an event (key, resource, clock) is stored as ``bytea``: PostgreSQL's text cannot hold
a NUL, which a JSON payload can (``\\u0000``), and bytes compare as Python and SQLite compare strings,
whatever the database's collation.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg

from .core import Record
from .inbox import Claim, Outcome, Stored

__all__ = ["APPLICATION", "TABLE", "PostgresInbox"]

T = TypeVar("T")

#: The inbox's table, in the first schema of the connection's search_path (``?options=-csearch_path=...``).
TABLE = "webhook_inbox"
#: The start of the application_name of the inbox's connections, followed by the process id.
APPLICATION = "webhook-receiver"
#: Every statement of the receiver's own ends within this, and waits for a lock no longer than the second:
#: a store that cannot finish before the Cloud's 5 s timeout answers 503 rather than leave it waiting (a
#: migration's LOCK TABLE held every delivery for its whole length). Handlers' own queries are not limited.
STATEMENT_TIMEOUT, LOCK_TIMEOUT = "4s", "2s"
#: How long the health check's answer is kept: a load balancer's polls, or a flood of them, cost one query
#: a second on one connection.
HEALTH_TTL = 1.0
#: Held while the schema is created: replicas starting together would otherwise race on CREATE TABLE.
_SCHEMA_LOCK = 0x7765626B  # "webk"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    seq BIGSERIAL PRIMARY KEY,
    key BYTEA NOT NULL UNIQUE,
    event TEXT NOT NULL,
    resource BYTEA NOT NULL,
    occurred_at BYTEA NOT NULL,
    payload TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS {TABLE}_pending ON {TABLE} (resource, occurred_at, seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS {TABLE}_arrived ON {TABLE} (received_at, seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS {TABLE}_done ON {TABLE} (resource, occurred_at) WHERE state = 'done';
"""
_COLUMNS = "seq, key, event, resource, occurred_at, payload, received_at, state, attempts, last_error"
#: An event is due when it waits for no retry and no earlier event of its resource is pending.
_DUE = (
    "i.state = 'pending' AND i.next_attempt_at <= %(now)s"  # noqa: S608 - constant names
    f" AND NOT EXISTS (SELECT 1 FROM {TABLE} AS j WHERE j.state = 'pending' AND j.resource = i.resource"
    " AND (j.occurred_at, j.seq) < (i.occurred_at, i.seq))"
)
_SETTLE = (
    f"UPDATE {TABLE} SET state = %s, last_error = %s, next_attempt_at = %s,"  # noqa: S608 - constant names
    " attempts = attempts + (CASE WHEN %s IN ('pending', 'failed') THEN 1 ELSE 0 END)"
    " WHERE seq = %s AND state = 'pending'"  # a finished event stays finished, whoever settles late
)


class PostgresInbox:
    """The inbox in one PostgreSQL table. Every method may be called from any thread: each thread has its
    own connection, opened again after the server went away."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0, health_ttl: float = HEALTH_TTL) -> None:
        self._url = url
        self._connect_timeout = connect_timeout
        self._local = threading.local()
        self._connections: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._closed = False
        self._write_error: str | None = None  # the last write's failure, until a write succeeds
        self._health_lock = threading.Lock()
        self._health: psycopg.Connection[Any] | None = None
        self._health_ttl = health_ttl
        self._health_answer: tuple[float, str | None] = (-health_ttl, None)
        try:
            with self._writing() as db:
                db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                # Created once; a replica's user may then only read and write it (not own it).
                if _one(db, "SELECT to_regclass(%s) IS NULL", (TABLE,)):
                    db.execute(_SCHEMA)
        except psycopg.Error as e:  # the message names the server and the cause, never the password
            self.close()
            reason = _without_password(f"{type(e).__name__}: {e}", url)  # libpq may quote a bad URL's parts
            raise OSError(f"cannot open the PostgreSQL inbox: {reason}".strip()) from None
        problem = self.writable()
        if problem is not None:
            self.close()
            raise OSError(f"the PostgreSQL inbox cannot be written: {problem}")

    def __repr__(self) -> str:  # the URL may carry a password
        return f"PostgresInbox(table={TABLE!r})"

    # --- connections ---------------------------------------------------------------------------------

    def _db(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise RuntimeError("the inbox is closed")
        db: psycopg.Connection[Any] | None = getattr(self._local, "db", None)
        if db is None or db.closed or db.broken:
            db = self._local.db = self._connect()
        return db

    def _connect(self) -> psycopg.Connection[Any]:
        db = psycopg.connect(
            self._url,
            autocommit=True,  # transactions are explicit: db.transaction()
            connect_timeout=max(1, round(self._connect_timeout)),
            application_name=f"{APPLICATION} {os.getpid()}",  # which replica holds a connection
        )
        db.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")
        db.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        with self._lock:
            self._connections = [c for c in self._connections if not c.closed] + [db]
        return db

    @contextlib.contextmanager
    def _session(self) -> Iterator[psycopg.Connection[Any]]:
        """This thread's connection; dropped on a connection failure, so the next call opens a new one."""
        db = self._db()
        try:
            yield db
        except psycopg.OperationalError:
            if db.broken:  # a timeout leaves the connection usable; a dead server does not
                db.close()
            raise

    def _call(self, work: Callable[[psycopg.Connection[Any]], T], *, write: bool = False) -> T:
        """``work`` on this thread's connection, in a transaction when it writes; once more on a new
        connection if a kept one turns out dead (the server restarted). Safe because every call but a
        claim is idempotent: a store skips what is stored, a settle only moves pending events."""
        kept = getattr(self._local, "db", None) is not None
        try:
            return self._once(work, write)
        except psycopg.OperationalError:
            db = getattr(self._local, "db", None)
            if not kept or db is None or not db.closed:  # only a connection found dead is worth a new one
                raise
            return self._once(work, write)

    def _once(self, work: Callable[[psycopg.Connection[Any]], T], write: bool) -> T:
        if not write:
            with self._session() as db:
                return work(db)
        with self._writing() as db:
            return work(db)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[psycopg.Connection[Any]]:
        """A write transaction, whose failure the health check reports until a write succeeds again."""
        try:
            with self._session() as db, db.transaction():
                yield db
        except psycopg.Error as e:
            self._write_error = f"{type(e).__name__}: {e}"[:300]
            raise
        self._write_error = None

    # --- the Inbox contract --------------------------------------------------------------------------

    def put_many(self, records: Sequence[Record]) -> list[bool]:
        if not records:
            return []
        now = time.time()
        columns = (
            [r.key.encode() for r in records],
            [_text(r.event) for r in records],
            [r.resource.encode() for r in records],
            [r.occurred_at.encode() for r in records],
            [r.payload for r in records],
        )

        def insert(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
            return db.execute(
                f"INSERT INTO {TABLE} (key, event, resource, occurred_at, payload, received_at)"  # noqa: S608 - constant names
                " SELECT k, e, r, o, p, %s FROM unnest(%s::bytea[], %s::text[], %s::bytea[], %s::bytea[], %s::text[])"
                " AS t(k, e, r, o, p) ORDER BY k"  # in key order: replicas storing one batch never deadlock
                " ON CONFLICT (key) DO NOTHING RETURNING key",
                (now, *columns),
            ).fetchall()

        new = {bytes(row[0]) for row in self._call(insert, write=True)}
        result = []
        for r in records:  # a key twice in one batch: the first is new, the second its duplicate
            key = r.key.encode()
            result.append(key in new)
            new.discard(key)
        return result

    def due(self, now: float, settled_before: float, limit: int) -> list[Stored]:
        rows = self._call(
            lambda db: db.execute(
                f"SELECT {_COLUMNS} FROM {TABLE} AS i WHERE i.received_at < %(before)s AND {_DUE}"  # noqa: S608 - constant names
                " ORDER BY i.received_at, i.seq LIMIT %(limit)s",
                {"before": settled_before, "now": now, "limit": limit},
            ).fetchall()
        )
        return [_stored(row) for row in rows]

    def claim(self, stored: Stored, now: float) -> contextlib.AbstractContextManager[Claim | None]:
        return self._claim(stored.seq, now)

    @contextlib.contextmanager
    def _claim(self, seq: int, now: float) -> Iterator[Claim | None]:
        # Not retried, and not a write for the health check: the handlers run inside.
        with self._session() as db, db.transaction():
            row = db.execute(
                f"SELECT {_COLUMNS} FROM {TABLE} AS i WHERE i.seq = %(seq)s AND {_DUE} FOR UPDATE SKIP LOCKED",  # noqa: S608 - constant names
                {"seq": seq, "now": now},
            ).fetchone()
            # The resource too: a later event of it may be in another processor's hands when an earlier one
            # arrives late; that one is due, and its row is not locked.
            if row is None or not _one(db, "SELECT pg_try_advisory_xact_lock(%s)", (_lock_key(bytes(row[3])),)):
                yield None  # another processor holds it or its resource, or has finished it
                return
            db.execute("SET LOCAL statement_timeout = 0")  # a handler's own queries take the time they need
            outcomes: list[Outcome] = []
            with db.transaction() as effects:  # a savepoint around what the handlers write
                yield Claim(_stored(row), outcomes.append, db, lambda: _aborted(db))
                if not outcomes or outcomes[-1].state != "done":
                    raise psycopg.Rollback(effects)  # a failed attempt's writes are undone with it
            _settle(db, outcomes)

    def newest_done(self, resource: str) -> str:
        row = self._call(
            lambda db: db.execute(
                f"SELECT occurred_at FROM {TABLE} WHERE state = 'done' AND resource = %s"  # noqa: S608 - constant names
                " ORDER BY occurred_at DESC LIMIT 1",  # bytea has no MAX(); the index serves the order
                (resource.encode(),),
            ).fetchone()
        )
        return bytes(row[0]).decode() if row else ""

    def settle(self, outcomes: Sequence[Outcome]) -> None:
        self._call(lambda db: _settle(db, outcomes), write=True)

    def purge(self, before: float) -> int:
        def delete(db: psycopg.Connection[Any]) -> int:
            db.execute("SET LOCAL statement_timeout = 0")  # a week of events may take a while; no request waits
            return db.execute(
                f"DELETE FROM {TABLE} WHERE state IN ('done', 'superseded', 'ignored') AND received_at < %s",  # noqa: S608 - constant names
                (before,),
            ).rowcount

        return self._call(delete, write=True)

    def events(self) -> list[Stored]:
        rows = self._call(lambda db: db.execute(f"SELECT {_COLUMNS} FROM {TABLE} ORDER BY seq").fetchall())  # noqa: S608 - constant names
        return [_stored(row) for row in rows]

    def writable(self) -> str | None:
        """None when the server answers, is not a read-only standby or session, and a write works: after a
        failed write (a full disk shows there) a write that changes nothing is tried, so health recovers with
        the server, not with the next delivery. One query at a time, on a connection of its own, kept for
        HEALTH_TTL: health checks cannot take the database's connections."""
        with self._health_lock:
            checked_at, answer = self._health_answer
            if time.monotonic() - checked_at >= self._health_ttl:
                answer = self._check()
                self._health_answer = (time.monotonic(), answer)
            return answer

    def _check(self) -> str | None:
        kept = self._health is not None and not self._health.closed
        failure = ""
        for attempt in (1, 2):
            try:
                return self._ask()
            except psycopg.Error as e:
                failure = type(e).__name__
                dropped = kept and self._health is not None and self._health.broken
                if attempt == 2 or not dropped:  # once more only on a connection the server dropped
                    break
        return f"the database cannot be reached or written: {failure}"

    def _ask(self) -> str | None:
        if self._health is None or self._health.closed or self._health.broken:
            self._health = self._connect()
        row = self._health.execute("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')").fetchone()
        if row is None or row[0]:
            return "the database is a read-only standby"
        if row[1] == "on":
            return "the database's sessions are read-only"
        if self._write_error is not None:
            with self._health.transaction():
                self._health.execute(f"UPDATE {TABLE} SET seq = seq WHERE false")  # noqa: S608 - constant names
            self._write_error = None
        return None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for db in self._connections:
                db.close()
            self._connections.clear()
            self._health = None


def _without_password(text: str, url: str) -> str:
    try:
        password = urllib.parse.urlsplit(url).password
    except ValueError:
        password = None
    for spelling in {password, urllib.parse.unquote(password or "")} - {None, ""}:
        text = text.replace(str(spelling), "[Filtered]")
    return text


def _one(db: psycopg.Connection[Any], query: str, params: tuple[Any, ...]) -> Any:
    row = db.execute(query, params).fetchone()
    return None if row is None else row[0]


def _lock_key(resource: bytes) -> int:
    """The advisory lock of a resource: 64 bits of its hash, as PostgreSQL's signed bigint."""
    return int.from_bytes(hashlib.sha256(b"webhook-inbox:" + resource).digest()[:8], "big", signed=True)


def _aborted(db: psycopg.Connection[Any]) -> str | None:
    """Why the handlers' writes cannot commit: a handler caught a database error and went on."""
    if db.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
        return "a handler's database error left its transaction aborted (its writes are undone): let it raise"
    return None


def _settle(db: psycopg.Connection[Any], outcomes: Sequence[Outcome]) -> None:
    if outcomes:
        with db.cursor() as cursor:
            cursor.executemany(_SETTLE, [(o.state, o.error, o.retry_at, o.state, o.seq) for o in outcomes])


def _text(value: str) -> str:
    """``value`` as PostgreSQL text can hold it: a NUL (from ``\\u0000`` in the JSON) cannot be stored. Only
    the event's name goes through here; the name with a NUL is no event a handler is registered for."""
    return value.replace("\x00", "\ufffd")


def _stored(row: tuple[Any, ...]) -> Stored:
    seq, key, event, resource, occurred_at, payload, received_at, state, attempts, last_error = row
    record = Record(bytes(key).decode(), event, bytes(resource).decode(), bytes(occurred_at).decode(), payload)
    return Stored(int(seq), record, float(received_at), state, int(attempts), last_error)
