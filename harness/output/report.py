"""What a run found, as data: one record per check, the verdict, and the JSON form of both.

The plugin fills a :class:`RunReport`; the writers (JSON here, Markdown and HTML in ``render``)
read it. Nothing in a report holds the secret: exchanges are recorded through ``explain``, which
masks it, and the settings as flags with the secret masked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import harness
from harness.config.secret import Secret, redact
from harness.judging.catalogue import Level, Requirement
from harness.output.explain import HEADERS_THAT_MATTER, follows, reproduction, safe_text
from harness.wire.transport import Exchange
from harness.wire.untrusted import printable

__all__ = [
    "WORST_FIRST",
    "CheckRecord",
    "ExchangeRecord",
    "RunReport",
    "Verdict",
    "now",
    "record_exchange",
    "verdict",
]

#: "error" is a harness failure (a bug, or a broken fixture): no verdict on the receiver can be drawn from it.
#: "info" is a finding of an INFO requirement: worth knowing, never a failure.
Outcome = Literal["passed", "failed", "should-failed", "info", "skipped", "error"]
Status = Literal["READY", "NOT READY", "PARTIAL RUN", "NO VERDICT"]
#: Outcomes from the one that matters most to the one that matters least: a requirement's outcome is its worst check's.
WORST_FIRST: tuple[Outcome, ...] = ("error", "failed", "should-failed", "info", "passed", "skipped")
REPORT_FORMAT = 1


@dataclass(frozen=True)
class ExchangeRecord:
    """One request and its answer, as safe to show: no secret, target text escaped and capped."""

    method: str
    url: str
    description: str
    request_body: str
    status: int | None
    reason: str
    headers: Mapping[str, str]
    response_body: str
    elapsed_ms: float
    error: str | None
    curl: str


@dataclass(frozen=True)
class CheckRecord:
    """One check's judgement. A failure keeps its structure: expected, actual, hint, fix and reproduction."""

    nodeid: str
    requirement: str
    level: Level
    statement: str
    outcome: Outcome
    duration_ms: float
    #: The failure text for a failed check, the reason for a skipped one, else empty.
    message: str = ""
    fix: str = ""
    exchange: ExchangeRecord | None = None
    #: The case's id, as in test ids: ``AUTH-2-site-plan-change-prefix``.
    id: str = ""
    #: What the requirement asks of this exchange, and what the receiver did instead (a failure only).
    expected: str | None = None
    actual: str | None = None
    hint: str | None = None
    #: A shell command that sends the judged request again, the secret read from $WEBHOOK_SECRET.
    reproduction: str | None = None


@dataclass(frozen=True)
class Verdict:
    status: Status
    #: Would the Cloud activate this receiver: every requirement was checked and no MUST failed.
    ready: bool
    must_failed: Sequence[str]
    should_failed: Sequence[str]
    line: str


