"""Many targets: each one a whole conformance run, gathered into one :class:`~harness.output.fleet.FleetReport`.

A target's run is :func:`check_target`: the engine that ``webhook-conformance check`` runs, with the same
settings, in a process of its own (``check-many``: :func:`run_local`, a bounded number at once) or in an RQ
work horse (``check-many --queue``: ``harness.run.queue``). A job names the environment variable holding the
target's secret; the process that runs it reads the value from its own environment, so no secret is ever in a
job, a pipe or a queue. Results come back masked with the target's secret and with every other secret of the
fleet that process holds (:func:`cross_masked`), since one receiver can hold another's secret.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import multiprocessing
import multiprocessing.connection
import os
import re
import signal
import socket
import sys
import time
import traceback
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

import harness
from harness.config.exitcodes import ExitCode
from harness.config.fleet import COLUMNS, TIME_LIMIT
from harness.config.secret import MASK, Secret, present, redact
from harness.config.settings import SettingError, Settings
from harness.judging.catalogue import catalogue
from harness.output.fleet import TargetResult, requirement_outcomes
from harness.output.logs import MaskedLogRecords
from harness.output.report import RunReport
from harness.run.engine import Engine, exit_code
from harness.run.target import options_for, refused_in_clear
from harness.wire.untrusted import printable

__all__ = [
    "FleetTarget",
    "Job",
    "TargetsError",
    "check_and_send",
    "check_target",
    "cross_masked",
    "fleet_exit_code",
    "fleet_verdict",
    "jobs_for",
    "missing_secrets",
    "not_checked",
    "overran",
    "read_targets",
    "refusals",
    "run_local",
    "without_password",
]

#: Upper case, as environment variables conventionally are: a random mixed-case secret pasted in the column by
#: mistake is refused, never taken for a name and echoed (a name is shown in messages and reports).
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*\Z")
#: Settings that are each target's own, or the fleet's (its reports), and never travel with a job.
_NOT_CARRIED = frozenset({"target_url", "secret", "report_json", "report_md", "report_html", "sources"})
#: A job as it travels to the process that runs it: plain data, never a secret.
Job = dict[str, Any]
OnResult = Callable[[TargetResult], None]


class TargetsError(ValueError):
    """A targets file the fleet cannot use; the message names the line, never a value that may be a secret."""


@dataclass(frozen=True)
class FleetTarget:
    #: 1 for the first target of the file.
    index: int
    #: The file's line it came from, for messages.
    line: int
    url: str
    #: The environment variable holding its secret; empty for a webhook configured without one.
    secret_env: str


# --- the targets file ---


def read_targets(path: str) -> list[FleetTarget]:
    """The targets of a CSV file whose header row names :data:`COLUMNS`; blank lines and ``#`` lines skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TargetsError(f"cannot read {path!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TargetsError(f"{path!r} is not UTF-8 text") from None
    try:
        rows = _rows(text)
    except csv.Error as exc:
        raise TargetsError(f"{path!r} is not CSV: {exc}") from None
    if not rows:
        raise TargetsError(f"{path!r} is empty: its first line must be the header {','.join(COLUMNS)}")
    (header_line, header), *body = rows
    names = [cell.strip().lower() for cell in header]
    if sorted(names) != sorted(COLUMNS):
        # Quoted only when it looks like a header: a first line that is a target would show its URL and secret.
        named = all(re.fullmatch(r"[A-Za-z_ -]{1,30}", cell.strip()) for cell in header)
        shown = f", not {printable(','.join(header))!r}" if named else " (is the header row missing?)"
        raise TargetsError(
            f"{path!r} line {header_line}: the header must name the columns {','.join(COLUMNS)} (in any order){shown}"
        )
    targets: list[FleetTarget] = []
    seen: dict[str, int] = {}
    for line, row in body:
        if len(row) != len(names):
            raise TargetsError(f"{path!r} line {line}: {len(row)} fields, where the header has {len(names)}")
        cells = dict(zip(names, (cell.strip() for cell in row), strict=True))
        target = FleetTarget(len(targets) + 1, line, cells["url"], cells["secret_env"])
        _check_target(path, target)
        if target.url in seen:
            raise TargetsError(f"{path!r} line {line}: the same URL as line {seen[target.url]}; list a target once")
        seen[target.url] = line
        targets.append(target)
    if not targets:
        raise TargetsError(f"{path!r} lists no targets under its header")
    return targets


