"""Building deliveries exactly as the Cloud does, and the wrong-secret variants, as data."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.config.secret import Secret
from harness.payloads.events import KNOWN_EVENTS, VALIDATE
from harness.payloads.schemas import examples, sample_data
from harness.wire.transport import Request

__all__ = [
    "HANDSHAKE",
    "OLD_DATES",
    "SECRET_VARIANTS",
    "HeaderValue",
    "SecretVariant",
    "Shape",
    "console_request",
    "corpus",
    "delivery",
    "encode",
    "fresh",
    "is_handshake",
    "probes",
    "redated",
    "right_secret",
    "sent_now",
    "stale_bench_job_update",
    "trial_initial_plan_change",
    "usable_variants",
    "variant_values",
]


def encode(event: str, data: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> bytes:
    """The bytes the Cloud puts on the wire: ``requests``' ``json=`` encoding of ``{"event", "data"}``.

    Default separators (``", "`` and ``": "``), ASCII-escaped, ``event`` before ``data``,
    and no NaN (requests refuses it). ``extra`` adds top-level keys after them, as a future sender might.
    """
    return json.dumps({"event": event, "data": data, **(extra or {})}, allow_nan=False).encode("utf-8")


HANDSHAKE = encode(VALIDATE, {})


def is_handshake(request: Request) -> bool:
    """Is ``request`` the Webhook Validate the dashboard sends, byte for byte?"""
    return request.body == HANDSHAKE


# The sender's date formats (cloud-sender.md §2.2): str() of a naive datetime, microseconds left out when 0.
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{6})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: The fields the sender writes at the moment of the change: stamped "now" on generated payloads.
STAMPED = ("creation", "modified", "timestamp")


def _shifted(value: object, delta: dt.timedelta) -> object:
    if isinstance(value, str) and _DATETIME.match(value):
        return str(dt.datetime.fromisoformat(value) + delta)
    if isinstance(value, str) and _DATE.match(value):
        return str((dt.datetime.fromisoformat(value) + delta).date())
    return value


def redated(data: dict[str, Any], offset: int = 0) -> dict[str, Any]:
    """``data`` as if it fired now: every date moved by the same delta, so that ``modified`` is the current
    local time (plus ``offset`` microseconds) and the ages between the dates stay as the example has them.

    The Cloud stamps ``modified`` (and ``timestamp``) when the change happens, moments before it sends, in
    naive server-local time; a receiver with a freshness window must see dates that fresh.
    """
    now = dt.datetime.now() + dt.timedelta(microseconds=offset)
    modified = data.get("modified")
    if not (isinstance(modified, str) and _DATETIME.match(modified)):
        return {**data, **{key: str(now) for key in STAMPED if key in data}}
    delta = now - dt.datetime.fromisoformat(modified)
    return {key: _shifted(value, delta) for key, value in data.items()}


#: Events whose document is new with each event, named by a random 10-character hash (frappe's autoname):
#: the Cloud never sends one name twice with another content.
NAMED_ONCE = ("Site Plan Change",)


def sent_now(event: str, data: dict[str, Any], offset: int = 0) -> dict[str, Any]:
    """``data`` as the Cloud would send it now: :func:`redated`, and a new name where each event has its own."""
    now = redated(data, offset)
    if event in NAMED_ONCE and "name" in now:
        now["name"] = secrets.token_hex(5)
    return now


#: The keys that name the resource an event is about: a receiver that keeps order keeps it per these.
IDENTITY_KEYS = ("name", "host_name", "site")


def renamed(data: dict[str, Any], tag: str) -> dict[str, Any]:
    """``data`` about a resource of its own: every identity key's value prefixed with ``tag``, so that checks
    sent at once never send two events of one resource (only DLV-3 does, on purpose)."""
    return {
        key: f"{tag}-{value}" if key in IDENTITY_KEYS and isinstance(value, str) else value
        for key, value in data.items()
    }


def fresh(event: str, offset: int = 0, **changes: Any) -> dict[str, Any]:
    """The event's sample, new to the receiver: sent now (plus ``offset`` microseconds), as no run sent
    before, so a receiver that deduplicates does not take it for an old delivery."""
    return {**sent_now(event, sample_data(event), offset), **changes}


@dataclass(frozen=True)
class Shape:
    """One realistic payload of the corpus: a name for test ids and messages, and its ``data`` (not re-dated)."""

    event: str
    name: str
    data: dict[str, Any]

    @property
    def what(self) -> str:
        return self.name.replace("-", " ")


def _shape_name(data: dict[str, Any]) -> str:
    """A name from what tells the Cloud's examples apart: status or type, and the traits receivers trip on."""
    parts = [str(data.get("status") or data.get("type") or "document")]
    if data.get("tags"):
        parts.append("tagged")
    if data.get("trial_end_date"):
        parts.append("on trial")
    if isinstance(data.get("label"), str):
        parts.append("labelled")
    if data.get("build_error"):
        parts.append("with error")
    return "-".join("-".join(parts).lower().split())


