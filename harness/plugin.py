"""The pytest plugin: a thin adapter from pytest to the harness core.

It registers the options (one help text each, for the flag and the ini setting), resolves the
settings, starts the run when conformance tests were collected, and shapes what pytest reports:
requirement ids in results, failures in the harness's template, SHOULD findings that do not fail
the run unless strict, and the secret masked in every report, captured section and log record.
"""

from __future__ import annotations

import argparse
import logging
import os
import urllib.parse
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypedDict, TypeVar

import pytest
from _pytest import junitxml  # its stash key: the one way to reach the JUnit writer

from harness.config.exitcodes import ExitCode
from harness.config.secret import Secret, redact
from harness.config.settings import OPTIONS, SettingError, Settings, resolve
from harness.judging.catalogue import Requirement, catalogue
from harness.judging.catalogue import requirement as lookup_requirement
from harness.judging.checks import CheckFailed, NotApplicable, sends_in_clear
from harness.judging.outlook import outlook
from harness.output.explain import LEAK_FILE, render_failure
from harness.output.report import (
    CheckRecord,
    Coverage,
    ExchangeRecord,
    Outcome,
    RunReport,
    now,
    record_exchange,
    verdict,
    write_reports,
)
from harness.payloads.dashboard_url import dashboard_rejections
from harness.run.target import Run
from harness.sending.client import Client, Target
from harness.sending.load import Latency, LoadResult, run_load
from harness.sending.load import deliveries as load_deliveries
from harness.wire.transport import Exchange, send

__all__ = ["requirement"]

F = TypeVar("F", bound=Callable[..., Any])
INSECURE_BANNER = (
    "TLS VERIFICATION IS OFF (--webhook-insecure): the Cloud verifies certificates; this run does not, "
    "and TLS-1 fails on a certificate that does not verify"
)
MARKER = "requirement"
# The exchange a check judged, kept for its record in the reports.
_EXCHANGE = pytest.StashKey[Exchange]()


# The options of a check's curl reproduction, as keyword arguments of explain.reproduction.
class _Reproducing(TypedDict):
    timeout: float
    save_to: str | None
    at_once: int


# Set when a check reached its verdict, so that any other failure is known to be the harness's.
_JUDGED = pytest.StashKey[bool]()


def requirement(
    requirement_id: str, cases: Sequence[tuple[str, object]] | None = None, *, last: bool = False
) -> Callable[[F], F]:
    """Mark a test as the check of one requirement, and put the requirement id in its node ids.

    With ``cases`` (name, value) the test is parametrized over ``case``, with ids such as
    ``AUTH-2-site-plan-change-prefix``; without, it gets ``requirement_id`` and the id ``AUTH-2``.
    ``last`` runs the test after every other check, whatever its requirement's place in the catalogue.
    """
    lookup_requirement(requirement_id)  # an unknown id fails at import, not at run time

    def decorate(function: F) -> F:
        # How many checks this function makes, whatever -k or a node id selects: what "the whole suite" is.
        function.webhook_cases = len(cases) if cases is not None else 1  # type: ignore[attr-defined]
        function.webhook_last = last  # type: ignore[attr-defined]
        marked: F = pytest.mark.requirement(requirement_id)(function)
        if cases is None:
            return pytest.mark.parametrize("requirement_id", [requirement_id], ids=[requirement_id])(marked)  # type: ignore[no-any-return]
        ids = [f"{requirement_id}-{name}" for name, _ in cases]
        return pytest.mark.parametrize("case", [value for _, value in cases], ids=ids)(marked)  # type: ignore[no-any-return]

    return decorate


# --- options and settings ----------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("webhook-conformance", "webhook receiver conformance")
    for option in OPTIONS:
        is_flag = option.kind == "flag"
        # --webhook-strict / --no-webhook-strict: the negative form overrides the environment and ini files.
        shape: dict[str, Any] = {"action": argparse.BooleanOptionalAction} if is_flag else {"metavar": option.metavar}
        group.addoption(
            option.flag,
            dest=f"webhook_{option.name}",
            help=option.help + (f" Environment: {option.env}." if option.env else ""),
            **shape,
        )
        if option.ini:
            # Strings, flags too: our parser reads them, so a bad value names the ini setting.
            parser.addini(option.ini, option.help, type="string", default=None)


def _resolve(config: pytest.Config) -> Settings:
    cli = {o.name: config.getoption(f"webhook_{o.name}") for o in OPTIONS}
    ini = {o.name: config.getini(o.ini) for o in OPTIONS if o.ini}
    return resolve(ini, os.environ, cli)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(id): the test checks this requirement of the catalogue")
    config.pluginmanager.register(ConformanceSession(config), "webhook-conformance-session")


# --- the session -------------------------------------------------------------------------------


