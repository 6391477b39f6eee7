"""The opt-in load run: bounded concurrency, counts by class, the early stop on a hung receiver, percentiles;
the drill's own HTTP: the bytes transport writes, answers read and timed out as transport reads them."""

from __future__ import annotations

import _thread
import contextlib
import datetime as dt
import itertools
import json
import re
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from gallery import Handler
from harness.config.secret import Secret
from harness.payloads.deliveries import encode, fresh
from harness.sending import drill as drill_module
from harness.sending import load
from harness.sending.drill import drill
from harness.sending.load import (
    CLASSES,
    EVENT,
    MAX_CONCURRENCY,
    MAX_DELIVERIES,
    Latency,
    LoadResult,
    Progress,
    check_plan,
    deliveries,
    percentile,
    run_load,
)
from harness.wire import transport

Serve = Callable[[Handler], str]
SECRET = "load-secret-7c1e9a2f4b6d8e0a"
FAST = transport.Options(timeout=0.5)


def sender(url: str, options: transport.Options = FAST) -> Callable[[int], transport.Exchange]:
    build = deliveries(url, Secret(SECRET))
    return lambda i: transport.send(build(i), options)


def classes(**counts: int) -> dict[str, int]:
    return {c: 0 for c in CLASSES} | {c.replace("_", " "): n for c, n in counts.items()}


def ok(request: Request) -> Response:
    return Response("OK", 200, content_type="text/plain")


# --- against a real receiver on loopback -------------------------------------------------------


def test_every_delivery_is_sent_and_counted(serve: Serve) -> None:
    names: set[str] = set()

    def checks_secret(request: Request, seen: list[str]) -> Response:
        if request.headers.get("X-Webhook-Secret") != SECRET:
            return Response("Unauthorized", 401)
        names.add(json.loads(request.get_data())["data"]["name"])
        return ok(request)

    result = run_load(sender(serve(checks_secret)), 200, 8)

    assert result.by_class == classes(**{"2xx": 200})
    assert (result.planned, result.sent, result.concurrency, result.errors, result.stopped) == (200, 200, 8, {}, None)
    assert result.throughput > 0
    assert result.latency is not None
    assert result.latency.count == 200
    assert names == {f"load-{i}.example.com" for i in range(200)}
    json.dumps(result.as_json())  # JSON-safe


def test_counts_by_status_class(serve: Serve) -> None:
    lock = threading.Lock()
    count = [0]

    def every_fourth_fails(request: Request, seen: list[str]) -> Response:
        with lock:
            count[0] += 1
            nth = count[0]
        return Response("busy", 503) if nth % 4 == 0 else ok(request)

    result = run_load(sender(serve(every_fourth_fails)), 100, 8)

    assert result.by_class == classes(**{"2xx": 75, "5xx": 25})
    assert result.sent == 100
    assert result.stopped is None
    assert "status: 2xx 75, 3xx 0, 4xx 0, 5xx 25, no response 0" in result.lines()


def test_a_hung_receiver_stops_the_load_early(serve: Serve) -> None:
    def hangs(request: Request, seen: list[str]) -> Response:
        time.sleep(2)
        return ok(request)

    result = run_load(sender(serve(hangs), transport.Options(timeout=0.25)), 200, 4)

    # max(3, 4) timeouts in a row stop it; the at most 3 others in flight then still time out.
    assert 4 <= result.sent <= 7
    assert result.by_class == classes(no_response=result.sent)
    assert result.errors == {"read-timeout": result.sent}
    assert result.stopped is not None
    assert "hung or unreachable: 4 deliveries in a row got no answer (read-timeout 4)" in result.stopped
    assert f"the other {200 - result.sent} were not sent" in result.stopped
    assert result.lines()[-1].startswith("stopped early: the receiver looks hung")


def test_concurrency_is_bounded_and_reached(serve: Serve) -> None:
    lock = threading.Lock()
    in_flight = [0, 0]  # now, most

    def holds(request: Request, seen: list[str]) -> Response:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
        time.sleep(0.15)
        with lock:
            in_flight[0] -= 1
        return ok(request)

    result = run_load(sender(serve(holds)), 16, 4)

    assert result.sent == 16
    assert in_flight[1] == 4


# --- the run, with a fake sender ---------------------------------------------------------------


