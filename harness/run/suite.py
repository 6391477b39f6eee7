"""The conformance suite as the engine runs it: every check, its cases, and the stage it runs in.

A check is a small function of a :class:`Context` and one case; it sends through the context's client and
judges with the functions of :mod:`harness.judging.checks`. Stages keep the order the requirements need: the
dashboard's two handshakes first and in sequence, the burst alone, bad input after the deliveries, the
checks of the whole session after everything that sends, and a last handshake at the very end. Within a
parallel stage, cases go out as the Cloud's workers send: up to ``--webhook-parallelism`` at once.

The shipped pytest suite has one test per check, named ``test_<check name>``: a thin call into the engine.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from harness.config.settings import Settings
from harness.judging import checks
from harness.judging.catalogue import Requirement, requirement
from harness.payloads.badinput import (
    BODY_CASES,
    CONTENT_TYPE_CASES,
    METHOD_CASES,
    ODD_SECRET_CASES,
    BadInput,
    OddSecret,
    oversize_request,
)
from harness.payloads.deliveries import (
    OLD_DATES,
    SECRET_VARIANTS,
    STAMPED,
    SecretVariant,
    Shape,
    console_request,
    corpus,
    fresh,
    is_handshake,
    probes,
    renamed,
    sent_now,
)
from harness.payloads.events import DOCUMENT_EVENTS, KNOWN_EVENTS, VALIDATE, slug
from harness.payloads.generate import explore
from harness.payloads.schemas import sample_data
from harness.sending.client import Client, NotSent, Target
from harness.wire import transport
from harness.wire.transport import Exchange

__all__ = ["CHECKS", "STAGES", "Case", "Check", "Context", "Stage", "cases", "check_named"]

T = TypeVar("T")
Stage = Literal[
    "handshake", "deliveries", "generated", "burst", "secrets", "bad-input", "after-bad-input", "session", "end"
]
#: Stages in the order they run, and whether their cases may run at once.
STAGES: tuple[tuple[Stage, bool], ...] = (
    ("handshake", False),  # Validate, then Activate: the dashboard sends them one after the other
    ("deliveries", True),
    # Generated payloads are the likeliest to wedge a receiver: after the realistic ones, so that a receiver
    # they stop is seen to stop there, not taken to fail the deliveries that were in flight beside them.
    ("generated", True),
    ("burst", False),  # DLV-2 is a burst of its own: nothing else in flight
    ("secrets", True),
    ("bad-input", True),
    ("after-bad-input", True),
    ("session", False),  # judges every exchange before it, so nothing else may be sending
    ("end", False),
)
#: The Cloud's busiest event: a site's status changes in bursts, and each change is a delivery.
EVENT = "Site Status Update"
#: Enough deliveries for a 95th percentile to mean something, when DLV-7 runs without the checks before it.
LATENCY_SAMPLE = 20


@dataclass
class Context:
    """What a check works with: its own view of the client, the target, the settings, its requirement."""

    client: Client
    settings: Settings
    requirement: Requirement
    #: Steps that several checks share (the probes of the session stage), each run once.
    shared: SharedSteps

    #: Prefixed to the names of the resources this case's deliveries are about: a resource of its own.
    tag: str = field(default_factory=lambda: f"c{uuid.uuid4().hex[:6]}")

    @property
    def target(self) -> Target:
        return self.client.target

    def own(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` about this case's own resource: cases run at once never touch one resource together."""
        return renamed(data, self.tag)