def _rows(text: str) -> list[tuple[int, list[str]]]:
    """The file's rows with the line each starts on; blank rows and comment rows (``#`` first) left out."""
    reader = csv.reader(io.StringIO(text))
    rows, line = [], 1
    for row in reader:
        if any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#"):
            rows.append((line, row))
        line = reader.line_num + 1
    return rows


def _check_target(path: str, target: FleetTarget) -> None:
    where = f"{path!r} line {target.line}"
    if any(not char.isprintable() or char.isspace() for char in target.url):
        raise TargetsError(f"{where}: the url holds a space or a control character; percent-encode it")
    try:
        parts = urllib.parse.urlsplit(target.url)
        hostname = parts.hostname
    except ValueError:  # its text quotes the host, password and all
        raise TargetsError(f"{where}: the url cannot be parsed (its host part is not a host name or address)") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise TargetsError(f"{where}: the url must be an http:// or https:// URL with a host")
    if target.secret_env and not _ENV_NAME.match(target.secret_env):
        # Never echoed: a value here is most likely the secret itself, pasted in the wrong column.
        raise TargetsError(
            f"{where}: secret_env must be the name of an environment variable (upper-case letters, digits and _), "
            "not the secret itself; leave it empty for a webhook without a secret"
        )


def missing_secrets(targets: Iterable[FleetTarget], environ: Mapping[str, str]) -> list[str]:
    """The variables the targets name that are not set (or empty) in ``environ``, each once."""
    return sorted({t.secret_env for t in targets if t.secret_env and not environ.get(t.secret_env)})


def refusals(targets: Iterable[FleetTarget], settings: Settings, *, queued: bool = False) -> list[str]:
    """The targets that cannot be checked as they are, one line each: their secret would cross a network in
    clear (as ``check`` refuses it), or, ``queued``, their URL holds a password that would travel in a job."""
    options = options_for(settings)
    found = []
    for target in targets:
        refusal = refused_in_clear(target.url, bool(target.secret_env), settings, options)
        if refusal is None and queued and urllib.parse.urlsplit(target.url).password is not None:
            refusal = (
                "its URL holds a password, which would travel through Redis and rest there; give that receiver a "
                "URL without one, or check it without --queue"
            )
        if refusal is not None:
            found.append(f"target {target.index} (line {target.line}): {refusal}")
    return found


def without_password(url: str) -> str:
    """The URL with a password in it masked, to show: in its user part, or as a query's ``password=``."""
    parts = urllib.parse.urlsplit(url)
    if "password" in parts.query.lower():
        parts = parts._replace(query="[Filtered]")
        url = urllib.parse.urlunsplit(parts)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username or ''}:[Filtered]@{host}"))


# --- the jobs ---


def jobs_for(targets: Sequence[FleetTarget], settings: Settings) -> list[Job]:
    """One job per target: its URL, the name of its secret's variable, the settings, and the names of every
    other secret of the fleet, to mask them too."""
    carried = {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(Settings)
        if f.name not in _NOT_CARRIED and getattr(settings, f.name) != f.default
    }
    sources = {name: where for name, where in settings.sources.items() if name in carried}
    every = sorted({t.secret_env for t in targets if t.secret_env})
    return [
        {
            "index": t.index,
            "url": t.url,
            "secret_env": t.secret_env,
            "settings": carried,
            "sources": sources,
            "mask_envs": every,
            "harness_version": harness.__version__,
        }
        for t in targets
    ]


