"""The engine: one whole conformance run, with pytest nowhere in sight.

It resolves nothing itself (a front door hands it :class:`Settings`), opens the target (given or embedded),
sends the planned cases stage by stage, up to ``parallelism`` at once within a stage, judges each with the
check functions, applies the levels (MUST, SHOULD, INFO), counts coverage, concludes (latency, what the
Cloud would do, the optional load drill, the verdict) and writes the reports. It owns the masking set.

Front doors: :func:`harness.check` (the Python API), ``webhook-conformance check`` and the pytest plugin.
The plugin starts the cases in the background and waits for each one's record as pytest calls its test.
"""

from __future__ import annotations

import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import TypedDict

from harness.config.exitcodes import ExitCode
from harness.config.settings import Settings
from harness.judging.catalogue import Requirement, catalogue, requirement
from harness.judging.checks import CheckFailed, NotApplicable
from harness.judging.outlook import outlook
from harness.output.explain import LEAK_FILE, render_failure
from harness.output.report import CheckRecord, Coverage, Outcome, RunReport, now, record_exchange, verdict
from harness.output.terminal import Header
from harness.output.write import write_reports
from harness.payloads.dashboard_url import dashboard_rejections
from harness.payloads.masking import Masking
from harness.run.suite import STAGES, Case, Context, SharedSteps, cases
from harness.run.target import Opened, clear_hop
from harness.sending.client import Client, NotSent, Target
from harness.sending.drill import drill
from harness.sending.load import Latency, Progress
from harness.wire.transport import Exchange
from harness.wire.untrusted import printable

__all__ = ["Engine", "exit_code", "expected_checks"]

OnRecord = Callable[[CheckRecord], None]


class _Reproducing(TypedDict):
    """How a check's reproduction runs: keyword arguments of explain.reproduction."""

    timeout: float
    save_to: str | None
    at_once: int


def expected_checks() -> dict[str, int]:
    """Checks per requirement in the whole suite: what a complete run judges."""
    counts: dict[str, int] = {}
    for case in cases():
        counts[case.requirement] = counts.get(case.requirement, 0) + 1
    return counts


