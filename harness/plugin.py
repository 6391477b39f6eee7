"""The pytest plugin: a thin adapter from pytest to the harness core.

It registers the options (one help text each, for the flag and the ini setting), resolves the
settings, starts the run when conformance tests were collected, and shapes what pytest reports:
requirement ids in results, failures in the harness's template, SHOULD findings that do not fail
the run unless strict, and the secret masked in every report, captured section and log record.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

import pytest

from harness.catalogue import Requirement, catalogue
from harness.catalogue import requirement as lookup_requirement
from harness.checks import CheckFailed, NotApplicable
from harness.client import Client, Target
from harness.exitcodes import ExitCode
from harness.explain import render_failure
from harness.run import Run
from harness.secret import Secret, redact
from harness.settings import OPTIONS, SettingError, Settings, resolve

__all__ = ["requirement"]

F = TypeVar("F", bound=Callable[..., Any])
MARKER = "requirement"


def requirement(requirement_id: str, cases: Sequence[tuple[str, object]] | None = None) -> Callable[[F], F]:
    """Mark a test as the check of one requirement, and put the requirement id in its node ids.

    With ``cases`` (name, value) the test is parametrized over ``case``, with ids such as
    ``AUTH-2-site-plan-change-prefix``; without, it gets ``requirement_id`` and the id ``AUTH-2``.
    """
    lookup_requirement(requirement_id)  # an unknown id fails at import, not at run time

    def decorate(function: F) -> F:
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
        shape: dict[str, Any] = {"action": "store_true"} if is_flag else {"metavar": option.metavar}
        group.addoption(
            option.flag,
            dest=f"webhook_{option.name}",
            help=option.help + (f" Environment: {option.env}." if option.env else ""),
            **shape,
        )
        if option.ini:
            if is_flag:
                parser.addini(option.ini, option.help, type="bool", default=None)
            else:
                parser.addini(option.ini, option.help, type="string", default=None)


def _settings(config: pytest.Config) -> Settings:
    cli = {o.name: config.getoption(f"webhook_{o.name}") for o in OPTIONS}
    ini = {o.name: config.getini(o.ini) for o in OPTIONS if o.ini}
    try:
        return resolve(ini, os.environ, cli)
    except SettingError as exc:
        raise pytest.UsageError(f"webhook conformance: {exc}") from None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(id): the test checks this requirement of the catalogue")
    config.pluginmanager.register(ConformanceSession(config, _settings(config)), "webhook-conformance-session")


# --- the session -------------------------------------------------------------------------------


class ConformanceSession:
    """Per-session state and the hooks that need it."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.run: Run | None = None
        self.should_findings: list[tuple[str, str]] = []
        self.must_failed: set[str] = set()
        #: Requirements whose checks were selected to run, and why the run could not start, if it could not.
        self.selected: set[str] = set()
        self.setup_error: str | None = None
        self._original_record_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(self._redacting_record_factory)

    # Every value to mask: the configured secret at once, the embedded receiver's once it exists.
    def secrets(self) -> list[Secret]:
        if self.run is not None:
            return self.run.secrets()
        return [self.settings.secret] if self.settings.secret else []

    def _redacting_record_factory(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._original_record_factory(*args, **kwargs)
        secrets = self.secrets()
        if secrets:
            message = record.getMessage()
            masked = redact(message, secrets)
            if masked != message:
                record.msg, record.args = masked, None
        return record

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        order = {requirement_id: index for index, requirement_id in enumerate(catalogue())}

        def position(item: pytest.Item) -> int:
            requirement_id = _requirement_id(item)
            return -1 if requirement_id is None else order[requirement_id]

        # Catalogue order, like the Cloud's own: the handshake before any event.
        items.sort(key=position)
        for item in items:
            found = _requirement(item)
            if found is not None:
                item.user_properties += [("requirement", found.id), ("level", found.level)]

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.config.option.collectonly or not any(_requirement_id(i) for i in session.items):
            return
        self.run = Run(self.settings)
        self.setup_error = self.run.unreachable()
        if self.setup_error is not None:
            # One error about the setup instead of a failure per check; the exit code is set at the end.
            session.items.clear()
        self.selected = {r for r in map(_requirement_id, session.items) if r is not None}

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.setup_error is not None:
            session.exitstatus = ExitCode.TARGET_UNREACHABLE

    def pytest_report_collectionfinish(self) -> list[str]:
        if self.run is None:
            return []
        lines = [
            f"webhook conformance: target {self.run.target.description}",
            f"  settings: {self.settings.as_flags()}",
        ]
        if self.run.target.embedded:
            lines.append(f"  the embedded receiver has a generated secret ({len(self.run.target.secret)} characters)")
            if self.settings.secret:
                lines.append(
                    "  note: a secret is set but no target, so it is not used: set --target-url to check yours"
                )
        return lines

    def pytest_unconfigure(self) -> None:
        logging.setLogRecordFactory(self._original_record_factory)
        if self.run is not None:
            self.run.close()

    # --- fixtures' sources ---

    def current_run(self) -> Run:
        if self.run is None:  # a conformance fixture used outside a conformance test
            self.run = Run(self.settings)
        return self.run

    # --- results ---

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        found = _requirement(item)
        try:
            return (yield)
        except NotApplicable as exc:
            # Reported at the test, not here.
            raise pytest.skip.Exception(str(exc), _use_item_location=True) from None
        except CheckFailed as exc:
            if found is None:
                raise
            # The template replaces the traceback: harness frames say nothing to a receiver's author.
            raise pytest.fail.Exception(render_failure(found, exc, self.secrets()), pytrace=False) from None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        self._redact(report)
        found = _requirement(item)
        if found is None or report.when != "call" or not report.failed:
            return report
        if found.level == "MUST" or self.settings.strict:
            self.must_failed.add(found.id)
            return report
        # A SHOULD finding: shown in its own summary section, not counted as a failure.
        self.should_findings.append((report.nodeid, str(report.longrepr)))
        report.outcome = "skipped"
        report.wasxfail = f"{found.id} (SHOULD) not met"
        report.webhook_should = True  # type: ignore[attr-defined]
        return report

    def _redact(self, report: pytest.TestReport) -> None:
        secrets = self.secrets()
        if not secrets:
            return
        if report.longrepr is not None:
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
        return None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.run is None:
            return
        if self.should_findings:
            terminalreporter.section("SHOULD findings (not fatal without --webhook-strict)", sep="=", yellow=True)
            for nodeid, text in self.should_findings:
                terminalreporter.write_sep("_", nodeid, yellow=True)
                terminalreporter.write_line(text)
        if self.setup_error is not None:
            terminalreporter.section("webhook conformance: setup error", sep="=", red=True)
            terminalreporter.write_line(self.setup_error)
        terminalreporter.write_sep("-", "webhook conformance verdict")
        ready = self.setup_error is None and not self.must_failed and self.selected == set(catalogue())
        terminalreporter.write_line(self.verdict(), bold=True, red=not ready, green=ready)

    def verdict(self) -> str:
        """One line: can the Cloud activate this receiver, as far as this run can tell."""
        target = self.run.target.description if self.run else "?"
        if self.setup_error is not None:
            return f"NO VERDICT: the target could not be reached; fix the setup and run again. Target: {target}"
        shoulds = len(self.should_findings)
        should_text = f"; {shoulds} SHOULD finding{'s' if shoulds != 1 else ''}" if shoulds else ""
        if self.must_failed:
            failed = ", ".join(sorted(self.must_failed, key=list(catalogue()).index))
            return f"NOT READY for activation: {failed} failed{should_text}. Target: {target}"
        if self.selected != set(catalogue()):
            return (
                f"PARTIAL RUN: no MUST failed among the {len(self.selected)} of {len(catalogue())} requirements "
                f"selected{should_text}; run the whole suite for a verdict. Target: {target}"
            )
        return f"READY for activation: every MUST requirement passed{should_text}. Target: {target}"


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