def exchange(status: int | None = 200, kind: str | None = None, elapsed: float = 0.01) -> transport.Exchange:
    request = transport.Request("http://127.0.0.1:9/webhook", b"{}", "a test delivery")
    response = transport.Response(status, "", (), b"") if status is not None else None
    error = transport.TransportError(kind, "detail") if kind is not None else None
    return transport.Exchange(request, response, error, elapsed)


def test_concurrency_is_clipped_to_the_deliveries() -> None:
    result = run_load(lambda i: exchange(), 3, 64)
    assert (result.sent, result.concurrency) == (3, 3)


def test_an_answer_resets_the_no_answer_count_and_protocol_errors_do_not_count() -> None:
    def flaky(i: int) -> transport.Exchange:
        if i % 3 == 2:
            return exchange(200)
        return exchange(None, "protocol" if i % 2 else "read-timeout")

    result = run_load(flaky, 60, 1)

    assert result.sent == 60
    assert result.stopped is None
    assert result.by_class == classes(**{"2xx": 20}, no_response=40)
    assert result.errors == {"protocol": 20, "read-timeout": 20}


def test_a_refused_connection_stops_the_load_too() -> None:
    result = run_load(lambda i: exchange(None, "connect"), 1000, 2, stop_after_timeouts=5)
    assert result.sent == 5
    assert result.stopped is not None
    assert "(connect 5)" in result.stopped
    assert "the other 995 were not sent" in result.stopped


def test_statuses_outside_the_http_classes_are_other() -> None:
    statuses = [103, 200, 302, 404, 500, 600]
    result = run_load(lambda i: exchange(statuses[i]), len(statuses), 1)
    assert result.by_class == {"2xx": 1, "3xx": 1, "4xx": 1, "5xx": 1, "other": 2, "no response": 0}
    assert "status: 2xx 1, 3xx 1, 4xx 1, 5xx 1, other 2, no response 0" in result.lines()


def test_an_exception_from_send_propagates_and_stops_the_load() -> None:
    calls: list[int] = []
    lock = threading.Lock()

    def buggy(i: int) -> transport.Exchange:
        with lock:
            calls.append(i)
        if i == 5:
            raise RuntimeError("harness bug")
        time.sleep(0.01)
        return exchange()

    with pytest.raises(RuntimeError, match="harness bug"):
        run_load(buggy, 1000, 4)
    assert len(calls) < 20


def test_keyboard_interrupt_propagates_and_the_workers_end() -> None:
    def interrupts(i: int) -> transport.Exchange:
        if i == 0:
            _thread.interrupt_main()
        time.sleep(0.05)
        return exchange()

    # Python's own handler, even where SIGINT is ignored (a background job): interrupt_main() goes through it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_load(interrupts, 400, 4)  # 5 s if the interrupt were lost
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 2
    while any(t.name.startswith("webhook-load-") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("webhook-load-")]


def test_check_plan_caps() -> None:
    check_plan(1, 1)
    check_plan(MAX_DELIVERIES, MAX_CONCURRENCY)
    check_plan(3, MAX_CONCURRENCY)  # clipped to n in the run, not an error
    with pytest.raises(ValueError, match="MAX_DELIVERIES"):
        check_plan(MAX_DELIVERIES + 1, 1)
    with pytest.raises(ValueError, match="MAX_DELIVERIES"):
        check_plan(0, 1)
    with pytest.raises(ValueError, match="MAX_CONCURRENCY"):
        check_plan(10, MAX_CONCURRENCY + 1)
    with pytest.raises(ValueError, match="MAX_CONCURRENCY"):
        check_plan(10, 0)
    with pytest.raises(ValueError, match="MAX_DELIVERIES"):
        run_load(lambda i: exchange(), 0, 1)


# --- percentiles and their summary -------------------------------------------------------------


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, unsorted
    assert [percentile(values, q) for q in (50, 95, 99, 100)] == [50, 95, 99, 100]
    assert percentile([7.0], 50) == percentile([7.0], 99) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0  # a value, never an interpolation
    assert percentile([1.0, 2.0, 3.0, 4.0], 51) == 3.0
    assert percentile([4.0, 1.0], 0) == 1.0
    assert percentile(values, 7) == 7.0  # the rank is exact: 7 / 100 * 100 is 7.000000000000001 in floats