def check_target(job: Job) -> dict[str, Any]:
    """Run the whole suite on one job's target and return its :class:`TargetResult` as data.

    The entry point of every process that checks a target, an RQ worker's included: its secret and the other
    secrets to mask are read from this process's environment. Never raises for a finding or a setup problem;
    an exception here is a bug in the harness, and becomes the target's problem, masked."""
    started = time.monotonic()
    worker = _worker()
    env = str(job["secret_env"])
    value = os.environ.get(env, "") if env else ""
    secret = Secret(value)
    if job.get("harness_version") != harness.__version__:
        message = (
            f"this worker runs version {harness.__version__} of the kit and the job came from version "
            f"{job.get('harness_version')}: install the same version on both"
        )
        return not_checked(job, message, ExitCode.USAGE_ERROR, worker).to_dict()
    if env and not value:
        message = (
            f"{env} is not set in the environment of {worker}, which ran this target: give every process that "
            "checks targets the secrets the targets file names"
        )
        return not_checked(job, message, ExitCode.USAGE_ERROR, worker).to_dict()
    try:
        result = _run(job, secret, worker, started)
    except Exception as exc:  # a bug in the harness: reported as this target's, and the fleet goes on
        if type(exc).__name__ == "JobTimeoutException":
            raise  # RQ's --target-time-limit: the collector reports the run as stopped
        message = "the harness failed: " + printable(redact(traceback.format_exc(), [secret]), newlines=True)
        result = not_checked(job, message, ExitCode.INTERNAL_ERROR, worker)
    others = [Secret(os.environ[name]) for name in job["mask_envs"] if os.environ.get(name, value) != value]
    return cross_masked(result.to_dict(), others)


def _worker() -> str:
    """``host:`` and the RQ worker's name when an RQ worker runs this, else this process's id."""
    rq = sys.modules.get("rq")
    job = rq.get_current_job() if rq is not None else None
    name = job.worker_name if job is not None else None
    return f"{socket.gethostname()}:{name or os.getpid()}"


def _run(job: Job, secret: Secret, worker: str, started: float) -> TargetResult:
    env = str(job["secret_env"])
    sources = {**job["sources"], **({"secret": f"environment variable {env}"} if env else {})}
    settings = Settings(**job["settings"], target_url=str(job["url"]), secret=secret, sources=sources)
    with Engine(settings) as engine, MaskedLogRecords(engine.masking):
        try:
            report = engine.run()
        except SettingError as exc:
            return not_checked(job, engine.masking(str(exc)), ExitCode.USAGE_ERROR, worker)
        code = exit_code(report, strict=settings.strict)
        url = without_password(engine.masking(str(job["url"])))
        return _result(job, url, report, code, worker, time.monotonic() - started)


def _result(job: Job, url: str, report: RunReport, code: int, worker: str, elapsed: float) -> TargetResult:
    verdict = report.verdict
    assert verdict is not None
    data = report.to_dict()
    return TargetResult(
        index=int(job["index"]),
        url=url,
        secret_env=str(job["secret_env"]),
        ready=report.ready,
        status=verdict.status,
        verdict=verdict.line,
        failed=list(verdict.must_failed),
        should_failed=list(verdict.should_failed),
        exit_code=int(code),
        requirements=requirement_outcomes(data["records"], list(catalogue())),
        problem=report.setup_error,
        worker=worker,
        elapsed_s=round(elapsed, 2),
        report=data,
    )


def not_checked(job: Job, problem: str, code: int, worker: str = "") -> TargetResult:
    """The result of a target that has no run to show: why, and the exit code it counts as."""
    url = without_password(str(job["url"]))
    return TargetResult(
        index=int(job["index"]),
        url=url,
        secret_env=str(job["secret_env"]),
        ready=False,
        status="NO VERDICT",
        verdict=f"NO VERDICT: {problem.splitlines()[0] if problem else 'not checked'}. Target: {url}",
        failed=[],
        should_failed=[],
        exit_code=int(code),
        problem=problem,
        worker=worker,
    )


# --- the other targets' secrets ---

#: The keys of a result, at any depth, whose text may come from a receiver or from the targets file: where
#: another target's secret could show. The rest (statements, our requests, reproductions) is the kit's own; a
#: reproduction holds the URL, which "url" holds too, and a secret found there is masked in the whole result.
_OUTSIDE = frozenset(
    {"url", "target", "setup_error", "message", "expected", "actual", "hint", "reason", "headers"}
    | {"response_body", "error", "verdict", "line", "problem", "cloud_lines"}
)


