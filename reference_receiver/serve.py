"""Serving the receiver with waitress: blocking for production, or on a thread for tests and the harness."""

from __future__ import annotations

import threading
from typing import Any

import waitress
from flask import Flask
from waitress.server import create_server

__all__ = ["RunningServer", "serve", "start_in_thread"]


def _limits(app: Flask) -> dict[str, Any]:
    return {
        # waitress buffers a whole body (chunked too) before the app runs: hold it to the app's limit, so
        # an oversized body is refused (413, in waitress's plain text) before it is read. It refuses at >=.
        "max_request_body_size": app.config["MAX_CONTENT_LENGTH"] + 1,
        # Close stalled or idle connections after 20-25 s instead of 2 minutes.
        "channel_timeout": 20,
        "cleanup_interval": 5,
    }


def serve(app: Flask, host: str = "127.0.0.1", port: int = 8000, threads: int = 8) -> None:
    """Serve ``app`` until interrupted."""
    waitress.serve(app, host=host, port=port, threads=threads, **_limits(app))


def start_in_thread(app: Flask, host: str = "127.0.0.1", port: int = 0, *, threads: int = 8) -> RunningServer:
    """Serve ``app`` on a daemon thread (port 0 = a free one) until ``stop()`` or the end of a ``with``."""
    server = create_server(app, map={}, host=host, port=port, threads=threads, **_limits(app))
    if not hasattr(server, "active_channels"):  # a name that resolved to several addresses
        server.close()
        raise ValueError(f"host must be a single address, not {host!r}")
    thread = threading.Thread(target=server.run, name="reference-receiver", daemon=True)
    thread.start()
    return RunningServer(server, thread)


class RunningServer:
    """A receiver served on a thread: ``url`` is its webhook URL."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self._stopped = False
        self._lock = threading.Lock()
        self.host: str = server.effective_host
        self.port = int(server.effective_port)
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{netloc}:{self.port}/webhook"

    def stop(self, timeout: float = 0.5) -> None:
        """Close the port and the connections and end the threads, in at most about twice ``timeout``."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        # Workers first, while the loop still runs, so that requests in flight can finish (a worker
        # still busy after ``timeout`` is abandoned: it is a daemon thread).
        self._server.task_dispatcher.shutdown(timeout=timeout)
        # The loop thread closes its own sockets (closing them from here would race with its select());
        # an empty socket map then ends the loop.
        self._server.trigger.pull_trigger(self._close_sockets)
        self._thread.join(timeout)
        self._close_sockets()  # idempotent; does the work if the loop had died or hung

    def _close_sockets(self) -> None:
        for channel in list(self._server.active_channels.values()):
            channel.handle_close()  # also wakes a worker waiting to write to it
        # A worker that outlived the timeout still pulls the trigger when it ends: make that a no-op, as
        # the number of the closed pipe may by then belong to another file.
        self._server.trigger._physical_pull = lambda: None
        self._server.close()  # the listening socket and the trigger

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
