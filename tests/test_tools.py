"""The README's test command passes on a machine with only Python and pip: a missing system tool skips its
tests with the line that installs it, except under .ci/run, which promises every tool."""

from __future__ import annotations

from pathlib import Path

import pytest

import tools

ROOT = Path(__file__).resolve().parent.parent


def test_a_missing_tool_skips_with_its_install_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(tools.REQUIRE_TOOLS, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"needs chromium.*apt-get install chromium"):
        tools.require("chromium", path=str(tmp_path))


def test_a_missing_tool_fails_where_every_tool_is_promised(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(tools.REQUIRE_TOOLS, "1")
    with pytest.raises(pytest.fail.Exception, match="needs curl"):
        tools.require("curl", path=str(tmp_path))


def test_a_present_tool_is_found(tmp_path: Path) -> None:
    command = tmp_path / "node"
    command.write_text("#!/bin/sh\n")
    command.chmod(0o755)
    assert tools.require("node", path=str(tmp_path)) == str(command)


def test_ci_promises_every_tool_and_tox_passes_the_promise_in() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"{tools.REQUIRE_TOOLS}=1 python3 -m tox" in script
    for package in ("curl", "chromium", "nodejs", "shellcheck", "redis-server", "postgresql"):
        assert f"missing+=({package})" in script
    assert f"pass_env = {tools.REQUIRE_TOOLS}" in (ROOT / "tox.ini").read_text(encoding="utf-8")


def test_the_readme_says_so_before_the_command() -> None:
    first = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:4]
    assert any("skip" in line and "chromium" in line and line.startswith("#") for line in first)
