"""The receiver's settings, read once from the environment; a bad value is a ValueError naming it."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime

__all__ = ["DEFAULT_INBOX", "MEMORY", "VARIABLES", "Config", "redact_url"]

#: Where the inbox lives unless WEBHOOK_INBOX says otherwise.
DEFAULT_INBOX = "webhook-inbox.sqlite3"
#: WEBHOOK_INBOX value for an inbox in memory: nothing survives a restart (benchmarks, throwaway runs).
MEMORY = ":memory:"


@dataclass(frozen=True)
class Config:
    """Everything the receiver can be told. ``from_env`` documents the variables."""

    secret: str
    previous_secret: str = ""
    previous_until: datetime | None = None
    inbox: str = DEFAULT_INBOX
    max_body_bytes: int = 64 * 1024
    body_timeout: float = 10.0
    header_timeout: float = 10.0
    order_window: float = 5.0
    max_attempts: int = 5
    retention_days: float = 7.0
    max_connections: int = 1000
    keep_alive_timeout: float = 5.0
    shutdown_timeout: float = 20.0
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        problem = _inbox_problem(self.inbox)
        if problem is not None:
            raise ValueError(f"WEBHOOK_INBOX {problem}")
        for name in ("secret", "previous_secret"):
            value: str = getattr(self, name)
            if value != value.strip():  # servers strip header whitespace, so it could never match
                raise ValueError(f"{_ENV[name]} must not start or end with whitespace")
            try:
                value.encode("latin-1")  # the Cloud's HTTP client sends header values as Latin-1
            except UnicodeEncodeError:
                raise ValueError(f"{_ENV[name]} must be Latin-1 text: the Cloud cannot send others") from None
            if any(ord(c) < 32 or ord(c) == 127 for c in value):  # no HTTP header can carry them
                raise ValueError(f"{_ENV[name]} must not hold control characters")
        if self.previous_secret and not self.secret:
            raise ValueError("WEBHOOK_SECRET_PREVIOUS is set but WEBHOOK_SECRET is empty")
        if self.previous_secret and self.previous_secret == self.secret:
            raise ValueError("WEBHOOK_SECRET_PREVIOUS is the same as WEBHOOK_SECRET: set the new secret first")
        if self.previous_until is not None and not self.previous_secret:
            raise ValueError("WEBHOOK_SECRET_PREVIOUS_UNTIL is set but WEBHOOK_SECRET_PREVIOUS is not")
        for name in ("max_body_bytes", "max_attempts", "max_connections", "shutdown_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{_ENV[name]} must be positive, not {getattr(self, name)!r}")
        for name in ("body_timeout", "header_timeout"):  # less than a loopback round trip refuses everything
            if getattr(self, name) < 0.1:
                raise ValueError(f"{_ENV[name]} must be at least 0.1 s, not {getattr(self, name)!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read the ``WEBHOOK_*`` variables. WEBHOOK_SECRET must be set: empty means the webhook has no secret."""
        env = os.environ if env is None else env
        if "WEBHOOK_SECRET" not in env:
            raise ValueError(
                "WEBHOOK_SECRET is not set: set it to the webhook's secret in the Cloud's dashboard "
                "(or to an empty value, for a webhook without one)"
            )
        values: dict[str, object] = {}
        for field, name in _ENV.items():
            raw = env.get(name, "")
            if field in ("secret", "previous_secret"):
                values[field] = raw
            elif raw.strip():
                values[field] = _parse(field, raw.strip())
        return cls(**values)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        """Every setting but the secrets' values, and WEBHOOK_INBOX without its password: a config ends up in
        tracebacks, logs and debuggers."""
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("secret", "previous_secret"):
                shown.append(f"{f.name}={_FILTERED if value else ''!r}")
            elif f.name == "inbox":
                shown.append(f"inbox={redact_url(value)!r}")
            else:
                shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    __str__ = __repr__

    @property
    def inbox_shown(self) -> str:
        """WEBHOOK_INBOX as it may be logged: a database URL's password replaced."""
        return redact_url(self.inbox)

    def previous_accepted(self, now: datetime | None = None) -> bool:
        """Whether WEBHOOK_SECRET_PREVIOUS still opens the door (a rotation in progress)."""
        if not self.previous_secret:
            return False
        return self.previous_until is None or (now or datetime.now(UTC)) < self.previous_until


