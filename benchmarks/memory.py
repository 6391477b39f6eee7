"""The harness's peak memory against a receiver that answers every request with a 200 MB body.

``python benchmarks/memory.py`` (``--help``). The default suite runs as a child of a small wrapper process,
which reports its peak RSS (``ru_maxrss`` of its children); the same run against the embedded receiver is the
baseline. Never run as a test.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchlib import Row, at_most, free_port, print_table, running, write_json

BODY_BYTES = 200 * 1000 * 1000
CHUNK = b"x" * (1 << 20)  # the server never holds more than this of the body
PEAK_LIMIT_MB = 100.0
SUITE = ["-m", "pytest", "--pyargs", "conformance_tests", "-p", "no:cacheprovider", "-q"]
#: Runs argv[2:] with its output in the file argv[1], then prints its exit code and peak RSS in KiB.
WRAPPER = """\
import resource, subprocess, sys
with open(sys.argv[1], "wb") as out:
    code = subprocess.call(sys.argv[2:], stdout=out, stderr=subprocess.STDOUT)
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


# --- the receiver with a 200 MB answer -----------------------------------------------------------------


class BigAnswer(http.server.BaseHTTPRequestHandler):
    """Answers any request with 200 and ``BODY_BYTES`` of ``x``, streamed in 1 MiB chunks, then closes."""

    protocol_version = "HTTP/1.1"
    body_bytes = BODY_BYTES

    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_"):  # every method: POST, GET, PUT...
            return self._answer
        raise AttributeError(name)

    def _answer(self) -> None:
        self._drain(int(self.headers.get("Content-Length") or 0))
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(self.body_bytes))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        left = self.body_bytes
        with contextlib.suppress(OSError):  # the harness reads its cap, then hangs up
            while left > 0:
                self.wfile.write(CHUNK[: min(left, len(CHUNK))])
                left -= len(CHUNK)

    def _drain(self, length: int) -> None:
        with contextlib.suppress(OSError):
            while length > 0:
                got = self.rfile.read(min(length, 65536))
                if not got:
                    return
                length -= len(got)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_big(port: int) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), BigAnswer)
    server.daemon_threads = True
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    server.serve_forever()


# --- the harness, measured -------------------------------------------------------------------------


@dataclass(frozen=True)
class Peak:
    rss_mb: float
    seconds: float
    code: int
    summary: str


def peak_of(args: list[str], env: dict[str, str], timeout: float) -> Peak:
    """Run the default suite with ``args`` under the wrapper; its peak RSS in MB (10^6 bytes)."""
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as cwd:
        output = Path(cwd, "suite.out")
        argv = [sys.executable, "-c", WRAPPER, str(output), sys.executable, *SUITE, *args]
        started = time.perf_counter()
        wrapper = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, start_new_session=True
        )
        try:
            printed, _ = wrapper.communicate(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(wrapper.pid, signal.SIGKILL)  # the suite too, if it outlived the wrapper
            wrapper.wait()
        seconds = time.perf_counter() - started
        code, kib = (int(n) for n in printed.split())
        return Peak(kib * 1024 / 1e6, seconds, code, _summary(output.read_text(errors="replace")))


def _summary(output: str) -> str:
    """pytest's count line, e.g. ``80 passed, 4 failed in 3.1s``."""
    counts = re.findall(r"^=*\s*(\d+ \w+.* in [\d.]+s).*$", output, re.MULTILINE)
    return counts[-1].strip() if counts else (output.strip().splitlines() or ["no output"])[-1][:120]


def environment(secret: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_")}
    return env | ({"WEBHOOK_SECRET": secret} if secret else {})


def against_big_body(timeout: float) -> Peak:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-bigbody-") as tmp:
        server = [sys.executable, __file__, "--serve-big", str(port)]
        with running(server, environment(None), port, Path(tmp, "server.log")):
            secret = secrets.token_urlsafe(30)[:30]
            return peak_of(["--target-url", f"http://127.0.0.1:{port}/webhook"], environment(secret), timeout)


def rows(timeout: float) -> list[Row]:
    big = against_big_body(timeout)
    baseline = peak_of([], environment(None), timeout)
    limit = f"< {PEAK_LIMIT_MB:g} MB"
    return [
        Row(
            "harness peak RSS, receiver answering 200 MB bodies",
            f"{big.rss_mb:.1f} MB ({big.seconds:.1f} s, exit {big.code}: {big.summary})",
            limit,
            at_most(big.rss_mb, PEAK_LIMIT_MB, " MB"),
        ),
        Row(
            "harness peak RSS, embedded receiver (baseline)",
            f"{baseline.rss_mb:.1f} MB ({baseline.seconds:.1f} s, exit {baseline.code}: {baseline.summary})",
            "",
            ""
            if baseline.code == 0
            else "FLAGGED: the reference receiver failed checks, so the baseline ran other paths",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=300, help="bound on each suite run, in s (default 300)")
    parser.add_argument("--quick", action="store_true", help="the same two runs (they take seconds)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON (for run_all.py)")
    parser.add_argument("--serve-big", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_big:
        serve_big(args.serve_big)
        return 0
    results = rows(args.timeout)
    print_table(results, "Memory")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
