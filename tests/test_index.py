"""The index: every requirement of the catalogue has a check in the engine's suite, each check function it
judges with has unit tests on hand-made exchanges (tests/test_checks.py), and a broken receiver fails it."""

from __future__ import annotations

import inspect
import re
import types
from pathlib import Path

import pytest

from gallery import CAUGHT_ELSEWHERE, FRAMEWORKS, GALLERY
from harness.judging import checks
from harness.judging.catalogue import catalogue
from harness.run import suite

UNIT_TESTS = (Path(__file__).resolve().parent / "test_checks.py").read_text(encoding="utf-8")


def _judged_with(function: types.FunctionType, seen: set[str] | None = None) -> set[str]:
    """The check functions of harness.judging.checks that ``function`` calls, through the suite's helpers."""
    seen = set() if seen is None else seen
    names = set(function.__code__.co_names)
    for const in function.__code__.co_consts:  # nested functions (DLV-6's callbacks)
        if isinstance(const, types.CodeType):
            names |= set(const.co_names)
    found = {name for name in names & set(checks.__all__) if inspect.isfunction(getattr(checks, name))}
    for name in names - seen:
        helper = getattr(suite, name, None)
        if inspect.isfunction(helper) and helper.__module__ == suite.__name__:
            seen.add(name)
            found |= _judged_with(helper, seen)
    return found


def _unit_tested(name: str) -> bool:
    """A test of tests/test_checks.py calls it (``checks.<name>(`` or through a local name)."""
    return bool(re.search(rf"\b{name}\(", UNIT_TESTS))


@pytest.mark.parametrize("requirement_id", list(catalogue()))
def test_every_requirement_is_judged_by_unit_tested_check_functions(requirement_id: str) -> None:
    functions = set().union(*(_judged_with(c.run) for c in suite.CHECKS if c.requirement == requirement_id))  # type: ignore[arg-type]
    assert functions, f"{requirement_id}: no check function judges it"
    assert sorted(f for f in functions if not _unit_tested(f)) == []


@pytest.mark.parametrize("requirement_id", list(catalogue()))
def test_every_requirement_has_a_broken_receiver_that_fails_it(requirement_id: str) -> None:
    caught = set().union(*(b.fails | b.notes for b in GALLERY), *(f.fails for f in FRAMEWORKS), CAUGHT_ELSEWHERE)
    assert requirement_id in caught


def test_the_index_reads_calls_through_helpers() -> None:
    # The reader itself can fail: LIVE-1 judges through a helper, DLV-6 inside a callback.
    assert _judged_with(suite.still_answers_at_the_end) == {"still_answers"}  # type: ignore[arg-type]
    assert "cloud_success" in _judged_with(suite.generated_payloads_get_2xx)  # type: ignore[arg-type]
    assert not _unit_tested("no_such_check_function")