class SharedSteps:
    """Steps that several checks need, run once by whichever asks first; the others wait for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[str, object] = {}

    def once(self, key: str, step: Callable[[], T]) -> T:
        with self._lock:  # held while the step runs: the others must not go on without its exchanges
            if key not in self._done:
                self._done[key] = step()
            return self._done[key]  # type: ignore[return-value]


@dataclass(frozen=True)
class Check:
    """One check: the requirement it judges, its cases (name, value), and how it runs."""

    name: str
    requirement: str
    stage: Stage
    run: Callable[[Context, Any], None]
    cases: tuple[tuple[str, object], ...] | None = None

    def case_ids(self) -> list[str]:
        if self.cases is None:
            return [self.requirement]
        return [f"{self.requirement}-{name}" for name, _ in self.cases]


@dataclass(frozen=True)
class Case:
    """One judgement: a check applied to one of its cases. ``id`` is the test id: ``AUTH-2-site-plan-change-prefix``."""

    id: str
    check: Check
    value: object = field(default=None, compare=False)

    @property
    def requirement(self) -> str:
        return self.check.requirement


CHECKS: list[Check] = []


def check(
    requirement_id: str, stage: Stage, cases: Sequence[tuple[str, object]] | None = None
) -> Callable[[Callable[[Context, Any], None]], Callable[[Context, Any], None]]:
    """Register a check function under its own name; an unknown requirement fails at import."""
    requirement(requirement_id)

    def register(function: Callable[[Context, Any], None]) -> Callable[[Context, Any], None]:
        frozen = None if cases is None else tuple(cases)
        CHECKS.append(Check(function.__name__, requirement_id, stage, function, frozen))
        return function

    return register


def check_named(name: str) -> Check:
    """The check of this name; a KeyError names it when there is none."""
    for found in CHECKS:
        if found.name == name:
            return found
    raise KeyError(f"no conformance check is named {name!r}")


def cases(selected: Callable[[Case], bool] | None = None) -> list[Case]:
    """Every case of the suite in the order it runs (stage, then definition), or those ``selected``."""
    order = {stage: index for index, (stage, _) in enumerate(STAGES)}
    every = [
        Case(case_id, found, None if found.cases is None else found.cases[index][1])
        for found in sorted(CHECKS, key=lambda c: order[c.stage])
        for index, case_id in enumerate(found.case_ids())
    ]
    return [case for case in every if selected is None or selected(case)]


# --- URL-1, HS-*: what the dashboard does before it activates a webhook -------------------------------


@check("URL-1", "handshake")
def dashboard_can_save_the_url(ctx: Context, _: None) -> None:
    checks.dashboard_accepts(ctx.target.url)


@check("HS-1", "handshake")
def validate_gets_2xx(ctx: Context, _: None) -> None:
    checks.answered_2xx(ctx.client.deliver(VALIDATE))


@check("HS-2", "handshake")
def second_validate_gets_2xx(ctx: Context, _: None) -> None:
    # Validate, then Activate: two handshakes back to back, both of which must succeed.
    first = ctx.client.deliver(VALIDATE)
    second = ctx.client.deliver(VALIDATE)
    checks.answered_2xx(first)
    checks.answered_2xx(second)


@check("HS-3", "deliveries")  # a third handshake, for its body: the dashboard's two come first
def validate_answered_ok(ctx: Context, _: None) -> None:
    checks.answered_ok_body(ctx.client.deliver(VALIDATE))


# --- EVT-*: every event in every shape of the realistic corpus ---------------------------------------

SHAPES = [(f"{slug(shape.event)}-{shape.name}", shape) for event in DOCUMENT_EVENTS for shape in corpus(event)]


@check("EVT-1", "deliveries", SHAPES)
def event_gets_2xx(ctx: Context, shape: Shape) -> None:
    # Dated as the Cloud dates it: now, at the moment of sending.
    data = ctx.own(sent_now(shape.event, shape.data))
    checks.delivered(ctx.client.deliver(shape.event, data=data, shape=shape.what))


@check("EVT-2", "deliveries", [(slug(e), e) for e in DOCUMENT_EVENTS])
def event_answered_ok(ctx: Context, event: str) -> None:
    checks.answered_ok_body(ctx.client.deliver(event, data=ctx.own(fresh(event))))


@check("EVT-3", "deliveries", [(name, (what, event, build)) for name, what, event, build in OLD_DATES])
def event_with_the_clouds_old_dates_gets_2xx(ctx: Context, case: tuple[str, str, Callable[[], dict[str, Any]]]) -> None:
    what, event, build = case
    checks.delivered(ctx.client.deliver(event, data=ctx.own(build()), shape=what))


# --- DLV-*: duplicates, parallel workers, no order, changing payloads ---------------------------------


@check("DLV-1", "deliveries")
def duplicate_delivery_gets_2xx_twice(ctx: Context, _: None) -> None:
    data = ctx.own(fresh(EVENT))
    first = ctx.client.deliver(EVENT, data=data)
    again = ctx.client.deliver(EVENT, data=data)  # a retry: the same payload, byte for byte
    checks.delivered(first)
    checks.delivered(again)


@check("DLV-2", "burst")
def parallel_deliveries_all_get_2xx(ctx: Context, _: None) -> None:
    # Different sites, so that no order among them is expected: the burst is about concurrency only.
    sites = [f"conformance-harness-{i}.example.com" for i in range(ctx.settings.parallelism)]
    requests = [ctx.client.delivery(EVENT, data=fresh(EVENT, name=site, host_name=site)) for site in sites]
    for exchange in ctx.client.send_at_once(requests):
        checks.delivered(exchange)


@check("DLV-3", "deliveries")
def out_of_order_events_get_2xx(ctx: Context, _: None) -> None:
    older = ctx.own(fresh(EVENT, status="Installing"))
    newer = ctx.own(fresh(EVENT, offset=1000, status="Active"))
    checks.delivered(ctx.client.deliver(EVENT, data=newer))
    checks.delivered(ctx.client.deliver(EVENT, data=older))


@check("DLV-4", "deliveries")
def unknown_keys_get_2xx(ctx: Context, _: None) -> None:
    data = ctx.own(fresh(EVENT, conformance_new_field="a key this receiver has never seen"))
    extra = {"conformance_envelope_field": {"added": "by a future sender"}}
    checks.delivered(ctx.client.deliver(EVENT, data=data, extra=extra))


@check("DLV-5", "deliveries")
def unknown_event_gets_2xx(ctx: Context, _: None) -> None:
    # Shaped like the Cloud's document events, under a name it does not send (yet).
    data = ctx.own({"doctype": "Site Backup", "name": "conformance-harness.example.com", "status": "Success"})
    checks.delivered(ctx.client.deliver("Site Backup Update", data=data))


@check("DLV-6", "generated", [(slug(e), e) for e in DOCUMENT_EVENTS])
def generated_payloads_get_2xx(ctx: Context, event: str) -> None:
    # The resource's identity is the harness's own (a generated name must not be a real site's), and new
    # with each payload, in each run, so that random dates are never read as one site's events out of order
    # (DLV-3's concern), even by a receiver that remembers earlier runs.
    identity = [key for key in sample_data(event) if key in ("name", "site", "host_name")]
    run, sends = uuid.uuid4().hex[:8], itertools.count()

    def named(data: dict[str, Any]) -> dict[str, Any]:
        name = f"conformance-{run}-{next(sends)}.example.com"
        # Stamped as the sender stamps them, at the change: a random 2015 "modified" is no payload it sends.
        now = str(datetime.datetime.now())
        return {**data, **dict.fromkeys(identity, name), **{key: now for key in STAMPED if key in data}}

    try:
        # The same seed every run: a finding reproduces, and a fixed receiver is seen to be fixed. Not counted
        # as the Cloud's deliveries: shrinking sends many variants of one failing payload.
        found = explore(
            event,
            lambda data: ctx.client.deliver(event, data=named(data), as_the_cloud=False),
            lambda exchange: not (checks.cloud_success(exchange) and exchange.arrived_as_sent),
            examples=ctx.settings.examples,
        )
    except NotSent:
        # The client gave up on a receiver that stopped answering: the payload that timed out is the finding.
        timed_out = [e for e in ctx.client.own if e.response is None]
        if timed_out:
            checks.delivered(timed_out[-1])
        raise
    if found.failure is not None:
        checks.delivered(found.failure)  # the smallest failing payload, as hypothesis shrank it


# --- AUTH-*: the shared secret in X-Webhook-Secret --------------------------------------------------------


def _deliver_variant(ctx: Context, event: str, variant: SecretVariant) -> Exchange:
    """Send ``event`` with a wrong value derived from the target's secret."""
    reason = variant.unusable(ctx.target.secret)
    if reason:
        raise checks.NotApplicable(reason)
    return ctx.client.deliver(event, variant.header(ctx.target.secret))


