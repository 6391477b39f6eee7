"""The pytest plugin as a user meets it: options, header, selection, errors about the setup, reports."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from jsonschema import Draft202012Validator
from werkzeug import Request, Response

import harness
from conftest import SuiteRun, free_port
from gallery import SECRET, Handler, answers_json, correct, ok, unauthorized
from harness.config import secret, settings
from harness.config.exitcodes import ExitCode
from harness.judging import catalogue, checks
from harness.output import explain
from harness.payloads import deliveries, events, schemas
from harness.sending import client
from harness.wire import transport

RunSuite = Callable[..., SuiteRun]
Serve = Callable[[Handler], str]


def test_help_documents_every_option_with_its_environment_variable(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess("--help")
    text = " ".join(result.stdout.str().split())
    for option in settings.OPTIONS:
        assert option.flag in text
        if option.env:
            assert f"environment: {option.env}" in text
        if option.ini:
            assert option.ini in text


def test_bad_environment_value_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_TIMEOUT", "soon")
    result = pytester.runpytest_inprocess("--pyargs", "conformance_tests")
    assert result.ret == ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*environment variable WEBHOOK_TIMEOUT: 'soon' is not a number of seconds*"])


def test_bad_ini_value_is_a_usage_error_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nwebhook_timeout = soon\n")
    result = pytester.runpytest_inprocess("--pyargs", "conformance_tests")
    assert result.ret == ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*webhook conformance: ini setting webhook_timeout: 'soon' is not a number*"])


def test_unreachable_target_is_one_setup_error_with_a_hint(run_suite: RunSuite) -> None:
    url = f"http://127.0.0.1:{free_port()}/webhook"
    run = run_suite("--target-url", url, secret=SECRET)
    assert run.ret == ExitCode.TARGET_UNREACHABLE
    assert run.output.count("cannot reach the target") == 1
    assert "hint: Is the receiver running" in run.output
    assert "FAILED" not in run.output
    assert "READY" not in run.output
    assert "NO VERDICT: the target could not be reached" in run.output.splitlines()[-1]
    assert run.failed_requirements() == set()


def test_unresolvable_host_is_a_setup_error(run_suite: RunSuite) -> None:
    run = run_suite("--target-url", "http://no-such-host.invalid/webhook")
    assert run.ret == ExitCode.TARGET_UNREACHABLE
    assert "dns" in run.output


def test_collect_only_needs_no_reachable_target(run_suite: RunSuite) -> None:
    run = run_suite("--target-url", f"http://127.0.0.1:{free_port()}/webhook", "--collect-only", "-q")
    assert run.ret == ExitCode.OK


def test_header_shows_target_and_masked_settings(serve: Serve, run_suite: RunSuite) -> None:
    url = serve(correct)
    run = run_suite("--target-url", url, "--webhook-timeout", "2", secret=SECRET)
    run.result.stdout.fnmatch_lines(
        [
            f"webhook conformance: target {url}",
            f"  settings: --target-url={url} secret=[Filtered] (35 characters, from environment variable "
            "WEBHOOK_SECRET) --webhook-timeout=2",
        ]
    )


def test_every_node_id_carries_its_requirement_id(pytester: pytest.Pytester, run_suite: RunSuite) -> None:
    run = run_suite("--collect-only", "-q")
    ids = [line for line in run.result.outlines if "::" in line]
    assert len(ids) > 40
    for line in ids:
        assert any(f"[{requirement_id}" in line for requirement_id in catalogue.catalogue()), line


def test_no_webhook_strict_switches_strict_off(serve: Serve, run_suite: RunSuite) -> None:
    url = serve(answers_json)
    assert run_suite("--target-url", url, "--webhook-strict", secret=SECRET).ret == ExitCode.REQUIREMENT_FAILED
    assert run_suite("--target-url", url, "--webhook-strict", "--no-webhook-strict", secret=SECRET).ret == ExitCode.OK


def test_k_selects_a_family(run_suite: RunSuite) -> None:
    run = run_suite("-k", "AUTH-1", "-v")
    outcomes = run.result.parseoutcomes()
    assert outcomes == {"passed": 7, "deselected": 123}
    assert "[AUTH-1-missing]" in run.output
    assert "PARTIAL RUN: no MUST failed among the 7 checks that ran, which are not the whole suite" in run.output


def test_every_requirement_is_checked_and_every_check_has_a_requirement(run_suite: RunSuite) -> None:
    run = run_suite("--collect-only", "-q")
    collected = run.output
    for requirement_id in catalogue.catalogue():
        assert f"[{requirement_id}" in collected, f"{requirement_id} has no test"


def test_should_finding_reported_but_not_fatal_unless_strict(serve: Serve, run_suite: RunSuite) -> None:
    url = serve(answers_json)
    lenient = run_suite("--target-url", url, secret=SECRET)
    assert lenient.ret == ExitCode.OK
    assert "SHOULD findings (not fatal without --webhook-strict)" in lenient.output
    stats = next(line for line in lenient.output.splitlines() if " passed" in line and line.startswith("="))
    assert "5 should-failed" in stats
    assert "every MUST requirement passed; SHOULD not met: HS-3, EVT-2 (5 checks)" in lenient.output
    strict = run_suite("--target-url", url, "--webhook-strict", secret=SECRET)
    assert strict.ret == ExitCode.REQUIREMENT_FAILED
    # Strict fails the run, but a SHOULD stays a SHOULD: the receiver is ready for activation.
    assert "every MUST requirement passed; SHOULD not met: HS-3, EVT-2 (5 checks) (failing the run" in strict.output


def test_junit_carries_requirement_and_level(serve: Serve, run_suite: RunSuite, pytester: pytest.Pytester) -> None:
    run_suite("--target-url", serve(correct), "--junitxml=out.xml", secret=SECRET)
    cases = ET.parse(pytester.path / "out.xml").getroot().iter("testcase")
    properties = [{p.get("name"): p.get("value") for p in case.iter("property")} for case in cases]
    assert properties
    assert {"requirement": "HS-1", "level": "MUST"} in properties
    assert all(p.get("requirement") in catalogue.catalogue() for p in properties)


def test_no_secret_skips_rejection_checks_with_a_reason(serve: Serve, run_suite: RunSuite) -> None:
    run = run_suite("--target-url", serve(correct), "-rs")
    assert "no secret is configured: set WEBHOOK_SECRET" in run.output
    assert "conformance_tests/test_secret.py:" in run.output  # the skip points at the test, not the harness


def test_catalogue_matches_its_schema_and_ids_are_unique() -> None:
    data = json.loads(catalogue._catalogue_path().read_text())
    Draft202012Validator(schemas.load("requirements")).validate(data)
    ids = [entry["id"] for entry in data["requirements"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    "module", [harness, catalogue, checks, client, deliveries, events, explain, schemas, secret, settings, transport]
)
def test_public_names_exist(module: object) -> None:
    for name in getattr(module, "__all__", []):
        assert hasattr(module, name), f"{module.__name__}.__all__ names {name}, which is missing"  # type: ignore[attr-defined]


def test_short_secret_is_not_judged_for_leaks_and_says_why(serve: Serve, run_suite: RunSuite) -> None:
    def short_secret_receiver(request: Request, seen: list[str]) -> Response:
        """Correct, with a secret too short to search responses for."""
        return ok() if request.headers.get("X-Webhook-Secret") == "abc123" else unauthorized()

    run = run_suite("--target-url", serve(short_secret_receiver), "-rs", secret="abc123")
    assert run.ret == ExitCode.OK
    assert "the secret is shorter than 8 characters and could appear in a response by chance" in run.output


def test_short_secret_in_a_skip_reason_does_not_break_reporters(serve: Serve, run_suite: RunSuite) -> None:
    def accepts_test(request: Request, seen: list[str]) -> Response:
        """Correct, with the secret 'test', which occurs in paths and reasons."""
        return ok() if request.headers.get("X-Webhook-Secret") == "test" else unauthorized()

    run = run_suite("--target-url", serve(accepts_test), "-rs", "--junitxml=out.xml", secret="test")
    assert run.ret == ExitCode.OK
    assert "INTERNALERROR" not in run.output


def test_no_secret_correct_receiver_is_ready(serve: Serve, run_suite: RunSuite) -> None:
    def no_secret(request: Request, seen: list[str]) -> Response:
        """A receiver configured without a secret: it accepts the empty header."""
        return ok()

    run = run_suite("--target-url", serve(no_secret), "--webhook-strict", "-rs")
    assert run.harness_errors() == []
    assert run.ret == ExitCode.OK, run.output
    assert "no secret configured, so the secret checks (AUTH-1, AUTH-2, LEAK-1) were not judged" in run.output
    assert "no secret is configured: set WEBHOOK_SECRET" in run.output


#: A conftest that breaks one check of the engine's suite, as a bug in the harness would.
BREAK_A_CHECK = """
import dataclasses
from harness.run import suite