class Engine:
    """One conformance run. ``open()``, ``start(cases)``, ``result(id)`` as each is wanted, ``conclude()``,
    ``close()``; or :meth:`run` for all of it. Not reusable: one engine, one run."""

    def __init__(self, settings: Settings, *, on_record: OnRecord | None = None) -> None:
        self.settings = settings
        self.masking = Masking(settings.target_url, settings.secret)
        self.report: RunReport | None = None
        self.opened: Opened | None = None
        self._on_record = on_record
        self._planned: list[Case] = []
        self._futures: dict[str, Future[CheckRecord | None]] = {}
        self._stop = threading.Event()
        self._scheduler: threading.Thread | None = None
        self._shared = SharedSteps()

    # --- the target ---

    def open(self) -> RunReport:
        """Open the target and check that it can be reached; raises SettingError on a setting it cannot use."""
        self.opened = Opened(self.settings)
        target = self.opened.target
        self.masking.cover(target.url, target.secret)
        self.report = RunReport(
            target=self.masking(target.description),
            embedded=target.embedded,
            settings=self.masking(self.settings.as_flags()),
            started=now(),
            url_warnings=[] if target.embedded else dashboard_rejections(target.url),
            insecure=self.settings.insecure,
        )
        problem = self.opened.unreachable()
        self.report.setup_error = None if problem is None else printable(self.masking(problem), newlines=True)
        return self.report

    def header(self) -> Header:
        opened = self._opened()
        target = opened.target
        return Header(
            embedded_secret_length=len(target.secret) if target.embedded else None,
            secret_unused=target.embedded and bool(self.settings.secret),
            in_clear=clear_hop(target.url, opened.options) is not None,
        )

    @property
    def target(self) -> Target:
        return self._opened().target

    @property
    def client(self) -> Client:
        """The run's client: every exchange of the run, whichever case sent it."""
        return self._opened().client

    def _opened(self) -> Opened:
        if self.opened is None:
            raise RuntimeError("the engine's target is not open: call open() first")
        return self.opened

    # --- the cases ---

    def start(self, planned: Sequence[Case]) -> None:
        """Run ``planned`` in the background, stage by stage; :meth:`result` waits for one of them."""
        self._planned = list(planned)
        self._futures = {case.id: Future() for case in self._planned}
        self._scheduler = threading.Thread(target=self._schedule, name="webhook-conformance-engine", daemon=True)
        self._scheduler.start()

    def result(self, case_id: str) -> CheckRecord | None:
        """The record of a planned case once it is judged; None when the run stopped before it."""
        future = self._futures[case_id]
        while True:  # short waits, so that Ctrl-C is seen at once
            try:
                return future.result(timeout=0.2)
            except TimeoutError:
                continue

    def stop(self) -> None:
        """Start no more cases; those in flight end within their deadlines."""
        self._stop.set()

    def _schedule(self) -> None:
        by_stage: dict[str, list[Case]] = {}
        for case in self._planned:
            by_stage.setdefault(case.check.stage, []).append(case)
        try:
            with ThreadPoolExecutor(self.settings.parallelism, thread_name_prefix="webhook-case") as pool:
                for stage, parallel in STAGES:
                    if parallel:
                        # A check of one case sends several requests in sequence (DLV-1, AUTH-5): those go first,
                        # so that the stage does not wait on them at its end.
                        staged = sorted(by_stage.get(stage, []), key=lambda case: case.check.cases is not None)
                        sent = [pool.submit(self._run_case, case, busy_again=True) for case in staged]
                        wait(sent)
                        # Refused as busy while other cases were in flight: judged again alone, since the
                        # concurrency finding is DLV-2's, which sends its burst on purpose.
                        for again in [f.result() for f in sent]:
                            if again is not None:
                                self._run_case(again)
                    else:
                        for case in by_stage.get(stage, []):
                            self._run_case(case)
        finally:
            for future in self._futures.values():
                if not future.done():
                    future.set_result(None)

    def _run_case(self, case: Case, *, busy_again: bool = False) -> Case | None:
        """Judge ``case`` and publish its record; with ``busy_again``, a refusal as busy (429, 503) is not
        published but handed back, to be judged again alone."""
        future = self._futures[case.id]
        if self._stop.is_set():
            future.set_result(None)
            return None
        try:
            record, sent = self._judge(case)
        except BaseException as exc:  # a bug in the engine itself: the waiting front door raises it
            future.set_exception(exc)
            return None
        if busy_again and _refused_as_busy(record, sent):
            self.client.withdraw(sent)
            return case
        future.set_result(record)
        if self._on_record is not None:
            self._on_record(record)
        return None

    def _judge(self, case: Case) -> tuple[CheckRecord, list[Exchange]]:
        """The case's record, and the exchanges it sent."""
        found = requirement(case.requirement)
        client = self._opened().client.view()
        context = Context(client, self.settings, found, self._shared)
        started = time.monotonic()
        failure: CheckFailed | None = None
        try:
            _applicable(found, bool(client.target.secret))
            case.check.run(context, case.value)
            outcome: Outcome = "passed"
            message = ""
        except CheckFailed as exc:
            failure, outcome = exc, _failed(found)
            message = render_failure(found, exc, self.masking.values, **self._reproducing(found))
        except (NotApplicable, NotSent) as exc:
            outcome, message = "skipped", printable(self.masking(str(exc)))
        except Exception:  # a bug in the harness or a check, not a finding about the receiver
            outcome, message = "error", printable(self.masking(traceback.format_exc()), newlines=True)
        elapsed = time.monotonic() - started
        exchange = failure.exchange if failure is not None and failure.exchange is not None else None
        if exchange is None and client.own:
            exchange = client.own[-1]
        return self._record(case, found, outcome, elapsed, message, failure, exchange), client.own

    def _record(
        self,
        case: Case,
        found: Requirement,
        outcome: Outcome,
        elapsed: float,
        message: str,
        failure: CheckFailed | None,
        exchange: Exchange | None,
    ) -> CheckRecord:
        kept = None if exchange is None else record_exchange(exchange, self.masking.values, **self._reproducing(found))
        return CheckRecord(
            nodeid=f"{case.check.name}[{case.id}]",
            requirement=found.id,
            level=found.level,
            statement=found.statement,
            outcome=outcome,
            duration_ms=round(elapsed * 1000, 1),
            message=message,
            fix=found.fix,
            exchange=kept,
            id=case.id,
            expected=None if failure is None else printable(self.masking(failure.expected)),
            actual=None if failure is None else printable(self.masking(failure.actual)),
            hint=None if failure is None or failure.hint is None else printable(self.masking(failure.hint)),
            reproduction=None if failure is None or kept is None else kept.curl,
        )

    def _reproducing(self, found: Requirement) -> _Reproducing:
        """How a check's reproduction runs, the same in the failure text and the reports."""
        return {
            "timeout": self.settings.timeout,
            # A leak's answer holds the secret: running the command must not print it either.
            "save_to": LEAK_FILE if found.reproduce == "save-answer" else None,
            # A burst fails only under concurrency: one request alone would succeed.
            "at_once": self.settings.parallelism if found.reproduce == "burst" else 1,
        }

    # --- the end ---

    def conclude(
        self,
        *,
        interrupted: bool = False,
        records: Sequence[CheckRecord] | None = None,
        announce: Callable[[str], None] | None = None,
        on_load: Callable[[Progress], None] | None = None,
    ) -> RunReport:
        """After the checks: latency, what the Cloud would do, the load drill if asked for, and the verdict.

        ``records`` are the judgements to count, in the order to show them; by default every one the engine made.
        ``announce`` is told where the load drill goes before its first delivery; ``on_load`` gets its progress,
        in this thread, about ten times a second.
        """
        report = self._report()
        self.stop()
        if self._scheduler is not None:
            self._scheduler.join()
        if records is None:
            made = [f.result() for f in self._futures.values() if f.done() and f.exception() is None]
            records = [record for record in made if record is not None]
        report.records = list(records)
        interrupted = interrupted or any(f.result() is None for f in self._futures.values() if not f.exception())
        if report.setup_error is None:
            self._outlook(report)
            if self.settings.load and not interrupted:
                self._load(report, announce, on_load)
        report.finished = now()
        client = self._opened().client
        coverage = Coverage(
            expected=expected_checks(),
            interrupted=interrupted,
            secret_configured=bool(client.target.secret),
            strict=self.settings.strict,
            gave_up=client.gave_up,
            refused_without_secret=client.refused_without_secret,
        )
        report.verdict = verdict(report.records, catalogue(), report.target, coverage, report.setup_error)
        return report

    def _load(
        self, report: RunReport, announce: Callable[[str], None] | None, on_load: Callable[[Progress], None] | None
    ) -> None:
        settings, target = self.settings, self.target
        if announce is not None:  # before the first delivery: whoever runs it sees where the load goes
            host = urllib.parse.urlsplit(target.url).hostname
            announce(
                f"webhook conformance: load run: {settings.load} deliveries to {host}, "
                f"{settings.load_concurrency} at a time"
            )
        options = self._opened().options
        result = drill(
            target.url, target.secret, options, settings.load, settings.load_concurrency, on_progress=on_load
        )
        report.load, report.load_lines = result.as_json(), result.lines()

    def _outlook(self, report: RunReport) -> None:
        opened = self._opened()
        exchanges = opened.client.exchanges
        latency = Latency.of([e.elapsed for e in exchanges if e.request.as_the_cloud])
        report.latency = None if latency is None else latency.as_json()
        cloud = outlook(exchanges)
        report.cloud, report.cloud_lines = cloud.as_json(), cloud.lines()
        if latency is not None:
            # Handshakes included, so not the auto-disable line's count of deliveries: say so, and count requests.
            described = latency.describe(("request", "requests"))
            report.cloud_lines.append(
                f"latency of the requests as the Cloud sends them, Validate included: {described}"
            )

    def write_reports(self, environ: Mapping[str, str]) -> list[str]:
        """Write the report files the settings ask for; one line per file, to print."""
        return write_reports(self._report(), self.settings, environ)

    def _report(self) -> RunReport:
        if self.report is None:
            raise RuntimeError("the engine's target is not open: call open() first")
        return self.report

    def close(self) -> None:
        self.stop()
        if self.opened is not None:
            self.opened.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # --- all of it ---

    def run(self, selected: Callable[[Case], bool] | None = None) -> RunReport:
        """Open, run every case ``selected`` (all by default), conclude. Ctrl-C stops it with a verdict."""
        report = self.open()
        if report.setup_error is not None:
            return self.conclude(records=[])
        planned = cases(selected)
        self.start(planned)
        interrupted = False
        try:
            for case in planned:
                self.result(case.id)
        except KeyboardInterrupt:
            interrupted = True
        return self.conclude(interrupted=interrupted)


