"""Sending one request the way the Cloud's sender does, with the safety the sender lacks.

Like the sender (cloud-sender.md §3): ``requests`` on a fresh session and connection per request,
its default headers, the secret in ``X-Webhook-Secret``, a 5 s connect and a 5 s read timeout,
TLS verified, redirects followed with requests' own rules (a 307/308 re-sends the body and every
header; a 301/302/303 becomes a GET without a body), the body decoded by urllib3's decoders, as
``requests`` decodes it. Unlike the sender (receiver-security.md §2, H1/H7/H8/H11):

- a redirect to another origin is not followed, so the secret never reaches another host;
- at most ``max_response_bytes`` of the decoded body are read (no decompression bombs);
- a wall-clock deadline bounds the whole exchange: a watchdog shuts the socket down when it passes,
  since a read timeout only bounds the gap between two bytes;
- proxies and ``.netrc`` credentials from the environment are ignored unless asked for.

Transport failures come back as a :class:`TransportError` inside the :class:`Exchange`; ``send``
never raises for anything the target does.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import re
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool

from harness.config.secret import Secret

__all__ = [
    "SECRET_HEADER",
    "Exchange",
    "Options",
    "Request",
    "Response",
    "TransportError",
    "probe",
    "send",
]

SECRET_HEADER = "X-Webhook-Secret"  # noqa: S105 - the header name, not a secret
#: What the sender advertises when brotli and zstandard are not installed.
ACCEPT_ENCODING = "gzip, deflate"
#: requests' limit (``Session.max_redirects``); one more is its TooManyRedirects, a failed attempt.
MAX_REDIRECTS = 30
#: The answers requests follows (``requests.sessions.REDIRECT_STATI``), and those it turns into a bodiless GET.
REDIRECTS = (301, 302, 303, 307, 308)
METHOD_CHANGING = (301, 302, 303)


#: What the Cloud's attempt log keeps of an answer: Small Text, a MariaDB TEXT column of 65,535 bytes; a longer
#: one fails the attempt's save. The harness reads this much, so a 2xx it had to cut short is one the Cloud
#: cannot keep.
MAX_KEPT_BODY = 65_535


@dataclass(frozen=True)
class Options:
    """How requests are sent. The defaults are the Cloud's."""

    timeout: float = 5.0
    max_response_bytes: int = MAX_KEPT_BODY
    verify: bool | str = True
    use_env_proxy: bool = False
    #: The proxy variables as they were when these options were made (``use_env_proxy`` only). Read once:
    #: reading ``os.environ`` per request raced with pytest, which sets PYTEST_CURRENT_TEST in the main
    #: thread while the engine's threads send (KeyError from inside requests).
    env_proxies: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if self.use_env_proxy and not self.env_proxies:
            object.__setattr__(self, "env_proxies", tuple(sorted(urllib.request.getproxies_environment().items())))

    def proxies_for(self, url: str) -> dict[str, str]:
        """The proxies requests would take from the environment for ``url`` (none unless ``use_env_proxy``)."""
        proxies = dict(self.env_proxies)
        host = urllib.parse.urlsplit(url).hostname or ""
        if not proxies or urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]
            return {}
        proxies.pop("no", None)
        return proxies

    def proxy_for(self, url: str) -> str | None:
        """The proxy a request to ``url`` goes through, as requests picks it; None for a direct connection."""
        proxy = requests.utils.select_proxy(url, self.proxies_for(url))
        return str(proxy) if proxy else None

    @property
    def deadline(self) -> float:
        """Wall-clock bound of one exchange: the connect timeout plus the read timeout."""
        return 2 * self.timeout


@dataclass(frozen=True)
class Request:
    """One request, described without exposing the secret: its header value is held as a :class:`Secret`."""

    url: str
    body: bytes = field(repr=False)
    description: str
    method: str = "POST"
    content_type: str | None = "application/json"
    #: None sends no ``X-Webhook-Secret`` header at all.
    secret: Secret | None = None
    #: A bash expression rebuilding the header value from $WEBHOOK_SECRET, for reproductions.
    secret_shell: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()
    #: A delivery as the Cloud sends it today (known event, its payload shape, the right secret): what the
    #: Cloud's retry and auto-disable rules, and the latency check, count. Probes and bad input are not.
    as_the_cloud: bool = False


