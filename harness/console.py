"""``webhook-conformance check`` on a console: the engine's run, its progress lines, failures and verdict.

The same texts as the pytest plugin prints (harness.output.terminal), so both front doors read alike. One line
per check once all its cases are judged, in the order they run: ``HS-1  validate_gets_2xx  .``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TextIO

from harness.config.exitcodes import ExitCode
from harness.config.settings import SettingError, Settings
from harness.output.live import LiveLine
from harness.output.logs import MaskedLogRecords
from harness.output.report import CheckRecord, Outcome
from harness.output.terminal import header_lines, sections
from harness.run.engine import Engine, exit_code
from harness.run.suite import Case, cases

__all__ = ["LETTERS", "run_check"]

#: The progress letter of each outcome, as pytest's (S: a SHOULD finding, i: an INFO note).
LETTERS: dict[Outcome, str] = {
    "passed": ".",
    "failed": "F",
    "should-failed": "S",
    "info": "i",
    "skipped": "s",
    "error": "E",
}


def run_check(settings: Settings, selected: Callable[[Case], bool] | None, out: TextIO) -> int:
    """Run the suite as the settings say, print it to ``out``, and return the exit code."""
    planned = cases(selected)
    with Engine(settings) as engine, MaskedLogRecords(engine.masking):
        try:
            report = engine.open()
        except SettingError as exc:
            print(f"webhook-conformance check: {exc}", file=out)
            return ExitCode.USAGE_ERROR
        _print(out, *header_lines(report, engine.header()))
        interrupted = False
        if report.setup_error is None and planned:
            engine.start(planned)
            try:
                _progress(engine, planned, out)
            except KeyboardInterrupt:
                interrupted = True
                _print(out, "", "interrupted: the checks in flight end within their timeouts")
        with LiveLine(out) as live:
            report = engine.conclude(
                interrupted=interrupted,
                announce=lambda line: _print(out, line),
                on_load=lambda progress: live.update(progress.line(), progress.sent / progress.planned),
            )
        _failures(report.records, out)
        for section in sections(report, strict=settings.strict):
            if section.title:
                _print(out, "", f"== {section.title} ==")
            for name, text in section.entries or []:
                _print(out, f"__ {name} __", text)
            _print(out, *section.lines)
        _print(out, "", *engine.write_reports(os.environ))
        assert report.verdict is not None
        _print(out, "-- webhook conformance verdict --", report.verdict.line)
        if interrupted:
            return ExitCode.INTERRUPTED
        return exit_code(report, strict=settings.strict, selected_none=not planned)


def _progress(engine: Engine, planned: list[Case], out: TextIO) -> None:
    """One line per check, in the order they run, as soon as its last case is judged."""
    width = max(len(case.check.name) for case in planned)
    letters: list[str] = []
    for index, case in enumerate(planned):
        record = engine.result(case.id)
        letters.append(LETTERS[record.outcome] if record is not None else "-")
        last = index + 1 == len(planned) or planned[index + 1].check is not case.check
        if last:
            _print(out, f"{case.requirement:<8} {case.check.name:<{width}}  {''.join(letters)}")
            letters = []


def _failures(records: list[CheckRecord], out: TextIO) -> None:
    failed = [r for r in records if r.outcome in ("failed", "error")]
    if failed:
        _print(out, "", "== FAILURES ==")
    for record in failed:
        _print(out, f"__ {record.nodeid} __", record.message, "")


def _print(out: TextIO, *lines: str) -> None:
    for line in lines:
        print(line, file=out, flush=True)