@check("AUTH-1", "secrets", [(v.name, v) for v in SECRET_VARIANTS])
def validate_with_bad_secret_gets_401(ctx: Context, variant: SecretVariant) -> None:
    checks.answered_401(_deliver_variant(ctx, VALIDATE, variant))


@check("AUTH-2", "secrets", [(f"{slug(e)}-{v.name}", (e, v)) for e in DOCUMENT_EVENTS for v in SECRET_VARIANTS])
def event_with_bad_secret_gets_401(ctx: Context, case: tuple[str, SecretVariant]) -> None:
    event, variant = case
    checks.answered_401(_deliver_variant(ctx, event, variant))


@check("AUTH-3", "secrets", [(slug(e), e) for e in KNOWN_EVENTS])
def empty_secret_header_accepted_without_secret(ctx: Context, event: str) -> None:
    exchange = ctx.client.deliver(event)
    if event == VALIDATE:
        checks.answered_2xx(exchange)
    else:
        checks.delivered(exchange)


@check("AUTH-4", "secrets", [(case.name, case) for case in ODD_SECRET_CASES])
def odd_secret_header_gets_401(ctx: Context, case: OddSecret) -> None:
    exchange = ctx.client.deliver(VALIDATE, case.header())
    checks.answered_one_of(exchange, ctx.requirement.accepts, ctx.requirement.hint)


