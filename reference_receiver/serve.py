"""Serving the receiver under uvicorn: blocking for production, or on a thread for tests and the harness.

uvicorn (with uvloop and httptools) was chosen for robustness first: its event loop holds slow clients
without tying up a worker (receiver-security.md §6.3: waitress and uvicorn stayed responsive under 20
slowloris connections where gunicorn's workers froze), and it drains in-flight requests on SIGTERM. What it
lacks against clients without the secret, ``GuardedHttpToolsProtocol`` adds: head deadlines and size limits,
a 503 limit on requests in flight rather than on open connections, room made for new connections near the
file-descriptor limit, and no trailer field taken for a header. It is also fast enough that the durable write, not the
server, bounds throughput.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import resource
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import uvicorn

from .asgi import WebhookApp
from .config import Config

__all__ = [
    "JsonFormatter",
    "RunningServer",
    "configure_logging",
    "raise_open_files_limit",
    "serve",
    "start_in_thread",
    "uvicorn_config",
]


def uvicorn_config(
    app: WebhookApp | str,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    config: Config | None = None,
    **overrides: Any,
) -> uvicorn.Config:
    """The production settings, from the app's ``Config``.

    ``app`` may be an import string (``"reference_receiver:create_app"`` with ``factory=True``), as uvicorn's
    multiprocess supervisor needs: its settings then come from ``config``, or from the environment, as the app's
    will in each worker. Everything here pickles (the protocol is a module-level class).
    """
    receiver = config or (app.config if isinstance(app, WebhookApp) else Config.from_env())
    settings: dict[str, Any] = {
        "host": host,
        "port": port,
        "lifespan": "on",  # opens the inbox, starts the writer and the processor; stops them in order
        "access_log": False,  # the app logs each request itself, without headers
        "log_config": None,  # keep the JSON logging set up by configure_logging
        "server_header": False,
        "proxy_headers": False,  # the receiver never looks at the client's address
        "limit_concurrency": receiver.max_connections,  # past it: 503, which the Cloud retries
        "timeout_keep_alive": receiver.keep_alive_timeout,
        "timeout_graceful_shutdown": receiver.shutdown_timeout,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,  # the pure-Python parser's own head limit
        "ws": "none",  # no WebSocket: an Upgrade request is an ordinary GET (405)
        "backlog": BACKLOG,  # when uvicorn binds the socket itself (its multiprocess supervisor)
    }
    if _HTTPTOOLS:
        settings["http"] = GuardedHttpToolsProtocol
        # uvicorn's limit counts open connections, idle and unfinished ones too: 1,000 slow clients without the
        # secret took every place. The guarded protocol counts requests in flight instead (see _Pool).
        settings["limit_concurrency"] = None
    settings.update(overrides)
    return uvicorn.Config(app, **settings)


#: The most a request's line and headers may take; the Cloud's are about 300 bytes.
MAX_HEAD_BYTES = 64 * 1024
#: Connections waiting to be accepted. The kernel caps it at net.core.somaxconn (4096 on current Linux): the
#: most there is, so that a burst of connections (a flood and its reconnections) is queued rather than dropped,
#: which would cost a real delivery a 1 s SYN retransmission.
BACKLOG = 65535
#: File descriptors kept for everything but connections: the inbox, logs, the event loop's own.
FD_RESERVE = 256


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (often 1024 soft against far more hard: a
    connection is a file descriptor) and return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and soft != resource.RLIM_INFINITY:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def _receiver_config(app: object) -> Config | None:
    """The receiver's ``Config`` of the app uvicorn loaded, under any middleware uvicorn wrapped it in."""
    for _ in range(8):
        found = getattr(app, "config", None)
        if isinstance(found, Config):
            return found
        app = getattr(app, "app", None)
        if app is None:
            break
    return None


