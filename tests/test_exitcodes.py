"""The exit codes of a run: pytest's own where they overlap, one more for a target that cannot be reached."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
}


def test_codes_have_their_values() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "REQUIREMENT_FAILED": 1,
        "INTERRUPTED": 2,
        "INTERNAL_ERROR": 3,
        "USAGE_ERROR": 4,
        "NO_TESTS_COLLECTED": 5,
        "TARGET_UNREACHABLE": 6,
    }


@pytest.mark.parametrize("code", list(PYTEST_NAMES), ids=lambda c: c.name)
def test_shared_codes_are_pytests_own(code: ExitCode) -> None:
    assert code == pytest.ExitCode[PYTEST_NAMES[code]]


@pytest.mark.xfail(
    hasattr(pytest.ExitCode, "MAX_WARNINGS_ERROR"),
    reason="pytest 9.2 exits 6 for --max-warnings (MAX_WARNINGS_ERROR), the code TARGET_UNREACHABLE uses",
    strict=True,
)
def test_unreachable_target_is_a_code_pytest_does_not_use() -> None:
    assert ExitCode.TARGET_UNREACHABLE not in {int(code) for code in pytest.ExitCode}
    assert set(ExitCode) - set(PYTEST_NAMES) == {ExitCode.TARGET_UNREACHABLE}


def test_codes_are_ints_a_process_can_exit_with() -> None:
    assert all(isinstance(code, int) and 0 <= code < 256 for code in ExitCode)
    assert ExitCode(6) is ExitCode.TARGET_UNREACHABLE
    assert ExitCode.OK == 0
    assert not ExitCode.OK  # falsy, as a shell reads a zero status


def test_readme_documents_every_code() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(n) for row in re.findall(r"^\| ([\d, ]+) \|", section, re.MULTILINE) for n in row.split(",")}
    assert documented == {int(code) for code in ExitCode}
