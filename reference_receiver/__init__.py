"""The reference webhook receiver: the kit's passing baseline and a template to copy into production.

Read in this order: ``core`` (what to answer), ``asgi`` (verify, validate, persist, acknowledge),
``inbox`` (where events are stored once), ``processing`` and ``business`` (your handlers), ``serve``.
"""

from __future__ import annotations

from .asgi import WebhookApp
from .config import Config
from .core import Answer, Receiver, Record
from .inbox import GroupCommit, Inbox, MemoryInbox, SqliteInbox, Stored
from .processing import HANDLERS, Event, Processor, on
from .serve import RunningServer, serve, start_in_thread

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


def create_app(config: Config | None = None, inbox: Inbox | None = None) -> WebhookApp:
    """The receiver configured from the environment (or ``config``), with the handlers of ``business``,
    storing in ``inbox`` (default: the one WEBHOOK_INBOX names)."""
    from . import business  # noqa: F401 - registers the handlers

    return WebhookApp(config or Config.from_env(), inbox=inbox)
