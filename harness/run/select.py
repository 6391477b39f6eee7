"""``-k EXPRESSION``, as pytest reads it, over the engine's cases: names matched case-insensitively as
substrings of the case's check name, its id and its requirement, combined with ``and``, ``or``, ``not`` and
parentheses. So ``check -k AUTH`` and ``pytest -k AUTH`` select the same checks."""

from __future__ import annotations

import re
from collections.abc import Callable

from harness.run.suite import Case

__all__ = ["keyword_filter"]

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")
_OPERATORS = {"and", "or", "not"}


def keyword_filter(expression: str) -> Callable[[Case], bool]:
    """A predicate over cases; ValueError for an expression that does not parse."""
    tokens = _TOKEN.findall(expression)
    if not tokens:
        raise ValueError("the -k expression is empty")

    def selected(case: Case) -> bool:
        words = f"test_{case.check.name} {case.id} {case.requirement}".lower()
        position = 0

        def take() -> str | None:
            return tokens[position] if position < len(tokens) else None

        def either() -> bool:
            nonlocal position
            value = both()
            while take() == "or":
                position += 1
                value = both() or value
            return value

        def both() -> bool:
            nonlocal position
            value = negated()
            while take() == "and":
                position += 1
                value = negated() and value
            return value

        def negated() -> bool:
            nonlocal position
            word = take()
            if word == "not":
                position += 1
                return not negated()
            if word == "(":
                position += 1
                value = either()
                if take() != ")":
                    raise ValueError(f"the -k expression {expression!r} has an unclosed parenthesis")
                position += 1
                return value
            if word is None or word in _OPERATORS or word == ")":
                raise ValueError(f"the -k expression {expression!r} does not parse at {word or 'its end'!r}")
            position += 1
            return word.lower() in words

        value = either()
        if position != len(tokens):
            raise ValueError(f"the -k expression {expression!r} does not parse at {tokens[position]!r}")
        return value

    return selected
