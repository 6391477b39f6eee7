"""The README agrees with the code: its first commands, its option table, its requirement table."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import SuiteRun
from gallery import SECRET, Handler, compares_case_insensitively
from harness.config.settings import OPTIONS, Option
from harness.judging.catalogue import Requirement, catalogue
from reference_receiver.config import VARIABLES

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


def block_after(marker: str, fence: str) -> list[str]:
    """The lines of the first fenced block after ``marker``."""
    rest = README[README.index(marker) :]
    start = rest.index(f"```{fence}\n") + len(fence) + 4
    return rest[start : rest.index("\n```", start)].splitlines()


def as_pattern(line: str) -> str:
    # What varies between runs: the port, timings, the server's version, the run's counts and times.
    line = line.replace("[", "[[]").replace("18084", "*").replace("'Werkzeug/3.1.9 Python/3.11.7'", "*")
    line = re.sub(r"^=+ (.*) =+$", r"*= \1 =*", line)  # pytest centres its summary: the rules' length varies
    return re.sub(r"\b\d+(\.\d+)?( ms|s)\b", "*", line)


def test_failure_excerpt_is_the_tools_output(
    serve: Callable[[Handler], str], run_suite: Callable[..., SuiteRun], pytester: pytest.Pytester
) -> None:
    run = run_suite("--target-url", serve(compares_case_insensitively), "--webhook-report-md=summary.md", secret=SECRET)
    excerpt = block_after("A failure names its requirement", "text")
    cut = excerpt.index("...")
    run.result.stdout.fnmatch_lines([as_pattern(line) for line in excerpt[:cut]])
    run.result.stdout.fnmatch_lines([as_pattern(line) for line in excerpt[cut + 1 :]])
    summary = (pytester.path / "summary.md").read_text()
    for line in block_after("An excerpt of the Markdown summary", "markdown"):
        assert fnmatch.fnmatch(summary, f"*{as_pattern(line)}*"), line


@pytest.mark.parametrize("variable", [name for name, _ in VARIABLES.values()])
def test_receiver_table_lists_every_environment_variable(variable: str) -> None:
    assert any(line.startswith("   | ") and f"`{variable}`" in line for line in README.splitlines())