def broken(context, case):
    raise {exception}

index = next(i for i, c in enumerate(suite.CHECKS) if c.requirement == "{requirement}")
suite.CHECKS[index] = dataclasses.replace(suite.CHECKS[index], run=broken)
"""


def test_harness_bug_is_no_verdict_and_exit_3(serve: Serve, pytester: pytest.Pytester) -> None:
    # A check whose own code raises: the harness's fault, never the receiver's.
    pytester.makeconftest(BREAK_A_CHECK.format(requirement="HS-1", exception='IndexError("a bug in the harness")'))
    # In a process of its own: the conftest changes the suite of the process it runs in.
    result = pytester.runpytest_subprocess("--pyargs", "conformance_tests", "--target-url", serve(correct))
    assert result.ret == ExitCode.INTERNAL_ERROR
    assert "NO VERDICT: the harness itself failed on 1 check" in result.stdout.str()
    assert "IndexError: a bug in the harness" in result.stdout.str()
    assert "NOT READY" not in result.stdout.str()


def test_bad_ini_flag_names_the_ini_setting(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nwebhook_strict = maybe\n")
    result = pytester.runpytest_inprocess("--pyargs", "conformance_tests")
    assert result.ret == ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini setting webhook_strict: 'maybe' is not a yes/no value*"])


def test_unrelated_pytest_runs_ignore_bad_webhook_settings(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_TIMEOUT", "soon")
    monkeypatch.setenv("WEBHOOK_SECRET", "x" * 200)
    pytester.makepyfile(test_other="def test_other():\n    assert True\n")
    assert pytester.runpytest_inprocess().ret == ExitCode.OK


def test_listing_fixtures_never_contacts_the_target(run_suite: RunSuite) -> None:
    run = run_suite("--target-url", f"http://127.0.0.1:{free_port()}/webhook", "--fixtures")
    assert run.ret == ExitCode.OK
    assert "cannot reach" not in run.output


def test_server_that_never_answers_fails_the_handshake_quickly(run_suite: RunSuite) -> None:
    # It accepts connections, so the Cloud would try, and time out: the handshake fails, the rest is given up.
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (the backlog), never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/webhook"
        started = time.monotonic()
        run = run_suite("--target-url", url, "--webhook-timeout", "0.3", secret=SECRET)
    assert time.monotonic() - started < 20
    assert run.ret == ExitCode.REQUIREMENT_FAILED
    assert run.failed_requirements() == {"HS-1", "HS-2"}
    assert "The Cloud gives up after 5 s" in run.output


def test_receiver_hung_on_deliveries_is_given_up_on(serve: Serve, run_suite: RunSuite) -> None:
    def hangs_on_post(request: Request, seen: list[str]) -> Response:
        """Answers the harness's GET, then hangs on every delivery."""
        if request.method == "POST":
            time.sleep(1.0)
        return Response("", 405)

    started = time.monotonic()
    run = run_suite("--target-url", serve(hangs_on_post), "--webhook-timeout", "0.2", "-rs", secret=SECRET)
    assert time.monotonic() - started < 20  # bounded by the give-up rule, not 50 checks x the timeout
    assert run.failed_requirements() == {"HS-1", "HS-2"}
    assert "receiver did not answer the last 3 requests" in run.output
    assert run.harness_errors() == []


