"""The reference webhook receiver: the kit's passing baseline and a template to copy into production.

Read in this order: ``core`` (what to answer), ``asgi`` (verify, validate, persist, acknowledge),
``inbox`` (where events are stored once), ``processing`` and ``business`` (your handlers), ``serve``.
"""

from __future__ import annotations

from reference_receiver.asgi import WebhookApp
from reference_receiver.config import Config
from reference_receiver.core import Answer, Receiver, Record
from reference_receiver.inbox import GroupCommit, Inbox, MemoryInbox, SqliteInbox, Stored
from reference_receiver.processing import HANDLERS, Event, Processor, on
from reference_receiver.serve import RunningServer, serve, start_in_thread

__all__ = [
    "HANDLERS",
    "Answer",
    "Config",
    "Event",
    "GroupCommit",
    "Inbox",
    "MemoryInbox",
    "Processor",
    "Receiver",
    "Record",
    "RunningServer",
    "SqliteInbox",
    "Stored",
    "WebhookApp",
    "create_app",
    "on",
    "serve",
    "start_in_thread",
]


def create_app(config: Config | None = None) -> WebhookApp:
    """The receiver configured from the environment (or ``config``), with the handlers of ``business``."""
    import reference_receiver.business  # noqa: F401 - registers the handlers

    return WebhookApp(config or Config.from_env())
