"""The reference webhook receiver: the kit's passing baseline and a template to copy into production."""

from __future__ import annotations

from reference_receiver.app import HANDLERS, create_app, on
from reference_receiver.serve import RunningServer, serve, start_in_thread

__all__ = ["HANDLERS", "RunningServer", "create_app", "on", "serve", "start_in_thread"]
