"""The load drill's fast path: the Cloud's deliveries sent from one event loop, as fast as loopback allows.

:func:`drill` sends each delivery on a new TCP (and TLS) connection carrying the bytes ``transport.send`` would
write, captured once from urllib3 itself (only the body and its Content-Length change); the answer's status line
and head are parsed with http.client's rules and its body read up to ``max_response_bytes``, not decoded, since
only the status class counts. Threads around ``transport.send`` spent ~1.2 ms of Python per delivery (requests'
preparation, urllib3, http.client), and the GIL serialises that work: ~800 deliveries/s at most. What the fast
path does not do as the Cloud would goes to ``transport.send`` (harness.sending.load.run_load's threads): the
whole drill when a proxy from the environment applies (or the request cannot be prepared), and a delivery
answered with a redirect (sent again, and followed as the Cloud's requests follows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import requests.utils
import urllib3.connection
import urllib3.connectionpool
import urllib3.util.ssl_

from harness.config.secret import Secret
from harness.sending.load import (
    LoadResult,
    Progress,
    _builder,
    _class,
    _Events,
    _plan,
    _start_threads,
    _supervise,
    _Tally,
    status_class,
)
from harness.wire import transport

__all__ = ["drill"]


def drill(
    url: str,
    secret: Secret,
    options: transport.Options,
    deliveries: int,
    concurrency: int,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    stop_after_timeouts: int | None = None,
) -> LoadResult:
    """Send ``deliveries`` load deliveries (:func:`deliveries`) to ``url``, at most ``concurrency`` at a time.

    Each is what the Cloud sends: a POST of its own event, transport's headers and ``X-Webhook-Secret``, on a new
    connection (TLS verified as ``options`` says), with ``options.timeout`` to connect and between two bytes of
    the answer and ``options.deadline`` for the whole exchange. The caps, the early stop and the exceptions are
    those of :func:`run_load`; on Ctrl-C the connections in flight are closed too.

    ``on_progress`` is called in the thread that called ``drill`` (never in the sending thread), at most every
    :data:`PROGRESS_INTERVAL` s while the load runs and once with the final counts before ``drill`` returns
    (not when it raises). It holds up only the reports, not the load; an exception it raises stops the load
    and propagates from ``drill`` at once.
    """
    tally, workers = _plan(deliveries, concurrency, stop_after_timeouts)
    wire = _Wire.of(url, secret, options)
    if wire is None:  # what the fast path would not send as the Cloud does: threads around transport.send
        build = _builder(url, secret)
        _supervise(
            tally, lambda: _start_threads(tally, lambda i: transport.send(build(i), options), workers), on_progress
        )
    else:
        engine = _Engine(tally, wire, options, workers, _builder(url, secret))
        _supervise(tally, engine.start, on_progress, engine.abort)
    return tally.result(workers)


# --- the fast path -------------------------------------------------------------------------------


class _Recording:
    """An urllib3 connection that keeps what it would write instead of connecting."""

    sent: list[bytes]

    def connect(self) -> None:
        raise AssertionError("a recording connection never connects")

    def send(self, data: Any) -> None:
        self.sent.append(bytes(data))


class _RecordingHTTP(_Recording, urllib3.connection.HTTPConnection):
    pass


class _RecordingHTTPS(_Recording, urllib3.connection.HTTPSConnection):
    pass


class _Wire:
    """Where the deliveries go and their bytes: transport's request for delivery 0, as urllib3 writes it (request
    line, Host, requests' default headers, the secret, Content-Length, Content-Type), with each delivery's body
    and length put in. Holds the secret: no repr shows it."""

    def __init__(
        self, host: str, port: int, tls: ssl.SSLContext | None, server_name: str, before: bytes, after: bytes
    ) -> None:
        self.host, self.port, self.tls, self.server_name = host, port, tls, server_name
        self._before, self._after = before, after  # the head around the value of Content-Length
        self._events = _Events()

    def __repr__(self) -> str:
        return f"<_Wire {self.host}:{self.port}>"

    def request(self, i: int) -> bytes:
        body = self._events.body(i)
        return b"".join((self._before, str(len(body)).encode("ascii"), self._after, body))

    @classmethod
    def of(cls, url: str, secret: Secret, options: transport.Options) -> _Wire | None:
        """None when the fast path would not send what transport sends: the threaded path sends then."""
        session = transport._session(options)  # the harness's own transport: its rules, not a copy
        try:
            prepared = transport._prepare(session, _builder(url, secret)(0))
            target, body = str(prepared.url), prepared.body
            if requests.utils.select_proxy(target, options.proxies_for(target)):
                return None
            pool = urllib3.connectionpool.connection_from_url(target)
            if pool.scheme not in ("http", "https") or not isinstance(body, bytes) or pool.port is None:
                return None
            recording = (_RecordingHTTPS if pool.scheme == "https" else _RecordingHTTP)(pool.host, pool.port)
            recording.sent = []
            recording.request(str(prepared.method), prepared.path_url, body=body, headers=prepared.headers)
            tls = _tls_context(options) if pool.scheme == "https" else None
        except (requests.RequestException, urllib3.exceptions.HTTPError, ValueError, OSError):
            return None  # transport.send reports each as the Cloud would meet it
        finally:
            session.close()
        wire = b"".join(recording.sent)
        field = b"\r\nContent-Length: "
        length = b"%s%d\r\n" % (field, len(body))
        head = wire[: len(wire) - len(body)]
        if not wire.endswith(body) or head.count(length) != 1 or not head.endswith(b"\r\n\r\n"):
            return None
        before, after = head.split(length)
        return cls(pool.host, pool.port, tls, recording.host, before + field, b"\r\n" + after)


def _tls_context(options: transport.Options) -> ssl.SSLContext:
    """The context requests and urllib3 make for ``verify``: certifi's bundle, a CA file or directory, or none."""
    context = urllib3.util.ssl_.create_urllib3_context()
    if options.verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        where = requests.utils.DEFAULT_CA_BUNDLE_PATH if options.verify is True else options.verify
        if os.path.isdir(where):
            context.load_verify_locations(capath=where)
        else:
            context.load_verify_locations(cafile=where)
        context.check_hostname = True
    context.set_alpn_protocols(["http/1.1"])
    return context