@dataclass(frozen=True)
class Response:
    status: int
    # Not in the repr: a receiver can echo the secret anywhere, and reprs end up in debug logs.
    reason: str = field(repr=False)
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    body: bytes = field(repr=False)
    #: The decoded body is longer than the harness reads (``Options.max_response_bytes``).
    truncated: bool = False
    #: Why the sender's ``requests`` could not decode this body (ContentDecodingError), or None.
    unreadable: str | None = None

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


@dataclass(frozen=True)
class TransportError:
    """No usable response. ``kind`` is one of: connect, dns, tls, connect-timeout, read-timeout, deadline, protocol,
    redirects (more than requests follows)."""

    kind: str
    detail: str


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and effective port: what a redirect must keep for the secret to stay where it was sent."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


@dataclass(frozen=True)
class Hop:
    """A redirect the harness followed, as the Cloud's requests follows it: the answer, and where it led."""

    response: Response
    location: str

    @property
    def changed_to_get(self) -> bool:
        return self.response.status in METHOD_CHANGING


@dataclass(frozen=True)
class Exchange:
    request: Request
    #: The final answer, after the same-origin redirects the Cloud would follow too.
    response: Response | None
    error: TransportError | None
    elapsed: float
    #: The redirects followed on the way, in order (same origin only).
    redirects: tuple[Hop, ...] = ()
    #: Set by the client: an earlier handshake with this same secret got a 2xx, so a 401 is not about the secret.
    secret_accepted_before: bool = False

    @property
    def arrived_as_sent(self) -> bool:
        """No redirect turned the request into a GET without its body (the event would never arrive)."""
        return not any(hop.changed_to_get for hop in self.redirects) or self.request.method not in ("POST",)

    @property
    def redirect_elsewhere(self) -> str | None:
        """Where the answer redirects to another origin, which the Cloud would follow with the secret; or None."""
        response = self.response
        if response is None or response.status not in REDIRECTS:
            return None
        location = response.header("Location")
        if not location:
            return None
        url = self.redirects[-1].location if self.redirects else self.request.url
        target = urllib.parse.urljoin(url, location)
        return target if origin(target) != origin(self.request.url) else None


# --- the wall-clock watchdog -------------------------------------------------------------------

# The connections opened for the request in flight on this thread, so the watchdog can reach their sockets.
_open_connections: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("_open_connections", default=None)


def _track(connection: Any) -> None:
    tracked = _open_connections.get()
    if tracked is not None:
        tracked.append(connection)


class _TrackedHTTPConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        _track(self)
        super().connect()


class _TrackedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        _track(self)
        super().connect()


class _TrackedHTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class _TrackedAdapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _TrackedHTTPPool, "https": _TrackedHTTPSPool}