class _Pool:
    """What the connections of one server share: its limits, and the connections waiting for a head.

    A connection that has not sent a whole head (or is idle between requests) costs a file descriptor and
    nothing else; it must not take the place of a request. So the 503 limit (WEBHOOK_MAX_CONNECTIONS) counts
    requests in flight, and when open connections near the file-descriptor limit, the one that has been waiting
    longest for a head is closed to make room: a client that sends its head at once, as the Cloud does, is never
    the one that waited longest.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        receiver = _receiver_config(config.loaded_app)
        receiver = receiver or _DEFAULTS
        self.head_timeout = receiver.header_timeout
        self.max_in_flight = receiver.max_connections
        self.max_open = max(64, raise_open_files_limit() - FD_RESERVE)
        self.waiting: dict[GuardedHttpToolsProtocol, None] = {}  # insertion order: the longest waiting first

    def wait(self, connection: GuardedHttpToolsProtocol) -> None:
        self.waiting.pop(connection, None)
        self.waiting[connection] = None

    def done_waiting(self, connection: GuardedHttpToolsProtocol) -> None:
        self.waiting.pop(connection, None)

    def longest_waiting(self) -> GuardedHttpToolsProtocol | None:
        return next(iter(self.waiting), None)


_DEFAULTS = Config(secret="")  # the limits for an app that is not the receiver
_POOL = "_reference_receiver_pool"  # the attribute of uvicorn's ServerState (one per server) that holds its _Pool


def _pool_of(server_state: object, config: uvicorn.Config) -> _Pool:
    pool: _Pool | None = getattr(server_state, _POOL, None)
    if pool is None:
        pool = _Pool(config)
        setattr(server_state, _POOL, pool)
    return pool


_HTTPTOOLS = importlib.util.find_spec("httptools") is not None

if _HTTPTOOLS:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with the limits it lacks, for clients that do not have the secret:

        - a time limit on receiving a request's head (``header_timeout``, 408): a client dribbling headers would
          hold its connection forever;
        - a size limit on it (64 KiB, 431): httptools buffers a header of any size;
        - the 503 limit counts requests in flight, not open connections (see ``_Pool``);
        - fields of a chunked body's trailer are dropped: httptools reports them as headers after the head is
          complete, and uvicorn appended them to the request's headers, where the app found a secret sent there.

        Without httptools, uvicorn uses h11, which has the size limit only.
        """

        _head_timer: asyncio.TimerHandle | None = None
        _head_bytes = 0
        _refused = False
        _in_body = False  # the head is complete: a field now is a trailer's

        def __init__(self, config: uvicorn.Config, server_state: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(config, server_state, *args, **kwargs)
            self._pool = _pool_of(server_state, config)

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > self._pool.max_open:
                self._make_room()
            self._pool.wait(self)
            self._start_head()

        def _make_room(self) -> None:
            """Close the connection that has waited longest for a head (this one if none waits)."""
            oldest = self._pool.longest_waiting() or self
            if oldest._between_requests() and oldest.cycle is not None:  # idle after an answer: just close
                oldest._end_head()
                oldest._refused = True
                oldest.transport.close()
            else:
                oldest._refuse(503, "Service Unavailable")

        def _between_requests(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _start_head(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(self._pool.head_timeout, self._refuse, 408, "Request Timeout")

        def _end_head(self) -> None:
            self._head_bytes = 0
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._between_requests():  # any byte here starts a head, even a bare CRLF that httptools skips
                self._start_head()
            if self._head_timer is not None:
                self._head_bytes += len(data)
            super().data_received(data)
            if self._head_timer is not None and self._head_bytes > MAX_HEAD_BYTES:  # and still no end of head
                self._refuse(431, "Request Header Fields Too Large")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_body = False
            self._start_head()

        def on_header(self, name: bytes, value: bytes) -> None:
            if not self._in_body:  # a trailer's field never counts as a request header
                super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._end_head()
            self._in_body = True
            self._pool.done_waiting(self)
            head = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if head > MAX_HEAD_BYTES:  # a head that came whole in one read
                self._refuse(431, "Request Header Fields Too Large")
                return
            if len(self.tasks) >= self._pool.max_in_flight:  # WEBHOOK_MAX_CONNECTIONS requests at once
                self.logger.warning("Exceeded concurrency limit.")
                self._refuse(503, "Service Unavailable")
                return
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if not self._refused:
                super().on_body(body)

        def on_message_complete(self) -> None:
            if not self._refused:
                super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and not self.pipeline:  # idle now, until a head or keep-alive ends
                self._pool.wait(self)

        def connection_lost(self, exc: Exception | None) -> None:
            self._end_head()
            self._pool.done_waiting(self)
            super().connection_lost(exc)

        def _refuse(self, status: int, reason: str) -> None:
            self._end_head()
            self._refused = True
            self._pool.done_waiting(self)
            if not self.transport.is_closing():
                self.transport.write(
                    f"HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()
                )
                self.transport.close()


def serve(app: WebhookApp, host: str = "127.0.0.1", port: int = 8000) -> bool:
    """Serve until SIGINT or SIGTERM, then finish the requests in flight (up to WEBHOOK_SHUTDOWN_TIMEOUT).

    OSError if the address cannot be listened on; False if the app could not start (the log says why).
    """
    raise_open_files_limit()  # before the socket: a connection is a file descriptor
    sock = _listen(host, port)  # here, not in uvicorn, which would log the error and exit the process
    announce(sock)
    server = uvicorn.Server(uvicorn_config(app, host, sock.getsockname()[1]))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return bool(server.started)


def webhook_url(sock: socket.socket) -> str:
    """The webhook URL a listening socket serves (behind TLS, the public one is https and your host's)."""
    host, port = sock.getsockname()[:2]
    netloc = f"[{host}]" if ":" in host else host
    return f"http://{netloc}:{port}/webhook"


def announce(sock: socket.socket) -> None:
    """Say where the receiver listens: with --port 0, the log is the only place to learn the port."""
    logging.getLogger("reference_receiver").info("listening", extra={"url": webhook_url(sock)})


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=BACKLOG)


def start_in_thread(app: WebhookApp, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``app`` on a daemon thread (port 0 = a free one) until ``stop()`` or the end of a ``with``."""
    sock = _listen(host, port)
    server = _ThreadServer(uvicorn_config(app, host, sock.getsockname()[1], timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="reference-receiver", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    if not server.started:
        server.should_exit = True
        thread.join(5)
        sock.close()
        raise RuntimeError("the reference receiver did not start (see the log)")
    return RunningServer(server, thread, sock)


class _ThreadServer(uvicorn.Server):
    """A server stopped from another thread: woken at once rather than at uvicorn's next 0.1 s poll."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):  # as uvicorn's own loop, which only sleeps instead
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)

    def wake(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(wake.set)


class RunningServer:
    """A receiver served on a thread: ``url`` is its webhook URL."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, sock: socket.socket) -> None:
        self._server, self._thread, self._sock = server, thread, sock
        self.host, self.port = sock.getsockname()[:2]
        self.url = webhook_url(sock)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let requests in flight finish (2 s at most), then stop the app."""
        self._server.should_exit = True
        if isinstance(self._server, _ThreadServer):
            self._server.wake()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the fields passed as ``extra``.

    JSON escapes control characters, so a payload cannot forge log lines. The receiver never logs
    header values, so the secret never reaches a log.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes, not to the one there at start-up."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the receiver and for uvicorn's own messages."""
    handler = _Stderr()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
