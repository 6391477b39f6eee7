"""The Cloud documentation's sample receiver (tests/cloud_sample.py), served as published, checked like any receiver.

The sample is what most receivers start from, so the suite must judge it as a reader of its code would: it
passes the handshake, the secret and the known events, fails the debugger MUST when run with the published
``debug=True``, and otherwise fails only the SHOULDs its unchecked ``payload['event']``/``payload['data']``
and missing body limit explain. Each mode is one subprocess for the whole module, on a free loopback port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import SuiteRun, free_port, stop, wait_for_port
from harness.config.exitcodes import ExitCode
from harness.judging.catalogue import catalogue

SAMPLE = Path(__file__).with_name("cloud_sample.py")
#: Hard-coded in the sample: ``if secret != "super-secret-key"``.
SECRET = "super-secret-key"

#: What the sample fails without debug, by requirement: only SHOULDs, each for a reason visible in its code.
PLAIN_FAILURES = {
    # get_json() returns any JSON value and the view indexes it unchecked: 500s (TypeError, KeyError) and 200s.
    "BAD-1": "payload['event'] and payload['data'] without a check of the body's shape",
    # No MAX_CONTENT_LENGTH: Flask reads and parses the 1 MiB handshake and the view answers 'OK'.
    "BAD-4": "no body limit",
}

#: BAD-1's cases the sample fails (the others, empty, truncated, not JSON, invalid UTF-8, Flask answers 400 itself).
BAD_1_FAILURES = {
    # A list indexed with a str: TypeError, 500.
    "top-level-array": "payload['event'] on a list",
    # A str indexed with a str: TypeError, 500.
    "top-level-string": "payload['event'] on a str",
    # The JSON literals: None, True and 0 are not subscriptable, "" and [] are indexed with a str: 500.
    "json-null": "payload['event'] on None",
    "json-true": "payload['event'] on True",
    "json-zero": "payload['event'] on 0",
    "json-empty-string": "payload['event'] on an empty str",
    "json-empty-array": "payload['event'] on an empty list",
    # KeyError, which Flask answers 500 (only werkzeug's BadRequestKeyError is a 400).
    "missing-event": "payload['event'] on an envelope without it",
    # 5 != "Webhook Validate", so the view falls through to return 'OK': 200.
    "event-not-string": "event is never checked to be a string",
    # None falls through to return 'OK' as well: 200.
    "event-null": "event is never checked to be present",
    # KeyError, 500.
    "missing-data": "payload['data'] on an envelope without it",
    # data is only printed: a list is answered 200.
    "data-not-object": "data is never checked to be an object",
    # A string is answered 200 too.
    "data-string": "data is never checked to be an object",
    # json.loads exceeds the recursion limit: RecursionError (not a ValueError, so not Flask's 400): 500.
    "deep-nesting": "get_json() is not guarded against deep nesting",
}

#: With the published debug=True, the same SHOULDs plus two MUSTs, both from Werkzeug's debugger.
DEBUG_FAILURES = {
    **PLAIN_FAILURES,
    # Every 500 above is answered with the debugger's traceback page, and /console serves its Python console.
    "LEAK-2": "the interactive debugger answers every crash",
    # The traceback page shows 5 source lines around the failing one: `if secret != "super-secret-key":` is one.
    "LEAK-1": "the debugger shows the source line holding the hard-coded secret",
}

#: INFO in both modes: the published app.run() is Werkzeug's development server.
NOTED = {"SRV-1"}


def _serve(debug: bool, workdir: Path) -> Iterator[str]:
    """Run the sample in its own process until the generator is closed; yields its webhook URL."""
    port = free_port()
    env = {
        **os.environ,
        "SAMPLE_PORT": str(port),
        "SAMPLE_DEBUG": "1" if debug else "0",
        # The sample prints every payload; on a host whose stdout is not UTF-8 a non-ASCII value would make
        # print raise (a 500). That is the host's locale, not the sample: pin it so the findings do not vary.
        "PYTHONIOENCODING": "utf-8",
    }
    for name in ("FLASK_RUN_FROM_CLI", "WERKZEUG_RUN_MAIN", "WERKZEUG_SERVER_FD"):  # they change what app.run does
        env.pop(name, None)
    with (workdir / "sample.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, str(SAMPLE)], env=env, cwd=workdir, stdout=log, stderr=log)
        try:
            wait_for_port(port, process, timeout=10)
            yield f"http://127.0.0.1:{port}/webhook"
        finally:
            stop(process, timeout=5)


@pytest.fixture(scope="module")
def debug_sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve(True, tmp_path_factory.mktemp("sample-debug"))


@pytest.fixture(scope="module")
def plain_sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve(False, tmp_path_factory.mktemp("sample-plain"))


def _call_reports(run: SuiteRun, requirement_id: str) -> list[pytest.TestReport]:
    reports = run.result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
    return [r for r in reports if r.when == "call" and dict(r.user_properties)["requirement"] == requirement_id]


def _failed_cases(run: SuiteRun, requirement_id: str) -> set[str]:
    """The case ids (``top-level-array`` of ``BAD-1-top-level-array``) of a requirement's failed checks."""
    prefix = f"[{requirement_id}-"
    return {
        r.nodeid.partition(prefix)[2].removesuffix("]")
        for r in _call_reports(run, requirement_id)
        if r.failed or getattr(r, "webhook_should", False)
    }


