"""``webhook-conformance check`` on a console: the engine's run, its progress lines, failures and verdict.

The same texts as the pytest plugin prints (harness.output.terminal), so both front doors read alike. One line
per check once all its cases are judged, in the order they run: ``HS-1  validate_gets_2xx  .``.
``check-many``: one line per target as its run ends, then the fleet's counts, reports and verdict.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from harness.config.exitcodes import ExitCode
from harness.config.secret import Secret, present, redact
from harness.config.settings import SettingError, Settings
from harness.output.fleet import FleetReport, TargetResult
from harness.output.live import LiveLine
from harness.output.logs import MaskedLogRecords
from harness.output.report import CheckRecord, Outcome, now
from harness.output.terminal import header_lines, sections
from harness.output.write import write_fleet_reports
from harness.run.engine import Engine, exit_code
from harness.run.fleet import FleetTarget, fleet_exit_code, fleet_verdict, jobs_for, run_local, without_password
from harness.run.suite import Case, cases
from harness.wire.untrusted import printable

__all__ = ["LETTERS", "Fleet", "run_check", "run_check_many"]

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


# --- check-many ---


@dataclass(frozen=True)
class Fleet:
    """How ``check-many`` runs its targets: here, ``at_once`` at a time, or as jobs on an RQ ``queue``."""

    source: str
    at_once: int
    queue: str | None = None
    queue_name: str = ""
    queue_wait: float = 0.0
    time_limit: float = 0.0


def run_check_many(settings: Settings, targets: Sequence[FleetTarget], fleet: Fleet, out: TextIO) -> int:
    """Check every target as ``fleet`` says, print a line per target and the fleet's verdict; the exit code."""
    held = [Secret(os.environ[t.secret_env]) for t in targets if t.secret_env and os.environ.get(t.secret_env)]

    def mask(text: str) -> str:
        found = present(text, held)
        return redact(text, found) if found else text

    jobs = jobs_for(targets, settings)
    started = now()
    with MaskedLogRecords(mask):
        where = _where(fleet)
        _print(out, f"webhook conformance: {len(targets)} targets from {printable(fleet.source)}, {where}")
        _print(out, f"webhook conformance: settings of every target: {settings.as_flags(target=False) or '(defaults)'}")
        cores = os.cpu_count() or 1
        if fleet.queue is None and min(fleet.at_once, len(targets)) > cores:
            _print(
                out,
                f"webhook conformance: note: {fleet.at_once} targets at once on {cores} CPUs: the harness's own wait "
                f"for a CPU may count in the latency (DLV-7); judge latency with --targets-at-once {cores}",
            )
        width = len(str(len(targets)))

        def line(result: TargetResult) -> None:
            _print(out, mask(_target_line(result, width, len(targets))))

        if fleet.queue is None:
            results, interrupted = run_local(jobs, fleet.at_once, line, fleet.time_limit)
        else:
            from harness.run.queue import QueueError, run_queue

            try:
                results, interrupted = run_queue(
                    fleet.queue,
                    jobs,
                    line,
                    queue_name=fleet.queue_name,
                    wait=fleet.queue_wait,
                    time_limit=fleet.time_limit,
                    held=held,
                    on_note=lambda note: _print(out, f"webhook conformance: {note}"),
                )
            except QueueError as exc:
                print(f"webhook-conformance check-many: {exc}", file=sys.stderr, flush=True)
                return ExitCode.TARGET_UNREACHABLE
        code = fleet_exit_code(results, interrupted=interrupted)
        report = FleetReport(
            targets=results,
            source=fleet.source,
            mode="local" if fleet.queue is None else "queue",
            settings=settings.as_flags(target=False),
            started=started,
            finished=now(),
            exit_code=int(code),
            verdict=fleet_verdict(results, interrupted=interrupted),
        )
        counts = ", ".join(f"{n} {status}" for status, n in report.counts().items() if n)
        _print(out, "", f"== {len(results)} targets: {counts} ==")
        _print(out, *write_fleet_reports(report, settings, os.environ))
        _print(out, "-- webhook conformance fleet verdict --", mask(report.verdict))
        return code


def _where(fleet: Fleet) -> str:
    if fleet.queue is None:
        return f"{fleet.at_once} at once on this machine"
    return f"as RQ jobs on {without_password(fleet.queue)}, queue {fleet.queue_name!r}"


def _target_line(result: TargetResult, width: int, total: int) -> str:
    """``[ 3/12] NOT READY   https://b.example/hook  AUTH-1, AUTH-2 failed  (4.2 s)``"""
    if result.failed:
        why = f"{', '.join(result.failed)} failed"
    elif result.problem:
        why = result.problem.splitlines()[0]
    elif result.should_failed:
        why = f"SHOULD not met: {', '.join(result.should_failed)}"
    else:
        why = ""
    took = f"  ({result.elapsed_s:.1f} s)" if result.elapsed_s else ""
    shown = f"[{result.index:>{width}}/{total}] {result.status:<10}  {result.url}  {why}".rstrip()
    return printable(shown + took)
