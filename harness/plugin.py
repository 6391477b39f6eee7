"""The pytest plugin: an adapter from pytest to the engine (harness.run.engine), and nothing more.

It maps options to settings, items to the engine's cases and records to pytest statuses, and prints the
engine's header, sections and verdict. The engine runs the cases in the background, up to the run's
parallelism at once; each test waits for its own case's record.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import pytest
from _pytest import junitxml  # its stash key: the one way to reach the JUnit writer

from harness.config.exitcodes import ExitCode
from harness.config.settings import OPTIONS, SettingError, Settings, resolve
from harness.output.live import LiveLine
from harness.output.logs import MaskedLogRecords
from harness.output.report import CheckRecord
from harness.output.terminal import header_lines, sections
from harness.run.engine import Engine
from harness.run.suite import Case, cases, check_named
from harness.sending.client import Client, Target

__all__ = ["conformance"]

F = TypeVar("F", bound=Callable[..., Any])
MARKER = "requirement"
_CASE = pytest.StashKey[Case]()
_RECORD = pytest.StashKey[CheckRecord]()


def conformance(function: F) -> F:
    """Make ``test_<name>`` the pytest test of the engine's check ``<name>``: one item per case, with the
    case id (``AUTH-2-site-plan-change-prefix``) in its node id and the requirement as its marker."""
    found = check_named(function.__name__.removeprefix("test_"))  # an unknown check fails at import
    marked = pytest.mark.requirement(found.requirement)(function)
    ids = found.case_ids()
    return pytest.mark.parametrize("webhook_case", ids, ids=ids, indirect=True)(marked)  # type: ignore[no-any-return]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("webhook-conformance", "webhook receiver conformance")
    for option in OPTIONS:
        # --webhook-strict / --no-webhook-strict: the negative form overrides the environment and ini files.
        shape: dict[str, Any] = (
            {"action": argparse.BooleanOptionalAction} if option.kind == "flag" else {"metavar": option.metavar}
        )
        group.addoption(option.flag, dest=f"webhook_{option.name}", help=option.full_help, **shape)
        if option.ini:  # strings, flags too: our parser reads them, so a bad value names the ini setting
            parser.addini(option.ini, option.help, type="string", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(id): the test checks this requirement of the catalogue")
    config.pluginmanager.register(ConformanceSession(config), "webhook-conformance-session")


class ConformanceSession:
    """The engine of this pytest session, and the hooks that connect it to pytest."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        # A bad value is reported only if conformance tests run: installing the kit must not break other runs.
        try:
            cli = {o.name: config.getoption(f"webhook_{o.name}") for o in OPTIONS}
            ini = {o.name: config.getini(o.ini) for o in OPTIONS if o.ini}
            self._settings: Settings | str = resolve(ini, os.environ, cli)
        except SettingError as exc:
            self._settings = f"webhook conformance: {exc}"
        self.engine: Engine | None = None
        #: The records of the tests pytest ran, by node id, in the order they were reported.
        self.reported: dict[str, CheckRecord] = {}
        self._logs = MaskedLogRecords(self._mask).__enter__()  # left in pytest_unconfigure

    @property
    def settings(self) -> Settings:
        if isinstance(self._settings, str):
            raise pytest.UsageError(self._settings)
        return self._settings

    def current(self) -> Engine:
        """The session's engine, opened; a conformance fixture used outside the suite opens it."""
        if self.engine is None:
            self.engine = Engine(self.settings)
            try:
                self.engine.open()
            except SettingError as exc:
                raise pytest.UsageError(f"webhook conformance: {exc}") from None
        return self.engine

    def _mask(self, text: str) -> str:
        return self.engine.masking(text) if self.engine is not None else text

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        by_id = {case.id: (index, case) for index, case in enumerate(cases())}
        for item in items:
            callspec = getattr(item, "callspec", None)
            case_id = callspec.params.get("webhook_case") if callspec is not None else None
            if case_id in by_id:
                item.stash[_CASE] = by_id[case_id][1]
                level = self._level(by_id[case_id][1])
                item.user_properties += [("requirement", by_id[case_id][1].requirement), ("level", level)]
        # The engine's order (the handshake first, the session's checks last), so results print as they come.
        items.sort(key=lambda i: by_id[i.stash[_CASE].id][0] if _CASE in i.stash else -1)

    @staticmethod
    def _level(case: Case) -> str:
        from harness.judging.catalogue import requirement

        return requirement(case.requirement).level

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        option = self.config.option
        listing = option.collectonly or getattr(option, "showfixtures", False) or getattr(option, "setupplan", False)
        if listing or not any(_CASE in item.stash for item in session.items):
            return
        report = self.current().report
        if report is not None and report.setup_error is not None:
            session.items.clear()  # one error about the setup instead of a failure per check

    def pytest_report_collectionfinish(self) -> list[str]:
        if self.engine is None or self.engine.report is None:
            return []
        return header_lines(self.engine.report, self.engine.header())

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        planned = [item.stash[_CASE] for item in session.items if _CASE in item.stash]
        if self.engine is not None and planned:
            self.engine.start(planned)
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        self._redact(report)
        record = item.stash.get(_RECORD, None)
        if record is None or report.when != "call":
            return report
        report.webhook_outcome = record.outcome  # type: ignore[attr-defined]
        if record.outcome == "info":  # worth knowing, never a failure, strict or not
            report.outcome, report.wasxfail = "skipped", f"{record.requirement} (INFO) noted"
            report.webhook_info = True  # type: ignore[attr-defined]
        elif record.outcome == "should-failed" and not self.settings.strict:
            # Its own letter and section, counted apart: not a failure of the run unless strict.
            report.outcome, report.wasxfail = "skipped", f"{record.requirement} ({record.level}) not met"
            report.webhook_should = True  # type: ignore[attr-defined]
        return report

    def _redact(self, report: pytest.TestReport) -> None:
        if isinstance(report.longrepr, tuple):  # a skip: (path, line, reason); reporters rely on the shape
            path, line, reason = report.longrepr
            report.longrepr = (path, line, self._mask(reason))
        elif report.longrepr is not None and self._mask(str(report.longrepr)) != str(report.longrepr):
            report.longrepr = self._mask(str(report.longrepr))
        report.sections = [(title, self._mask(content)) for title, content in report.sections]

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, tuple[str, Any]] | None:
        if getattr(report, "webhook_should", False):
            return "should-failed", "S", ("SHOULD-FAILED", {"purple": True, "bold": True})
        if getattr(report, "webhook_info", False):
            return "info", "i", ("INFO", {"cyan": True})
        return None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.engine is None or self.engine.report is None:
            return
        for section in sections(self.engine.report, strict=self.settings.strict):
            colour = {section.colour: True} if section.colour else {}
            if section.title:
                terminalreporter.section(section.title, sep="=", **colour)
            for name, text in section.entries or []:
                terminalreporter.write_sep("_", name, **colour)
                terminalreporter.write_line(text)
            for line in section.lines:
                terminalreporter.write_line(line, **colour, bold=not section.title)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
        written: list[str] = []
        if self.engine is not None and self.engine.report is not None:
            # Before the terminal summary, which prints what the engine concluded.
            interrupted = exitstatus == ExitCode.INTERRUPTED or bool(session.shouldstop or session.shouldfail)
            with self._live() as live:
                report = self.engine.conclude(
                    interrupted=interrupted,
                    records=list(self.reported.values()),
                    announce=self._announce,
                    on_load=lambda progress: live.update(progress.line(), progress.sent / progress.planned),
                )
            if report.setup_error is not None:
                session.exitstatus = ExitCode.TARGET_UNREACHABLE
                self._tell_junit(report.setup_error)
            elif any(r.outcome == "error" for r in report.records):
                session.exitstatus = ExitCode.INTERNAL_ERROR
            written = self.engine.write_reports(os.environ)
        yield
        # After pytest's own summary line: the verdict is the last thing a CI log shows.
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        verdict = self.engine.report.verdict if self.engine is not None and self.engine.report else None
        if verdict is not None and terminal is not None:
            for line in written:
                terminal.write_line(line)
            terminal.write_sep("-", "webhook conformance verdict")
            terminal.write_line(verdict.line, bold=True, green=verdict.ready, red=not verdict.ready)

    def _announce(self, line: str) -> None:
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            terminal.ensure_newline()
            terminal.write_line(line, bold=True)

    def _live(self) -> LiveLine:
        """The load drill's progress line, on the terminal pytest writes to (its writer keeps the stream)."""
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        stream = getattr(getattr(terminal, "_tw", None), "_file", None) or sys.stdout
        return LiveLine(stream)

    def _tell_junit(self, setup_error: str) -> None:
        """Put the setup error in the JUnit file as an errored test case: an empty suite looks green in CI."""
        xml = self.config.stash.get(junitxml.xml_key, None)
        if xml is None:
            return
        location = ("webhook-conformance", None, "webhook conformance setup")
        for when, outcome in (("setup", "failed"), ("teardown", "passed")):
            xml.pytest_runtest_logreport(
                pytest.TestReport("webhook-conformance::setup", location, {}, outcome, setup_error, when)  # type: ignore[arg-type]
            )

    def pytest_unconfigure(self) -> None:
        self._logs.__exit__(None, None, None)
        if self.engine is not None:
            self.engine.close()


