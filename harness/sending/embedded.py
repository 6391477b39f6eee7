"""The bundled reference receiver, started in-process: the suite's target when none is given."""

from __future__ import annotations

import logging
import secrets as random_secrets
import shutil
import tempfile
from pathlib import Path

from harness.config.secret import Secret
from harness.sending.client import Target
from reference_receiver import Config, create_app
from reference_receiver.serve import RunningServer, start_in_thread

__all__ = ["EmbeddedReceiver", "generated_secret"]


def generated_secret() -> Secret:
    """A fresh random secret like the dashboard's generator makes (30 characters)."""
    return Secret(random_secrets.token_urlsafe(30)[:30])


class EmbeddedReceiver:
    """The reference receiver on a free loopback port, with its own secret and a durable inbox in a
    temporary directory, until ``stop()``: the same server and store as in production."""

    def __init__(self, secret: Secret | None = None) -> None:
        # Its refusals of the checks' bad input are the receiver's business, not the run's output: without a
        # handler of the caller's, logging's last resort would print each to stderr.
        logger = logging.getLogger("reference_receiver")
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())
        self.secret = secret or generated_secret()
        self._directory = tempfile.mkdtemp(prefix="webhook-conformance-")
        config = Config(secret=self.secret.reveal(), inbox=str(Path(self._directory, "inbox.sqlite3")))
        self.app = create_app(config)
        self._server: RunningServer = start_in_thread(self.app)
        self.target = Target(url=self._server.url, secret=self.secret, embedded=True)

    def stop(self) -> None:
        self._server.stop()
        shutil.rmtree(self._directory, ignore_errors=True)
