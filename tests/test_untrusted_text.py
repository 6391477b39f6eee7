"""Nothing a receiver sends is trusted: a receiver that writes terminal escapes, carriage returns, CI runner
commands and the secret into its status reason, its header names, its header values and its body reaches
no output raw: not the terminal, the JUnit file, the reports, the step summary, the log, nor `send`."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import SuiteRun
from harness import cli
from harness.config.exitcodes import ExitCode
from harness.wire.untrusted import printable

RunSuite = Callable[..., SuiteRun]

SECRET = "hostile-receiver-secret-5c2e8a91"
#: What a hostile receiver writes: a colour and a screen clear, a carriage return that rewrites the line,
#: GitHub's and Azure's commands, and the secret it was sent.
POISON = f"\x1b[31m\x1b[2J\r::error title=pwned::forged ##vso[task.setvariable variable=x]1 \x1b]0;t\x07{SECRET}"
#: The same, as lines of a body: each command at the start of a line, where a runner reads it.
BODY_POISON = f"ok\n::error::forged\r\n##vso[task.complete result=Failed]\n::add-mask::x\n\x1b[2J{SECRET}\n"


def hostile_answer(request: bytes) -> bytes:
    """Every answer hostile in every field; 200 to the right secret's handshake so that the run goes on,
    401 to a wrong secret, 500 to any other event (failures and skips, each quoting the answer)."""
    head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    right = re.search(rf"^x-webhook-secret: {re.escape(SECRET)}\r?$", head, re.IGNORECASE | re.MULTILINE)
    handshake = b'"event": "Webhook Validate"' in request or b'"event":"Webhook Validate"' in request
    status = (200 if handshake else 500) if right else 401
    poison = POISON.encode("latin-1", "replace")
    body = BODY_POISON.encode()
    return b"".join(
        [
            f"HTTP/1.1 {status} ".encode() + poison + b"\r\n",
            b"Content-Type: text/plain; " + poison + b"\r\n",
            b"X-" + SECRET.encode() + b": 1\r\n",
            b"X-\x1b[31m##vso[task.complete]: \x1b[2J::error::x\r\n",
            b"Location: /" + poison.replace(b"\r", b"") + b"\r\n",
            b"WWW-Authenticate: " + poison + b"\r\n",
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode(),
            body,
        ]
    )


class _Hostile(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(5)
        data = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in data and len(data) < 1 << 20:
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                data += chunk
            found = re.search(rb"content-length: *(\d+)", data.split(b"\r\n\r\n", 1)[0], re.IGNORECASE)
            wanted = int(found.group(1)) if found else 0
            while len(data.split(b"\r\n\r\n", 1)[1]) < wanted:
                chunk = self.request.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.request.sendall(self.server.answer(data))  # type: ignore[attr-defined]


@contextlib.contextmanager
def answering(answer: Callable[[bytes], bytes]) -> Iterator[str]:
    """A loopback receiver that reads each request whole and writes ``answer(request)``, byte for byte."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    server.answer = answer  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhook"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    with answering(hostile_answer) as url:
        yield url


def problems(name: str, text: str) -> list[str]:
    """What in ``text`` a receiver forged: a raw control character, a runner command, the secret."""
    found = [f"{name}: raw {ch!r}" for ch in ("\x1b", "\r", "\x07") if ch in text]
    found += [f"{name}: line {line[:60]!r}" for line in text.split("\n") if line.lstrip().startswith("::")]
    found += [f"{name}: an Azure command" for marker in ("##vso[", "##[") if marker in text]
    if SECRET.casefold() in text.casefold():
        found.append(f"{name}: the secret")
    return found


def test_problems_finds_each_forgery() -> None:  # the oracle below must be able to fail
    assert len(problems("raw", POISON + "\n" + BODY_POISON)) >= 5
    assert problems("escaped", printable(POISON) + "\n" + printable(BODY_POISON, newlines=True)) == [
        "escaped: the secret"
    ]


