"""``webhook-conformance``: every command, its exit codes, results on stdout and errors on stderr."""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from conftest import free_port, wait_for_port
from gallery import SECRET, Handler, answers_403, compares_case_insensitively, correct
from harness.cli import main, requirements_markdown
from harness.config.exitcodes import ExitCode
from harness.judging.catalogue import catalogue

Serve = Callable[[Handler], str]
README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def cli(*args: str, secret: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it: a separate process (``python -m harness``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_")}
    if secret is not None:
        env["WEBHOOK_SECRET"] = secret
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(autouse=True)
def no_webhook_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("WEBHOOK_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    "command", [[], ["check"], ["send"], ["serve"], ["requirements"]], ids=lambda c: c[0] if c else "top"
)
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: webhook-conformance" in capsys.readouterr().out


def test_usage_error_exits_4_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--no-such-option"])
    assert exit_info.value.code == ExitCode.USAGE_ERROR
    captured = capsys.readouterr()
    assert "unrecognized arguments: --no-such-option" in captured.err
    assert captured.out == ""


def test_requirements_markdown_is_the_readme_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["requirements", "--format", "markdown"]) == ExitCode.OK
    table = capsys.readouterr().out
    assert table == requirements_markdown(list(catalogue().values()))
    assert table in README


def test_requirements_json_is_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["requirements", "--format", "json"]) == ExitCode.OK
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == list(catalogue())


def test_send_prints_the_answer(
    serve: Serve, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    assert main(["send", "Site Plan Change", "--to", serve(correct)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "Sent 'Site Plan Change' with the right secret to http://127.0.0.1:" in out
    assert "HTTP 200 OK" in out
    assert SECRET not in out


def test_send_rejected_exits_1_with_a_hint(
    serve: Serve, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The receiver knows another secret than the one given here.
    secret_file = tmp_path / "secret"
    secret_file.write_text("not-the-receivers-secret\n")
    assert main(["send", "Webhook Validate", "--to", serve(answers_403), "--secret-file", str(secret_file)]) == 1
    out = capsys.readouterr().out
    assert "HTTP 403" in out
    assert "Hint: 403 with the right secret" in out


def test_send_checks_a_data_file_against_the_schema(
    serve: Serve, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"doctype": "Site", "name": "x.example.com", "status": "Exploded"}))
    code = main(["send", "Site Status Update", "--to", serve(correct), "--data", str(data)])
    assert code == ExitCode.USAGE_ERROR
    err = capsys.readouterr().err
    assert "does not match the schema of 'Site Status Update'" in err
    assert "data/status" in err


def test_send_to_nothing_exits_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["send", "Webhook Validate", "--to", f"http://127.0.0.1:{free_port()}/webhook"])
    assert code == ExitCode.TARGET_UNREACHABLE
    assert "Is the receiver running" in capsys.readouterr().out


def test_check_embedded_receiver_is_ready(tmp_path: Path) -> None:
    result = cli("check", "--report-json", str(tmp_path / "r.json"), cwd=tmp_path)
    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    assert result.stdout.rstrip().splitlines()[-1].startswith("READY for activation")
    assert json.loads((tmp_path / "r.json").read_text())["verdict"]["ready"] is True
    # Progress names the requirement and the check, never where the suite is installed.
    progress = [line for line in result.stdout.splitlines() if re.match(r"^[A-Z]+-\d+ ", line)]
    assert len(progress) >= 25
    assert not [line for line in progress if "/" in line or ".py" in line]


def test_check_broken_receiver_exits_1_naming_the_requirements(serve: Serve, tmp_path: Path) -> None:
    result = cli("check", serve(compares_case_insensitively), "--strict", secret=SECRET, cwd=tmp_path)
    assert result.returncode == ExitCode.REQUIREMENT_FAILED
    assert "NOT READY for activation: AUTH-1, AUTH-2 failed" in result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_check_passes_pytest_options_after_a_double_dash(tmp_path: Path) -> None:
    result = cli("check", "--", "-k", "HS-1", cwd=tmp_path)
    assert "PARTIAL RUN" in result.stdout


def test_check_that_selects_nothing_still_ends_with_a_verdict(tmp_path: Path) -> None:
    result = cli("check", "--", "-k", "NOPE", cwd=tmp_path)
    assert result.returncode == ExitCode.NO_TESTS_COLLECTED
    assert result.stdout.rstrip().splitlines()[-1].startswith("PARTIAL RUN: no MUST failed among the 0 checks")


def test_check_unreachable_exits_unreachable(tmp_path: Path) -> None:
    result = cli("check", f"http://127.0.0.1:{free_port()}/webhook", cwd=tmp_path)
    assert result.returncode == ExitCode.TARGET_UNREACHABLE
    assert "NO VERDICT" in result.stdout


def test_serve_runs_the_reference_receiver() -> None:
    port = free_port()
    env = {**os.environ, "WEBHOOK_SECRET": SECRET}
    command = [sys.executable, "-m", "harness", "serve", "--port", str(port)]
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
        try:
            wait_for_port(port, process)
            # No secret given here, so the receiver's 401 proves it is the reference receiver, checking its own.
            assert main(["send", "Webhook Validate", "--to", f"http://127.0.0.1:{port}/webhook"]) == 1
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_check_ignores_the_current_directorys_pytest_configuration(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = "-x -p no:webhook_conformance"\nfilterwarnings = ["error"]\n'
    )
    result = cli("check", cwd=tmp_path)
    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    assert result.stdout.rstrip().splitlines()[-1].startswith("READY for activation")
    assert "warning" not in result.stdout.lower()


def test_send_unknown_event_without_data_is_a_usage_error(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "Site Created", "--to", serve(correct)]) == ExitCode.USAGE_ERROR
    err = capsys.readouterr().err
    assert "'Site Created' is not an event the Cloud sends" in err
    assert "'Site Plan Change'" in err


