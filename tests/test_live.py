"""The live progress line: rewritten in place on a terminal, a few summary lines in a CI log."""

from __future__ import annotations

import io

import pytest

from harness.output.live import CLEAR_TO_END, LiveLine
from harness.sending.load import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TerminalIO(io.StringIO):
    def isatty(self) -> bool:
        return True


def drawn(text: str) -> str:
    return f"\r{text}{CLEAR_TO_END}"


def test_on_a_terminal_the_line_is_rewritten_at_most_ten_times_a_second() -> None:
    stream, clock = io.StringIO(), Clock()
    line = LiveLine(stream, terminal=True, clock=clock)
    for k in range(1, 101):  # 100 updates over 0.5 s
        line.update(f"load: {k} of 100", k / 100)
        clock.now += 0.005
    assert stream.getvalue().count("\r") <= 6
    assert stream.getvalue().startswith(drawn("load: 1 of 100"))
    line.finish()
    assert stream.getvalue().endswith(drawn("load: 100 of 100") + "\n")  # the last text, though throttled
    assert stream.getvalue().count("\n") == 1


def test_on_a_terminal_finish_with_a_text_replaces_the_line() -> None:
    stream, clock = io.StringIO(), Clock()
    with LiveLine(stream, terminal=True, clock=clock) as line:
        line.update("load: 1 of 2")
        clock.now += 1
        line.update("load: 2 of 2")
        line.finish("load: done")
        line.finish("ignored: finished already")
    assert stream.getvalue() == drawn("load: 1 of 2") + drawn("load: 2 of 2") + drawn("load: done") + "\n"
    with pytest.raises(RuntimeError, match="finished"):
        line.update("late")


def test_a_terminal_line_is_cut_to_the_width_so_it_never_wraps() -> None:
    stream = io.StringIO()
    with LiveLine(stream, terminal=True, width=10) as line:
        line.update("0123456789abcdef")
    assert stream.getvalue() == drawn("012345678") + "\n"


def test_isatty_decides_by_default() -> None:
    assert LiveLine(TerminalIO()).terminal
    assert not LiveLine(io.StringIO()).terminal
    closed = io.StringIO()
    closed.close()
    assert not LiveLine(closed).terminal


def test_a_log_gets_the_start_each_quarter_and_the_end() -> None:
    stream, clock = io.StringIO(), Clock()
    line = LiveLine(stream, terminal=False, clock=clock)
    for k in range(10_001):
        line.update(f"load: {k:,} of 10,000", k / 10_000)
        clock.now += 0.001
    line.finish()
    assert stream.getvalue().splitlines() == [
        "load: 0 of 10,000",
        "load: 2,500 of 10,000",
        "load: 5,000 of 10,000",
        "load: 7,500 of 10,000",
        "load: 10,000 of 10,000",
    ]
    assert "\r" not in stream.getvalue()
    assert CLEAR_TO_END not in stream.getvalue()


def test_a_log_of_a_run_stopped_early_ends_with_its_last_text() -> None:
    stream = io.StringIO()
    with LiveLine(stream, terminal=False) as line:
        for k in range(40):
            line.update(f"load: {k} of 100", k / 100)  # stopped at 39%: a receiver that hung
    assert stream.getvalue().splitlines() == ["load: 0 of 100", "load: 25 of 100", "load: 39 of 100"]


def test_a_log_with_jumps_and_no_share_writes_few_lines() -> None:
    stream = io.StringIO()
    line = LiveLine(stream, terminal=False)
    line.update("first", 0.6)  # past two marks at once: one line
    line.update("second", 0.7)
    line.update("third")  # no share: nothing new to report
    line.update("fourth", 0.8)
    line.finish("the end")
    assert stream.getvalue().splitlines() == ["first", "fourth", "the end"]


def test_nothing_is_written_for_a_line_never_updated() -> None:
    for terminal in (True, False):
        stream = io.StringIO()
        LiveLine(stream, terminal=terminal).finish()
        assert stream.getvalue() == ""


def test_drill_progress_on_a_live_line() -> None:
    stream, clock = io.StringIO(), Clock()
    line = LiveLine(stream, terminal=False, clock=clock)
    by_class = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, "other": 0, "no response": 0}
    for sent in range(0, 2001, 100):
        progress = Progress(2000, sent, 0, {**by_class, "2xx": sent}, sent / 1000)
        line.update(progress.line(), progress.sent / progress.planned)
    line.finish()
    assert stream.getvalue().splitlines() == [
        "load: 0 of 2,000 deliveries, 0/s, 0 errors",
        "load: 500 of 2,000 deliveries, 1,000/s, 0 errors, 2xx 500",
        "load: 1,000 of 2,000 deliveries, 1,000/s, 0 errors, 2xx 1,000",
        "load: 1,500 of 2,000 deliveries, 1,000/s, 0 errors, 2xx 1,500",
        "load: 2,000 of 2,000 deliveries, 1,000/s, 0 errors, 2xx 2,000",
    ]
