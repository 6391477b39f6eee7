"""Every check can fail: each broken receiver fails exactly the requirements it breaks."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import pytest

from conftest import SuiteRun
from gallery import CAUGHT_ELSEWHERE, GALLERY, Broken, Handler, correct
from harness.catalogue import catalogue
from harness.exitcodes import ExitCode

RunSuite = Callable[..., SuiteRun]
Serve = Callable[[Handler], str]


@pytest.mark.parametrize("broken", GALLERY, ids=[b.name for b in GALLERY])
def test_broken_receiver_fails_exactly_its_requirements(broken: Broken, serve: Serve, run_suite: RunSuite) -> None:
    run = run_suite("--target-url", serve(broken.handler), "--webhook-strict", *broken.args, secret=broken.secret)
    assert run.harness_errors() == []
    assert run.failed_requirements() == broken.fails
    assert run.noted_requirements() == broken.notes
    assert run.ret == ExitCode.REQUIREMENT_FAILED
    for requirement_id in broken.fails:
        assert requirement_id in run.output
    # Strict fails the run on a SHOULD, but the verdict still tells a MUST from a SHOULD (test_plugin checks
    # that without --webhook-strict a SHOULD alone exits 0).
    breaks_a_must = any(catalogue()[r].level == "MUST" for r in broken.fails)
    assert ("NOT READY for activation" in run.output) == breaks_a_must


def test_every_requirement_has_a_broken_receiver() -> None:
    caught = set().union(*(b.fails | b.notes for b in GALLERY))
    assert caught | set(CAUGHT_ELSEWHERE) == set(catalogue())
    for test in CAUGHT_ELSEWHERE.values():
        module, function = test.split("::")
        assert callable(getattr(importlib.import_module(module), function)), test


def test_correct_gallery_receiver_fails_nothing(serve: Serve, run_suite: RunSuite) -> None:
    run = run_suite("--target-url", serve(correct), secret=GALLERY[0].secret)
    assert run.harness_errors() == []
    assert run.failed_requirements() == set()
    assert run.ret == ExitCode.OK


def test_embedded_reference_receiver_fails_nothing(run_suite: RunSuite) -> None:
    run = run_suite("--webhook-strict")
    assert run.harness_errors() == []
    assert run.failed_requirements() == set()
    assert run.noted_requirements() == set()
    assert run.ret == ExitCode.OK
    assert "READY for activation" in run.output
