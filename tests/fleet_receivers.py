"""Many gallery receivers at once, each on a loopback port of its own, for the fleet's tests and benchmark."""

from __future__ import annotations

import contextlib
import csv
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from werkzeug import Request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from gallery import Broken, responder

#: A target nothing listens on (the discard port): check-many must report it unreachable.
UNREACHABLE_URL = "http://127.0.0.1:9/webhook"


@dataclass(frozen=True)
class Served:
    """A receiver of the fleet: what it is, where it listens, and the variable its secret is in (or empty)."""

    broken: Broken
    url: str
    secret_env: str


class _Quiet(WSGIRequestHandler):
    """No line per request: a fleet's receivers answer thousands."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextlib.contextmanager
def serving(receivers: Sequence[Broken]) -> Iterator[list[Served]]:
    """Serve each receiver on a port of its own (threaded, so a slow answer holds up nothing else)."""
    servers: list[BaseWSGIServer] = []
    served: list[Served] = []
    try:
        for number, broken in enumerate(receivers, 1):
            server = make_server(
                "127.0.0.1", 0, Request.application(responder(broken.handler)), threaded=True, request_handler=_Quiet
            )
            servers.append(server)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
            url = f"http://127.0.0.1:{server.server_port}/webhook" + getattr(broken.handler, "query", "")
            served.append(Served(broken, url, f"FLEET_SECRET_{number}" if broken.secret else ""))
        yield served
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def targets_file(path: Path, served: Sequence[Served], *extra: tuple[str, str]) -> Path:
    """The targets file of ``served`` (and any ``extra`` rows), as check-many reads it."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["url", "secret_env"])
        writer.writerows([(s.url, s.secret_env) for s in served] + list(extra))
    return path


def secrets_environment(served: Sequence[Served]) -> dict[str, str]:
    """Each receiver's secret under its variable's name."""
    return {s.secret_env: s.broken.secret for s in served if s.broken.secret}


def check_many(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``webhook-conformance check-many`` in a process of its own, as a user runs it: none of this process's
    WEBHOOK_ or FLEET_SECRET_ variables, only ``env``'s."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "FLEET_SECRET_"))}
    return subprocess.run(
        [sys.executable, "-m", "harness", "check-many", *args],
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def dies_first(job: dict[str, object], sender: object) -> None:
    """A target's process that dies without a word for the first target (as one killed by the kernel would),
    and checks the others as the fleet does: run_local's ``work``, imported by name in each process."""
    from harness.run import fleet

    if job["index"] == 1:
        os._exit(9)
    fleet.check_and_send(job, sender)  # type: ignore[arg-type]
