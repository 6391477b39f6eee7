"""What the benchmarks share: the machine, statistics, ports and children, verdicts, the Markdown table."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "REPO",
    "Row",
    "at_least",
    "at_most",
    "free_port",
    "machine",
    "median",
    "ms",
    "percentile",
    "print_table",
    "running",
    "stop",
    "table",
    "wait_for_port",
    "write_json",
]

#: The checkout the benchmarks live in (the docs sample is run from its tests/).
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Row:
    """One line of the results table: what was measured, its value, its goal, and whether it was met."""

    figure: str
    value: str
    target: str = ""
    result: str = ""


def machine() -> str:
    """CPUs, CPU model, Python and date: the figures are comparable only within one run on one machine."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    when = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return f"{os.cpu_count()} CPUs, {model}, {platform.python_implementation()} {platform.python_version()}, {when}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def at_most(value: float, limit: float, unit: str = "") -> str:
    """The verdict on an upper bound: met, or missed by how much."""
    if value <= limit:
        return "met"
    return f"missed by {value - limit:.3g}{unit} ({value / limit:.2f}x the limit)"


def at_least(value: float, floor: float, unit: str = "") -> str:
    """The verdict on a lower bound: met, or missed by how much."""
    if value >= floor:
        return "met"
    return f"missed by {floor - value:.3g}{unit} ({value / floor:.0%} of the goal)" if floor else "missed"


def free_port() -> int:
    """A port free on loopback right now (another process could take it before we use it; unlikely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Return once something accepts connections on ``port``; raise if ``process`` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {timeout:g} s")


def stop(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Interrupt a child (Ctrl-C: servers shut down cleanly), then kill it if it does not end in ``grace`` s."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(grace)


@contextlib.contextmanager
def running(
    argv: Sequence[str], env: dict[str, str], port: int, log: Path, stdout: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A server started from ``argv``, listening on ``port``, stopped on exit; its stderr goes to ``log``."""
    with log.open("wb") as err:
        process = subprocess.Popen(argv, env=env, stdout=stdout or err, stderr=err, cwd=REPO)  # noqa: S603
        try:
            try:
                wait_for_port(port, process)
            except RuntimeError as e:
                tail = log.read_text(errors="replace")[-1500:]
                raise RuntimeError(f"{' '.join(argv[1:])}: {e}; its log ends:\n{tail}") from None
            yield process
        finally:
            stop(process)


def table(rows: Sequence[Row], title: str | None = None) -> str:
    """The rows as a Markdown table, the machine in its first row."""
    lines = [
        "| figure | value | target | result |",
        "|---|---|---|---|",
        f"| machine | {machine()} | | |",
    ]
    lines += [f"| {r.figure} | {r.value} | {r.target} | {r.result} |" for r in rows]
    return "\n".join(([f"### {title}", ""] if title else []) + lines)


def print_table(rows: Sequence[Row], title: str | None = None) -> None:
    print(table(rows, title), flush=True)


def write_json(path: str | None, rows: Sequence[Row]) -> None:
    """For run_all.py: the rows of one script, as JSON."""
    if path:
        Path(path).write_text(json.dumps([asdict(r) for r in rows]))