def cross_masked(result: dict[str, Any], secrets: Sequence[Secret]) -> dict[str, Any]:
    """``result`` with every one of ``secrets`` masked wherever it could show, in every spelling.

    Each target's result is masked with its own secret when made; this masks the other targets' secrets (a
    receiver misconfigured with another webhook's secret may echo it). A cheap test of each secret against
    the outside text first: most answers hold none, and the full masking is done only where one may be."""
    outside = "\n".join(_outside_text(result))
    found = present(outside, secrets)
    # An excerpt cut at its cap may end in the start of a secret, too short to count as a run of it.
    cut = list(dict.fromkeys(secret for secret in secrets if secret)) if _CUT.search(outside) else []
    if not found and not cut:
        return result
    masked = _masked(result, found, cut)
    assert isinstance(masked, dict)
    return masked


#: How explain.safe_text ends an excerpt it cut.
_CUT = re.compile(r" \.\.\. \(\d+ more characters\)")
#: The shortest start of a secret masked where an excerpt was cut.
_CUT_PIECE = 4


def _cut_pieces_masked(text: str, secrets: Sequence[Secret]) -> str:
    """``text`` with the start of any of ``secrets`` that ends an excerpt, just before its cut, masked."""

    pieces: list[str] = []
    position = 0
    for match in _CUT.finditer(text):
        head = text[position : match.start()].lower()
        for secret in secrets:
            value = secret.reveal().lower()
            length = next((n for n in range(len(value), _CUT_PIECE - 1, -1) if head.endswith(value[:n])), 0)
            if length:
                pieces += [text[position : match.start() - length], MASK]
                position = match.start()
                break
    return "".join(pieces) + text[position:] if pieces else text


def _outside_text(value: object, outside: bool = False) -> Iterable[str]:
    if isinstance(value, str):
        if outside:
            yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if outside:
                yield str(key)
            yield from _outside_text(item, outside or key in _OUTSIDE)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _outside_text(item, outside)


def _masked(value: object, secrets: Sequence[Secret], cut: Sequence[Secret]) -> object:
    if isinstance(value, str):
        text = redact(value, secrets) if secrets else value
        return _cut_pieces_masked(text, cut) if cut else text
    if isinstance(value, Mapping):
        return {_masked(key, secrets, cut): _masked(item, secrets, cut) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item, secrets, cut) for item in value]
    return value


# --- on this machine ---


@dataclass
class _Running:
    job: Job
    process: multiprocessing.process.BaseProcess
    started: float


def run_local(
    jobs: Sequence[Job],
    at_once: int,
    on_result: OnResult,
    time_limit: float = TIME_LIMIT,
    work: Callable[[Job, Connection], None] | None = None,
) -> tuple[list[TargetResult], bool]:
    """Check every job's target, ``at_once`` at a time, each in a process of its own; and whether the run was
    interrupted. A target that hangs, or kills its process, is that target's result: the others go on.
    ``work`` is what each process runs (:func:`check_and_send`; a stand-in must be importable by name)."""
    context = _context()
    waiting, running = deque(jobs), dict[Connection, _Running]()
    results: list[TargetResult] = []

    def done(result: TargetResult) -> None:
        results.append(result)
        on_result(result)

    starting: Job | None = None
    try:
        while waiting or running:
            while waiting and len(running) < at_once:
                starting = waiting.popleft()
                receiver, sender = context.Pipe(duplex=False)
                process = context.Process(  # type: ignore[attr-defined]
                    target=work or check_and_send,
                    args=(starting, sender),
                    name=f"webhook-target-{starting['index']}",
                    daemon=True,
                )
                process.start()
                sender.close()
                running[receiver] = _Running(starting, process, time.monotonic())
                starting = None
            for ready in multiprocessing.connection.wait(list(running), timeout=0.5):
                assert isinstance(ready, Connection)
                done(_collect(running.pop(ready), ready))
            for connection, run in list(running.items()):
                if time.monotonic() - run.started > time_limit:
                    del running[connection]
                    _stop(run.process)
                    done(not_checked(run.job, overran(time_limit), ExitCode.INTERRUPTED))
    except KeyboardInterrupt:
        for run in running.values():
            _stop(run.process)
        left = [*(run.job for run in running.values()), *([starting] if starting else []), *waiting]
        for job in left:
            done(not_checked(job, "not checked: the fleet run was interrupted", ExitCode.INTERRUPTED))
        return sorted(results, key=lambda r: r.index), True
    return sorted(results, key=lambda r: r.index), False


