"""The exit codes of a conformance run: pytest's own, plus one for a target that cannot be reached."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    #: Every MUST requirement holds (SHOULD findings are reported, and fail the run only when strict).
    OK = 0
    #: A MUST requirement failed, or a SHOULD one with --webhook-strict.
    REQUIREMENT_FAILED = 1
    INTERRUPTED = 2
    INTERNAL_ERROR = 3
    #: A bad option, environment variable or ini setting; the message names which.
    USAGE_ERROR = 4
    NO_TESTS_COLLECTED = 5
    #: pytest 9.2's --max-warnings: every check passed, but pytest counted more warnings than allowed. Under
    #: pytest only (the command line runs no pytest); never a verdict on the receiver.
    MAX_WARNINGS_ERROR = 6
    #: No connection could be made to the target: a problem with the setup, not a verdict on the receiver.
    #: sysexits.h's EX_UNAVAILABLE, far from pytest's codes, which it numbers from 0 up (9.2 took 6).
    TARGET_UNREACHABLE = 69
