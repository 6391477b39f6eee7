"""The secret and plain http: refused to another machine unless allowed, noted when allowed (TLS-2).

A target "on another machine" is reached through a forward proxy on loopback (the gallery's server
answers absolute-form requests too), so these tests never leave this machine.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from conftest import SuiteRun
from gallery import SECRET, Handler, correct, ok
from harness.config.exitcodes import ExitCode

REMOTE = "http://receiver.example/webhook"


def configured_without_secret(request: Request, seen: list[str]) -> Response:
    """A correct receiver configured without a secret: it accepts every delivery."""
    return ok()


@pytest.fixture
def via_proxy(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    serve: Callable[[Handler], str],
    loopback_server: HTTPServer,
) -> str:
    """Serve a correct receiver, and route http:// through it as a proxy; returns the proxy's URL."""
    serve(getattr(request, "param", correct))
    proxy = loopback_server.url_for("/").rstrip("/")
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("http_proxy", proxy)
    return proxy


def test_secret_is_not_sent_in_clear_to_another_machine_without_consent(
    via_proxy: str, loopback_server: HTTPServer, run_suite: Callable[..., SuiteRun]
) -> None:
    run = run_suite("--target-url", REMOTE, "--webhook-use-env-proxy", secret=SECRET)
    assert run.ret == ExitCode.USAGE_ERROR
    assert "the secret would cross the network in clear" in run.output
    assert "--webhook-allow-insecure-http" in run.output
    assert loopback_server.log == []  # refused before anything was sent


def test_http_target_on_another_machine_is_noted(
    via_proxy: str, loopback_server: HTTPServer, run_suite: Callable[..., SuiteRun]
) -> None:
    run = run_suite(
        "--target-url", REMOTE, "--webhook-use-env-proxy", "--webhook-allow-insecure-http", "--webhook-strict",
        secret=SECRET,
    )  # fmt: skip
    assert run.harness_errors() == []
    assert run.failed_requirements() == set()
    assert run.noted_requirements() == {"TLS-2", "SRV-1"}
    assert run.ret == ExitCode.OK  # INFO never fails a run, strict or not
    assert "warning: an http target on another machine" in run.output
    assert "the Cloud accepts http endpoints, but the secret and every payload would cross the network" in run.output
    assert all(request.headers.get("Host") == "receiver.example" for request, _ in loopback_server.log)


@pytest.mark.parametrize("via_proxy", [configured_without_secret], indirect=True)
def test_no_secret_no_refusal(via_proxy: str, run_suite: Callable[..., SuiteRun]) -> None:
    # Nothing secret to protect: the run goes ahead, and TLS-2 still notes the plain http.
    run = run_suite("--target-url", REMOTE, "--webhook-use-env-proxy")
    assert run.ret == ExitCode.OK
    assert "TLS-2" in run.noted_requirements()
