"""The two front doors are one: ``webhook-conformance check`` and ``pytest --pyargs conformance_tests`` read
the same ini file, environment and options, and reach the same verdict."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import certifi
import pytest

from gallery import SECRET, Handler, compares_case_insensitively, correct
from harness.cli import _parser
from harness.config.settings import OPTIONS, Option, options_markdown

Serve = Callable[[Handler], str]
README = Path(__file__).resolve().parent.parent / "README.md"


def _run(front_door: str, cwd: Path, *args: str, secret: str | None = SECRET) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "PYTEST_"))}
    if secret is not None:
        env["WEBHOOK_SECRET"] = secret
    command = (
        [sys.executable, "-m", "harness", "check", *args]
        if front_door == "check"
        else [sys.executable, "-m", "pytest", "--pyargs", "conformance_tests", "-p", "no:randomly", *args]
    )
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def _verdict(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.rstrip().splitlines()[-1]


@pytest.mark.parametrize("front_door", ["check", "pytest"])
@pytest.mark.parametrize("ini", ["pytest.ini", "addopts", "pyproject.toml"])
def test_an_ini_naming_a_broken_receiver_is_not_ready_on_both(
    front_door: str, ini: str, serve: Serve, tmp_path: Path
) -> None:
    url = serve(compares_case_insensitively)
    if ini == "pytest.ini":
        (tmp_path / "pytest.ini").write_text(f"[pytest]\nwebhook_target_url = {url}\n")
    elif ini == "addopts":
        (tmp_path / "tox.ini").write_text(f"[pytest]\naddopts = -q --target-url {url}\n")
    else:
        (tmp_path / "pyproject.toml").write_text(f'[tool.pytest.ini_options]\nwebhook_target_url = "{url}"\n')
    result = _run(front_door, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert _verdict(result).startswith("NOT READY for activation: AUTH-1, AUTH-2 failed"), result.stdout


#: A value for each option that changes what the run does, and so shows in the header's settings line.
def _value(option: Option, tmp_path: Path, url: str) -> str:
    return {
        "target_url": url,
        "secret_file": str(tmp_path / "secret.txt"),
        "secret": SECRET,
        "timeout": "4",
        "parallelism": "3",
        "ca_bundle": certifi.where(),
        "report_json": str(tmp_path / "r.json"),
        "report_md": str(tmp_path / "r.md"),
        "report_html": str(tmp_path / "r.html"),
        "examples": "2",
        "load": "5",
        "load_concurrency": "2",
    }.get(option.name, "")


@pytest.mark.parametrize("front_door", ["check", "pytest"])
@pytest.mark.parametrize("option", OPTIONS, ids=[o.name for o in OPTIONS])
def test_every_option_works_on_both(front_door: str, option: Option, serve: Serve, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text(SECRET + "\n")
    url = serve(correct)
    value = _value(option, tmp_path, url)
    given = [option.flag] if option.kind == "flag" else [f"{option.flag}={value}"]
    if option.name == "allow_insecure_http" or option.name == "use_env_proxy":
        given += ["--target-url", url]  # loopback: allowed anyway; no proxy in the environment
    secret = None if option.name in ("secret", "secret_file") else SECRET
    result = _run(front_door, tmp_path, *given, "-k", "URL-1 or HS-1", secret=secret)
    header = next(line for line in result.stdout.splitlines() if line.strip().startswith("settings:"))
    assert result.returncode == 0, result.stdout + result.stderr
    if option.name in ("secret", "secret_file"):
        assert f"secret=[Filtered] ({len(SECRET)} characters" in header
        assert SECRET not in result.stdout
    elif option.name == "target_url":
        assert f"--target-url={url}" in header
    else:
        assert option.as_flag(option.kind == "flag" or value) in header, header
    if option.name.startswith("report_"):
        assert Path(value).is_file()


@pytest.mark.parametrize("front_door", ["check", "pytest"])
def test_a_bad_value_is_a_usage_error_naming_its_source_on_both(front_door: str, tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nwebhook_timeout = soon\n")
    result = _run(front_door, tmp_path)
    assert result.returncode == 4
    assert "ini setting webhook_timeout: 'soon' is not a number of seconds" in result.stderr + result.stdout


def test_check_help_lists_every_option_under_the_plugins_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["check", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in OPTIONS:
        assert option.flag in text
        if option.env:
            assert f"environment: {option.env}" in text


def test_the_readme_settings_table_is_the_option_table() -> None:
    text = README.read_text(encoding="utf-8")
    assert options_markdown() in text
