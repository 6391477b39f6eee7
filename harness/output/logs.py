"""Log records masked and made inert at birth: whatever handler prints them (pytest's capture, ``log_cli``, Python's
last resort on stderr), a secret in a message, an exception's text or a stack never reaches it.

A record factory, not a handler filter: handlers are the user's, and one added after us would see the clear
text. The front doors install it for the length of a run; the Python API does not, because the factory is
process-wide and calls from several threads must not meet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from harness.wire.untrusted import printable

__all__ = ["MaskedLogRecords"]


class MaskedLogRecords:
    """While entered, every log record created in the process is passed through ``mask``, then escaped."""

    def __init__(self, mask: Callable[[str], str]) -> None:
        self._mask = mask
        self._previous = logging.getLogRecordFactory()

    def _shown(self, text: str) -> str:
        # Libraries log what the receiver sent (urllib3 quotes headers it cannot parse): inert, as in any output.
        return printable(self._mask(text), newlines=True)

    def _record(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._previous(*args, **kwargs)
        message = record.getMessage()
        if self._shown(message) != message:
            record.msg, record.args = self._shown(message), None
        # Handlers format exceptions later, from exc_info, unless exc_text is already set: set it, masked.
        if record.exc_info:
            record.exc_text = self._shown(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = self._shown(record.stack_info)
        return record

    def __enter__(self) -> MaskedLogRecords:
        self._previous = logging.getLogRecordFactory()
        logging.setLogRecordFactory(self._record)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        logging.setLogRecordFactory(self._previous)