def test_narrowing_within_a_requirement_is_a_partial_run(serve: Serve, run_suite: RunSuite) -> None:
    # Every requirement is still selected, but not every case: no READY.
    run = run_suite("--target-url", serve(correct), "-k", "not prefix", secret=SECRET)
    assert "PARTIAL RUN" in run.output
    assert "READY for activation" not in run.output


@pytest.mark.parametrize(
    ("requirement", "exception", "code", "words"),
    [
        (
            "HS-2",
            "KeyboardInterrupt",
            ExitCode.INTERRUPTED,
            "NO VERDICT: the run stopped after 2 checks, before the end",
        ),
        ("HS-3", "KeyError('a harness bug')", ExitCode.INTERNAL_ERROR, "NO VERDICT: the harness itself failed"),
    ],
    ids=["interrupted", "bug-in-a-should-check"],
)
def test_a_run_that_did_not_judge_everything_is_never_ready(
    serve: Serve,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    requirement: str,
    exception: str,
    code: int,
    words: str,
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    pytester.makeconftest(BREAK_A_CHECK.format(requirement=requirement, exception=exception))
    # In a process of its own: an interrupt in-process would interrupt this session too.
    result = pytester.runpytest_subprocess(
        "--pyargs", "conformance_tests", "--target-url", serve(correct), "--webhook-report-json=r.json"
    )
    assert result.ret == code
    assert words in result.stdout.str()
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["verdict"]["ready"] is False


def test_receiver_that_drops_gets_is_not_a_setup_error(run_suite: RunSuite) -> None:
    """A raw receiver that hangs up on any GET (the Cloud never sends one) but serves POST."""

    def serve_forever(server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                data = conn.recv(65536)
                if data.startswith(b"GET"):
                    continue  # hang up without a word
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                while len(body) < length:
                    body += conn.recv(65536)
                right = f"x-webhook-secret: {SECRET}\r\n".encode() in head.lower() + b"\r\n"
                status = b"200 OK" if right else b"401 Unauthorized"
                conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")

    with socket.create_server(("127.0.0.1", 0)) as server:
        threading.Thread(target=serve_forever, args=(server,), daemon=True).start()
        run = run_suite(
            "--target-url", f"http://127.0.0.1:{server.getsockname()[1]}/webhook", "-k", "HS-1", secret=SECRET
        )
    assert "cannot reach" not in run.output
    assert run.failed_requirements() == set()


@pytest.mark.parametrize(
    "selection",
    [
        [
            "--pyargs",
            "conformance_tests.test_handshake",
            "conformance_tests.test_events",
            "conformance_tests.test_hygiene",
        ],
        ["--pyargs", "conformance_tests.test_handshake"],
        ["--pyargs", "conformance_tests", "-k", "HS-1 or EVT-1-site-plan-change"],
    ],
    ids=["three-modules", "one-module", "some-cases"],
)
def test_collecting_part_of_the_suite_is_never_ready(
    serve: Serve, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, selection: list[str]
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    result = pytester.runpytest_inprocess(*selection, "--target-url", serve(correct))
    assert "PARTIAL RUN" in result.stdout.str()
    assert "READY for activation" not in result.stdout.str()


def test_human_secret_sharing_words_with_an_error_text_is_no_leak(serve: Serve, run_suite: RunSuite) -> None:
    human = "my-webhook-secret-2024"

    def plain_spoken(request: Request, seen: list[str]) -> Response:
        """Correct; its 401 says what is missing in words that the secret happens to contain."""
        if request.headers.get("X-Webhook-Secret") == human:
            return ok()
        return Response('{"error": "missing or invalid webhook-secret header"}', 401)

    run = run_suite("--target-url", serve(plain_spoken), secret=human)
    assert run.failed_requirements() == set()
    assert "READY for activation" in run.output


def test_non_ascii_secret_echoed_as_utf8_is_a_leak(serve: Serve, run_suite: RunSuite) -> None:
    secret = "p\u00e4ssw\u00f6rd-\u00e4-geheim-\u00f6\u00fc-stra\u00dfe"

    def echoes_as_utf8(request: Request, seen: list[str]) -> Response:
        """Accepts the right secret (sent as Latin-1 bytes) and echoes it back, as UTF-8."""
        received = request.headers.get("X-Webhook-Secret", "")
        return Response("OK " + received, 200 if received == secret else 401, content_type="text/plain; charset=utf-8")

    run = run_suite("--target-url", serve(echoes_as_utf8), "-k", "LEAK", secret=secret)
    assert run.failed_requirements() == {"LEAK-1"}


def test_strict_run_stopped_by_x_is_no_verdict(serve: Serve, run_suite: RunSuite) -> None:
    run = run_suite("--target-url", serve(answers_json), "--webhook-strict", "-x", secret=SECRET)
    assert "NO VERDICT: the run stopped after" in run.output