#: Answers that say "too many at once", not "no": a check refused so under the run's own concurrency is judged
#: again alone. Timeouts are not among them: judging a slow receiver twice would double the slowest runs.
BUSY = (429, 503)


def _refused_as_busy(record: CheckRecord, sent: Sequence[Exchange]) -> bool:
    """Was a check not met (failed, or not judged: HS-3 judges the body of a 2xx only) with one of its answers
    saying busy? AUTH-5 compares two answers: either may be the busy one."""
    failed = record.outcome in ("failed", "should-failed", "info", "skipped")
    return failed and any(e.response is not None and e.response.status in BUSY for e in sent)


def _applicable(found: Requirement, secret_configured: bool) -> None:
    """Raise NotApplicable when the run's secret is not what the requirement is judged with."""
    if found.judged_with == "a-secret" and not secret_configured:
        raise NotApplicable(
            "no secret is configured: set WEBHOOK_SECRET (or --webhook-secret-file) to the webhook's secret to "
            "judge this"
        )
    if found.judged_with == "no-secret" and secret_configured:
        raise NotApplicable("a secret is configured; this checks receivers configured without one")


def _failed(found: Requirement) -> Outcome:
    """What a failed check means at its requirement's level."""
    return {"MUST": "failed", "SHOULD": "should-failed", "INFO": "info"}[found.level]  # type: ignore[return-value]


def exit_code(report: RunReport, *, strict: bool, selected_none: bool = False) -> ExitCode:
    """The suite's exit code for a finished run (harness.config.exitcodes)."""
    if report.setup_error is not None:
        return ExitCode.TARGET_UNREACHABLE
    if any(r.outcome == "error" for r in report.records):
        return ExitCode.INTERNAL_ERROR
    if selected_none:
        return ExitCode.NO_TESTS_COLLECTED
    verdict_ = report.verdict
    failed = verdict_ is not None and (verdict_.must_failed or (verdict_.should_failed and strict))
    if failed:
        return ExitCode.REQUIREMENT_FAILED
    if verdict_ is not None and verdict_.status == "NO VERDICT":
        return ExitCode.INTERRUPTED
    return ExitCode.OK