class Judgement:
    """A test's handle on its case: ``judge()`` waits for the engine's record and says it in pytest's terms."""

    def __init__(self, session: ConformanceSession, item: pytest.Item) -> None:
        self._session, self._item = session, item

    def judge(self) -> None:
        __tracebackhide__ = True
        record = self._session.current().result(self._item.stash[_CASE].id)
        if record is None:
            pytest.skip("not judged: the run stopped before this check")
        record = dataclasses.replace(record, nodeid=self._item.nodeid)
        self._item.stash[_RECORD] = self._session.reported[self._item.nodeid] = record
        if record.outcome == "skipped":
            pytest.skip(record.message)
        if record.outcome != "passed":
            pytest.fail(record.message, pytrace=False)


def _session(request: pytest.FixtureRequest) -> ConformanceSession:
    plugin = request.config.pluginmanager.get_plugin("webhook-conformance-session")
    assert isinstance(plugin, ConformanceSession)
    return plugin


@pytest.fixture
def webhook_case(request: pytest.FixtureRequest) -> Judgement:
    """The engine's case of this test (parametrized by :func:`conformance`)."""
    return Judgement(_session(request), request.node)


@pytest.fixture(scope="session")
def webhook_settings(request: pytest.FixtureRequest) -> Settings:
    """The effective settings of the run."""
    return _session(request).settings


@pytest.fixture(scope="session")
def webhook_target(request: pytest.FixtureRequest) -> Target:
    """The receiver under test: its URL and the secret configured for it."""
    return _session(request).current().target


@pytest.fixture(scope="session")
def webhook_client(request: pytest.FixtureRequest) -> Client:
    """Sends deliveries to the target like the Cloud does, and records every exchange."""
    return _session(request).current().client.view()