@dataclass
class RunReport:
    target: str
    embedded: bool
    settings: str
    started: str
    finished: str = ""
    url_warnings: list[str] = field(default_factory=list)
    setup_error: str | None = None
    records: list[CheckRecord] = field(default_factory=list)
    verdict: Verdict | None = None
    #: TLS verification was off (--webhook-insecure): every report says so.
    insecure: bool = False
    #: The latency of the deliveries made as the Cloud sends them (count, p50, p95, p99, max in ms).
    latency: dict[str, Any] | None = None
    #: What the Cloud would conclude: activation, and auto-disable at the observed failure rate.
    cloud: dict[str, Any] | None = None
    cloud_lines: list[str] = field(default_factory=list)
    #: The opt-in load run (--webhook-load), when there was one.
    load: dict[str, Any] | None = None
    load_lines: list[str] = field(default_factory=list)
    harness_version: str = harness.__version__

    @property
    def ready(self) -> bool:
        """True exactly when the verdict is READY: the Cloud would activate the receiver and deliver to it."""
        return self.verdict is not None and self.verdict.ready

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data, in the shape of ``schemas/report.schema.json``."""
        return {"format": REPORT_FORMAT, **asdict(self)}

    to_json = to_dict


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def record_exchange(
    exchange: Exchange, secrets: Iterable[Secret], timeout: float = 5.0, save_to: str | None = None, at_once: int = 1
) -> ExchangeRecord:
    """An exchange as a report shows it, masked and capped like the failure text."""
    masked = list(secrets)
    request, response = exchange.request, exchange.response
    headers = {}
    if response is not None:
        for name in ("Content-Type", *HEADERS_THAT_MATTER):
            value = response.header(name)
            if value is not None:
                headers[name] = safe_text(value.encode("latin-1", "replace"), masked, 200)
    return ExchangeRecord(
        method=request.method,
        url=redact(request.url, masked),
        description=request.description,
        request_body=safe_text(request.body, masked),
        status=None if response is None else response.status,
        reason="" if response is None else safe_text(response.reason.encode("latin-1", "replace"), masked, 80),
        headers=headers,
        response_body="" if response is None else safe_text(response.body, masked),
        elapsed_ms=round(exchange.elapsed * 1000, 1),
        error=None
        if exchange.error is None
        else printable(f"{exchange.error.kind}: {redact(exchange.error.detail, masked)}"),
        curl=redact(reproduction(request, timeout, save_to, at_once, follows(exchange)), masked),
    )


@dataclass(frozen=True)
class Coverage:
    """How much of the suite this run judged, and on what terms."""

    #: Checks per requirement in the test functions collected, all their cases counted; a requirement
    #: whose tests were not collected at all is missing.
    expected: Mapping[str, int]
    interrupted: bool = False
    secret_configured: bool = True
    strict: bool = False
    #: The receiver stopped answering and the checks after that were skipped unjudged.
    gave_up: bool = False
    #: No secret configured, and the handshake got 401: the receiver wants one; nothing else was sent.
    refused_without_secret: bool = False


def verdict(
    records: Sequence[CheckRecord],
    catalogue: Mapping[str, Requirement],
    target: str,
    coverage: Coverage,
    setup_error: str | None = None,
) -> Verdict:
    """The one-line answer: would the Cloud activate this receiver, as far as this run can tell.

    READY only when every check of the suite ran to its end and no MUST failed; a failed MUST is
    NOT READY even in an interrupted or narrowed run, since that much is certain.
    """
    order = list(catalogue)
    must_failed = sorted({r.requirement for r in records if r.outcome == "failed"}, key=order.index)
    should_failed = sorted({r.requirement for r in records if r.outcome == "should-failed"}, key=order.index)
    findings = len([r for r in records if r.outcome == "should-failed"])
    checks = f"{findings} check{'s' if findings != 1 else ''}"
    notes = [f"SHOULD not met: {', '.join(should_failed)} ({checks})"] if findings else []
    if findings and coverage.strict:
        notes[-1] += " (failing the run: --webhook-strict)"
    if not coverage.secret_configured:
        notes.append("no secret configured, so the secret checks (AUTH-1, AUTH-2, LEAK-1) were not judged")
    tail = "".join(f"; {note}" for note in notes) + f". Target: {target}"
    errors = len([r for r in records if r.outcome == "error"])
    ran = len({r.nodeid for r in records})
    ran_by_requirement = {rid: len({r.nodeid for r in records if r.requirement == rid}) for rid in catalogue}
    complete = all(
        coverage.expected.get(rid, 0) > 0 and ran_by_requirement[rid] >= coverage.expected[rid] for rid in catalogue
    )
    if setup_error is not None:
        line = f"NO VERDICT: the target could not be reached; fix the setup and run again. Target: {target}"
        return Verdict("NO VERDICT", False, [], [], line)
    if errors:
        line = (
            f"NO VERDICT: the harness itself failed on {errors} check{'s' if errors != 1 else ''} (a bug in the "
            f"harness, not a finding about the receiver: please report it). Target: {target}"
        )
        return Verdict("NO VERDICT", False, must_failed, should_failed, line)
    if must_failed and coverage.refused_without_secret:
        line = (
            f"NOT READY for activation: {', '.join(must_failed)} failed: every delivery without a secret got 401, so "
            "this receiver expects one; set WEBHOOK_SECRET to the webhook's secret and run again (the other checks "
            f"were not sent). Target: {target}"
        )
        return Verdict("NOT READY", False, must_failed, should_failed, line)
    if must_failed:
        line = f"NOT READY for activation: {', '.join(must_failed)} failed{tail}"
        return Verdict("NOT READY", False, must_failed, should_failed, line)
    if coverage.gave_up:
        line = (
            "NO VERDICT: the receiver stopped answering (timeouts in a row), so the checks after that were not "
            f"judged; find out why it hangs and run again{tail}"
        )
        return Verdict("NO VERDICT", False, [], should_failed, line)
    if coverage.interrupted:
        checks = f"{ran} check{'s' if ran != 1 else ''}"
        line = f"NO VERDICT: the run stopped after {checks}, before the end of the suite. Target: {target}"
        return Verdict("NO VERDICT", False, [], should_failed, line)
    if not complete:
        covered = len([rid for rid in catalogue if ran_by_requirement[rid]])
        line = (
            f"PARTIAL RUN: no MUST failed among the {ran} checks that ran, which are not the whole suite ({covered} "
            f"of {len(catalogue)} requirements touched); run the whole suite for a verdict{tail}"
        )
        return Verdict("PARTIAL RUN", False, [], should_failed, line)
    return Verdict("READY", True, [], should_failed, f"READY for activation: every MUST requirement passed{tail}")