@check("AUTH-5", "secrets")
def missing_and_wrong_secret_answered_alike(ctx: Context, _: None) -> None:
    missing, wrong = (next(v for v in SECRET_VARIANTS if v.name == name) for name in ("missing", "wrong-same-length"))
    for variant in (missing, wrong):
        reason = variant.unusable(ctx.target.secret)
        if reason:
            raise checks.NotApplicable(reason)
    # In sequence: the pair compared, and the first again, so a difference is the receiver's, not chance's.
    first = ctx.client.deliver(VALIDATE, missing.header(ctx.target.secret))
    other = ctx.client.deliver(VALIDATE, wrong.header(ctx.target.secret))
    again = ctx.client.deliver(VALIDATE, missing.header(ctx.target.secret))
    checks.answered_alike(first, other, again)


# --- BAD-*: requests that are not deliveries, each with the right secret --------------------------------


def _refused(ctx: Context, case: BadInput) -> Exchange:
    return ctx.client.send(case.request(ctx.target.url, ctx.target.secret))


@check("BAD-1", "bad-input", [(case.name, case) for case in BODY_CASES])
def malformed_body_gets_4xx(ctx: Context, case: BadInput) -> None:
    checks.answered_4xx(_refused(ctx, case))


@check("BAD-2", "bad-input", [(case.name, case) for case in METHOD_CASES])
def other_method_gets_405(ctx: Context, case: BadInput) -> None:
    checks.answered_one_of(_refused(ctx, case), ctx.requirement.accepts, ctx.requirement.hint)


@check("BAD-3", "bad-input", [(case.name, case) for case in CONTENT_TYPE_CASES])
def non_json_content_type_gets_415(ctx: Context, case: BadInput) -> None:
    checks.answered_one_of(_refused(ctx, case), ctx.requirement.accepts, ctx.requirement.hint)