@pytest.mark.parametrize(("values", "q"), [([], 50), ([1.0], -1), ([1.0], 101), ([1.0], float("nan"))])
def test_percentile_refuses(values: list[float], q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile(values, q)


def test_latency_summary() -> None:
    assert Latency.of([]) is None
    latency = Latency.of([i / 1000 for i in range(120, 0, -1)])
    assert latency == Latency(count=120, p50=0.06, p95=0.114, p99=0.119, max=0.12)
    assert latency.describe() == "p50 60 ms, p95 114 ms, p99 119 ms, max 120 ms over 120 deliveries"
    assert latency.as_json() == {"count": 120, "p50_ms": 60.0, "p95_ms": 114.0, "p99_ms": 119.0, "max_ms": 120.0}
    assert Latency(1, 0.0042, 0.0123, 0.9996, 1.2).describe() == (
        "p50 4.2 ms, p95 12 ms, p99 1.00 s, max 1.20 s over 1 delivery"
    )


def test_result_lines_and_json() -> None:
    result = LoadResult(
        planned=10,
        sent=10,
        concurrency=2,
        elapsed=0.5,
        throughput=20.0,
        latency=Latency(10, 0.012, 0.03, 0.041, 0.055),
        by_class=classes(**{"2xx": 9}, no_response=1),
        errors={"read-timeout": 1},
        stopped=None,
    )
    assert result.lines() == [
        "10 of 10 deliveries in 0.50 s, at most 2 at a time: 20.0 deliveries/s",
        "latency: p50 12 ms, p95 30 ms, p99 41 ms, max 55 ms over 10 deliveries",
        "status: 2xx 9, 3xx 0, 4xx 0, 5xx 0, no response 1",
        "transport errors: read-timeout 1",
    ]
    assert json.loads(json.dumps(result.as_json()))["latency"]["p95_ms"] == 30.0


# --- what a load run sends ---------------------------------------------------------------------


def test_deliveries_are_distinct_and_carry_the_secret() -> None:
    build = deliveries("http://127.0.0.1:9/webhook", Secret(SECRET))
    requests = [build(i) for i in range(50)]
    payloads = [json.loads(r.body) for r in requests]
    assert {p["event"] for p in payloads} == {"Site Status Update"}
    assert [p["data"]["name"] for p in payloads] == [f"load-{i}.example.com" for i in range(50)]
    assert [p["data"]["host_name"] for p in payloads] == [f"load-{i}.example.com" for i in range(50)]
    assert len({p["data"]["modified"] for p in payloads}) == 50
    assert all(r.secret == Secret(SECRET) and r.secret_shell == "$WEBHOOK_SECRET" for r in requests)
    assert requests[7].description.startswith("load delivery 7: ")
    assert SECRET not in repr(requests[0])


# --- the drill: the Cloud's deliveries from one event loop ------------------------------------


def test_the_drill_sends_every_delivery_with_the_secret(serve: Serve) -> None:
    names: set[str] = set()
    agents: set[str | None] = set()

    def checks_secret(request: Request, seen: list[str]) -> Response:
        if request.headers.get("X-Webhook-Secret") != SECRET:
            return Response("Unauthorized", 401)
        names.add(json.loads(request.get_data())["data"]["name"])
        agents.add(request.headers.get("User-Agent"))
        return ok(request)

    result = drill(serve(checks_secret), Secret(SECRET), FAST, 200, 8)

    assert result.by_class == classes(**{"2xx": 200})
    assert (result.planned, result.sent, result.concurrency, result.errors, result.stopped) == (200, 200, 8, {}, None)
    assert result.latency is not None
    assert result.latency.count == 200
    assert names == {f"load-{i}.example.com" for i in range(200)}
    assert len(agents) == 1
    assert next(iter(agents), "").startswith("python-requests/")


class RawServer:
    """A loopback TCP server: reads each request whole, keeps its bytes, and answers with ``reply(conn)``."""

    def __init__(self, reply: Callable[[socket.socket], None]) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/webhook"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head = data.partition(b"\r\n\r\n")[0]
            length = int(re.search(rb"\r\nContent-Length: (\d+)", head)[1])  # type: ignore[index]
            while len(data) < len(head) + 4 + length:
                data += conn.recv(65536)
            self.requests.append(data)
            self.reply(conn)


@pytest.fixture
def raw() -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(reply: Callable[[socket.socket], None]) -> RawServer:
        servers.append(RawServer(reply))
        return servers[-1]

    yield start
    for server in servers:
        server.sock.close()


def sends(*parts: bytes, pause: float = 0.0, hold: float = 0.0) -> Callable[[socket.socket], None]:
    """Send each part, ``pause`` s apart, then keep the connection ``hold`` s before closing it."""

    def reply(conn: socket.socket) -> None:
        for k, part in enumerate(parts):
            if k and pause:
                time.sleep(pause)
            conn.sendall(part)
        time.sleep(hold)

    return reply


def test_the_drill_writes_the_bytes_transport_writes(raw: Callable[..., RawServer]) -> None:
    server = raw(sends(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"))
    exchange = transport.send(deliveries(server.url, Secret(SECRET))(0), FAST)
    assert exchange.response is not None
    drill(server.url, Secret(SECRET), FAST, 1, 1)

    (sent_head, _, sent_body), (drilled_head, _, drilled_body) = (r.partition(b"\r\n\r\n") for r in server.requests)
    assert drilled_head == sent_head  # the same length too: only the dates differ, digit for digit
    undated = [{**json.loads(body)["data"], "creation": 0, "modified": 0} for body in (sent_body, drilled_body)]
    assert undated[0] == undated[1]
    assert list(json.loads(drilled_body)) == ["event", "data"]
    assert SECRET not in repr(drill_module._Wire.of(server.url, Secret(SECRET), FAST))


_100 = b"HTTP/1.1 100 Continue\r\n\r\n"
ANSWERS = {
    "length": ([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"], "2xx", None),
    "in pieces": ([b"HTTP/1.1 201 Cre", b"ated\r\nContent-Length: 5\r\n", b"\r\nhel", b"lo"], "2xx", None),
    "chunked": (
        [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nOK\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n"],
        "2xx",
        None,
    ),
    "up to the close": ([b"HTTP/1.0 202 Accepted\r\n\r\nstored"], "2xx", None),
    "bare line feeds": ([b"HTTP/1.1 200 OK\nContent-Length: 2\n\nOK"], "2xx", None),
    "folded field": ([b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\nContent-Length: 2\r\n\r\nOK"], "2xx", None),
    "100 then 200": ([_100, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"], "2xx", None),
    "103 is final": ([b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"], "other", None),
    "600": ([b"HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n"], "other", None),
    "204": ([b"HTTP/1.1 204 No Content\r\n\r\n"], "2xx", None),
    "404": ([b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nNot Found"], "4xx", None),
    "503": ([b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"], "5xx", None),
    "over the cap": ([b"HTTP/1.1 200 OK\r\nContent-Length: 90000\r\n\r\n" + b"x" * 70000], "2xx", None),
    "cross-origin redirect": (
        [b"HTTP/1.1 307 Moved\r\nLocation: http://localhost:9/\r\nContent-Length: 0\r\n\r\n"],
        "3xx",
        None,
    ),
    "no answer": ([b""], "no response", "protocol"),
    "not http": ([b"SSH-2.0-OpenSSH_9.6\r\n"], "no response", "protocol"),
    "http/2": ([b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"], "no response", "protocol"),  # not a refusal
    "status 99": ([b"HTTP/1.1 099 Low\r\n\r\n"], "no response", "protocol"),
    "short body": ([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nOK"], "no response", "protocol"),
    "two lengths": (
        [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nOK"],
        "no response",
        "protocol",
    ),
    "bad chunk": ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"], "no response", "protocol"),
    "cut chunk": ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"], "no response", "protocol"),
    "101 fields": ([b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 101 + b"\r\n"], "no response", "protocol"),
    "long line": ([b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n"], "no response", "protocol"),
}


@pytest.mark.parametrize("name", ANSWERS)
def test_the_drill_reads_answers_as_transport_does(name: str, raw: Callable[..., RawServer]) -> None:
    parts, klass, kind = ANSWERS[name]
    server = raw(sends(*parts, pause=0.02))
    threaded = run_load(sender(server.url), 2, 1, stop_after_timeouts=9)
    drilled = drill(server.url, Secret(SECRET), FAST, 2, 1, stop_after_timeouts=9)
    assert (drilled.by_class, drilled.errors) == (threaded.by_class, threaded.errors)
    assert drilled.by_class == classes(**{klass.replace(" ", "_"): 2})
    assert drilled.errors == ({kind: 2} if kind else {})


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (sends(b"HTTP/1.1 200 OK\r\n", hold=1.0), "read-timeout"),  # a stall between two bytes
        (sends(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", *[b"x"] * 12, pause=0.1), "deadline"),  # a trickle
    ],
)
def test_the_drill_times_out_as_transport_does(
    reply: Callable[[socket.socket], None], kind: str, raw: Callable[..., RawServer]
) -> None:
    options = transport.Options(timeout=0.3)
    server = raw(reply)
    threaded = run_load(lambda i: transport.send(deliveries(server.url, Secret(SECRET))(i), options), 1, 1)
    drilled = drill(server.url, Secret(SECRET), options, 1, 1)
    assert drilled.errors == threaded.errors == {kind: 1}
    assert drilled.latency is not None
    assert 0.3 <= drilled.latency.max < 1.0


def test_a_redirect_is_followed_by_transport(serve: Serve) -> None:
    paths: list[str] = []

    def redirects(request: Request, seen: list[str]) -> Response:
        paths.append(request.path)
        if request.path == "/webhook":
            return Response("", 307, headers={"Location": "/webhook/v2"})
        return ok(request)

    result = drill(serve(redirects), Secret(SECRET), FAST, 3, 1)

    assert result.by_class == classes(**{"2xx": 3})
    # Each sent again through transport, which follows the 307 with the body, as the Cloud's requests does.
    assert paths == ["/webhook", "/webhook", "/webhook/v2"] * 3


def test_a_hung_receiver_stops_the_drill_early(serve: Serve) -> None:
    def hangs(request: Request, seen: list[str]) -> Response:
        time.sleep(2)
        return ok(request)

    result = drill(serve(hangs), Secret(SECRET), transport.Options(timeout=0.25), 200, 4)

    assert 4 <= result.sent <= 7
    assert result.errors == {"read-timeout": result.sent}
    assert result.stopped is not None
    assert "hung or unreachable: 4 deliveries in a row got no answer (read-timeout 4)" in result.stopped


def test_a_refused_connection_stops_the_drill() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/webhook"
    result = drill(url, Secret(SECRET), FAST, 1000, 2, stop_after_timeouts=5)
    assert 5 <= result.sent <= 6
    assert result.errors == {"connect": result.sent}
    assert f"the other {1000 - result.sent} were not sent" in (result.stopped or "")


def test_the_drill_keeps_its_concurrency(serve: Serve) -> None:
    lock = threading.Lock()
    in_flight = [0, 0]  # now, most

    def holds(request: Request, seen: list[str]) -> Response:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
        time.sleep(0.15)
        with lock:
            in_flight[0] -= 1
        return ok(request)

    result = drill(serve(holds), Secret(SECRET), FAST, 16, 4)

    assert result.sent == 16
    assert in_flight[1] == 4
    assert result.elapsed >= 4 * 0.15


def test_the_drill_verifies_tls_as_options_say(tmp_path: Path) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", ssl_context=context, threaded=True)
    server.expect_request("/webhook").respond_with_handler(lambda request: ok(request))
    server.start()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    try:
        url = server.url_for("/webhook")
        assert url.startswith("https://")
        trusted = drill(url, Secret(SECRET), transport.Options(timeout=2, verify=str(bundle)), 20, 4)
        unverified = drill(url, Secret(SECRET), transport.Options(timeout=2, verify=False), 5, 1)
        public = drill(url, Secret(SECRET), transport.Options(timeout=2), 20, 2)
    finally:
        server.stop()
    assert trusted.by_class == classes(**{"2xx": 20})
    assert unverified.by_class == classes(**{"2xx": 5})
    assert set(public.errors) == {"tls"}  # not a CA the Cloud trusts
    assert 3 <= public.sent <= 4  # max(3, 2) in a row stop it, and one more may be in flight
    assert public.stopped is not None


def test_a_proxy_from_the_environment_takes_the_threaded_path(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    url = serve(lambda request, seen: ok(request))
    with socket.create_server(("127.0.0.1", 0)) as closed:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed.getsockname()[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    ignored = drill(url, Secret(SECRET), FAST, 10, 2)
    proxied = drill(url, Secret(SECRET), replace(FAST, use_env_proxy=True), 10, 2, stop_after_timeouts=3)

    assert ignored.by_class == classes(**{"2xx": 10})
    assert set(proxied.errors) == {"connect"}  # through the (closed) proxy, as transport.send goes
    assert 3 <= proxied.sent <= 4


def test_progress_is_reported_in_the_calling_thread_and_once_at_the_end(serve: Serve) -> None:
    def slowish(request: Request, seen: list[str]) -> Response:
        time.sleep(0.02)
        return ok(request)

    reports: list[tuple[Progress, threading.Thread, float]] = []
    result = drill(
        serve(slowish),
        Secret(SECRET),
        FAST,
        60,
        2,
        on_progress=lambda p: reports.append((p, threading.current_thread(), time.monotonic())),
    )

    assert {thread for _, thread, _ in reports} == {threading.current_thread()}
    final = reports[-1][0]
    assert (final.planned, final.sent, final.errors, final.by_class["2xx"]) == (60, 60, 0, 60)
    assert final.elapsed == pytest.approx(result.elapsed, abs=0.01)
    assert len(reports) >= 3  # ~0.6 s of load
    gaps = [b - a for (_, _, a), (_, _, b) in itertools.pairwise(reports[:-1])]
    assert all(gap >= 0.09 for gap in gaps)  # at most ~10 a second
    assert [p.sent for p, _, _ in reports] == sorted(p.sent for p, _, _ in reports)


def test_an_exception_in_on_progress_stops_the_drill_and_propagates(serve: Serve) -> None:
    def hangs(request: Request, seen: list[str]) -> Response:
        time.sleep(1)
        return ok(request)

    def broken(progress: Progress) -> None:
        raise ValueError("the progress line broke")

    started = time.monotonic()
    with pytest.raises(ValueError, match="the progress line broke"):
        drill(serve(hangs), Secret(SECRET), transport.Options(timeout=5), 100, 4, on_progress=broken)
    assert time.monotonic() - started < 0.5
    wait_for_no_thread("webhook-drill")


def test_keyboard_interrupt_stops_the_drill_at_once(serve: Serve) -> None:
    def hangs(request: Request, seen: list[str]) -> Response:
        time.sleep(1)
        return ok(request)

    url = serve(hangs)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.2, _thread.interrupt_main)
    started = time.monotonic()
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            drill(url, Secret(SECRET), transport.Options(timeout=5), 100, 4)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - started < 0.7
    wait_for_no_thread("webhook-drill")


def test_a_harness_bug_in_the_drill_is_raised(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    request = drill_module._Wire.request

    def buggy(self: drill_module._Wire, i: int) -> bytes:
        built.append(i)
        if i == 5:
            raise RuntimeError("harness bug")
        return request(self, i)

    monkeypatch.setattr(drill_module._Wire, "request", buggy)
    with pytest.raises(RuntimeError, match="harness bug"):
        drill(serve(lambda request, seen: ok(request)), Secret(SECRET), FAST, 1000, 4)
    assert len(built) < 20


def wait_for_no_thread(name: str) -> None:
    deadline = time.monotonic() + 2
    while any(t.name == name for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [t.name for t in threading.enumerate() if t.name == name]


def test_progress_line() -> None:
    progress = Progress(5000, 1234, 1, classes(**{"2xx": 1200, "5xx": 33}, no_response=1), 1.52)
    assert progress.rate == pytest.approx(1234 / 1.52)
    assert progress.line() == "load: 1,234 of 5,000 deliveries, 812/s, 1 error, 2xx 1,200, 5xx 33"
    assert Progress(10, 0, 0, classes(), 0.0).line() == "load: 0 of 10 deliveries, 0/s, 0 errors"


def test_the_drill_events_are_fresh_s(monkeypatch: pytest.MonkeyPatch) -> None:
    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Frozen:
            return cls(2026, 3, 1, 10, 9, 34, 381793)

    monkeypatch.setattr(dt, "datetime", Frozen)
    events = load._Events()
    for i in (0, 7, 9999):
        site = f"load-{i}.example.com"
        data = fresh(EVENT, offset=i, name=site, host_name=site)
        assert events.data(i) == data
        assert list(events.data(i)) == list(data)
        assert events.body(i) == encode(EVENT, data)  # the drill's bodies: byte for byte


def test_a_name_that_does_not_resolve_is_dns_as_for_transport() -> None:
    url = "http://no-such-host.invalid/webhook"  # .invalid never resolves (RFC 6761)
    threaded = run_load(lambda i: transport.send(deliveries(url, Secret(SECRET))(i), FAST), 3, 1)
    drilled = drill(url, Secret(SECRET), FAST, 3, 1)
    assert drilled.errors == threaded.errors == {"dns": 3}
