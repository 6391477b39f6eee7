"""Log records masked at birth: whatever handler prints them (pytest's capture, ``log_cli``, Python's last
resort on stderr), a secret in a message, an exception's text or a stack never reaches it.

A record factory, not a handler filter: handlers are the user's, and one added after us would see the clear
text. The front doors install it for the length of a run; the Python API does not, because the factory is
process-wide and calls from several threads must not meet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["MaskedLogRecords"]


class MaskedLogRecords:
    """While entered, every log record created in the process is passed through ``mask``."""

    def __init__(self, mask: Callable[[str], str]) -> None:
        self._mask = mask
        self._previous = logging.getLogRecordFactory()

    def _record(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._previous(*args, **kwargs)
        message = record.getMessage()
        if self._mask(message) != message:
            record.msg, record.args = self._mask(message), None
        # Handlers format exceptions later, from exc_info, unless exc_text is already set: set it, masked.
        if record.exc_info:
            record.exc_text = self._mask(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = self._mask(record.stack_info)
        return record

    def __enter__(self) -> MaskedLogRecords:
        self._previous = logging.getLogRecordFactory()
        logging.setLogRecordFactory(self._record)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        logging.setLogRecordFactory(self._previous)