class ConformanceSession:
    """Per-session state and the hooks that need it."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        # Resolved now, but a bad value is reported only if conformance tests run: installing the kit
        # must not break unrelated pytest runs in the same environment.
        try:
            self._settings: Settings | None = _resolve(config)
            self._settings_error: str | None = None
        except SettingError as exc:
            self._settings, self._settings_error = None, f"webhook conformance: {exc}"
        self.run: Run | None = None
        self.report: RunReport | None = None
        #: Checks per requirement, as the test functions collected define them (all their cases).
        self.expected: dict[str, int] = {}
        self._original_record_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(self._redacting_record_factory)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            raise pytest.UsageError(self._settings_error)
        return self._settings

    # Every value to mask: the configured secret at once, the embedded receiver's once it exists.
    def secrets(self) -> list[Secret]:
        if self.run is not None:
            return self.run.secrets()
        configured = self._settings.secret if self._settings is not None else None
        return [configured] if configured else []

    def _redacting_record_factory(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._original_record_factory(*args, **kwargs)
        secrets = self.secrets()
        if secrets:
            message = record.getMessage()
            masked = redact(message, secrets)
            if masked != message:
                record.msg, record.args = masked, None
            # Handlers format exceptions later, from exc_info, unless exc_text is already set: set it, masked.
            if record.exc_info:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info), secrets)
            if record.stack_info:
                record.stack_info = redact(record.stack_info, secrets)
        return record

    # --- collection and start ---

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        order = {requirement_id: index for index, requirement_id in enumerate(catalogue())}

        def position(item: pytest.Item) -> int:
            requirement_id = _requirement_id(item)
            if getattr(getattr(item, "function", None), "webhook_last", False):
                return len(order)
            return -1 if requirement_id is None else order[requirement_id]

        # Catalogue order, like the Cloud's own: the handshake before any event.
        items.sort(key=position)
        seen: set[int] = set()
        for item in items:
            found = _requirement(item)
            if found is not None:
                item.user_properties += [("requirement", found.id), ("level", found.level)]
                function = getattr(item, "function", None)
                if function is not None and id(function) not in seen:
                    seen.add(id(function))
                    self.expected[found.id] = self.expected.get(found.id, 0) + getattr(function, "webhook_cases", 1)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        option = self.config.option
        listing_only = (
            option.collectonly or getattr(option, "showfixtures", False) or getattr(option, "setupplan", False)
        )
        if listing_only or not any(_requirement_id(i) for i in session.items):
            return
        try:
            self.run = Run(self.settings)
        except SettingError as exc:
            raise pytest.UsageError(f"webhook conformance: {exc}") from None
        masked = self.secrets()  # a password in the URL, too
        self.report = RunReport(
            target=redact(self.run.target.description, masked),
            embedded=self.run.target.embedded,
            settings=redact(self.settings.as_flags(), masked),
            started=now(),
            url_warnings=[] if self.run.target.embedded else dashboard_rejections(self.run.target.url),
            insecure=self.settings.insecure,
        )
        problem = self.run.unreachable()
        self.report.setup_error = None if problem is None else redact(problem, masked)
        if self.report.setup_error is not None:
            # One error about the setup instead of a failure per check; the exit code is set at the end.
            session.items.clear()

    def pytest_report_collectionfinish(self) -> list[str]:
        if self.run is None or self.report is None:
            return []
        lines = [f"webhook conformance: target {self.report.target}", f"  settings: {self.report.settings}"]
        if self.run.target.embedded:
            lines.append(f"  the embedded receiver has a generated secret ({len(self.run.target.secret)} characters)")
            if self.settings.secret:
                lines.append(
                    "  note: a secret is set but no target, so it is not used: set --target-url to check yours"
                )
        lines += [f"  warning: the Cloud's dashboard would refuse this URL: {w}" for w in self.report.url_warnings]
        if sends_in_clear(self.run.target.url):
            lines.append(
                "  warning: an http target on another machine: the secret and every payload cross the network in clear"
            )
        if self.report.insecure:
            lines.append(f"  {INSECURE_BANNER}")
        return lines

    def pytest_unconfigure(self) -> None:
        logging.setLogRecordFactory(self._original_record_factory)
        if self.run is not None:
            self.run.close()

    def current_run(self) -> Run:
        if self.run is None:  # a conformance fixture used outside a conformance test
            self.run = Run(self.settings)
        return self.run

    # --- each check ---

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, object, object]:
        # A fixture that cannot send (the receiver seems hung) makes its checks unjudgeable, not broken.
        try:
            return (yield)
        except NotApplicable as exc:
            raise pytest.skip.Exception(str(exc), _use_item_location=True) from None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        found = _requirement(item)
        exchanges = self.run.client.exchanges if self.run is not None else []
        first = len(exchanges)
        try:
            return (yield)
        except NotApplicable as exc:
            # Reported at the test, not here.
            raise pytest.skip.Exception(str(exc), _use_item_location=True) from None
        except CheckFailed as exc:
            if found is None:
                raise
            item.stash[_JUDGED] = True
            if exc.exchange is not None:
                item.stash[_EXCHANGE] = exc.exchange
            # The template replaces the traceback: harness frames say nothing to a receiver's author.
            text = render_failure(found, exc, self.secrets(), **self._reproducing(found))
            raise pytest.fail.Exception(text, pytrace=False) from None
        finally:
            if _EXCHANGE not in item.stash and len(exchanges) > first:
                item.stash[_EXCHANGE] = exchanges[-1]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        self._redact(report)
        found = _requirement(item)
        if found is None or (report.when != "call" and report.passed):
            return report
        outcome: Outcome = report.outcome
        if report.failed:
            if report.when != "call" or not item.stash.get(_JUDGED, False):
                # Not a check's verdict but an exception in the harness or a fixture: a bug, not a finding.
                outcome = "error"
            elif found.level == "INFO":
                # Worth knowing, never a failure, strict or not.
                outcome = "info"
                report.outcome = "skipped"
                report.wasxfail = f"{found.id} (INFO) noted"
                report.webhook_info = True  # type: ignore[attr-defined]
            elif found.level != "MUST":
                outcome = "should-failed"
                if not self.settings.strict:
                    # Shown in its own summary section and counted apart, not as a failure of the run.
                    report.outcome = "skipped"
                    report.wasxfail = f"{found.id} ({found.level}) not met"
                    report.webhook_should = True  # type: ignore[attr-defined]
        report.webhook_outcome = outcome  # type: ignore[attr-defined]
        self._record(item, report, found, outcome)
        return report

    def _record(self, item: pytest.Item, report: pytest.TestReport, found: Requirement, outcome: Outcome) -> None:
        if self.report is None:
            return
        message = str(report.longrepr) if outcome in ("failed", "should-failed", "info", "error") else ""
        if report.skipped and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2]).removeprefix("Skipped: ")
        exchange = item.stash.get(_EXCHANGE, None)
        self.report.records.append(
            CheckRecord(
                nodeid=report.nodeid,
                requirement=found.id,
                level=found.level,
                statement=found.statement,
                outcome=outcome,
                duration_ms=round(report.duration * 1000, 1),
                message=message,
                fix=found.fix,
                exchange=None if exchange is None else self._exchange_record(exchange, found),
            )
        )

    def _tell_junit(self, setup_error: str) -> None:
        """Put the setup error in the JUnit file as an errored test case: an empty suite looks green in CI."""
        xml = self.config.stash.get(junitxml.xml_key, None)
        if xml is None:
            return
        location = ("conformance_tests", None, "webhook conformance setup")
        for when, outcome in (("setup", "failed"), ("teardown", "passed")):
            xml.pytest_runtest_logreport(
                pytest.TestReport("conformance_tests::setup", location, {}, outcome, setup_error, when)  # type: ignore[arg-type]
            )

    def _exchange_record(self, exchange: Exchange, found: Requirement) -> ExchangeRecord:
        return record_exchange(exchange, self.secrets(), **self._reproducing(found))

    def _reproducing(self, found: Requirement) -> _Reproducing:
        """How a check's reproduction runs, the same in the failure text and the reports."""
        return {
            "timeout": self.settings.timeout,
            # A leak's answer holds the secret: running the command must not print it either.
            "save_to": LEAK_FILE if found.id == "LEAK-1" else None,
            # DLV-2 fails only under concurrency: one request alone would succeed.
            "at_once": self.settings.parallelism if found.id == "DLV-2" else 1,
        }

    def _redact(self, report: pytest.TestReport) -> None:
        secrets = self.secrets()
        if not secrets:
            return
        if isinstance(report.longrepr, tuple):
            # A skip: (path, line, reason). Reporters rely on the shape, so only the reason is masked.
            path, line, reason = report.longrepr
            report.longrepr = (path, line, redact(reason, secrets))
        elif report.longrepr is not None:
            text = str(report.longrepr)
            masked = redact(text, secrets)
            if masked != text:
                report.longrepr = masked
        report.sections = [(title, redact(content, secrets)) for title, content in report.sections]

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        if getattr(report, "webhook_should", False):
            return "should-failed", "s", ("SHOULD-FAILED", {"yellow": True})
        if getattr(report, "webhook_info", False):
            return "info", "i", ("INFO", {"cyan": True})
        return None

    # --- the end: reports, then the verdict as the very last line ---

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.report is None:
            return
        for outcome, title, colour in (
            ("should-failed", "SHOULD findings (not fatal without --webhook-strict)", "yellow"),
            ("info", "INFO notes (never fatal)", "cyan"),
        ):
            findings = [r for r in self.report.records if r.outcome == outcome]
            if findings:
                terminalreporter.section(title, sep="=", **{colour: True})
                for record in findings:
                    terminalreporter.write_sep("_", record.nodeid, **{colour: True})
                    terminalreporter.write_line(record.message)
        if self.report.cloud_lines or self.report.load_lines:
            terminalreporter.section("webhook conformance: what the Cloud would do", sep="=")
            for line in [*self.report.cloud_lines, *self.report.load_lines]:
                terminalreporter.write_line(line)
        if self.report.insecure:
            terminalreporter.write_line(INSECURE_BANNER, red=True, bold=True)
        if self.report.setup_error is not None:
            terminalreporter.section("webhook conformance: setup error", sep="=", red=True)
            terminalreporter.write_line(self.report.setup_error)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        report = self.report
        if report is not None:
            self._conclude(report, session)
            report.finished = now()
            coverage = Coverage(
                expected=self.expected,
                interrupted=_interrupted(session),
                secret_configured=bool(self.run is not None and self.run.target.secret),
                strict=self.settings.strict,
                gave_up=bool(self.run is not None and self.run.client.gave_up),
                refused_without_secret=bool(self.run is not None and self.run.client.refused_without_secret),
            )
            report.verdict = verdict(report.records, catalogue(), report.target, coverage, report.setup_error)
            if report.setup_error is not None:
                session.exitstatus = ExitCode.TARGET_UNREACHABLE
                self._tell_junit(report.setup_error)
            elif any(r.outcome == "error" for r in report.records):
                session.exitstatus = ExitCode.INTERNAL_ERROR
            written = write_reports(report, self.settings, os.environ)
        yield
        # After pytest's own summary line: the verdict is the last thing a CI log shows.
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if report is not None and report.verdict is not None and terminal is not None:
            for line in written:
                terminal.write_line(line)
            terminal.write_sep("-", "webhook conformance verdict")
            terminal.write_line(
                report.verdict.line, bold=True, green=report.verdict.ready, red=not report.verdict.ready
            )

    def _conclude(self, report: RunReport, session: pytest.Session) -> None:
        """After the checks: latency, what the Cloud would do, and the load run when one was asked for."""
        if self.run is None or report.setup_error is not None:
            return
        exchanges = self.run.client.exchanges
        latency = Latency.of([e.elapsed for e in exchanges if e.request.as_the_cloud])
        report.latency = None if latency is None else latency.as_json()
        cloud = outlook(exchanges)
        report.cloud, report.cloud_lines = cloud.as_json(), cloud.lines()
        if latency is not None:
            report.cloud_lines.append(f"latency of the deliveries as the Cloud sends them: {latency.describe()}")
        if self.settings.load and not _interrupted(session):
            result = self._load(self.run)
            report.load, report.load_lines = result.as_json(), result.lines()

    def _load(self, run: Run) -> LoadResult:
        settings = self.settings
        host = urllib.parse.urlsplit(run.target.url).hostname
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:  # before the first delivery: whoever runs it sees where the load goes
            terminal.ensure_newline()
            terminal.write_line(
                f"webhook conformance: load run: {settings.load} deliveries to {host}, "
                f"{settings.load_concurrency} at a time",
                bold=True,
            )
        build = load_deliveries(run.target.url, run.target.secret)
        return run_load(lambda i: send(build(i), run.options), settings.load, settings.load_concurrency)


def _interrupted(session: pytest.Session) -> bool:
    """Ctrl-C, -x or --maxfail stopped the run before the end of the suite."""
    return session.exitstatus == ExitCode.INTERRUPTED or bool(session.shouldstop or session.shouldfail)


def _requirement_id(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker(MARKER)
    return None if marker is None else str(marker.args[0])


def _requirement(item: pytest.Item) -> Requirement | None:
    requirement_id = _requirement_id(item)
    return None if requirement_id is None else lookup_requirement(requirement_id)


def _session(request: pytest.FixtureRequest) -> ConformanceSession:
    plugin = request.config.pluginmanager.get_plugin("webhook-conformance-session")
    assert isinstance(plugin, ConformanceSession)
    return plugin


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def webhook_settings(request: pytest.FixtureRequest) -> Settings:
    """The effective settings of the run."""
    return _session(request).settings


@pytest.fixture(scope="session")
def webhook_target(request: pytest.FixtureRequest) -> Target:
    """The receiver under test: its URL and the secret configured for it."""
    return _session(request).current_run().target


@pytest.fixture(scope="session")
def webhook_client(request: pytest.FixtureRequest) -> Client:
    """Sends deliveries to the target like the Cloud does, and records every exchange."""
    return _session(request).current_run().client
