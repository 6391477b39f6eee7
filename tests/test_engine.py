"""The engine (harness.run.engine) and the Python API over it: a whole run without pytest, sent as the
Cloud's 8 workers send, in the order the requirements need."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest
from werkzeug import Request, Response

import harness
from gallery import SECRET, Handler, correct
from harness.config.settings import SettingError
from harness.run.engine import expected_checks
from harness.run.select import keyword_filter
from harness.run.suite import CHECKS, STAGES, cases, check_named

Serve = Callable[[Handler], str]
SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "report.schema.json").read_text())


def test_a_whole_run_imports_no_pytest() -> None:
    code = "import sys, harness; r = harness.check(); assert 'pytest' not in sys.modules, 'pytest'; print(r.ready)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_the_reports_dict_is_valid_and_ready_is_the_verdict() -> None:
    report = harness.check(timeout=2)
    as_dict = report.to_dict()
    jsonschema.validate(as_dict, SCHEMA)
    assert report.ready is True
    assert as_dict["verdict"]["status"] == "READY"
    assert len(as_dict["records"]) == sum(expected_checks().values())


def test_a_failed_check_keeps_its_structure_in_the_report(serve: Serve) -> None:
    def answers_403(request: Request, seen: list[str]) -> Response:
        """Refuses a wrong secret with 403 instead of 401."""
        if request.headers.get("X-Webhook-Secret") != SECRET:
            return Response("forbidden", 403)
        return correct(request, seen)

    report = harness.check(serve(answers_403), secret=SECRET)
    assert report.ready is False
    failed = next(r for r in report.to_dict()["records"] if r["id"] == "AUTH-1-missing")
    assert failed["outcome"] == "failed"
    assert failed["expected"].startswith("401")
    assert failed["actual"].startswith("403")
    assert failed["hint"] == "Answer 401 Unauthorized for a missing or wrong secret, not 403."
    assert failed["reproduction"] == failed["exchange"]["curl"]
    assert "curl" in failed["reproduction"]
    assert SECRET not in json.dumps(report.to_dict())


def test_settings_are_arguments_named_in_errors() -> None:
    with pytest.raises(SettingError, match="argument timeout: 'soon' is not a number of seconds"):
        harness.check(timeout="soon")
    with pytest.raises(TypeError, match="unknown settings colour"):
        harness.check(colour="blue")


def test_calls_from_several_threads_do_not_meet() -> None:
    with ThreadPoolExecutor(3) as pool:
        reports = list(pool.map(lambda _: harness.check(timeout=2), range(3)))
    assert [r.ready for r in reports] == [True, True, True]
    assert len({r.target for r in reports}) == 3  # each its own embedded receiver


class Recorder:
    """Wraps a handler: when each request arrived and left, and how many were in flight at once."""

    def __init__(self, handler: Handler, delay: float = 0.02) -> None:
        self.handler, self.delay = handler, delay
        self.lock = threading.Lock()
        self.in_flight = self.most = 0
        self.log: list[tuple[float, float, bytes]] = []

    def __call__(self, request: Request, seen: list[str]) -> Response:
        started = time.monotonic()
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        time.sleep(self.delay)
        response = self.handler(request, seen)
        with self.lock:
            self.in_flight -= 1
            self.log.append((started, time.monotonic(), request.get_data()))
        return response

    def intervals(self, body_contains: bytes) -> list[tuple[float, float]]:
        return sorted((a, b) for a, b, body in self.log if body_contains in body)


def _in_sequence(intervals: list[tuple[float, float]]) -> bool:
    return all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(intervals))


def test_exchanges_go_out_at_most_parallelism_at_once(serve: Serve) -> None:
    recorder = Recorder(correct)
    report = harness.check(serve(recorder), secret=SECRET, parallelism=3)
    assert report.ready, report.verdict
    assert recorder.most == 3  # the burst (DLV-2) and the parallel stages reach it, never more


def test_order_is_kept_where_a_requirement_needs_it(serve: Serve) -> None:
    recorder = Recorder(correct)
    report = harness.check(serve(recorder), secret=SECRET)
    assert report.ready, report.verdict
    first = sorted(recorder.log)[:3]
    assert all(b'"Webhook Validate"' in body for _, _, body in first)  # HS-1, then HS-2's two: the dashboard's
    assert _in_sequence([(a, b) for a, b, _ in first])
    assert recorder.most == 8  # the Cloud's 8 workers, by default


def test_a_check_with_sequential_sends_sends_them_in_sequence(serve: Serve) -> None:
    recorder = Recorder(correct)
    harness.check(serve(recorder), secret=SECRET)
    by_body: dict[bytes, list[tuple[float, float]]] = {}
    for a, b, body in recorder.log:
        by_body.setdefault(body, []).append((a, b))
    # DLV-1: the same bytes twice, the retry sent once the first has its answer.
    retries = [sorted(v) for body, v in by_body.items() if len(v) == 2 and b'"Site Status Update"' in body]
    assert retries
    assert all(_in_sequence(pair) for pair in retries)


def test_the_plan_runs_the_handshakes_first_and_the_session_last() -> None:
    planned = cases()
    stages = [stage for stage, _ in STAGES]
    assert [c.check.stage for c in planned] == sorted((c.check.stage for c in planned), key=stages.index)
    assert [c.requirement for c in planned[:3]] == ["URL-1", "HS-1", "HS-2"]
    assert planned[-1].id == "LIVE-1-at-end"
    assert len({c.id for c in planned}) == len(planned)  # ids are unique


def test_every_requirement_of_the_catalogue_has_a_check() -> None:
    from harness.judging.catalogue import catalogue

    assert {c.requirement for c in CHECKS} == set(catalogue())
    assert set(expected_checks()) == set(catalogue())


def test_check_named_names_the_unknown_one() -> None:
    assert check_named("validate_gets_2xx").requirement == "HS-1"
    with pytest.raises(KeyError, match="no conformance check is named 'nope'"):
        check_named("nope")


@pytest.mark.parametrize(
    ("expression", "chosen"),
    [
        ("HS", {"HS-1", "HS-2", "HS-3"}),
        ("AUTH-1 or HS-1", {"AUTH-1", "HS-1"}),
        ("AUTH and not prefix and AUTH-1", {"AUTH-1"}),
        ("(AUTH-3 or AUTH-5) and not bench", {"AUTH-3", "AUTH-5"}),
        ("validate_gets", {"HS-1", "HS-2"}),
    ],
)
def test_keyword_filter_selects_as_pytest_k(expression: str, chosen: set[str]) -> None:
    assert {c.requirement for c in cases(keyword_filter(expression))} == chosen


@pytest.mark.parametrize("expression", ["", "AUTH and", "(HS-1", "not", "HS-1 )"])
def test_keyword_filter_refuses_what_does_not_parse(expression: str) -> None:
    first = cases()[0]
    with pytest.raises(ValueError, match="-k expression"):
        keyword_filter(expression)(first)