# http.client's limits on one line of a head and on the number of its fields.
_MAXLINE = 65536
_MAXHEADERS = 100
# Where the parse of an answer is.
_HEAD, _LENGTH, _TO_EOF, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER = range(7)


class _Broken(Exception):  # noqa: N818 - internal, never escapes _Answer
    """The answer breaks http.client's rules: a failure of ``kind``, as transport classifies what http.client raises."""

    def __init__(self, kind: str = "protocol") -> None:
        super().__init__(kind)
        self.kind = kind


def _status(line: bytes) -> int:
    """The status of a status line, by http.client's rules (BadStatusLine, UnknownProtocol: _Broken)."""
    words = line.decode("iso-8859-1").split(None, 2)
    version = words[0] if len(words) >= 2 else ""
    if not version.startswith("HTTP/"):
        raise _Broken  # BadStatusLine
    if not (version in ("HTTP/1.0", "HTTP/0.9") or version.startswith("HTTP/1.")):
        raise _Broken  # UnknownProtocol: an answer, though not HTTP/1.x, as transport reads it
    try:
        status = int(words[1])
    except ValueError:
        raise _Broken from None
    if not 100 <= status <= 999:
        raise _Broken
    return status


def _fields(lines: list[bytes]) -> dict[str, list[str]]:
    """The values of each field of a head, by lower-case name; a line starting with a blank continues the last."""
    fields: dict[str, list[str]] = {}
    last: list[str] | None = None
    for raw in lines:
        line = raw.decode("iso-8859-1").rstrip("\r\n")
        if line[:1] in (" ", "\t") and last:
            last[-1] += line
            continue
        name, colon, value = line.partition(":")
        if colon:
            last = fields.setdefault(name.lower(), [])
            last.append(value.lstrip(" \t"))
    return fields


