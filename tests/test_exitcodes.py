"""The exit codes of a run: pytest's own where they overlap, one more for a target that cannot be reached."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import SuiteRun
from harness.config.exitcodes import ExitCode

README = Path(__file__).resolve().parent.parent / "README.md"

#: Each code that pytest defines too, with pytest's name for it.
PYTEST_NAMES = {
    ExitCode.OK: "OK",
    ExitCode.REQUIREMENT_FAILED: "TESTS_FAILED",
    ExitCode.INTERRUPTED: "INTERRUPTED",
    ExitCode.INTERNAL_ERROR: "INTERNAL_ERROR",
    ExitCode.USAGE_ERROR: "USAGE_ERROR",
    ExitCode.NO_TESTS_COLLECTED: "NO_TESTS_COLLECTED",
    ExitCode.MAX_WARNINGS_ERROR: "MAX_WARNINGS_ERROR",
}
#: pytest 9.2 added --max-warnings and its exit code; the kit supports older pytests too.
NEEDS_MAX_WARNINGS = pytest.mark.skipif(
    not hasattr(pytest.ExitCode, "MAX_WARNINGS_ERROR"), reason="pytest < 9.2 has no --max-warnings"
)


def test_codes_have_their_values() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "REQUIREMENT_FAILED": 1,
        "INTERRUPTED": 2,
        "INTERNAL_ERROR": 3,
        "USAGE_ERROR": 4,
        "NO_TESTS_COLLECTED": 5,
        "MAX_WARNINGS_ERROR": 6,
        "TARGET_UNREACHABLE": 69,
    }


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(code, marks=NEEDS_MAX_WARNINGS if code is ExitCode.MAX_WARNINGS_ERROR else ())
        for code in PYTEST_NAMES
    ],
    ids=lambda c: c.name,
)
def test_shared_codes_are_pytests_own(code: ExitCode) -> None:
    assert code == pytest.ExitCode[PYTEST_NAMES[code]]


def test_unreachable_target_is_a_code_pytest_does_not_use() -> None:
    assert ExitCode.TARGET_UNREACHABLE not in {int(code) for code in pytest.ExitCode}
    assert set(ExitCode) - set(PYTEST_NAMES) == {ExitCode.TARGET_UNREACHABLE}
    # pytest numbers its codes from 0 up: leave it room to add more.
    assert max(pytest.ExitCode) + 10 < ExitCode.TARGET_UNREACHABLE


def test_codes_are_ints_a_process_can_exit_with() -> None:
    assert all(isinstance(code, int) and 0 <= code < 256 for code in ExitCode)
    assert ExitCode(69) is ExitCode.TARGET_UNREACHABLE
    assert ExitCode.OK == 0
    assert not ExitCode.OK  # falsy, as a shell reads a zero status


def test_readme_documents_every_code() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(n) for row in re.findall(r"^\| ([\d, ]+) \|", section, re.MULTILINE) for n in row.split(",")}
    assert documented == {int(code) for code in ExitCode}


#: A plugin that warns in every test, as a deprecation in the user's environment would.
WARNER = """
import warnings

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    warnings.warn(UserWarning("a warning from the environment"))
    return (yield)
"""


@NEEDS_MAX_WARNINGS
def test_too_many_warnings_exit_with_pytests_code_not_the_unreachable_one(
    pytester: pytest.Pytester, run_suite: Callable[..., SuiteRun]
) -> None:
    pytester.makepyfile(warner=WARNER)
    pytester.syspathinsert()
    run = run_suite("-p", "warner", "--max-warnings", "0", "-k", "HS-1")
    assert run.ret == ExitCode.MAX_WARNINGS_ERROR == pytest.ExitCode.MAX_WARNINGS_ERROR
    assert run.ret != ExitCode.TARGET_UNREACHABLE
    assert "maximum allowed warnings exceeded" in run.output
    # The receiver was judged, and nothing says it could not be reached.
    assert "webhook conformance verdict" in run.output
    assert "cannot reach the target" not in run.output
    assert "NO VERDICT" not in run.output
    assert run.failed_requirements() == set()
