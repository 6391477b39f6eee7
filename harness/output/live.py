"""One live progress line: rewritten in place on a terminal, a few summary lines in a log.

On a terminal each :meth:`LiveLine.update` rewrites the line (``\\r``, the text, clear to the end of the line),
at most every ``interval`` seconds; a text that comes sooner waits for the next update, or for
:meth:`LiveLine.finish`, which leaves the last text on the line and ends it with a newline. Anywhere else (a CI
log, a file, a pipe) a ``\\r`` would pile up hundreds of lines, so only a few are written: the first update,
the first one at or past each quarter of the work, and the last text at the end: six lines at most, however
long the run.

The text is written as given, nothing escaped: only text the harness made goes there, never a receiver's
bytes. Like the stream it writes to, a LiveLine is for one thread at a time (the drill calls ``on_progress``
in the thread that called it, so that is where to update the line from).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TextIO

__all__ = ["CLEAR_TO_END", "INTERVAL", "MARKS", "LiveLine"]

#: ANSI "erase in line", from the cursor to the end: what is left of a longer text drawn before.
CLEAR_TO_END = "\x1b[K"
#: Seconds between two redraws on a terminal, at least: about ten a second.
INTERVAL = 0.1
#: The shares of the work done at which a log gets a line.
MARKS = (0.25, 0.5, 0.75, 1.0)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def _columns(stream: TextIO) -> int | None:
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (AttributeError, ValueError, OSError):  # no file descriptor (StringIO), or not a terminal after all
        return None


class LiveLine:
    """A progress line on ``stream``: in place when ``terminal`` (by default ``stream.isatty()``), else a summary.

    ``width`` (by default the terminal's, when it can be read) cuts the text on a terminal to one column less,
    since a text that wraps could not be rewritten in place. ``clock`` is for tests.
    """

    def __init__(
        self,
        stream: TextIO,
        terminal: bool | None = None,
        *,
        interval: float = INTERVAL,
        width: int | None = None,
        marks: Sequence[float] = MARKS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self.terminal = _is_terminal(stream) if terminal is None else terminal
        self._interval = interval
        self._width = width if width is not None else (_columns(stream) if self.terminal else None)
        self._marks = sorted(marks)
        self._clock = clock
        self._shown: str | None = None  # the text on the line now, or the last line written to the log
        self._latest: str | None = None  # the last text given
        self._drawn_at = -math.inf
        self._mark = 0  # the next mark to reach
        self.finished = False

    def update(self, text: str, done: float | None = None) -> None:
        """Show ``text``, ``done`` being the share of the work done (from 0 to 1), if known."""
        if self.finished:
            raise RuntimeError("this live line is finished: start another one")
        self._latest = text
        if self.terminal:
            if self._clock() - self._drawn_at >= self._interval:
                self._draw(text)
            return
        reached = self._mark
        while done is not None and reached < len(self._marks) and done >= self._marks[reached]:
            reached += 1
        if self._shown is None or reached > self._mark:
            self._mark = reached
            self._write_line(text)

    def finish(self, text: str | None = None) -> None:
        """End the line with ``text``, or else the last text given (if any): it stays, followed by a newline."""
        if self.finished:
            return
        self.finished = True
        final = text if text is not None else self._latest
        if self.terminal:
            if final is not None and final != self._shown:
                self._draw(final)
            if self._shown is not None:
                self._stream.write("\n")
                self._stream.flush()
        elif final is not None and final != self._shown:
            self._write_line(final)

    def __enter__(self) -> LiveLine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.finish()

    def _draw(self, text: str) -> None:
        shown = text[: self._width - 1] if self._width and self._width > 1 else text
        self._stream.write(f"\r{shown}{CLEAR_TO_END}")
        self._stream.flush()
        self._shown = text
        self._drawn_at = self._clock()

    def _write_line(self, text: str) -> None:
        self._stream.write(f"{text}\n")
        self._stream.flush()
        self._shown = text