def test_every_output_of_a_run_is_inert(
    hostile: str, run_suite: RunSuite, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "step_summary.md"))
    run = run_suite(
        "--target-url",
        hostile,
        "-vv",
        "-rA",
        "--tb=long",
        "--log-level=DEBUG",
        "--junitxml=junit.xml",
        "-o",
        "junit_logging=all",
        "--log-file=run.log",
        "--webhook-report-json=r.json",
        "--webhook-report-md=r.md",
        "--webhook-report-html=r.html",
        secret=SECRET,
    )
    assert run.ret == 1, run.output[-2000:]
    assert run.harness_errors() == []
    written = {p.name: p.read_text("utf-8", "replace") for p in pytester.path.iterdir() if p.is_file()}
    assert {"junit.xml", "run.log", "r.json", "r.md", "r.html", "step_summary.md"} <= set(written)
    # The reports hold what the receiver said, escaped: the test is of escaping, not of leaving things out.
    report = json.loads(written["r.json"])
    reasons = {r["exchange"]["reason"] for r in report["records"] if r["exchange"]}
    assert any(r.startswith("\\x1b[31m") for r in reasons), reasons
    assert "skipped" in {r["outcome"] for r in report["records"]}
    found = problems("stdout", run.result.stdout.str()) + problems("stderr", run.result.stderr.str())
    for name, text in written.items():
        found += problems(name, text)
    # JSON escapes a raw ESC as \u001b: decode it to see what a reader of the report gets.
    found += problems("r.json decoded", json.dumps(report, ensure_ascii=False))
    assert found == [], found


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_")}
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        env={**env, "WEBHOOK_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("event", ["Webhook Validate", "Site Status Update"])
def test_send_shows_the_answer_inert(hostile: str, event: str) -> None:
    done = run_cli("send", event, "--to", hostile)
    assert done.returncode == (0 if event == "Webhook Validate" else 1), done.stderr
    assert problems("send stdout", done.stdout) + problems("send stderr", done.stderr) == []
    assert "\\x1b[31m" in done.stdout  # shown, escaped
    assert "X-[Filtered]: 1" in done.stdout


def test_send_json_is_inert_once_decoded(hostile: str) -> None:
    done = run_cli("send", "Webhook Validate", "--to", hostile, "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["outcome"] == "delivered"
    assert answer["status"] == 200
    assert {"sent", "url", "reason", "headers", "body", "elapsed_ms", "error", "hint"} <= set(answer)
    assert problems("send --json", json.dumps(answer, ensure_ascii=False)) == []
    assert problems("send --json raw", done.stdout) == []


def test_check_command_is_inert(hostile: str, tmp_path: Path) -> None:
    done = run_cli("check", hostile, "--report-json", str(tmp_path / "r.json"))
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert problems("check stdout", done.stdout) + problems("check stderr", done.stderr) == []


def test_send_without_a_receiver_reports_no_response_as_json(unused_port: int) -> None:
    done = run_cli("send", "Webhook Validate", "--to", f"http://127.0.0.1:{unused_port}/webhook", "--json")
    assert done.returncode == ExitCode.TARGET_UNREACHABLE
    answer = json.loads(done.stdout)
    assert answer["outcome"] == "no-response"
    assert answer["status"] is None
    assert answer["error"].startswith("connect")
    assert answer["hint"]


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_send_refuses_the_secret_in_clear_to_another_machine(capsys: pytest.CaptureFixture[str]) -> None:
    os.environ.pop("WEBHOOK_SECRET_FILE", None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEBHOOK_SECRET", SECRET)
        code = cli.main(["send", "Webhook Validate", "--to", "http://192.0.2.1/webhook"])
    assert code == ExitCode.USAGE_ERROR
    assert "in clear" in capsys.readouterr().err


def test_the_readme_shows_what_printable_writes() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for text in ("::error::", "##vso[", "\x1b", "\r"):
        assert f"`{printable(text)}`" in readme, text


#: A Location Python's URL parser refuses, quoting it: requests raises ValueError while it builds the redirect.
UNPARSEABLE_LOCATIONS = {
    "nfkc": f"http://a\uff0f{SECRET}\x1bc\x07\u2028\u202e::error::x/".encode(),
    "ipv6": f"http://[{SECRET}::error::x/".encode(),
}


@pytest.mark.parametrize("location", list(UNPARSEABLE_LOCATIONS.values()), ids=list(UNPARSEABLE_LOCATIONS))
def test_a_location_requests_cannot_parse_is_a_failed_attempt_not_a_crash(location: bytes) -> None:
    def redirect(request: bytes) -> bytes:
        return b"HTTP/1.1 307 Moved\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"

    with answering(redirect) as url:
        done = run_cli("send", "Webhook Validate", "--to", url, "--json")
    assert done.returncode == ExitCode.REQUIREMENT_FAILED, done.stderr[-2000:]
    answer = json.loads(done.stdout)
    assert answer["outcome"] == "no-response"
    assert answer["error"].startswith("protocol")
    assert problems("send --json", json.dumps(answer, ensure_ascii=False)) + problems("stderr", done.stderr) == []


def test_masking_after_escaping_makes_no_azure_command() -> None:
    from harness.config.secret import Secret, redact

    shown = redact(printable(f"##{SECRET}vso[task.complete] ##{SECRET}[error]"), [Secret(SECRET)])
    assert problems("shown", shown) == []


def test_a_broken_status_line_is_inert_in_the_json_report(tmp_path: Path) -> None:
    def broken_after_the_handshake(request: bytes) -> bytes:
        if request.startswith(b"GET") or b"Webhook Validate" in request:
            return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"
        return b"XTTP/1.1 500 " + POISON.encode("latin-1", "replace") + b" ##" + SECRET.encode() + b"vso[x]\r\n\r\n"

    with answering(broken_after_the_handshake) as url:
        done = run_cli("check", url, "--report-json", str(tmp_path / "r.json"), "--", "-k", "EVT-1")
    assert done.returncode == ExitCode.REQUIREMENT_FAILED, done.stdout[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    errors = [r["exchange"]["error"] for r in report["records"] if r["exchange"] and r["exchange"]["error"]]
    assert errors
    assert problems("r.json", json.dumps(report, ensure_ascii=False)) == []
