"""TLS: verified by default like the Cloud does; a private CA is trusted only when named."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from conftest import SuiteRun
from gallery import SECRET, correct, front_door
from harness.config.exitcodes import ExitCode


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def https_url(ca: trustme.CA) -> Iterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", ssl_context=context, threaded=True)
    server.start()

    def respond(request: Request) -> Response:
        return front_door(request) or correct(request, [])

    server.expect_request("/webhook").respond_with_handler(respond)
    yield server.url_for("/webhook")
    server.clear()
    server.stop()


def test_certificate_from_an_unknown_ca_is_a_setup_error_with_a_hint(
    https_url: str, run_suite: Callable[..., SuiteRun]
) -> None:
    assert https_url.startswith("https://")
    run = run_suite("--target-url", https_url, secret=SECRET)
    assert run.ret == ExitCode.TARGET_UNREACHABLE
    assert "tls: certificate verify failed" in run.output
    assert "--webhook-ca-bundle" in run.output


def test_ca_bundle_reaches_a_private_ca_but_tls_1_fails(
    https_url: str, ca: trustme.CA, tmp_path: Path, run_suite: Callable[..., SuiteRun]
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    run = run_suite("--target-url", https_url, "--webhook-ca-bundle", str(bundle), "--webhook-strict", secret=SECRET)
    # Trusted by this run, but not by the Cloud, which verifies against the public CAs: only TLS-1 says so.
    assert run.harness_errors() == []
    assert run.failed_requirements() == {"TLS-1"}
    assert "verifies only with --webhook-ca-bundle" in run.output


def test_plain_http_to_a_tls_port_is_a_setup_error(https_url: str, run_suite: Callable[..., SuiteRun]) -> None:
    run = run_suite("--target-url", https_url.replace("https://", "http://"), secret=SECRET)
    assert run.ret == ExitCode.TARGET_UNREACHABLE
    assert "is the URL's scheme right (https:// for a TLS port" in run.output
    assert "FAILED" not in run.output


def test_certificate_that_does_not_verify_fails_only_tls_1_when_insecure(
    https_url: str, tmp_path: Path, run_suite: Callable[..., SuiteRun]
) -> None:
    report = tmp_path / "report.json"
    run = run_suite(
        "--target-url", https_url, "--webhook-insecure", "--webhook-strict", "--webhook-report-json", str(report),
        secret=SECRET,
    )  # fmt: skip
    assert run.harness_errors() == []
    assert run.failed_requirements() == {"TLS-1"}
    assert run.ret == ExitCode.REQUIREMENT_FAILED
    assert "certificate verify failed" in run.output
    # The banner, in the header and again at the end, and in the report.
    assert run.output.count("TLS VERIFICATION IS OFF (--webhook-insecure)") == 2
    assert json.loads(report.read_text())["insecure"] is True


def test_without_insecure_no_request_skips_verification(
    https_url: str, ca: trustme.CA, tmp_path: Path, run_suite: Callable[..., SuiteRun]
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    report = tmp_path / "report.json"
    run = run_suite(
        "--target-url", https_url, "--webhook-ca-bundle", str(bundle), "--webhook-report-json", str(report),
        secret=SECRET,
    )  # fmt: skip
    assert "TLS VERIFICATION IS OFF" not in run.output
    data = json.loads(report.read_text())
    assert data["insecure"] is False
    assert [r["outcome"] for r in data["records"] if r["requirement"] == "TLS-1"] == ["failed"]  # a private CA
