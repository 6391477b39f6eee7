"""The receiver as an ASGI application: verify, validate, persist, acknowledge; then process.

Any ASGI server can run it; ``serve.py`` runs it under uvicorn. The order of work is the point:
``core.Receiver`` decides from the headers (401/405/415/413 before a byte of body is read), the body is
read within a size and time limit, and an accepted event is stored durably (``GroupCommit``) before the
2xx is sent. If the store fails the answer is 503: the Cloud retries, and nothing was acknowledged that
could be lost. Handlers run later, from the inbox, on the processor thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .config import MEMORY, Config, is_postgres
from .core import Answer, Receiver
from .inbox import GroupCommit, Inbox, MemoryInbox, SqliteInbox
from .processing import Handler, Processor

__all__ = ["HEALTH_PATH", "WebhookApp", "is_postgres", "open_inbox"]

HEALTH_PATH = "/healthz"
#: For an answer given with the body partly unread: its rest must not be read as the next request.
_CLOSE = (("Connection", "close"),)
#: The longest a health check waits for the inbox to say whether it can be written.
_HEALTH_TIMEOUT = 3.0
log = logging.getLogger("reference_receiver")

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def open_inbox(config: Config) -> Inbox:
    """The inbox WEBHOOK_INBOX names: a PostgreSQL URL, a SQLite file, or ``:memory:``."""
    if config.inbox == MEMORY:
        log.warning("WEBHOOK_INBOX=:memory: events are not durable and are lost at exit")
        return MemoryInbox()
    if is_postgres(config.inbox):
        from .postgres import PostgresInbox  # psycopg is needed only here: the [postgres] extra

        return PostgresInbox(config.inbox)
    return SqliteInbox(config.inbox)


class WebhookApp:
    """The ASGI app. ``start()``/``stop()`` run at the server's lifespan events, or by hand."""

    def __init__(
        self, config: Config, inbox: Inbox | None = None, handlers: Mapping[str, list[Handler]] | None = None
    ) -> None:
        self.config = config
        self.receiver = Receiver(config)
        self._given_inbox = inbox
        self._handlers = handlers
        self.inbox: Inbox | None = None
        self._writer: GroupCommit | None = None
        self._processor: Processor | None = None
        self._reported: str | None = None  # the health problem last logged
        if not config.secret:
            log.warning("WEBHOOK_SECRET is empty: every request is accepted, as for a webhook without a secret")

    def start(self) -> None:
        """Open the inbox and start the writer and the processor; an exception, naming the problem, if the
        inbox cannot be opened or written (better a service that does not start than one answering 503)."""
        if self._writer is not None:
            return
        inbox = self._given_inbox or open_inbox(self.config)
        problem = inbox.writable()
        if problem is not None:
            if self._given_inbox is None:
                inbox.close()
            raise OSError(problem)
        self.inbox = inbox
        self._writer = GroupCommit(self.inbox)
        self._processor = Processor(
            self.inbox,
            self._handlers,
            order_window=self.config.order_window,
            max_attempts=self.config.max_attempts,
            retention_days=self.config.retention_days,
        ).start()
        shown = self.config.inbox_shown if self._given_inbox is None else "given"  # without a URL's password
        log.info("receiver started", extra={"inbox": shown})

    def stop(self) -> None:
        """Let the handler in progress finish, store what was accepted, close the inbox."""
        if self._processor is not None:
            self._processor.stop()
        if self._writer is not None:
            self._writer.close()
        if self.inbox is not None and self._given_inbox is None:
            self.inbox.close()
        self._processor = self._writer = None
        log.info("receiver stopped")

    @property
    def healthy(self) -> bool:
        return self.unavailable() is None

    def unavailable(self) -> str | None:
        """Why a delivery could not be stored now (None if it could): for the health check, and the log."""
        if not (self._writer and self._writer.alive):
            return "the inbox writer is not running"
        if not (self._processor and self._processor.alive):
            return "the processor is not running"
        if self.inbox is None:
            return "the inbox is not open"
        try:
            return self.inbox.writable()
        except Exception as e:  # a store of one's own that fails to say: it cannot be trusted to write
            return f"the inbox cannot tell whether it can be written: {type(e).__name__}"

    async def _health(self) -> bytes | None:
        """None if healthy, else the body of the 503. The reason goes to the log, once per change: it may
        name a path, and a load balancer polls every few seconds."""
        try:  # off the event loop: a store of one's own may ask a server (PostgreSQL)
            problem = await asyncio.wait_for(asyncio.to_thread(self.unavailable), _HEALTH_TIMEOUT)
        except TimeoutError:
            problem = f"the inbox did not say within {_HEALTH_TIMEOUT:g} s whether it can be written"
        if problem != self._reported:
            if problem is None:
                log.info("healthy again: the inbox can be written")
            else:
                log.error("unhealthy: answering 503 at %s", HEALTH_PATH, extra={"reason": problem})
            self._reported = problem
        return None if problem is None else b'{"status": "unavailable"}'

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start()
                except Exception as e:  # the inbox's directory does not exist, its file is read-only...
                    await send({"type": "lifespan.startup.failed", "message": f"cannot start: {e}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._writer is not None:
                    await self._writer.drain()
                self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            unhealthy = await self._health()
            await _respond(send, 200 if unhealthy is None else 503, unhealthy or b'{"status": "ok"}')
            return
        try:
            answer, duplicate = await self._deliver(method, path, scope["headers"], receive)
        except Exception:  # a bug of ours: a small 500 with no internals, and the traceback in the log
            log.exception("request failed")
            answer, duplicate = Answer(500), False
        if answer is None:  # the client went away before sending its body
            return
        self._log(answer, duplicate, started)
        await _respond(send, answer.status, answer.body, answer.content_type, answer.headers)

    async def _deliver(self, method: str, path: str, headers: Any, receive: Receive) -> tuple[Answer | None, bool]:
        """The answer, and whether the event it stored was a duplicate."""
        routed = self.receiver.route(method, path, headers)
        if isinstance(routed, Answer):
            return routed, False
        body = await self._read_body(receive)
        if body is None or isinstance(body, Answer):
            return body, False
        answer = self.receiver.accept(body, routed)
        if answer.record is None:
            return answer, False
        try:
            if self._writer is None:
                raise RuntimeError("the receiver is not started")
            return answer, not await self._writer.store(answer.record)
        except Exception as e:
            log.error("cannot store the event: answering 503", extra={"error": repr(e)[:200]})
            return Answer(503, "the event could not be stored; retry", headers=(("Retry-After", "60"),)), False

    async def _read_body(self, receive: Receive) -> bytes | Answer | None:
        limit, chunks, size = self.config.max_body_bytes, [], 0
        try:
            async with asyncio.timeout(self.config.body_timeout):  # a body dribbled byte by byte
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:  # a chunked body declares no length: count what arrives
                        return self.receiver.too_large(body_unread=True)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            return Answer(408, f"the body took more than {self.config.body_timeout:g} s", headers=_CLOSE)

    def _log(self, answer: Answer, duplicate: bool, started: float) -> None:
        fields: dict[str, object] = {"status": answer.status, "ms": round((time.perf_counter() - started) * 1000, 2)}
        if answer.record is not None:
            fields.update(event=answer.record.event[:100], key=answer.record.key[:16], duplicate=duplicate)
        if answer.reason:
            fields["reason"] = answer.reason
        if answer.status >= 500:
            log.error("delivery not stored", extra=fields)
        elif answer.status >= 400:
            log.warning("request rejected", extra=fields)
        elif answer.during_rotation:  # which secret, never its value: the rotation is not finished
            log.info("delivery with the previous secret", extra={**fields, "rotation": "previous secret"})
        elif log.isEnabledFor(logging.DEBUG):  # the inbox is the record of what was acknowledged
            log.debug("duplicate acknowledged" if duplicate else "delivery acknowledged", extra=fields)


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str = "application/json",
    extra: tuple[tuple[str, str], ...] = (),
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        *((name.lower().encode(), value.encode()) for name, value in extra),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
