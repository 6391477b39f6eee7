"""The defaults of a fleet run (``check-many``), in one place for the command line, the runner and the queue."""

from __future__ import annotations

__all__ = ["AT_ONCE", "COLUMNS", "QUEUE_NAME", "TIME_LIMIT"]

#: The targets file's columns: the URL, and the name of the environment variable holding its secret.
COLUMNS = ("url", "secret_env")
#: Targets checked at once on one machine, each in a process of its own: the Cloud's workers, as a default.
AT_ONCE = 8
#: The RQ queue a fleet's jobs go to.
QUEUE_NAME = "webhook-conformance"
#: How long one target's run may take before it is stopped, and how long the collector waits for workers:
#: far past any run's own deadlines (a receiver answering every request just inside the Cloud's timeout takes
#: minutes), so only a hung harness or a missing worker meets it.
TIME_LIMIT = 3600.0