class _Answer(asyncio.Protocol):
    """One delivery on its own connection: writes the request, reads the answer as http.client does (a 100
    Continue skipped; no body for 1xx, 204, 304; chunked, Content-Length or up to the close), stops once more than
    ``max_response_bytes`` of body came, then closes. ``outcome`` gets (status, None), or (None, error kind)."""

    def __init__(self, data: bytes, options: transport.Options, loop: asyncio.AbstractEventLoop) -> None:
        self.outcome: asyncio.Future[tuple[int | None, str | None]] = loop.create_future()
        self.location = False  # the answer has a Location field
        self._data, self._loop = data, loop
        self._timeout, self._cap = options.timeout, options.max_response_bytes
        self._deadline_at = loop.time() + options.deadline
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last = 0.0  # when the last byte came
        self._buffer = bytearray()
        self._pos = 0
        self._state = _HEAD
        self._status: int | None = None
        self._lines: list[bytes] = []
        self._left = 0  # bytes still to come of the body (Content-Length) or of the chunk
        self._read = 0  # bytes of body read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(self._data)
        self._last = self._loop.time()
        self._arm()

    def data_received(self, data: bytes) -> None:
        if not self.outcome.done():
            self._last = self._loop.time()
            self._buffer += data
            self._advance(eof=False)

    def eof_received(self) -> bool | None:
        self._advance(eof=True)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._advance(eof=True)

    def abandon(self) -> None:
        """Close the connection now if the exchange has not ended (the drill was stopped)."""
        self._end(None, "aborted")

    # The read timeout is the gap between two bytes, as a socket timeout: one timer, moved only when it fires.
    def _arm(self) -> None:
        self._timer = self._loop.call_at(min(self._last + self._timeout, self._deadline_at), self._check)

    def _check(self) -> None:
        now = self._loop.time()
        if now >= self._deadline_at:
            self._end(None, "deadline")
        elif now >= self._last + self._timeout:
            self._end(None, "read-timeout")
        else:
            self._arm()

    def _end(self, status: int | None, kind: str | None) -> None:
        if self.outcome.done():
            return
        self.outcome.set_result((status, kind))
        if self._timer is not None:
            self._timer.cancel()
        if self._transport is not None:
            if kind is None:
                self._transport.close()
            else:
                self._transport.abort()

    def _advance(self, eof: bool) -> None:
        try:
            while not self.outcome.done() and self._step(eof):
                pass
        except _Broken as broken:
            self._end(None, broken.kind)
        del self._buffer[: self._pos]
        self._pos = 0

    def _step(self, eof: bool) -> bool:
        """One step of the parse; False when it waits for more bytes."""
        state = self._state
        if state == _HEAD and self._status is None and self._whole_head():
            return True
        if state in (_HEAD, _CHUNK_SIZE, _TRAILER):
            line = self._line(eof)
            if line is None:
                return False
            if state == _HEAD:
                self._head(line)
            elif state == _CHUNK_SIZE:
                size = line.split(b";", 1)[0]
                try:
                    self._left = int(size, 16)
                except ValueError:
                    raise _Broken from None  # http.client's IncompleteRead; the end of the stream too
                if self._left < 0:
                    raise _Broken
                self._state = _CHUNK_DATA if self._left else _TRAILER
            elif line in (b"\r\n", b"\n", b""):
                self._end(self._status, None)
            return True
        available = len(self._buffer) - self._pos
        if state == _CHUNK_END:  # the two bytes after a chunk, not checked (http.client's _safe_read(2))
            if available < 2:
                if eof:
                    raise _Broken
                return False
            self._pos += 2
            self._state = _CHUNK_SIZE
            return True
        take = available if state == _TO_EOF else min(available, self._left)
        self._pos += take
        self._left -= take
        self._read += take
        if self._read > self._cap:  # transport stops reading there: a 2xx cut short is still a 2xx
            self._end(self._status, None)
        elif state != _TO_EOF and not self._left:
            if state == _LENGTH:
                self._end(self._status, None)
            self._state = _CHUNK_END
            return True
        elif eof:
            if state != _TO_EOF:
                raise _Broken  # the body ended before its length
            self._end(self._status, None)
        return False

    def _whole_head(self) -> bool:
        """The usual case in one go: a whole head of CRLF lines, within http.client's limits. False: line by line."""
        buffer, pos = self._buffer, self._pos
        end = buffer.find(b"\r\n\r\n", pos)
        if end < 0 or end - pos > _MAXLINE or buffer.count(b"\n", pos, end) != buffer.count(b"\r\n", pos, end):
            return False
        lines = bytes(buffer[pos:end]).split(b"\r\n")
        if len(lines) > _MAXHEADERS + 1:
            return False
        self._pos = end + 4
        status = _status(lines[0])
        if status != 100:  # http.client skips a 100 Continue and its head
            self._status = status
            self._framing(status, _fields(lines[1:]))
        return True

    def _line(self, eof: bool) -> bytes | None:
        """The next line, as http.client's ``readline(65537)`` gives it (the rest at the end); None: not yet."""
        end = self._buffer.find(b"\n", self._pos)
        if end < 0:
            if len(self._buffer) - self._pos > _MAXLINE:
                raise _Broken  # LineTooLong
            if not eof:
                return None
            end = len(self._buffer) - 1
        line = bytes(self._buffer[self._pos : end + 1])
        if len(line) > _MAXLINE:
            raise _Broken
        self._pos = end + 1
        return line

    def _head(self, line: bytes) -> None:
        if self._status is None:
            self._status = _status(line)  # an empty line here: the peer closed without answering
        elif line not in (b"\r\n", b"\n", b""):
            self._lines.append(line)
            if len(self._lines) > _MAXHEADERS:
                raise _Broken
        elif self._status == 100:  # http.client skips a 100 Continue and its head
            self._status, self._lines = None, []
        else:
            self._framing(self._status, _fields(self._lines))

    def _framing(self, status: int, fields: dict[str, list[str]]) -> None:
        """How the body ends, by http.client's rules, with urllib3's refusal of conflicting lengths."""
        self.location = bool(fields.get("location"))
        if status < 200 or status in (204, 304):
            self._end(status, None)
            return
        if fields.get("transfer-encoding", [""])[0].lower() == "chunked":
            self._state = _CHUNK_SIZE
            return
        try:
            lengths = {int(v) for v in ",".join(fields.get("content-length", [])).split(",")}
        except ValueError:
            lengths = set()
        if len(lengths) > 1:
            raise _Broken  # urllib3's InvalidHeader
        length = lengths.pop() if lengths else -1
        self._state, self._left = (_LENGTH, length) if length >= 0 else (_TO_EOF, 0)
        if length == 0:
            self._end(status, None)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - on Windows and other Pythons
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