_FILTERED = "[Filtered]"
#: The password of a URL's user part, ``scheme://user:password@host``: up to the last ``@``, even past a ``/``
#: left unencoded in it (hiding a little more than the password is the safe side).
_USERINFO_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*:)(?P<password>.*)(?=@)", re.DOTALL)
#: A password given as a query parameter (libpq takes ``?password=`` and ``?sslpassword=``).
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&][^=&#]*password=)(?P<password>[^&#]*)", re.IGNORECASE)


#: What makes WEBHOOK_INBOX a PostgreSQL database rather than a SQLite file (the schemes libpq takes).
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_KEYWORD_DSN = re.compile(r"(^|\s)(host|hostaddr|dbname|user|password|port|service)\s*=")


def is_postgres(inbox: str) -> bool:
    """Whether WEBHOOK_INBOX names a PostgreSQL database (a URL) rather than a SQLite file."""
    return inbox.startswith(POSTGRES_SCHEMES)


def _inbox_problem(inbox: str) -> str | None:
    """Why WEBHOOK_INBOX would not be read as meant, or None. Never quotes it: it may hold a password."""
    if is_postgres(inbox):
        return None
    if inbox.lower().startswith(POSTGRES_SCHEMES) or inbox.lower().startswith("postgresql+"):
        return "must start with postgresql:// or postgres://, in lower case and without a driver name"
    if "://" in inbox:
        return "is a URL, but not a PostgreSQL one: give a postgresql:// URL or a SQLite file path"
    if _KEYWORD_DSN.search(inbox):
        return "looks like a libpq keyword string (host=... dbname=...): give it as a postgresql:// URL"
    return None


def redact_url(text: str) -> str:
    """``text`` with any password in it, as a URL's user part or a query parameter, replaced by [Filtered]."""
    if "://" not in text:  # a file path: nothing to hide
        return text
    text = _USERINFO_PASSWORD.sub(lambda m: m["head"] + _FILTERED, text)
    return _QUERY_PASSWORD.sub(lambda m: m["head"] + _FILTERED, text)


#: Each setting's environment variable and what it is (``python -m reference_receiver --help`` shows them).
VARIABLES: dict[str, tuple[str, str]] = {
    "secret": ("WEBHOOK_SECRET", "the webhook's secret from the Cloud's dashboard (required; empty = no secret)"),
    "previous_secret": ("WEBHOOK_SECRET_PREVIOUS", "the old secret, still accepted during a rotation"),
    "previous_until": ("WEBHOOK_SECRET_PREVIOUS_UNTIL", "ISO-8601 time after which the old one is refused"),
    "inbox": (
        "WEBHOOK_INBOX",
        f"the inbox: a SQLite file path or a postgresql:// URL (default: {DEFAULT_INBOX}; {MEMORY} = not durable)",
    ),
    "max_body_bytes": ("WEBHOOK_MAX_BODY_BYTES", "body size limit, 413 past it (default: 65536)"),
    "body_timeout": ("WEBHOOK_BODY_TIMEOUT", "seconds to receive a body, 408 past it (default: 10)"),
    "header_timeout": ("WEBHOOK_HEADER_TIMEOUT", "seconds to receive a request's head, 408 past it (default: 10)"),
    "order_window": ("WEBHOOK_ORDER_WINDOW", "seconds an event waits, so that late ones go first (default: 5)"),
    "max_attempts": ("WEBHOOK_MAX_ATTEMPTS", "handler attempts before an event is marked failed (default: 5)"),
    "retention_days": ("WEBHOOK_RETENTION_DAYS", "days processed events are kept, 0 = forever (default: 7)"),
    "max_connections": ("WEBHOOK_MAX_CONNECTIONS", "requests in flight at once, 503 past it (default: 1000)"),
    "keep_alive_timeout": ("WEBHOOK_KEEP_ALIVE_TIMEOUT", "seconds an idle connection is kept (default: 5)"),
    "shutdown_timeout": ("WEBHOOK_SHUTDOWN_TIMEOUT", "seconds to finish requests at SIGTERM (default: 20)"),
    "log_level": ("WEBHOOK_LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR (default: INFO)"),
}
_ENV = {field: name for field, (name, _) in VARIABLES.items()}
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _whole(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()):
        raise ValueError
    return int(raw)


def _seconds(raw: str) -> float:
    value = float(raw)
    if not 0 <= value < float("inf"):
        raise ValueError
    return value


def _moment(raw: str) -> datetime:
    until = datetime.fromisoformat(raw)
    return until if until.tzinfo else until.replace(tzinfo=UTC)


def _level(raw: str) -> str:
    if raw.upper() not in _LEVELS:
        raise ValueError
    return raw.upper()


_WHOLE = (_whole, "a positive whole number")
_SECONDS = (_seconds, "a number of seconds (or days) >= 0")
#: How each setting other than the secrets is read from its variable, and what it must look like.
_PARSERS: dict[str, tuple[Callable[[str], object], str]] = {
    "previous_until": (_moment, "an ISO-8601 date-time"),
    "inbox": (str, "a SQLite file path or a postgresql:// URL"),
    "max_body_bytes": _WHOLE,
    "body_timeout": _SECONDS,
    "header_timeout": _SECONDS,
    "order_window": _SECONDS,
    "max_attempts": _WHOLE,
    "retention_days": _SECONDS,
    "max_connections": _WHOLE,
    "keep_alive_timeout": _SECONDS,
    "shutdown_timeout": _SECONDS,
    "log_level": (_level, "one of " + ", ".join(_LEVELS)),
}


def _parse(field: str, raw: str) -> object:
    parse, expected = _PARSERS[field]
    try:
        return parse(raw)
    except ValueError:
        raise ValueError(f"{_ENV[field]} must be {expected}, not {raw!r}") from None
