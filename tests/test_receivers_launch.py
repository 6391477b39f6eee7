"""The stand-alone receivers of tests/receivers, each started by the launcher in its own process: each one
answers the handshake, refuses a wrong secret, and gets wrong exactly the thing its docstring says."""

from __future__ import annotations

import datetime as dt
import gzip
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from harness.payloads.schemas import sample_data
from receivers.launch import RECEIVERS, launched

SECRET = "receiver-secret-3b7e91c04d"
VALIDATE = "Webhook Validate"


def post(url: str, event: str = VALIDATE, data: dict[str, Any] | None = None, **options: Any) -> requests.Response:
    """A delivery as the Cloud makes it: ``requests.post(json=...)`` with the secret header."""
    options.setdefault("headers", {"X-Webhook-Secret": SECRET})
    return requests.post(url, json={"event": event, "data": {} if data is None else data}, timeout=5, **options)


def status(url: str, secret: str = SECRET, body: bytes | None = None, method: str = "POST", **options: Any) -> int:
    """The status of a request (a handshake unless ``body`` says otherwise), without reading or decoding the body."""
    headers = {"X-Webhook-Secret": secret, "Content-Type": "application/json", **options.pop("headers", {})}
    body = b'{"event": "Webhook Validate", "data": {}}' if body is None else body
    with requests.request(method, url, data=body, headers=headers, timeout=5, stream=True, **options) as response:
        return response.status_code