class _Engine:
    """The fast path's loop, on a daemon thread of its own: a task per slot, each delivery a new connection."""

    def __init__(
        self,
        tally: _Tally,
        wire: _Wire,
        options: transport.Options,
        workers: int,
        build: Callable[[int], transport.Request],
    ) -> None:
        self._tally, self._wire, self._options, self._workers, self._build = tally, wire, options, workers, build
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[Any] | None = None

    def start(self) -> None:
        threading.Thread(target=self._run, name="webhook-drill", daemon=True).start()

    def abort(self) -> None:
        """From another thread: cancel every delivery in flight, which closes its connection."""
        with self._lock:
            if self._loop is not None and self._main is not None:
                with contextlib.suppress(RuntimeError):  # the loop has closed already
                    self._loop.call_soon_threadsafe(self._main.cancel)

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(self._all())
        except asyncio.CancelledError:
            pass  # aborted: the waiting thread is raising why
        except BaseException as exc:  # a harness bug: drill raises it
            self._tally.fail(exc)
        finally:
            self._tally.finish()

    async def _all(self) -> None:
        with self._lock:
            self._loop, self._main = asyncio.get_running_loop(), asyncio.current_task()
        self._tally.restart_clock()
        await asyncio.gather(*(self._work() for _ in range(self._workers)))

    async def _work(self) -> None:
        tally = self._tally
        while (i := tally.take()) is not None:
            started = time.monotonic()
            try:
                klass, kind = await self._deliver(i)
            except Exception as exc:  # a harness bug, not the receiver's: drill raises it
                tally.fail(exc)
                return
            tally.record(time.monotonic() - started, klass, kind)

    async def _deliver(self, i: int) -> tuple[str, str | None]:
        loop, wire = asyncio.get_running_loop(), self._wire
        answer = _Answer(wire.request(i), self._options, loop)
        try:
            try:
                async with asyncio.timeout(self._options.timeout):
                    if wire.tls is None:
                        await loop.create_connection(lambda: answer, wire.host, wire.port)
                    else:
                        await loop.create_connection(
                            lambda: answer, wire.host, wire.port, ssl=wire.tls, server_hostname=wire.server_name
                        )
            except TimeoutError:
                return "no response", "connect-timeout"
            except ssl.SSLError:  # certificate errors included
                return "no response", "tls"
            except socket.gaierror:
                return "no response", "dns"
            except (ConnectionResetError, BrokenPipeError):  # cut during the TLS handshake: requests says protocol
                return "no response", "protocol"
            except OSError:
                return "no response", "connect"
            status, kind = await answer.outcome
        finally:
            answer.abandon()
        if status is None:
            return "no response", kind
        if status in transport.REDIRECTS and answer.location:  # followed as requests does, by transport itself
            exchange = await loop.run_in_executor(None, transport.send, self._build(i), self._options)
            return status_class(exchange), exchange.error.kind if exchange.error else None
        return _class(status), None