def overran(time_limit: float) -> str:
    """Why a target whose run outlived ``--target-time-limit`` has no verdict."""
    return f"its run took longer than {time_limit:g} s and was stopped (--target-time-limit)"


def _context() -> BaseContext:
    """Processes forked from a server that imported the engine once: quick to start, and no fork of a process
    with threads in it. Spawned processes where there is no fork."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


def check_and_send(job: Job, sender: Connection) -> None:
    """A target's process: check it, and send the result to the parent."""
    # Ctrl-C is the parent's to handle: it stops every target's process and reports what it has.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    result = check_target(job)
    with contextlib.suppress(OSError):  # the parent is gone (stopped with Ctrl-C): nobody to tell
        sender.send(result)
        sender.close()


def _collect(run: _Running, receiver: Connection) -> TargetResult:
    try:
        data = receiver.recv()
    except (EOFError, OSError):
        data = None
    receiver.close()
    run.process.join(timeout=10)
    if data is None:
        _stop(run.process)
        message = f"the process checking it ended without a result (exit code {run.process.exitcode})"
        return not_checked(run.job, message, ExitCode.INTERNAL_ERROR)
    return TargetResult.from_dict(data)


def _stop(process: multiprocessing.process.BaseProcess) -> None:
    if process.is_alive():
        process.kill()
    process.join(timeout=10)


# --- the fleet's answer ---

#: Which target's exit code the fleet's is, when they differ: a failed requirement first (a finding on a
#: receiver), then a target that cannot be reached, then problems with the setup or the harness.
_PRECEDENCE = (
    ExitCode.REQUIREMENT_FAILED,
    ExitCode.TARGET_UNREACHABLE,
    ExitCode.USAGE_ERROR,
    ExitCode.INTERNAL_ERROR,
    ExitCode.INTERRUPTED,
)


def fleet_exit_code(results: Sequence[TargetResult], *, interrupted: bool = False) -> ExitCode:
    """0 when every target is READY, 1 when any is NOT READY, 69 when any could not be reached and none
    failed; then usage (a worker without a secret), harness and interrupted runs. Interrupted by Ctrl-C: 1 if a
    target failed, else 2."""
    codes = {r.exit_code for r in results}
    if interrupted:  # as check: a failure found stands, anything else is the interruption
        return ExitCode.REQUIREMENT_FAILED if ExitCode.REQUIREMENT_FAILED in codes else ExitCode.INTERRUPTED
    return next((code for code in _PRECEDENCE if code in codes), ExitCode(max(codes, default=0)))


def fleet_verdict(results: Sequence[TargetResult], *, interrupted: bool = False) -> str:
    """The fleet's last line: READY only when every target is; else which targets keep it from being."""
    total = len(results)
    ready = [r for r in results if r.ready]
    if len(ready) == total and not interrupted:
        return f"READY: all {total} target{'s' if total != 1 else ''} are ready for activation"
    parts = []
    for status in ("NOT READY", "NO VERDICT", "PARTIAL RUN"):
        chosen = [r for r in results if r.status == status]
        if chosen:
            listed = ", ".join(f"#{r.index}" for r in chosen[:10]) + (", ..." if len(chosen) > 10 else "")
            parts.append(f"{len(chosen)} {status} ({listed})")
    worst = "NOT READY" if any(r.status == "NOT READY" for r in results) else "NO VERDICT"
    tail = "; the run was interrupted" if interrupted else ""
    return f"{worst}: {len(ready)} of {total} targets READY; {'; '.join(parts)}{tail}"