@check("BAD-4", "bad-input")
def oversized_body_gets_413(ctx: Context, _: None) -> None:
    exchange = ctx.client.send(oversize_request(ctx.target.url, ctx.target.secret))
    checks.answered_one_of(exchange, ctx.requirement.accepts, ctx.requirement.hint)


# --- LIVE-1: the receiver outlives what it is sent ----------------------------------------------------------


def _still_answers(ctx: Context) -> None:
    # The handshakes the Cloud's way (the right secret), as HS-1 to HS-3 and earlier LIVE-1 checks sent them.
    earlier = [e for e in ctx.client.exchanges if e.request.as_the_cloud and is_handshake(e.request)]
    checks.still_answers(ctx.client.deliver(VALIDATE), earlier, ctx.client.exchanges)


@check("LIVE-1", "after-bad-input", [("after-bad-input", None)])
def still_answers_after_bad_input(ctx: Context, _: None) -> None:
    _still_answers(ctx)


@check("LIVE-1", "end", [("at-end", None)])
def still_answers_at_the_end(ctx: Context, _: None) -> None:
    _still_answers(ctx)


# --- the session: properties of every response; latency; how deliveries travel ------------------------------


def _every_exchange(ctx: Context) -> tuple[list[Exchange], Exchange]:
    """Every exchange of the session, the probes' included (error paths too), and the console request's."""

    def send_probes() -> Exchange:
        # Independent of each other: as many at once as the run's parallelism, like every parallel stage.
        every = [*probes(ctx.target.url, ctx.target.secret), console_request(ctx.target.url)]
        width = ctx.settings.parallelism
        sent = [
            e for start in range(0, len(every), width) for e in ctx.client.send_at_once(every[start : start + width])
        ]
        return sent[-1]

    console = ctx.shared.once("probes", send_probes)
    return ctx.client.exchanges, console


@check("LEAK-1", "session")
def no_response_contains_secret(ctx: Context, _: None) -> None:
    checks.secret_never_echoed(_every_exchange(ctx)[0], ctx.target.secret)


@check("REDIR-1", "session")
def no_delivery_redirected(ctx: Context, _: None) -> None:
    checks.never_redirected(_every_exchange(ctx)[0])


@check("LEAK-2", "session")
def no_debug_page_or_console(ctx: Context, _: None) -> None:
    every, console = _every_exchange(ctx)
    # The console first: code execution for anyone is the worst of what debug mode shows.
    checks.console_not_served(console)
    checks.no_debug_output(every)


@check("DLV-7", "session")
def latency_p95_under_1s(ctx: Context, _: None) -> None:
    made = [e for e in ctx.client.exchanges if e.request.as_the_cloud]
    for i in range(LATENCY_SAMPLE - len(made)):
        site = f"conformance-latency-{i}.example.com"
        made.append(ctx.client.deliver(EVENT, data=fresh(EVENT, name=site, host_name=site)))
    checks.fast_enough(made)


@check("TLS-1", "deliveries")
def certificate_verifies(ctx: Context, _: None) -> None:
    if urllib.parse.urlsplit(ctx.target.url).scheme != "https":
        raise checks.NotApplicable("the target is http, so there is no certificate to verify")
    # Verified as the Cloud verifies: against the public CAs, whatever this run was told to trust
    # (--webhook-ca-bundle) or not to check (--webhook-insecure).
    error = transport.probe(ctx.target.url, dataclasses.replace(ctx.client.options, verify=True))
    checks.certificate_verified(None if error is None or error.kind != "tls" else error.detail)


@check("TLS-2", "deliveries")
def secret_not_sent_in_clear(ctx: Context, _: None) -> None:
    checks.secret_not_in_clear(ctx.target.url)


@check("SRV-1", "session")
def not_a_development_server(ctx: Context, _: None) -> None:
    checks.not_a_development_server(ctx.client.exchanges)