def _verdict(run: SuiteRun) -> str:
    """The verdict: the run's last line."""
    return next(line for line in reversed(run.result.stdout.lines) if line.strip())


def _assert_passes_the_contract(run: SuiteRun) -> None:
    """The handshake, the secret and the known events: what the sample was written for."""
    assert run.harness_errors() == []
    assert {"HS-1", "HS-2", "EVT-1", "AUTH-1", "AUTH-2"}.isdisjoint(run.failed_requirements())
    assert _failed_cases(run, "BAD-1") == set(BAD_1_FAILURES)
    assert run.noted_requirements() == NOTED


def test_sample_with_debug_fails_the_debugger_must(debug_sample: str, run_suite: Callable[..., SuiteRun]) -> None:
    run = run_suite("--target-url", debug_sample, "--webhook-strict", secret=SECRET)
    _assert_passes_the_contract(run)
    assert run.failed_requirements() == set(DEBUG_FAILURES)
    assert run.ret == ExitCode.REQUIREMENT_FAILED
    verdict = _verdict(run)
    assert verdict.startswith("NOT READY")
    assert "LEAK-2" in verdict
    # The LEAK-2 failure is the worst of what debug mode serves: the console that runs code for anyone.
    (leak_2,) = _call_reports(run, "LEAK-2")
    assert "the Werkzeug debugger's console (200 OK)" in leak_2.longreprtext
    assert "Flask's debug=True serves a Python console at /console" in leak_2.longreprtext
    assert SECRET not in run.output  # the leaked secret is masked in the harness's own output


def test_sample_without_debug_fails_only_shoulds(plain_sample: str, run_suite: Callable[..., SuiteRun]) -> None:
    run = run_suite("--target-url", plain_sample, "--webhook-strict", secret=SECRET)
    _assert_passes_the_contract(run)
    failed = run.failed_requirements()
    assert {requirement_id: catalogue()[requirement_id].level for requirement_id in failed} == dict.fromkeys(
        PLAIN_FAILURES, "SHOULD"
    )
    assert failed == set(PLAIN_FAILURES)
    assert run.ret == ExitCode.REQUIREMENT_FAILED  # strict: the SHOULD findings fail the run


def test_sample_without_debug_is_ready(plain_sample: str, run_suite: Callable[..., SuiteRun]) -> None:
    run = run_suite("--target-url", plain_sample, secret=SECRET)
    assert run.harness_errors() == []
    assert run.ret == ExitCode.OK
    assert _verdict(run).startswith("READY for activation")
    assert run.noted_requirements() == NOTED
