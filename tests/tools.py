"""The system tools some tests need beyond Python: curl, Chromium, Node.js, shellcheck, Redis, PostgreSQL's server.

The README's test command must pass on a machine with only Python and pip, so a missing tool skips its
tests with the line that installs it. ``.ci/run`` installs them all and sets ``REQUIRE_TOOLS``: there a
missing tool is a failure, so that CI can never pass by skipping what it meant to run.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

__all__ = ["REQUIRE_TOOLS", "missing", "require"]

#: Set to 1 by .ci/run (tox passes it in): every tool below must be present.
REQUIRE_TOOLS = "CONFORMANCE_KIT_REQUIRE_TOOLS"

#: Each tool: the commands that provide it, and how to install it on Debian.
TOOLS: dict[str, tuple[tuple[str, ...], str]] = {
    "curl": (("curl",), "apt-get install curl"),
    "chromium": (("chromium", "chromium-browser", "google-chrome"), "apt-get install chromium"),
    "node": (("node",), "apt-get install nodejs"),
    "shellcheck": (("shellcheck",), "apt-get install shellcheck"),
    "redis-server": (("redis-server",), "apt-get install redis-server"),
}


def required() -> bool:
    return os.environ.get(REQUIRE_TOOLS) == "1"


def missing(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail with it where the machine promised every tool."""
    if required():
        pytest.fail(f"{reason} ({REQUIRE_TOOLS}=1 promises every tool)", pytrace=False)
    pytest.skip(reason)


def require(tool: str, path: str | None = None) -> str:
    """The path of ``tool``'s command (searched on ``path``, default PATH), or a skip or failure that names it."""
    commands, install = TOOLS[tool]
    found = next((where for name in commands if (where := shutil.which(name, path=path))), None)
    if found is None:
        missing(f"this test needs {tool}, which is not installed here ({install})")
    return found
