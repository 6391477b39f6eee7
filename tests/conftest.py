"""Shared fixtures of the project's own tests: a threaded loopback server for the gallery, and suite runs."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fleet_receivers import UNREACHABLE_URL, Served, serving
from pytest_httpserver import HTTPServer

import tools
from cloud_oracle import cloud_oracle  # noqa: F401 - a fixture for every test module
from gallery import Handler, responder
from harness.payloads.schemas import sample_data
from postgres_server import MISSING as POSTGRES_MISSING
from postgres_server import PostgresServer, binaries, running_postgres


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """Tests that run a command's main() in-process leave its logging set-up behind: undo it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session, on loopback, in a temporary directory.

    Skipped where PostgreSQL is not installed (a failure under .ci/run, which installs it); a failure
    when an installed server cannot start."""
    if binaries() is None:
        tools.missing(POSTGRES_MISSING)
    try:
        with running_postgres() as server:
            yield server
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def loopback_server() -> Iterator[HTTPServer]:
    # Threaded, so a deliberately slow handler does not hold up the requests after it.
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def serve(loopback_server: HTTPServer) -> Callable[[Handler], str]:
    """Serve a gallery handler at /webhook with a fresh history; returns its URL."""

    def install(handler: Handler) -> str:
        respond = responder(handler)
        loopback_server.clear()
        # Every path under /webhook: the receivers that redirect, or take a token in the path, serve more than one.
        loopback_server.expect_request(re.compile(r"^/webhook(/.*)?$")).respond_with_handler(respond)
        return loopback_server.url_for("/webhook") + getattr(handler, "query", "")

    return install


@dataclass
class SuiteRun:
    """The outcome of one in-process run of the shipped suite."""

    result: pytest.RunResult

    @property
    def ret(self) -> int:
        return int(self.result.ret)

    @property
    def output(self) -> str:
        return self.result.stdout.str() + self.result.stderr.str()

    def harness_errors(self) -> list[str]:
        """Node ids of checks where the harness itself failed: must be empty in any honest run."""
        reports = self.result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
        return [r.nodeid for r in reports if getattr(r, "webhook_outcome", None) == "error"]

    def noted_requirements(self) -> set[str]:
        """Requirement ids with an INFO finding."""
        reports = self.result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
        return {dict(r.user_properties)["requirement"] for r in reports if getattr(r, "webhook_info", False)}

    def failed_requirements(self) -> set[str]:
        """Requirement ids with a failed check, SHOULD findings included."""
        reports = self.result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
        return {
            dict(r.user_properties)["requirement"]
            for r in reports
            if r.when == "call" and (r.failed or getattr(r, "webhook_should", False))
        }


@pytest.fixture
def run_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Callable[..., SuiteRun]:
    """Run the shipped suite in-process: ``run_suite(*args, secret=...)``; secret None unsets it."""

    def run(*args: str, secret: str | None = None) -> SuiteRun:
        for name in (
            "WEBHOOK_SECRET",
            "WEBHOOK_SECRET_FILE",
            "WEBHOOK_TARGET_URL",
            "WEBHOOK_TIMEOUT",
            "WEBHOOK_STRICT",
        ):
            monkeypatch.delenv(name, raising=False)
        if secret is not None:
            monkeypatch.setenv("WEBHOOK_SECRET", secret)
        return SuiteRun(pytester.runpytest_inprocess("--pyargs", "conformance_tests", "-p", "no:randomly", *args))

    return run


def stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop a server process as a service manager would: SIGTERM, then SIGKILL if it outlives ``timeout``."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def free_port() -> int:
    """A loopback port nothing listens on (closed again at once)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Wait, within ``timeout``, until ``process`` listens on ``port``; fail if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the process exited with {process.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listened on port {port} within {timeout} s")


def site_delivery(name: str) -> bytes:
    """A real Site Status Update, unique by ``name``, so that what is stored can be told apart."""
    return json.dumps(
        {"event": "Site Status Update", "data": {**sample_data("Site Status Update"), "name": name}}
    ).encode()


def raw_exchange(port: int, *parts: bytes, pause: float = 0.0, timeout: float = 5) -> int:
    """Send exact bytes on one connection (``parts`` ``pause`` s apart); the status of the answer, 0 if the
    server closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        for i, part in enumerate(parts):
            if i and pause:
                time.sleep(pause)
            sock.sendall(part)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while b"\r\n" not in answer and (chunk := sock.recv(4096)):
                answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def stored_names(inbox: str | Path) -> list[str]:
    """The ``data.name`` of every event in a reference receiver's inbox file, read on its own (read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{inbox}?mode=ro", uri=True)) as db:
        return [json.loads(payload)["data"]["name"] for (payload,) in db.execute("SELECT payload FROM inbox")]


# --- a fleet: gallery receivers on ports of their own, and what `check` says of each alone ---

#: Receivers of every kind: ready, not ready for a MUST, ready with SHOULD findings, without a secret, a
#: leaking one; and (in ``alone``) one that cannot be reached.
MIXED_FLEET = (
    "accepts_any_secret",
    "fails_handshake",
    "wants_query_token",
    "echoes_secret",
    "answers_json",
    "rejects_duplicates",
    "crashes_on_malformed_body",
    "shows_tracebacks",
    "requires_header_absent",
    "refuses_empty_header_on_events",
)


@pytest.fixture(scope="session")
def mixed_fleet() -> Iterator[list[Served]]:
    from gallery import GALLERY, TWINS, Broken

    chosen = [b for name in MIXED_FLEET for b in GALLERY if b.name == name]
    chosen += [Broken(twin, frozenset()) for twin in TWINS[:2]]
    with serving(chosen) as served:
        yield served


@pytest.fixture(scope="session")
def alone(mixed_fleet: list[Served], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[object, ...]]:
    """Each target of ``mixed_fleet``, and ``UNREACHABLE_URL``, as ``webhook-conformance check`` finds it alone:
    (status, MUSTs failed, SHOULDs failed, exit code)."""
    from harness.cli import main

    found: dict[str, tuple[object, ...]] = {}
    saved = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith("WEBHOOK_")}
    try:
        for url, secret in [*((s.url, s.broken.secret) for s in mixed_fleet), (UNREACHABLE_URL, None)]:
            report = tmp_path_factory.mktemp("alone") / "report.json"
            if secret:
                os.environ["WEBHOOK_SECRET"] = secret
            code = main(["check", url, "--report-json", str(report)])
            os.environ.pop("WEBHOOK_SECRET", None)
            verdict = json.loads(report.read_text())["verdict"]
            found[url] = (verdict["status"], verdict["must_failed"], verdict["should_failed"], code)
    finally:
        os.environ.update(saved)
    return found
