"""Failure explanations: one template, a doctor's hint per cause, and a curl reproduction that works."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

import tools
from conftest import SuiteRun
from gallery import GALLERY, SECRET, Broken, Handler, accepts_prefix, unauthorized
from harness.config.secret import Secret
from harness.judging import doctor
from harness.output.explain import LEAK_FILE
from harness.payloads.deliveries import SECRET_VARIANTS, SecretVariant
from harness.wire.transport import Exchange, Hop, TransportError
from harness.wire.transport import Request as HarnessRequest
from harness.wire.transport import Response as HarnessResponse

RunSuite = Callable[..., SuiteRun]
Serve = Callable[[Handler], str]


def test_failure_prints_the_template(serve: Serve, run_suite: RunSuite) -> None:
    run = run_suite("--target-url", serve(accepts_prefix), "-k", "AUTH-1-prefix", secret=SECRET)
    run.result.stdout.fnmatch_lines(
        [
            "AUTH-1 (MUST) With a secret configured, Webhook Validate with a missing or wrong X-Webhook-Secret*",
            "Sent:     POST http://127.0.0.1:*/webhook: 'Webhook Validate' with the secret without its last character",
            "Expected: 401 Unauthorized",
            "Actual:   200 OK",
            "Response: 'OK' (2 bytes, 'text/plain')",
            "Headers:  Server: *",
            "Time:     * ms",
            "Hint:     The receiver accepted a wrong secret: *",
            "Fix:      Check X-Webhook-Secret on every request*",
            "Reproduce with:",
            '  : "${WEBHOOK_SECRET:?set WEBHOOK_SECRET to the secret of the webhook}" && '
            "curl -sS -i -g --http1.1 --connect-timeout 5 --max-time 10 \\",
            "    http://127.0.0.1:*/webhook \\",
            "    -H 'Content-Type: application/json' \\",
            '    -H "X-Webhook-Secret: ${WEBHOOK_SECRET%?}" \\',
            '    --data-binary \'{"event": "Webhook Validate", "data": {}}\'',
        ]
    )
    assert "Traceback" not in run.output
    assert "harness/" not in run.output  # no harness frames


SECRETS_TO_REBUILD = [SECRET, "ends-with-a", "MiXeD-case-123_~.", "a1", "\u00e9t\u00e9-latin-1"]


@pytest.mark.parametrize("variant", [v for v in SECRET_VARIANTS if v.shell], ids=lambda v: v.name)
@pytest.mark.parametrize("secret", SECRETS_TO_REBUILD)
def test_variant_shell_expression_rebuilds_the_sent_value(variant: SecretVariant, secret: str) -> None:
    if variant.unusable(Secret(secret)):
        pytest.skip("variant unusable for this secret")
    assert variant.shell is not None
    shell = subprocess.run(
        ["bash", "-c", f'printf %s "{variant.shell}"'],
        env={"WEBHOOK_SECRET": secret, "LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=10,
        check=True,
    )
    assert shell.stdout.decode("utf-8") == variant.make(secret)


#: Where the reproductions find curl: the system's, as a user's shell would.
CURL_PATH = "/usr/bin:/bin"

#: Requirements judged on the URL alone: their failures have no exchange to reproduce.
JUDGED_WITHOUT_AN_EXCHANGE = frozenset({"URL-1"})


def reproductions(report: dict[str, Any]) -> list[tuple[str, int | None]]:
    """(curl command, status the harness saw, None for no answer) for every failed check with an exchange."""
    return [
        (r["exchange"]["curl"], r["exchange"]["status"])
        for r in report["records"]
        if r["outcome"] in ("failed", "should-failed") and r["exchange"]
    ]


@pytest.mark.parametrize("broken", GALLERY, ids=[b.name for b in GALLERY])
def test_printed_reproduction_gets_the_same_status(
    broken: Broken, serve: Serve, run_suite: RunSuite, pytester: pytest.Pytester
) -> None:
    run = run_suite(
        "--target-url", serve(broken.handler), "--webhook-report-json=r.json", *broken.args, secret=broken.secret
    )
    report = json.loads(Path(pytester.path / "r.json").read_text())
    commands = reproductions(report)
    if broken.fails <= JUDGED_WITHOUT_AN_EXCHANGE:
        assert commands == []
        return
    assert commands, "a failing receiver must leave reproductions"
    tools.require("curl", path=CURL_PATH)
    for command, status in commands:
        assert command in run.output
        out = subprocess.run(
            ["bash", "-c", command],
            env={"WEBHOOK_SECRET": broken.secret or "", "PATH": CURL_PATH},
            cwd=pytester.path,
            capture_output=True,
            timeout=30,
            check=False,
        )
        if status is None:  # no answer within the harness's timeouts: curl times out with them
            assert out.returncode == 28, (command, out.stderr)
            continue
        if "for i in $(seq" in command:  # a failure under concurrency: a burst, of which some must fail so
            assert f"HTTP/1.1 {status}".encode() in out.stdout, (command, out.stdout[:300])
            continue
        if LEAK_FILE in command:  # the answer holds the secret: only its status is printed
            assert out.stdout.decode().strip() == str(status)
            assert (broken.secret or "")[:12] not in out.stdout.decode()
            assert (pytester.path / LEAK_FILE).read_bytes().startswith(b"HTTP/1.1")
            continue
        # The last status line: with -L (same-origin redirects the harness followed too) curl prints every hop.
        last = re.findall(rb"^HTTP/1\.[01] (\d{3})", out.stdout, re.MULTILINE)[-1].decode()
        assert last == str(status), (command, out.stdout[:300], out.stderr)


def test_reproduction_refuses_to_run_without_the_secret(
    serve: Serve, run_suite: RunSuite, pytester: pytest.Pytester
) -> None:
    run_suite("--target-url", serve(accepts_prefix), "--webhook-report-json=r.json", secret=SECRET)
    command = reproductions(json.loads((pytester.path / "r.json").read_text()))[0][0]
    out = subprocess.run(["bash", "-c", command], env={"PATH": CURL_PATH}, capture_output=True, timeout=30, check=False)
    assert out.returncode != 0
    assert b"set WEBHOOK_SECRET to the secret of the webhook" in out.stderr


RIGHT = Secret("s3cret-value")


def exchange(
    status: int | None,
    *,
    error: str = "",
    secret: Secret | None = RIGHT,
    hop: int | None = None,
    after_handshake: bool = False,
) -> Exchange:
    request = HarnessRequest(
        "https://r.example.com/webhook", b"{}", "'Webhook Validate' with the right secret", secret=secret
    )
    if status is None:
        return Exchange(request, None, TransportError(error, "detail"), 0.1)
    hops = () if hop is None else (Hop(HarnessResponse(hop, "", (("Location", "/v2"),), b""), request.url + "/v2"),)
    response = HarnessResponse(status, "Reason", (), b"")
    return Exchange(request, response, None, 0.1, hops, secret_accepted_before=after_handshake)


DOCTOR_CASES = [
    (exchange(301), "follows a 301/302/303 as a GET without the body"),
    (exchange(302), "the event is lost even when the GET gets a 2xx"),
    (exchange(307), "without a Location header leads nowhere"),
    (exchange(308), "without a Location header leads nowhere"),
    (exchange(405, hop=302), "follows a 301/302/303 as a GET without the body"),  # the GET's 405 is the 302's fault
    (exchange(401, after_handshake=True), "this 401 is not about the secret"),
    (exchange(429), "rate-limited the Cloud"),
    (exchange(403, secret=Secret("")), "the receiver wants one (set WEBHOOK_SECRET"),
    (exchange(422), "validation (FastAPI, pydantic...) rejected"),
    (exchange(400), "accept the envelope"),
    (exchange(401), "configured with another secret"),
    (exchange(401, secret=Secret("")), "it expects one. Set WEBHOOK_SECRET"),
    (exchange(403), "CSRF"),
    (exchange(404), "check the URL's path"),
    (exchange(405), "does not accept POST"),
    (exchange(415), "Content-Type: application/json"),
    (exchange(500), "see its logs"),
    (exchange(503), "counts toward the Cloud disabling the webhook"),
    (exchange(None, error="read-timeout"), "The Cloud gives up after 5 s"),
    (exchange(None, error="deadline"), "the harness's deadline"),
    (exchange(None, error="connect"), "did it crash"),
    (exchange(None, error="protocol"), "not valid HTTP"),
]


@pytest.mark.parametrize(("failed", "words"), DOCTOR_CASES, ids=[w[:30] for _, w in DOCTOR_CASES])
def test_doctor_names_the_cause(failed: Exchange, words: str) -> None:
    assert words in (doctor.hint(failed) or "")


TLS_CASES = [
    ("certificate verify failed: certificate has expired", "has expired"),
    ("certificate verify failed: self-signed certificate", "self-signed"),
    ("certificate verify failed: self signed certificate in certificate chain", "self-signed"),
    ("certificate verify failed: Hostname mismatch, certificate is not valid for 'x'", "another host name"),
    ("certificate verify failed: unable to get local issuer certificate", "full chain"),
    ("wrong version number", "This port does not speak TLS"),
    ("certificate verify failed: IP address mismatch, certificate is not valid for '127.0.0.1'", "another host name"),
    ("unexpected eof while reading", "The Cloud verifies certificates too"),
]


@pytest.mark.parametrize(("detail", "words"), TLS_CASES, ids=[w for _, w in TLS_CASES])
def test_doctor_explains_tls_failures(detail: str, words: str) -> None:
    assert words in doctor.setup_hint(TransportError("tls", detail))


def test_handshake_404_gets_the_path_hint(serve: Serve, run_suite: RunSuite) -> None:
    def wrong_path(request: Request, seen: list[str]) -> Response:
        """Serves its route at another path."""
        return Response("Not Found", 404) if request.headers.get("X-Webhook-Secret") == SECRET else unauthorized()

    run = run_suite("--target-url", serve(wrong_path), "-k", "HS-1", secret=SECRET)
    assert "Hint:     Nothing answers at this path" in run.output


def test_hostile_response_text_is_neutralised_and_capped(serve: Serve, run_suite: RunSuite) -> None:
    forged = "\x1b[32mPASSED\x1b[0m\r\n=== 99 passed ===\n" + "x" * 5000

    def forges_log_lines(request: Request, seen: list[str]) -> Response:
        """Answers the handshake with a 500 whose body tries to forge lines in a CI log."""
        return Response(forged, 500)

    run = run_suite("--target-url", serve(forges_log_lines), "-k", "HS-1", secret=SECRET)
    # The failure block (the test server's own captured access log, colour codes and all, is not ours).
    block = run.output[run.output.index("HS-1 (MUST)") : run.output.index("Reproduce with:")]
    assert "\x1b" not in block
    assert "\r" not in block
    assert "\\x1b[32mPASSED\\x1b[0m\\r\\n=== 99 passed ===\\n" in block
    assert not any(line.startswith("===") for line in block.splitlines())  # no forged line of its own
    assert "more characters)" in block
    assert "Hint:     The receiver failed while handling the request" in block