def corpus(event: str) -> list[Shape]:
    """Every shape of ``event`` the schemas' examples hold, each with a distinct name."""
    shapes: list[Shape] = []
    for data in examples(event):
        name = _shape_name(data)
        taken = sum(1 for shape in shapes if shape.name == name or shape.name.startswith(f"{name}-"))
        shapes.append(Shape(event, f"{name}-{taken + 1}" if taken else name, data))
    return shapes


#: How old a trial site's creation is, in the initial plan change the Cloud sends for it (EVT-3).
TRIAL_SITE_AGE = dt.timedelta(days=3)
#: How long a new bench's agent job may run: its job updates carry the bench's modified from before (EVT-3).
BENCH_JOB_AGE = dt.timedelta(hours=1)


def trial_initial_plan_change() -> dict[str, Any]:
    """The Site Plan Change the Cloud sends for a trial site taken from the standby pool: an Initial Plan whose
    ``timestamp`` is the site's creation time, days old (``_create_initial_site_plan_change`` sets it from
    ``self.creation``; frappe/press press/press/doctype/site/site.py), while ``creation``/``modified`` are now."""
    initial = next(s.data for s in corpus("Site Plan Change") if s.data.get("type") == "Initial Plan")
    data = sent_now("Site Plan Change", initial)
    data["timestamp"] = str(dt.datetime.fromisoformat(data["modified"]) - TRIAL_SITE_AGE)
    return data


def stale_bench_job_update() -> dict[str, Any]:
    """The Bench Status Update of a new bench's agent job: ``process_new_bench_job_update`` sets the status with
    ``frappe.db.set_value`` and fires from the document loaded before, so ``modified`` is still the bench's
    creation, as long ago as the job ran (frappe/press press/press/doctype/bench/bench.py, commit 2343b5300b)."""
    installing = next(s.data for s in corpus("Bench Status Update") if s.data.get("status") == "Installing")
    data = sent_now("Bench Status Update", installing)
    old = str(dt.datetime.fromisoformat(data["modified"]) - BENCH_JOB_AGE)
    # A bench of its own: its dates go forward, only late; never older than an event of the same bench.
    return {**data, "name": f"bench-harness-{secrets.token_hex(3)}-f1", "creation": old, "modified": old}


#: The Cloud's own old dates, as data: (case name, what it is, event, payload builder).
OLD_DATES: tuple[tuple[str, str, str, Callable[[], dict[str, Any]]], ...] = (
    (
        "trial-initial-plan",
        "an Initial Plan of a trial site, its timestamp the site's creation days ago",
        "Site Plan Change",
        trial_initial_plan_change,
    ),
    (
        "bench-job-update",
        "a new bench's job update, its modified still the bench's creation an hour ago",
        "Bench Status Update",
        stale_bench_job_update,
    ),
)


@dataclass(frozen=True)
class HeaderValue:
    """What goes in ``X-Webhook-Secret``: the value, its description, and how a shell rebuilds it.

    ``secret`` None omits the header. ``shell`` is a bash expression (used inside double quotes)
    that computes the value from ``$WEBHOOK_SECRET``, so a reproduction never prints the secret.
    """

    secret: Secret | None
    note: str
    shell: str | None


def right_secret(secret: Secret) -> HeaderValue:
    """The configured secret, or the empty header the Cloud sends when none is configured."""
    if not secret:
        return HeaderValue(secret, "the empty secret header the Cloud sends when none is configured", "")
    return HeaderValue(secret, "the right secret", "$WEBHOOK_SECRET")


def delivery(
    url: str,
    event: str,
    header: HeaderValue,
    *,
    data: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    as_the_cloud: bool = False,
    shape: str | None = None,
) -> Request:
    """A delivery of ``event`` with its sample payload re-dated to now (or ``data``), carrying ``header``
    verbatim; ``shape`` names the payload in the description."""
    payload = dict(data) if data is not None else ({} if event == VALIDATE else fresh(event))
    named = f"{event!r} ({shape})" if shape else repr(event)
    return Request(
        url=url,
        body=encode(event, payload, extra),
        description=f"{named} with {header.note}",
        secret=header.secret,
        secret_shell=header.shell,
        as_the_cloud=as_the_cloud,
    )


