"""The README agrees with the code: its first commands, its option table, its requirement table."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.catalogue import Requirement, catalogue
from harness.settings import OPTIONS, Option

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

SUITE_COMMAND = "python3 -m pip install . && python3 -m pytest --pyargs conformance_tests"
TEST_COMMAND = "python3 -m pip install tox && python3 -m tox"


def test_first_lines_give_the_two_commands() -> None:
    first_lines = README.splitlines()[:4]
    assert any(line.startswith(SUITE_COMMAND) for line in first_lines)
    assert any(line.startswith(TEST_COMMAND) for line in first_lines)


def test_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 -m pip install --quiet --disable-pip-version-check tox" in script
    assert script.rstrip().endswith("python3 -m tox")


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_option_table_row(option: Option) -> None:
    row = next(line for line in README.splitlines() if line.startswith((f"| `{option.flag} ", f"| `{option.flag}`")))
    assert f"`{option.env}`" in row
    assert (f"`{option.ini}`" if option.ini else "(never)") in row


@pytest.mark.parametrize("requirement", catalogue().values(), ids=lambda r: r.id)
def test_requirement_table_row(requirement: Requirement) -> None:
    assert f"| {requirement.id} | {requirement.level} | {requirement.statement} |" in README
