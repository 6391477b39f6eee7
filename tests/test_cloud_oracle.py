"""The oracle itself: the Cloud's delivery call (requests 2.31.0) against loopback servers."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from cloud_oracle import VALIDATE, CloudOracle, SendResult, session_oracle

SECRET = "oracle-secret-0123456789"
EVENT = {"event": "Site Status Update", "data": {"doctype": "Site", "name": "acme.frappe.cloud", "status": "Active"}}
TIMEOUT = 1.0


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    body: bytes
    secret: str | None
    content_type: str | None


class Loopback:
    """A threaded loopback server that records every request and answers with ``handler``."""

    def __init__(self) -> None:
        self.server = HTTPServer(host="127.0.0.1", threaded=True)
        self.seen: list[Seen] = []

    def url(self, path: str = "/webhook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server.port}{path}"

    def answer(self, handler: Callable[[Request], Response], path: str = "/webhook") -> str:
        def record(request: Request) -> Response:
            self.seen.append(
                Seen(
                    request.method,
                    request.path,
                    request.get_data(),
                    request.headers.get("X-Webhook-Secret"),
                    request.headers.get("Content-Type"),
                )
            )
            return handler(request)

        self.server.expect_request(path).respond_with_handler(record)
        return self.url(path)


@pytest.fixture(scope="session")
def oracle(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> CloudOracle:
    # What the cloud_oracle fixture gives; a name of its own here, so that conftest.py may import that one.
    return session_oracle(request.config, tmp_path_factory)


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    yield from _serve()


@pytest.fixture
def other_loopback() -> Iterator[Loopback]:
    yield from _serve()


def _serve() -> Iterator[Loopback]:
    served = Loopback()
    served.server.start()
    yield served
    served.server.clear()
    if served.server.is_running():
        served.server.stop()


def one(oracle: CloudOracle, url: str, payload: object = EVENT, timeout: float = TIMEOUT) -> SendResult:
    [[result]] = oracle.run(url, SECRET, [[payload]], timeout=timeout)
    return result


def test_the_venv_sends_with_the_requests_the_cloud_pins(oracle: CloudOracle) -> None:
    assert oracle.versions()["requests"] == "2.31.0"


@pytest.mark.parametrize("status", [200, 204])
def test_a_2xx_is_ok_and_carries_the_senders_bytes(oracle: CloudOracle, loopback: Loopback, status: int) -> None:
    url = loopback.answer(lambda _: Response("OK" if status == 200 else "", status=status))
    assert one(oracle, url) == SendResult(status, True, None, None)
    [seen] = loopback.seen
    assert (seen.method, seen.secret, seen.content_type) == ("POST", SECRET, "application/json")
    assert seen.body == json.dumps(EVENT).encode()


def test_a_500_is_not_ok(oracle: CloudOracle, loopback: Loopback) -> None:
    url = loopback.answer(lambda _: Response("boom", status=500))
    assert one(oracle, url) == SendResult(500, False, "status 500 is not 2xx", None)


def test_a_same_origin_307_is_followed_with_the_body_and_the_secret(oracle: CloudOracle, loopback: Loopback) -> None:
    loopback.answer(lambda _: Response("", status=200), path="/moved")
    url = loopback.answer(lambda _: Response("", status=307, headers={"Location": "/moved"}))
    result = one(oracle, url)
    assert (result.status, result.ok, result.error) == (200, True, None)
    assert result.note == "followed redirects: 307 /moved"
    first, second = loopback.seen
    assert (second.method, second.path, second.secret) == ("POST", "/moved", SECRET)
    assert second.body == first.body == json.dumps(EVENT).encode()


def test_a_302_becomes_a_get_without_a_body_and_still_counts_as_delivered(
    oracle: CloudOracle, loopback: Loopback
) -> None:
    loopback.answer(lambda _: Response("", status=200), path="/moved")
    url = loopback.answer(lambda _: Response("", status=302, headers={"Location": "/moved"}))
    result = one(oracle, url)
    assert (result.status, result.ok) == (200, True)
    _, second = loopback.seen
    # The receiver never got the event, yet the Cloud records it as Sent. The secret still goes along.
    assert second == Seen("GET", "/moved", b"", SECRET, None)


def test_a_307_to_another_origin_carries_the_secret_there(
    oracle: CloudOracle, loopback: Loopback, other_loopback: Loopback
) -> None:
    other_loopback.answer(lambda _: Response("", status=200))
    elsewhere = other_loopback.url(host="localhost")  # another host and port: another origin
    url = loopback.answer(lambda _: Response("", status=307, headers={"Location": elsewhere}))
    result = one(oracle, url)
    assert (result.status, result.ok) == (200, True)
    assert result.note is not None
    assert f"X-Webhook-Secret was sent to another origin: {elsewhere}" in result.note
    [leaked] = other_loopback.seen
    assert (leaked.method, leaked.secret, leaked.body) == ("POST", SECRET, json.dumps(EVENT).encode())


def test_a_gzip_label_on_a_plain_body_is_a_failure(oracle: CloudOracle, loopback: Loopback) -> None:
    url = loopback.answer(lambda _: Response("OK", status=200, headers={"Content-Encoding": "gzip"}))
    result = one(oracle, url)
    assert (result.status, result.ok) == (0, False)  # ContentDecodingError, recorded by str(e)
    assert result.error is not None
    assert "content-encoding: gzip, but failed to decode it" in result.error


def test_a_real_gzip_body_is_ok(oracle: CloudOracle, loopback: Loopback) -> None:
    url = loopback.answer(lambda _: Response(gzip.compress(b"OK"), status=200, headers={"Content-Encoding": "gzip"}))
    assert one(oracle, url) == SendResult(200, True, None, None)


def test_a_body_the_attempt_cannot_hold_is_not_recorded(oracle: CloudOracle, loopback: Loopback) -> None:
    # 33,000 characters of two bytes each: the column's limit is 65,535 bytes, not characters.
    url = loopback.answer(lambda _: Response("é" * 33_000, status=200, content_type="text/plain; charset=utf-8"))
    result = one(oracle, url)
    assert (result.status, result.ok) == (200, False)
    assert result.error == "not recorded: response_body is 66000 bytes, its text column holds 65535"
    assert result.note is not None
    assert "log stays Queued" in result.note


def test_a_body_that_just_fits_is_recorded(oracle: CloudOracle, loopback: Loopback) -> None:
    url = loopback.answer(lambda _: Response("a" * 65_535, status=200, content_type="text/plain; charset=utf-8"))
    assert one(oracle, url) == SendResult(200, True, None, None)


def test_an_endpoint_longer_than_the_attempts_field_is_not_recorded(oracle: CloudOracle, loopback: Loopback) -> None:
    url = loopback.answer(lambda _: Response("", status=200), path="/" + "w" * 120)
    assert len(url) > 140
    result = one(oracle, url)
    assert (result.status, result.ok) == (200, False)
    assert result.error == f"not recorded: endpoint is {len(url)} chars, its Data field holds 140"


def test_validation_stores_nothing_so_a_long_body_does_not_matter(oracle: CloudOracle, loopback: Loopback) -> None:
    url = loopback.answer(lambda _: Response("a" * 70_000, status=200))
    assert oracle.activation(url, SECRET, timeout=TIMEOUT)
    assert [s.body for s in loopback.seen] == [json.dumps(VALIDATE).encode()] * 2


def test_activation_stops_at_a_failed_validation(oracle: CloudOracle, loopback: Loopback) -> None:
    url = loopback.answer(lambda _: Response("no", status=401))
    assert not oracle.activation(url, SECRET, timeout=TIMEOUT)
    assert len(loopback.seen) == 1  # the dashboard offers Activate only after a 2xx Validate


def test_deliveries_refuse_the_validation_payload(oracle: CloudOracle) -> None:
    with pytest.raises(ValueError, match="activation"):
        oracle.deliveries("http://127.0.0.1:9/", SECRET, [[VALIDATE]])


def test_an_answer_that_never_ends_never_completes(oracle: CloudOracle, loopback: Loopback) -> None:
    def forever() -> Iterator[bytes]:
        while True:
            yield b"x"
            time.sleep(0.05)

    url = loopback.answer(lambda _: Response(forever(), status=200))
    began = time.monotonic()
    result = one(oracle, url, timeout=0.5)
    assert time.monotonic() - began < 20
    assert (result.status, result.ok) == (0, False)
    assert result.error == "never completes: no result within 6.5 s"


def test_a_slow_answer_is_the_senders_read_timeout(oracle: CloudOracle, loopback: Loopback) -> None:
    def slow(_: Request) -> Response:
        time.sleep(1.5)
        return Response("late", status=200)

    url = loopback.answer(slow)
    result = one(oracle, url, timeout=0.5)
    assert result == SendResult(0, False, "Request Timeout. Please check if the webhook is reachable.", None)


def test_a_stall_inside_the_body_reads_as_a_connection_failure(oracle: CloudOracle, loopback: Loopback) -> None:
    def stalls() -> Iterator[bytes]:
        yield b"par"
        time.sleep(1.5)
        yield b"tial"

    url = loopback.answer(lambda _: Response(stalls(), status=200))
    # requests turns a read timeout while reading the body into ConnectionError: the sender's first clause.
    assert one(oracle, url, timeout=0.5) == SendResult(0, False, "Failed to connect to the webhook endpoint", None)


def test_a_refused_connection(oracle: CloudOracle, loopback: Loopback) -> None:
    url = loopback.url()
    loopback.server.stop()
    assert one(oracle, url) == SendResult(0, False, "Failed to connect to the webhook endpoint", None)


def test_the_payloads_of_a_step_are_sent_at_once_and_the_steps_in_order(
    oracle: CloudOracle, loopback: Loopback
) -> None:
    together = threading.Barrier(3, timeout=5)

    def meet(request: Request) -> Response:
        if json.loads(request.get_data())["data"]["name"] != "last":
            together.wait()  # breaks, and answers 500, unless all three are in flight at once
        return Response("", status=200)

    url = loopback.answer(meet)
    concurrent = [{"event": "Bench Status Update", "data": {"name": f"b{i}"}} for i in range(3)]
    last = {"event": "Bench Status Update", "data": {"name": "last"}}
    results = oracle.deliveries(url, SECRET, [concurrent, [last]], timeout=TIMEOUT)
    assert [[r.ok for r in step] for step in results] == [[True] * 3, [True]]
    assert json.loads(loopback.seen[-1].body) == last