@dataclass(frozen=True)
class SecretVariant:
    """A wrong value for ``X-Webhook-Secret``, derived from the right one. ``make`` returns None to omit the header."""

    name: str
    description: str
    make: Callable[[str], str | None]
    #: The same value as a bash expression over $WEBHOOK_SECRET (None: no header).
    shell: str | None
    #: Why the variant cannot be built from a given (non-empty) secret, or None when it can.
    unusable_for: Callable[[str], str | None] = lambda secret: None

    def unusable(self, secret: Secret) -> str | None:
        """Why this wrong value cannot be derived from ``secret``; None when it can."""
        if not secret:
            return (
                "no secret is configured: set WEBHOOK_SECRET (or --webhook-secret-file) to the webhook's secret "
                "to check that wrong ones get 401"
            )
        return self.unusable_for(secret.reveal())

    def header(self, secret: Secret) -> HeaderValue:
        """The wrong value for ``secret``; only for a secret it is usable with."""
        reason = self.unusable(secret)
        if reason is not None:
            raise ValueError(reason)
        made = self.make(secret.reveal())
        return HeaderValue(None if made is None else Secret(made), self.description, self.shell)


def usable_variants(secret: Secret) -> list[SecretVariant]:
    """The wrong-secret variants that can be derived from ``secret`` (none without a secret)."""
    return [v for v in SECRET_VARIANTS if v.unusable(secret) is None]


_ASCII_SWAP = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


def _swap_ascii_case(secret: str) -> str:
    # ASCII letters only, like tr(1) in the reproduction: both must build the same value.
    return secret.translate(_ASCII_SWAP)


def _same_length_wrong(secret: str) -> str:
    # Only the last character differs, so a receiver comparing a prefix, or lengths, is caught too.
    last = secret[-1]
    return secret[:-1] + ("b" if last == "a" else "a")


SECRET_VARIANTS: tuple[SecretVariant, ...] = (
    SecretVariant("missing", "no X-Webhook-Secret header", lambda s: None, None),
    SecretVariant("empty", "an empty X-Webhook-Secret header", lambda s: "", ""),
    SecretVariant(
        "wrong-same-length",
        "a wrong secret of the same length (last character changed)",
        _same_length_wrong,
        '${WEBHOOK_SECRET%?}$([ "${WEBHOOK_SECRET: -1}" = a ] && echo b || echo a)',
    ),
    SecretVariant(
        "prefix",
        "the secret without its last character",
        lambda s: s[:-1],
        "${WEBHOOK_SECRET%?}",
        unusable_for=lambda s: "a one-character secret has no non-empty prefix" if len(s) < 2 else None,
    ),
    SecretVariant("appended", "the secret with a character appended", lambda s: s + "x", "${WEBHOOK_SECRET}x"),
    SecretVariant(
        "case-changed",
        "the secret with the case of its letters swapped",
        _swap_ascii_case,
        '$(printf %s "$WEBHOOK_SECRET" | tr a-zA-Z A-Za-z)',
        unusable_for=lambda s: (
            "the secret has no ASCII letters, so its case cannot change" if _swap_ascii_case(s) == s else None
        ),
    ),
    SecretVariant("embedded", "the secret inside a longer value", lambda s: f"x{s}x", "x${WEBHOOK_SECRET}x"),
)


def variant_values(secret: Secret) -> list[Secret]:
    """Every wrong value derived from ``secret``: text that must be masked like the secret itself."""
    values = [v.header(secret).secret for v in usable_variants(secret)]
    return [value for value in values if value is not None and len(value) >= 4]


def probes(url: str, secret: Secret) -> list[Request]:
    """Requests that exercise a receiver's error paths as well as its happy ones.

    Whole-session properties (no leaked secret, no redirect) are judged over these, so that they
    hold on every path and not only on the ones other checks happened to take.
    """
    right = right_secret(secret)
    requests = [delivery(url, event, right) for event in KNOWN_EVENTS]
    requests += [delivery(url, VALIDATE, v.header(secret)) for v in usable_variants(secret)]
    bodies = [
        (b'{"event": "Site Status Update", "data": ', "truncated JSON"),
        (b"[]", "a top-level JSON array"),
        (encode("Conformance Probe", {}), "an event the Cloud does not send"),
    ]
    requests += [
        Request(url, body, f"{what}, with {right.note}", secret=right.secret, secret_shell=right.shell)
        for body, what in bodies
    ]
    return requests


def console_request(url: str) -> Request:
    """A GET of /console on the target's origin, where Werkzeug's debugger serves its Python console."""
    parts = urllib.parse.urlsplit(url)
    console = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/console", "", ""))
    return Request(
        console,
        b"",
        "a GET of /console, where Flask's debug mode serves a Python console",
        method="GET",
        content_type=None,
    )
