"""Every check can fail: each broken receiver fails exactly the requirements it breaks, its correct twin none,
and what the suite says the Cloud would do is what the Cloud's own client observes (tests/cloud_oracle.py)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cloud_oracle import CloudOracle
from conftest import SuiteRun
from gallery import (
    CAUGHT_ELSEWHERE,
    FAST_TIMEOUT,
    FRAMEWORKS,
    GALLERY,
    SECRET,
    TWINS,
    Broken,
    Framework,
    Handler,
    correct,
)
from harness.config.exitcodes import ExitCode
from harness.judging.catalogue import catalogue
from harness.payloads.deliveries import OLD_DATES, corpus, fresh, sent_now
from harness.payloads.events import DOCUMENT_EVENTS
from receivers.launch import launched

RunSuite = Callable[..., SuiteRun]
Serve = Callable[[Handler], str]

#: Where the suite is stricter than the Cloud, by design: the receiver, and why the conclusions differ.
STRICTER_THAN_THE_CLOUD = {
    "redirects_to_another_origin": (
        "the harness never follows a redirect to another origin (the Cloud would, with the secret), so it cannot "
        "see the Cloud succeed there: activation is left open"
    ),
}


def the_clouds_traffic() -> list[list[dict[str, Any]]]:
    """What the Cloud sends after activation, step by step: every shape of the corpus, its own old dates,
    a retry, an older snapshot after a newer one, and a burst as its 8 workers send it."""
    shapes = [[{"event": s.event, "data": sent_now(s.event, s.data)}] for e in DOCUMENT_EVENTS for s in corpus(e)]
    event = "Site Status Update"
    retry = {"event": event, "data": fresh(event, name="oracle-retry.example.com")}
    newer = {"event": event, "data": fresh(event, 1000, name="oracle-order.example.com", status="Active")}
    older = {"event": event, "data": fresh(event, 0, name="oracle-order.example.com", status="Installing")}
    burst = [{"event": event, "data": fresh(event, name=f"oracle-{i}.example.com")} for i in range(8)]
    old = [[{"event": event, "data": build()}] for _, _, event, build in OLD_DATES]
    return [*shapes, *old, [retry], [retry], [newer], [older], burst]


def the_clouds_conclusions(oracle: CloudOracle, url: str, secret: str, timeout: float) -> tuple[bool, set[str]]:
    """Would the Cloud activate the webhook, and which events would it then fail to deliver?"""
    if not oracle.activation(url, secret, timeout):
        return False, set()  # never activated: the Cloud delivers nothing
    steps = the_clouds_traffic()
    # An answer still coming after a few seconds is one that never ends, here: the Cloud reads on for minutes.
    results = oracle.deliveries(url, secret, steps, timeout, deadline=timeout + 3)
    failing = {
        p["event"]
        for step, sent in zip(steps, results, strict=True)
        for p, r in zip(step, sent, strict=True)
        if not r.ok
    }
    return True, failing


def the_suites_conclusions(report: Path) -> tuple[bool | None, set[str]]:
    cloud = json.loads(report.read_text(encoding="utf-8"))["cloud"]
    return cloud["activation"], set(cloud["failing_events"]) if cloud["activation"] else set()


def assert_same_conclusions(name: str, suite: tuple[bool | None, set[str]], cloud: tuple[bool, set[str]]) -> None:
    if name in STRICTER_THAN_THE_CLOUD:
        assert suite != cloud, f"{name} is listed as judged stricter than the Cloud, but both agree now"
        return
    assert suite == cloud, f"the suite's outlook {suite} is not what the Cloud's requests observed {cloud}"


def _timeout(args: tuple[str, ...]) -> float:
    return float(args[args.index("--webhook-timeout") + 1]) if "--webhook-timeout" in args else 5.0


@pytest.mark.parametrize("broken", GALLERY, ids=[b.name for b in GALLERY])
def test_broken_receiver_fails_exactly_its_requirements(
    broken: Broken, serve: Serve, run_suite: RunSuite, cloud_oracle: CloudOracle, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    args = ("--target-url", serve(broken.handler), "--webhook-strict", "--webhook-report-json", str(report))
    run = run_suite(*args, *broken.args, secret=broken.secret)
    assert run.harness_errors() == []
    assert run.failed_requirements() == broken.fails
    assert run.noted_requirements() == broken.notes
    assert run.ret == ExitCode.REQUIREMENT_FAILED
    for requirement_id in broken.fails:
        assert requirement_id in run.output
    if broken.says is not None:
        assert broken.says in run.output
    # Strict fails the run on a SHOULD, but the verdict still tells a MUST from a SHOULD (test_plugin checks
    # that without --webhook-strict a SHOULD alone exits 0).
    breaks_a_must = any(catalogue()[r].level == "MUST" for r in broken.fails)
    assert ("NOT READY for activation" in run.output) == breaks_a_must
    cloud = the_clouds_conclusions(cloud_oracle, serve(broken.handler), broken.secret or "", _timeout(broken.args))
    assert_same_conclusions(broken.name, the_suites_conclusions(report), cloud)


@pytest.mark.parametrize("handler", [correct, *TWINS], ids=[h.__name__ for h in (correct, *TWINS)])
def test_correct_gallery_receiver_fails_nothing(
    handler: Handler, serve: Serve, run_suite: RunSuite, cloud_oracle: CloudOracle, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    run = run_suite(
        "--target-url", serve(handler), "--webhook-strict", "--webhook-report-json", str(report), secret=SECRET
    )
    assert run.harness_errors() == []
    assert run.failed_requirements() == set()
    assert run.ret == ExitCode.OK
    assert "READY for activation" in run.output
    cloud = the_clouds_conclusions(cloud_oracle, serve(handler), SECRET, 5.0)
    assert_same_conclusions(handler.__name__, the_suites_conclusions(report), cloud)


@pytest.mark.parametrize("receiver", FRAMEWORKS, ids=[f.name for f in FRAMEWORKS])
def test_framework_receiver_fails_exactly_its_requirements(
    receiver: Framework, run_suite: RunSuite, cloud_oracle: CloudOracle, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    with launched(receiver.name, SECRET) as url:
        run = run_suite("--target-url", url, "--webhook-strict", "--webhook-report-json", str(report), secret=SECRET)
    assert run.harness_errors() == []
    failed = run.failed_requirements()
    assert receiver.fails <= failed <= receiver.fails | receiver.in_flight, failed
    assert run.noted_requirements() == set()
    assert run.ret == (ExitCode.REQUIREMENT_FAILED if receiver.fails else ExitCode.OK)
    breaks_a_must = any(catalogue()[r].level == "MUST" for r in receiver.fails)
    assert ("NOT READY for activation" in run.output) == breaks_a_must
    with launched(receiver.name, SECRET) as url:  # a fresh process: some receivers remember what they saw
        cloud = the_clouds_conclusions(cloud_oracle, url, SECRET, 5.0)
    assert_same_conclusions(receiver.name, the_suites_conclusions(report), cloud)


def test_every_requirement_has_a_broken_receiver() -> None:
    caught = set().union(*(b.fails | b.notes for b in GALLERY), *(f.fails for f in FRAMEWORKS))
    assert caught | set(CAUGHT_ELSEWHERE) == set(catalogue())
    for test in CAUGHT_ELSEWHERE.values():
        module, function = test.split("::")
        assert callable(getattr(importlib.import_module(module), function)), test


def test_embedded_reference_receiver_fails_nothing(run_suite: RunSuite) -> None:
    run = run_suite("--webhook-strict")
    assert run.harness_errors() == []
    assert run.failed_requirements() == set()
    assert run.noted_requirements() == set()
    assert run.ret == ExitCode.OK
    assert "READY for activation" in run.output


def test_fast_timeout_is_what_the_slow_receiver_runs_with() -> None:
    slow = next(b for b in GALLERY if b.name == "too_slow")
    assert _timeout(slow.args) == float(FAST_TIMEOUT)
