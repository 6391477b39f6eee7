"""The opt-in load run: bounded concurrency, counts by class, the early stop on a hung receiver, percentiles."""

from __future__ import annotations

import _thread
import json
import signal
import threading
import time
from collections.abc import Callable

import pytest
from werkzeug import Request, Response

from gallery import Handler
from harness.config.secret import Secret
from harness.sending.load import (
    CLASSES,
    MAX_CONCURRENCY,
    MAX_DELIVERIES,
    Latency,
    LoadResult,
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