def test_send_masks_a_password_in_the_url(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    url = serve(correct).replace("http://", "http://alice:hunter2-super-secret-pw@")
    main(["send", "Webhook Validate", "--to", url])
    out = capsys.readouterr().out
    assert "hunter2-super-secret-pw" not in out
    assert "alice:[Filtered]@" in out


def test_send_names_its_own_option_in_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "Webhook Validate", "--to", "ftp://r.example.com/"]) == ExitCode.USAGE_ERROR
    assert "--to: 'ftp://r.example.com/' is not an http" in capsys.readouterr().err


def test_serve_rejects_a_port_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--port", "99999"])
    assert exit_info.value.code == ExitCode.USAGE_ERROR
    assert "'99999' is not a port number" in capsys.readouterr().err


def test_serve_on_a_busy_port_says_so(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    with socket.create_server(("127.0.0.1", 0)) as busy:
        assert main(["serve", "--port", str(busy.getsockname()[1])]) == 1
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_check_accepts_the_plugins_spelling_of_options(tmp_path: Path) -> None:
    from harness.cli import _parser

    parsed = _parser().parse_args(
        ["check", "--webhook-ca-bundle", "ca.pem", "--webhook-strict", "--webhook-report-md", "s.md"]
    )
    assert (parsed.ca_bundle, parsed.strict, parsed.report_md) == ("ca.pem", True, "s.md")


def test_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ([], ["check"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        out = capsys.readouterr().out
        # Every code the command can exit with: pytest's --max-warnings code is pytest's alone.
        for code in set(ExitCode) - {ExitCode.MAX_WARNINGS_ERROR}:
            if code != ExitCode.REQUIREMENT_FAILED or command == []:
                assert re.search(rf"\n  {int(code)} +\S", out), (command, code)


def test_check_refuses_an_empty_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["check", ""])
    assert exit_info.value.code == ExitCode.USAGE_ERROR
    assert "the URL is empty" in capsys.readouterr().err


def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    # `requirements | head`: the pipe is closed here before the command writes a byte, as head does early.
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "requirements", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.close()
    errors = process.stderr.read().decode()
    assert process.wait(timeout=60) == ExitCode.OK
    assert "Traceback" not in errors
    assert "BrokenPipe" not in errors


def test_serve_without_a_secret_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("serve", "--port", "0", cwd=tmp_path)  # WEBHOOK_SECRET unset
    assert result.returncode == ExitCode.USAGE_ERROR
    assert "WEBHOOK_SECRET is not set" in result.stderr


def test_serve_says_the_url_it_listens_on(tmp_path: Path) -> None:
    env = {**os.environ, "WEBHOOK_SECRET": SECRET, "WEBHOOK_INBOX": str(tmp_path / "inbox.sqlite3")}
    command = [sys.executable, "-m", "harness", "serve", "--port", "0"]
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        try:
            url = _listening_url(process.stderr, deadline=time.monotonic() + 30)
            assert url is not None, "no 'listening' line within 30 s"
            assert url.startswith("http://127.0.0.1:")
            assert url.endswith("/webhook")
            assert main(["send", "Webhook Validate", "--to", url]) == 1  # there: its 401, no secret given
        finally:
            process.terminate()
            process.wait(timeout=10)


def _listening_url(stream: IO[str], deadline: float) -> str | None:
    """The URL of the receiver's "listening" log line, waiting no later than ``deadline``."""
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([stream], [], [], left)
        line = stream.readline() if ready else ""
        if '"listening"' in line:
            return str(json.loads(line)["url"])
        if ready and not line:  # the process ended
            return None
    return None