class _Watchdog:
    """Shuts down the sockets of one exchange when its deadline passes, unblocking any read."""

    def __init__(self, deadline: float, connections: list[Any]) -> None:
        self.fired = False
        self.done = False
        self.at = time.monotonic() + deadline
        self._connections = connections

    def __enter__(self) -> _Watchdog:
        _DEADLINES.watch(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.done = True

    def fire(self) -> None:
        self.fired = True
        for connection in self._connections:
            sock = getattr(connection, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):  # already closed: nothing left to unblock
                    sock.shutdown(socket.SHUT_RDWR)


class _Deadlines:
    """One thread for every watchdog: a thread per exchange cost more than the rest of the harness's work."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._heap: list[tuple[float, int, _Watchdog]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, watchdog: _Watchdog) -> None:
        with self._ready:
            heapq.heappush(self._heap, (watchdog.at, next(self._order), watchdog))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="harness-deadlines", daemon=True)
                self._thread.start()
            self._ready.notify()

    def _run(self) -> None:
        with self._ready:
            while True:
                while self._heap and self._heap[0][2].done:  # finished in time: forget it
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._ready.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._ready.wait(wait)
                    continue
                heapq.heappop(self._heap)[2].fire()


_DEADLINES = _Deadlines()


# --- sending -----------------------------------------------------------------------------------


def send(request: Request, options: Options) -> Exchange:
    """Send ``request`` and read a bounded response, following same-origin redirects as requests does.

    Each hop has its own deadline, as each of the sender's requests has its own timeouts.
    """
    started = time.monotonic()
    hops: list[Hop] = []
    with _session(options) as session:
        try:
            prepared = _prepare(session, request)
        except requests.RequestException as exc:  # a header requests refuses to send, as for the Cloud
            return Exchange(request, None, _classify(exc, False, options), time.monotonic() - started)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response, raw = _hop(session, prepared, options)
            except _Failed as failed:
                return Exchange(request, None, failed.error, time.monotonic() - started, tuple(hops))
            try:
                following = _next_request(session, prepared, raw, request.url)
            except ValueError as exc:
                return Exchange(request, None, _unparseable_location(exc), time.monotonic() - started, tuple(hops))
            if following is None:
                return Exchange(request, response, None, time.monotonic() - started, tuple(hops))
            hops.append(Hop(response, str(following.url)))
            prepared = following
    error = TransportError("redirects", f"more than {MAX_REDIRECTS} redirects (requests' TooManyRedirects)")
    return Exchange(request, None, error, time.monotonic() - started, tuple(hops))


def _unparseable_location(exc: ValueError) -> TransportError:
    # Python's URL parser quotes the Location verbatim: the detail is the receiver's, masked and escaped
    # wherever it is shown, like every other detail.
    return TransportError("protocol", f"a redirect whose Location requests cannot parse ({_reason(exc)})")


class _Failed(Exception):  # noqa: N818 - internal, never escapes send()
    """A hop's failure, classified while its watchdog's verdict is known."""

    def __init__(self, error: TransportError) -> None:
        super().__init__(error.kind)
        self.error = error


def _hop(
    session: requests.Session, prepared: requests.PreparedRequest, options: Options
) -> tuple[Response, requests.Response]:
    connections: list[Any] = []
    token = _open_connections.set(connections)
    try:
        with _Watchdog(options.deadline, connections) as watchdog:
            try:
                return _exchange(session, prepared, options)
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise _Failed(_classify(exc, watchdog.fired, options)) from None
            except ValueError as exc:  # requests parsing a Location (netloc, IPv6): the Cloud's post raises too
                raise _Failed(
                    TransportError("protocol", f"an answer requests itself fails on ({_reason(exc)})")
                ) from None
    finally:
        _open_connections.reset(token)


def _next_request(
    session: requests.Session, prepared: requests.PreparedRequest, raw: requests.Response, first_url: str
) -> requests.PreparedRequest | None:
    """The request requests would send next for a redirect (its own rules), or None: the answer is final.

    A redirect to another origin is final here: the Cloud would follow it with the secret; the harness never does.
    """
    location = session.get_redirect_target(raw)
    if location is None:
        return None
    # As requests.Session.resolve_redirects builds the next URL.
    if location.startswith("//"):
        location = f"{urllib.parse.urlsplit(str(raw.url)).scheme}:{location}"
    if urllib.parse.urlsplit(location).netloc:
        url = requests.utils.requote_uri(location)
    else:
        url = urllib.parse.urljoin(str(raw.url), requests.utils.requote_uri(location))
    if origin(url) != origin(first_url):
        return None
    following = prepared.copy()
    following.url = url
    session.rebuild_method(following, raw)
    if raw.status_code not in (307, 308):
        for name in ("Content-Length", "Content-Type", "Transfer-Encoding"):
            following.headers.pop(name, None)
        following.body = None
    following.headers.pop("Cookie", None)
    requests.cookies.extract_cookies_to_jar(session.cookies, prepared, raw.raw)  # type: ignore[no-untyped-call]
    following.prepare_cookies(session.cookies)
    return following


def _session(options: Options) -> requests.Session:
    session = requests.Session()
    session.trust_env = options.use_env_proxy
    session.headers["Accept-Encoding"] = ACCEPT_ENCODING
    adapter = _TrackedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _prepare(session: requests.Session, request: Request) -> requests.PreparedRequest:
    headers: dict[str, str] = {}
    if request.secret is not None:
        headers[SECRET_HEADER] = request.secret.reveal()
    prepared = session.prepare_request(
        requests.Request(request.method, request.url, data=request.body or None, headers=headers)
    )
    # Set after Content-Length, the order in which requests' own json= path writes them.
    if request.content_type is not None:
        prepared.headers["Content-Type"] = request.content_type
    for name, value in request.extra_headers:
        prepared.headers[name] = value
    return prepared


def _exchange(
    session: requests.Session, prepared: requests.PreparedRequest, options: Options
) -> tuple[Response, requests.Response]:
    raw_response = session.send(
        prepared,
        proxies=options.proxies_for(str(prepared.url)),  # given, so requests reads no environment per request
        timeout=(options.timeout, options.timeout),
        allow_redirects=False,
        stream=True,
        verify=options.verify,
    )
    with raw_response:
        body, complete, unreadable = _read_capped(raw_response, options.max_response_bytes)
        response = Response(
            status=raw_response.status_code,
            reason=raw_response.reason or "",
            headers=tuple(raw_response.raw.headers.items()),
            body=body,
            truncated=not complete,
            unreadable=unreadable,
        )
        return response, raw_response


def _read_capped(response: requests.Response, cap: int) -> tuple[bytes, bool, str | None]:
    """At most ``cap`` decoded bytes, whether that was the whole body, and why it could not be decoded.

    Decoded by urllib3, as requests decodes it for the Cloud (``iter_content``): a Content-Encoding it
    knows but cannot undo is a ContentDecodingError there, a failed attempt. A body that stalls, ends
    before its Content-Length or breaks its chunking raises, as it does for the Cloud.
    """
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        try:
            chunk = response.raw.read(min(16384, cap + 1 - size), decode_content=True)
        except urllib3.exceptions.DecodeError as exc:
            return b"".join(chunks)[:cap], True, f"ContentDecodingError: {_reason(exc)}"
        if not chunk:
            return b"".join(chunks), True, None
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:cap], False, None


# Words in an error that mean the peer spoke broken HTTP or hung up mid-answer, not that it cannot be reached.
_PROTOCOL_MARKERS = (
    "RemoteDisconnected",
    "UnknownProtocol",  # an answer, though not HTTP/1.x: not a failure to connect
    "BadStatusLine",
    "ProtocolError",
    "IncompleteRead",
    "InvalidChunkLength",
    "Connection reset",
    "Connection broken",
    "LineTooLong",
    "got more than",
)
_DNS_MARKERS = (
    "Name or service not known",
    "NameResolution",
    "getaddrinfo",
    "Temporary failure in name resolution",
    "nodename nor servname",
)
# Of requests' own errors, only these are about the connection; the others (InvalidHeader...) are about the
# request, and their text quotes the offending value, which can be the secret.
_CONNECTION_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)


def _classify(exc: BaseException, deadline_passed: bool, options: Options) -> TransportError:
    if deadline_passed:
        return TransportError("deadline", f"no complete response within {options.deadline:g} s")
    if isinstance(exc, requests.exceptions.SSLError):
        # "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: ... (_ssl.c:1006)" -> the words only.
        detail = re.sub(r"^\[SSL: [A-Z_]+\] | \(_ssl\.c:\d+\)$", "", _reason(exc))
        return TransportError("tls", detail)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TransportError("connect-timeout", f"no connection within {options.timeout:g} s")
    if isinstance(exc, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError)):
        return TransportError("read-timeout", f"no data for {options.timeout:g} s")
    if isinstance(exc, requests.RequestException) and not isinstance(exc, _CONNECTION_ERRORS):
        return TransportError("protocol", type(exc).__name__)  # the type only: see _CONNECTION_ERRORS
    text = f"{type(exc).__name__}: {_reason(exc)}"
    if not isinstance(exc, requests.exceptions.ConnectionError) or any(m in text for m in _PROTOCOL_MARKERS):
        return TransportError("protocol", f"the answer is broken or ended early ({_reason(exc)})")
    if any(m in text for m in _DNS_MARKERS):
        return TransportError("dns", _reason(exc))
    return TransportError("connect", _reason(exc))


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests error, without the long urllib3 wrapping."""
    while exc.__context__ is not None and not isinstance(exc, (ssl.SSLError, OSError)):
        exc = exc.__context__
    inner = exc.args[0] if exc.args else exc
    text = str(getattr(inner, "reason", inner))
    if not re.search("[A-Za-z]", text):  # a bare errno or byte count says nothing: name the error instead
        text = f"{type(exc).__name__}: {exc}"
    # "_TrackedHTTPConnection(host='127.0.0.1', port=1): Failed to ..." -> "Failed to ..."
    text = re.sub(r"<[^<>]* object at 0x[0-9a-f]+>: |\w+Connection(Pool)?\([^()]*\): ", "", text)
    return text[:300]


# --- reachability ------------------------------------------------------------------------------


def probe(url: str, options: Options) -> TransportError | None:
    """Does an HTTP server answer at ``url``? One GET, without the secret or a body; any status will do.

    Through the same transport as the deliveries (proxies, CA bundle, deadline), so a TLS port spoken
    to in plain HTTP, or a server that accepts connections and never answers, is found here once.
    """
    exchange = send(
        Request(url, b"", "a GET to check that an HTTP server answers", method="GET", content_type=None), options
    )
    return exchange.error
