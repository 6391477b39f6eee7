"""The end of a run: what the Cloud would do, the latency, and the load run (only when asked)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from conftest import SuiteRun
from gallery import SECRET, Handler, _secret_ok, correct, fails_handshake, ok, rejects_deploy_event, unauthorized
from harness.config.exitcodes import ExitCode
from harness.payloads.schemas import sample_data

RunSuite = Callable[..., SuiteRun]
Serve = Callable[[Handler], str]


def test_a_ready_run_tells_what_the_cloud_would_do(run_suite: RunSuite, pytester: pytest.Pytester) -> None:
    run = run_suite("--webhook-report-json=r.json", "--webhook-report-md=r.md")
    assert run.ret == ExitCode.OK
    assert "webhook conformance: what the Cloud would do" in run.output
    assert "activation: would succeed" in run.output
    assert "not above the 70% at which the Cloud disables a webhook" in run.output
    assert "latency of the requests as the Cloud sends them, Validate included: p50" in run.output
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["cloud"]["activation"] is True
    assert report["cloud"]["auto_disable"] is False
    assert report["cloud"]["deliveries"] >= 20
    assert report["latency"]["count"] > report["cloud"]["deliveries"]  # the handshakes count for latency
    assert report["load"] is None  # never without --webhook-load
    assert "What the Cloud would do:** activation: would succeed" in (pytester.path / "r.md").read_text()


@pytest.mark.parametrize(
    ("handler", "activation", "disabled"),
    [(fails_handshake, False, False), (rejects_deploy_event, True, False)],
)
def test_the_outlook_follows_the_receiver(
    handler: Handler, activation: bool, disabled: bool, serve: Serve, run_suite: RunSuite, pytester: pytest.Pytester
) -> None:
    run_suite("--target-url", serve(handler), "--webhook-report-json=r.json", secret=SECRET)
    cloud = json.loads((pytester.path / "r.json").read_text())["cloud"]
    assert cloud["activation"] is activation
    assert cloud["auto_disable"] is disabled
    assert cloud["failed"] > 0 if handler is rejects_deploy_event else cloud["failed"] == 0


def test_load_runs_only_when_asked_and_names_the_host_first(
    serve: Serve, loopback_server: HTTPServer, run_suite: RunSuite, pytester: pytest.Pytester
) -> None:
    url = serve(correct)
    run = run_suite(
        "--target-url", url, "--webhook-load", "60", "--webhook-load-concurrency", "4", "--webhook-report-json=r.json",
        secret=SECRET,
    )  # fmt: skip
    assert run.ret == ExitCode.OK
    lines = run.output.splitlines()
    announced = lines.index("webhook conformance: load run: 60 deliveries to 127.0.0.1, 4 at a time")
    assert announced < next(i for i, line in enumerate(lines) if line.startswith("60 of 60 deliveries in"))
    load = json.loads((pytester.path / "r.json").read_text())["load"]
    assert load["sent"] == 60
    assert load["by_class"]["2xx"] == 60
    assert load["concurrency"] == 4
    names = {json.loads(r.get_data())["data"]["name"] for r, _ in loopback_server.log if b"load-" in r.get_data()}
    assert len(names) == 60  # distinct sites: a deduplicating receiver stores every one


@pytest.mark.parametrize(("flag", "value"), [("--webhook-load", "10001"), ("--webhook-load-concurrency", "65")])
def test_load_is_capped(flag: str, value: str, run_suite: RunSuite) -> None:
    run = run_suite(flag, value)
    assert run.ret == ExitCode.USAGE_ERROR
    assert "is not a whole number from 1 to" in run.output


def test_info_notes_never_fail_and_are_reported(serve: Serve, run_suite: RunSuite, pytester: pytest.Pytester) -> None:
    run = run_suite("--target-url", serve(correct), "--webhook-strict", "--webhook-report-json=r.json", secret=SECRET)
    assert run.ret == ExitCode.OK
    assert "INFO notes (never fatal)" in run.output
    report = json.loads(Path(pytester.path / "r.json").read_text())
    (note,) = [r for r in report["records"] if r["outcome"] == "info"]
    assert note["requirement"] == "SRV-1"
    assert "Werkzeug's development server" in note["message"]
    assert report["verdict"]["status"] == "READY"


def hangs_on_generated_bench_updates(request: Request, seen: list[str]) -> Response:
    """Hangs on a bench update that is not the sample (a generated one): a receiver that stops answering."""
    if not _secret_ok(request):
        return unauthorized()
    data = json.loads(request.get_data()).get("data", {})
    if data.get("doctype") == "Bench" and data.get("owner") != sample_data("Bench Status Update")["owner"]:
        time.sleep(1.0)
    return ok()


def test_a_receiver_slow_on_some_payloads_only_is_judged_to_the_end(serve: Serve, run_suite: RunSuite) -> None:
    # Timeouts in a row, but the handshake is still answered: the receiver is slow there, not hung.
    run = run_suite("--target-url", serve(hangs_on_generated_bench_updates), "--webhook-timeout", "0.25", secret=SECRET)
    assert run.harness_errors() == []
    assert "DLV-6" in run.failed_requirements()  # the payload that timed out is the finding, not a skip
    assert "READY for activation" in run.output.splitlines()[-1]


_WEDGED: list[bool] = []


def wedges_on_generated_bench_updates(request: Request, seen: list[str]) -> Response:
    """After its first generated bench update, hangs on every request: a receiver that stops answering."""
    data = json.loads(request.get_data() or b"{}").get("data", {}) if request.method == "POST" else {}
    if isinstance(data, dict) and data.get("doctype") == "Bench" and data.get("owner") != "Administrator":
        _WEDGED.append(True)
    if _WEDGED:
        time.sleep(1.0)
    return hangs_on_generated_bench_updates(request, seen)


def test_a_receiver_that_stops_answering_gets_no_ready(serve: Serve, run_suite: RunSuite) -> None:
    _WEDGED.clear()
    run = run_suite(
        "--target-url", serve(wedges_on_generated_bench_updates), "--webhook-timeout", "0.25", secret=SECRET
    )
    _WEDGED.clear()
    assert run.harness_errors() == []
    assert "DLV-6" in run.failed_requirements()
    assert "NO VERDICT: the receiver stopped answering" in run.output.splitlines()[-1]


def test_the_header_and_the_end_never_contradict_themselves(run_suite: RunSuite) -> None:
    """The embedded receiver's generated secret is not "(none)"; a count of deliveries is never beside
    another count of deliveries for the same run."""
    run = run_suite(secret=None)
    assert run.ret == ExitCode.OK
    settings = next(line for line in run.output.splitlines() if line.lstrip().startswith("settings:"))
    assert "secret=(generated for the embedded receiver)" in settings
    assert "the embedded receiver has a generated secret" in run.output
    counts = {int(n) for n in re.findall(r"(\d+) deliveries", run.output)}
    assert len(counts) == 1, counts
