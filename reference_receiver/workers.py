"""``serve --workers N``: N receiver processes on one port, sharing one PostgreSQL inbox.

uvicorn's own supervisor runs them (``uvicorn.supervisors.Multiprocess``): the parent binds the socket once
and every worker accepts on it; a worker that dies is started again; SIGTERM reaches every worker, each of
which finishes its requests in flight. Each worker has its own writer and processor: the inbox makes sure a
duplicate is stored once and an event is handled by one processor at a time (see ``postgres.py``).

SQLite is refused: one SQLite file written by several processes serialises them on its lock, and the
template's claim on an event holds only within one process.
"""

from __future__ import annotations

import inspect
import socket

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from .asgi import WebhookApp
from .config import Config, is_postgres
from .serve import _listen, announce, configure_logging, raise_open_files_limit, uvicorn_config

__all__ = ["refusal", "serve_workers", "worker_app"]


def refusal(config: Config, workers: int) -> str | None:
    """Why ``workers`` processes cannot share this inbox, or None."""
    if workers < 1:
        return f"--workers must be at least 1, not {workers}"
    if workers > 1 and not is_postgres(config.inbox):
        return (
            f"--workers {workers} needs a PostgreSQL inbox (WEBHOOK_INBOX=postgresql://...): several processes "
            "cannot share a SQLite file or an in-memory inbox. Run one process per SQLite inbox."
        )
    return None


def worker_app() -> WebhookApp:
    """The app of one worker, made in the worker: the environment is its parent's, logging is set up again."""
    from . import create_app

    config = Config.from_env()
    configure_logging(config.log_level)
    return create_app(config)


def _supervisor(settings: uvicorn.Config, sock: socket.socket) -> Multiprocess:
    """uvicorn's supervisor; before 0.36 it was also handed the function each worker runs."""
    if "target" in inspect.signature(Multiprocess).parameters:
        run = uvicorn.Server(settings).run
        return Multiprocess(settings, target=run, sockets=[sock])  # type: ignore[call-arg, unused-ignore]
    return Multiprocess(settings, sockets=[sock])


def serve_workers(config: Config, host: str, port: int, workers: int) -> bool:
    """Serve with ``workers`` processes until SIGINT or SIGTERM; False if a worker could not start (uvicorn
    then stops them all). OSError if the address cannot be listened on."""
    raise_open_files_limit()  # inherited by the workers
    sock = _listen(host, port)
    announce(sock)
    settings = uvicorn_config(
        f"{__name__}:worker_app", host, sock.getsockname()[1], config=config, factory=True, workers=workers
    )
    supervisor = _supervisor(settings, sock)
    try:
        supervisor.run()
    finally:
        sock.close()
    # uvicorn stops every worker when one fails to start (the inbox unreachable, say) and still returns:
    # say so, so that the exit code is not 0 and a service manager starts the receiver again.
    return not any(_exit_code(worker) == STARTUP_FAILURE for worker in supervisor.processes)


def _exit_code(worker: object) -> int | None:
    process = getattr(worker, "process", worker)
    code = getattr(process, "exitcode", None)
    return code if isinstance(code, int) else None