def stamped(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")


def fresh(event: str, age: dt.timedelta = dt.timedelta(0), **changes: Any) -> dict[str, Any]:
    """The event's sample (examples[0]) with ``modified`` set to ``age`` ago."""
    return {**sample_data(event), "modified": stamped(dt.datetime.now() - age), **changes}


def refused(url: str) -> bool:
    port = urllib.parse.urlsplit(url).port
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


# The bug each receiver has, or the same payloads handled right by its twin.


def strict_models(url: str) -> None:
    for event in ("Site Status Update", "Site Plan Change", "Bench Status Update", "Bench Deploy Status Update"):
        assert post(url, event, fresh(event)).status_code == 200, event
    tagged = post(url, "Site Status Update", fresh("Site Status Update", tags=["ResourceTag(a1b2c3d4e5)"]))
    assert tagged.status_code == 422
    assert tagged.json()["detail"][0]["loc"] == ["tags", 0]
    assert post(url, "Site Status Update", fresh("Site Status Update", trial_end_date="2026-07-02")).status_code == 422
    queued = fresh("Bench Deploy Status Update", status="Pending", build_start=None)
    assert post(url, "Bench Deploy Status Update", queued).status_code == 422


def tolerant_models(url: str) -> None:
    tagged = fresh("Site Status Update", tags=["ResourceTag(a1b2c3d4e5)"], trial_end_date="2026-07-02")
    assert post(url, "Site Status Update", tagged).text == "OK"
    for event in ("Site Plan Change", "Bench Status Update", "Bench Deploy Status Update"):
        assert post(url, event, fresh(event)).status_code == 200, event


def bad_gzip(url: str) -> None:
    with post(url, stream=True) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert r.raw.read(decode_content=False) == b"OK"
    with post(url, headers={}, stream=True) as r:  # a 401 too
        assert (r.status_code, r.headers["Content-Encoding"]) == (401, "gzip")
        assert r.raw.read(decode_content=False) == b"Unauthorized"


def real_gzip(url: str) -> None:
    answer = post(url)
    assert (answer.status_code, answer.text, answer.headers["Content-Encoding"]) == (200, "OK", "gzip")
    with post(url, stream=True) as r:
        assert gzip.decompress(r.raw.read(decode_content=False)) == b"OK"


def endless_body(url: str) -> None:
    event = "Bench Deploy Status Update"
    assert post(url, event, fresh(event)).text == "OK"  # a finished build: answered OK
    with post(url, event, fresh(event, status="Running"), stream=True) as answer:
        assert answer.status_code == 200
        assert answer.headers.get("Content-Length") is None
        chunks, read = answer.iter_content(64 * 1024), 0
        while read <= 1024 * 1024:
            read += len(next(chunks))
        assert next(chunks, b""), "the body ended after 1 MiB"
    # Having seen the disconnect, the receiver no longer streams: it answers at once.
    started = time.monotonic()
    assert post(url).text == "OK"
    assert time.monotonic() - started < 1


def append_slash(url: str) -> None:
    moved = post(url, allow_redirects=False)
    assert (moved.status_code, moved.headers["Location"]) == (301, "/webhook/")
    followed = post(url)
    assert [r.status_code for r in followed.history] == [301]
    assert (followed.request.method, followed.status_code) == ("GET", 405)


def same_origin_307(url: str) -> None:
    moved = post(url, allow_redirects=False)
    assert (moved.status_code, moved.headers["Location"]) == (307, "/webhook/")
    followed = post(url, "Site Status Update", fresh("Site Status Update"))
    assert [r.status_code for r in followed.history] == [307]
    assert (followed.request.method, followed.status_code, followed.text) == ("POST", 200, "OK")
    assert status(url, "wrong") == 401  # the secret is checked after the redirect


def _old_plan_change() -> dict[str, Any]:
    # A trial site's "Initial Plan": just stamped, but its timestamp is the site's creation, days ago.
    return fresh("Site Plan Change", timestamp=stamped(dt.datetime.now() - dt.timedelta(days=3)))


def freshness_on_all_dates(url: str) -> None:
    assert post(url, "Site Status Update", fresh("Site Status Update")).status_code == 200
    refusal = post(url, "Site Plan Change", _old_plan_change())
    assert (refusal.status_code, refusal.text) == (401, "stale event")


def freshness_window(url: str) -> None:
    assert post(url, "Site Plan Change", _old_plan_change()).status_code == 200
    assert post(url, "Site Status Update", fresh("Site Status Update", age=dt.timedelta(hours=23))).status_code == 200
    old = post(url, "Site Status Update", fresh("Site Status Update", age=dt.timedelta(hours=25)))
    assert (old.status_code, old.text) == (401, "stale event")
    undated = {k: v for k, v in sample_data("Site Status Update").items() if k != "modified"}
    assert post(url, "Site Status Update", undated).status_code == 200
    # A bench's agent-job update keeps the modified from before the job: never judged by its age.
    assert post(url, "Bench Status Update", fresh("Bench Status Update", age=dt.timedelta(days=40))).status_code == 200


def _newer_then_older(url: str) -> tuple[int, int]:
    newer = post(url, "Site Status Update", fresh("Site Status Update"))
    older = post(url, "Site Status Update", fresh("Site Status Update", age=dt.timedelta(minutes=1)))
    return newer.status_code, older.status_code


def rejects_out_of_order(url: str) -> None:
    assert _newer_then_older(url) == (200, 409)


def orders_later(url: str) -> None:
    assert _newer_then_older(url) == (200, 200)


def dies_on_null(url: str) -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        status(url, body=b"null")
    deadline = time.monotonic() + 2
    while not refused(url):
        assert time.monotonic() < deadline, "the receiver still accepts connections after the null body"
        time.sleep(0.05)


def checks_shape(url: str) -> None:
    for body in (b"null", b"[]", b'"x"', b'{"event": "Webhook Validate"}', b'{"event": 1, "data": {}}'):
        assert status(url, body=body) == 400, body
    assert post(url).text == "OK"


BEHAVIOUR: dict[str, Callable[[str], None]] = {
    "fastapi_strict_models": strict_models,
    "fastapi_tolerant_models": tolerant_models,
    "starlette_bad_gzip": bad_gzip,
    "starlette_gzip": real_gzip,
    "starlette_endless_body": endless_body,
    "django_append_slash": append_slash,
    "django_same_origin_307": same_origin_307,
    "aiohttp_freshness_on_all_dates": freshness_on_all_dates,
    "aiohttp_freshness_window": freshness_window,
    "aiohttp_rejects_out_of_order": rejects_out_of_order,
    "aiohttp_orders_later": orders_later,
    "node_dies_on_null": dies_on_null,
    "node_checks_shape": checks_shape,
}


def test_every_receiver_is_tested() -> None:
    assert set(BEHAVIOUR) == set(RECEIVERS)


@pytest.fixture(params=sorted(RECEIVERS))
def receiver(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    with launched(request.param, SECRET) as url:
        yield request.param, url


def test_receiver(receiver: tuple[str, str]) -> None:
    name, url = receiver
    # Where the view itself is: Django's projects put it behind a redirect.
    view = url + "/" if name.startswith("django_") else url
    if name == "starlette_bad_gzip":
        with pytest.raises(requests.exceptions.ContentDecodingError):
            post(url)
    elif name == "django_append_slash":
        assert post(url, allow_redirects=False).status_code == 301
        assert post(url).status_code == 405
    else:
        answer = post(url)
        assert (answer.status_code, answer.text) == (200, "OK")
        assert answer.headers["Content-Type"].startswith("text/plain")
    assert status(view, body=b'{"event": "Conformance Probe", "data": {"x": 1}}') == 200  # an unknown event
    assert status(view, "wrong") == 401
    assert status(view, SECRET[:-1]) == 401
    assert status(view, "") == 401
    assert status(view, SECRET, headers={"Content-Type": "text/plain"}) == 415
    assert status(view, SECRET, body=b"[" * 70_000) == 413
    assert status(view, SECRET, body=b"[]") == 400
    assert status(view, method="GET") == 405
    BEHAVIOUR[name](url)


@pytest.mark.parametrize("name", ["fastapi_tolerant_models", "node_checks_shape"])
def test_no_secret_configured_accepts_the_empty_header(name: str) -> None:
    with launched(name, "") as url:
        assert status(url, "") == 200
        assert status(url, "anything") == 401
