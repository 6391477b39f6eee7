"""Every setting of the suite, defined once, and resolved in one place.

Each setting can come from an ini file, an environment variable or the command line; a later
source wins (ini < environment < command line). A bad value raises :class:`SettingError` naming
the source it came from. The secret is never accepted from an ini file: config files end up in
version control.
"""

from __future__ import annotations

import dataclasses
import shlex
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import requests

from harness.config.secret import MASK, Secret

__all__ = ["OPTIONS", "PER_TARGET", "Option", "SettingError", "Settings", "options_markdown", "resolve"]

Kind = Literal["url", "secret", "secret-file", "path", "output", "seconds", "count", "flag"]

#: The Cloud stores the secret in a 140-character field (cloud-sender.md §6).
MAX_SECRET_LENGTH = 140
#: The Cloud's connect and read timeouts; a longer one would test something the Cloud never does.
CLOUD_TIMEOUT = 5.0
#: The Cloud's background workers, which deliver in parallel (cloud-sender.md §5).
CLOUD_WORKERS = 8
#: The settings each target of a fleet (``check-many``) has its own: from its row of the targets file, never
#: from the options, the environment or an ini file that apply to all of them.
PER_TARGET = ("target_url", "secret", "secret_file")


class SettingError(ValueError):
    """A setting has a value the suite cannot use; the message names where it came from."""


@dataclass(frozen=True)
class Option:
    """One setting: where it can be given, and its one help text."""

    name: str
    flag: str
    env: str | None
    ini: str | None
    kind: Kind
    help: str
    metavar: str | None = None
    #: The range of a count.
    limits: tuple[int, int] = (1, 64)
    #: The value when the option is not given: the field's default in :class:`Settings`.
    default: object = None
    #: A shorter spelling ``webhook-conformance check`` also takes (``--strict``); the --webhook-* name always works.
    alias: str | None = None

    @property
    def full_help(self) -> str:
        """The help text with where else the option can be given: for --help of both front doors."""
        where = [f"environment: {self.env}"] if self.env else []
        where += [f"ini: {self.ini}"] if self.ini else []
        return self.help + (f" ({'; '.join(where)})" if where else "")

    def as_flag(self, value: object) -> str:
        """The option given ``value``, as a command-line word to paste back."""
        if self.kind == "flag":
            return self.flag
        text = f"{value:g}" if isinstance(value, float) else str(value)
        return f"{self.flag}={shlex.quote(text)}"


OPTIONS: tuple[Option, ...] = (
    Option(
        "target_url",
        "--target-url",
        "WEBHOOK_TARGET_URL",
        "webhook_target_url",
        "url",
        "URL of the webhook receiver to check, as it would be entered in the Cloud's dashboard. "
        "Without one, the suite checks the bundled reference receiver, started on a free loopback port.",
        "URL",
    ),
    Option(
        "secret_file",
        "--webhook-secret-file",
        "WEBHOOK_SECRET_FILE",
        "webhook_secret_file",
        "secret-file",
        "File holding the webhook's secret (one trailing newline is ignored). "
        "Prefer this or the WEBHOOK_SECRET environment variable to --webhook-secret.",
        "PATH",
        alias="--secret-file",
    ),
    Option(
        "secret",
        "--webhook-secret",
        "WEBHOOK_SECRET",
        None,
        "secret",
        "The webhook's secret, as configured in the Cloud's dashboard. On the command line it shows up "
        "in shell history and process lists: prefer the WEBHOOK_SECRET environment variable.",
        "VALUE",
        default=Secret(""),
    ),
    Option(
        "timeout",
        "--webhook-timeout",
        "WEBHOOK_TIMEOUT",
        "webhook_timeout",
        "seconds",
        "Connect and read timeout per request, in seconds (default 5, the Cloud's; at most 5).",
        "SECONDS",
        default=CLOUD_TIMEOUT,
        alias="--timeout",
    ),
    Option(
        "parallelism",
        "--webhook-parallelism",
        "WEBHOOK_PARALLELISM",
        "webhook_parallelism",
        "count",
        "Exchanges in flight at once: independent checks go out up to N at a time, and the concurrency check "
        "(DLV-2) sends a burst of N (default 8, the Cloud's workers; 1 to 64).",
        "N",
        default=CLOUD_WORKERS,
    ),
    Option(
        "strict",
        "--webhook-strict",
        "WEBHOOK_STRICT",
        "webhook_strict",
        "flag",
        "Fail the run when a SHOULD requirement fails, not only a MUST.",
        default=False,
        alias="--strict",
    ),
    Option(
        "ca_bundle",
        "--webhook-ca-bundle",
        "WEBHOOK_CA_BUNDLE",
        "webhook_ca_bundle",
        "path",
        "CA bundle (PEM) to verify the target's certificate with, for receivers behind a private CA.",
        "PATH",
        alias="--ca-bundle",
    ),
    Option(
        "report_json",
        "--webhook-report-json",
        "WEBHOOK_REPORT_JSON",
        "webhook_report_json",
        "output",
        "Write the run's results as JSON (format: schemas/report.schema.json) to this file.",
        "PATH",
        alias="--report-json",
    ),
    Option(
        "report_md",
        "--webhook-report-md",
        "WEBHOOK_REPORT_MD",
        "webhook_report_md",
        "output",
        "Write a Markdown summary to this file (it is also appended to $GITHUB_STEP_SUMMARY when that is set).",
        "PATH",
        alias="--report-md",
    ),
    Option(
        "report_html",
        "--webhook-report-html",
        "WEBHOOK_REPORT_HTML",
        "webhook_report_html",
        "output",
        "Write a self-contained HTML report to this file.",
        "PATH",
        alias="--report-html",
    ),
    Option(
        "use_env_proxy",
        "--webhook-use-env-proxy",
        "WEBHOOK_USE_ENV_PROXY",
        "webhook_use_env_proxy",
        "flag",
        "Honour proxy variables and .netrc from the environment (ignored by default, so that no "
        "credential or proxy is added to requests by surprise).",
        default=False,
    ),
    Option(
        "examples",
        "--webhook-examples",
        "WEBHOOK_EXAMPLES",
        "webhook_examples",
        "count",
        "Payloads generated from each event's schema by the generated-payload check (default 3; 1 to 1000). "
        "The same seed every run, so a run is reproducible.",
        "N",
        limits=(1, 1000),
        default=3,
    ),
    Option(
        "insecure",
        "--webhook-insecure",
        "WEBHOOK_INSECURE",
        "webhook_insecure",
        "flag",
        "Do not verify the target's TLS certificate, to see the other results while it is broken. The "
        "certificate check (TLS-1) still fails, and every report records that verification was off.",
        default=False,
    ),
    Option(
        "allow_insecure_http",
        "--webhook-allow-insecure-http",
        "WEBHOOK_ALLOW_INSECURE_HTTP",
        "webhook_allow_insecure_http",
        "flag",
        "Send the secret to an http:// target on another machine, where it crosses the network in clear. "
        "Without this flag such a run is refused.",
        default=False,
    ),
    Option(
        "load",
        "--webhook-load",
        "WEBHOOK_LOAD",
        None,
        "count",
        "After the checks, send N deliveries as a load run and report throughput, latency percentiles and "
        "answers by status class (1 to 10000; off by default: never a load generator by surprise).",
        "N",
        limits=(1, 10_000),
        default=0,
    ),
    Option(
        "load_concurrency",
        "--webhook-load-concurrency",
        "WEBHOOK_LOAD_CONCURRENCY",
        None,
        "count",
        "Deliveries in flight at once during --webhook-load (default 8; 1 to 64).",
        "C",
        default=CLOUD_WORKERS,
    ),
)


@dataclass(frozen=True)
class Settings:
    """The effective settings of a run."""

    target_url: str | None = None
    secret: Secret = field(default_factory=lambda: Secret(""))
    timeout: float = CLOUD_TIMEOUT
    parallelism: int = CLOUD_WORKERS
    strict: bool = False
    ca_bundle: str | None = None
    use_env_proxy: bool = False
    report_json: str | None = None
    report_md: str | None = None
    report_html: str | None = None
    examples: int = 3
    insecure: bool = False
    allow_insecure_http: bool = False
    #: Deliveries of the opt-in load run; 0: no load run.
    load: int = 0
    load_concurrency: int = CLOUD_WORKERS
    #: Where each setting that was given came from, e.g. ``{"secret": "environment variable WEBHOOK_SECRET"}``.
    sources: Mapping[str, str] = field(default_factory=dict)

    def reports(self) -> dict[str, str]:
        """The report files asked for, by kind (``report-json``, ``report-md``, ``report-html``)."""
        chosen = {"report-json": self.report_json, "report-md": self.report_md, "report-html": self.report_html}
        return {kind: path for kind, path in chosen.items() if path}

    def as_flags(self, *, target: bool = True) -> str:
        """The settings as command-line flags a user can paste back, with the secret masked: every option
        whose value is not its default, in the table's order. Without ``target``, those every target of a fleet
        has its own (URL and secret) are left out."""
        flags = [] if self.target_url or not target else ["(no --target-url: embedded receiver)"]
        for option in OPTIONS:
            if not target and (option.name in PER_TARGET or option.kind == "output"):
                continue  # each target's own, or the fleet's reports, which it names as it writes them
            if option.name == "secret":
                source = self.sources.get("secret", "?")
                flags.append(_secret_words(self, source))
            elif option.name != "secret_file" and getattr(self, option.name) != option.default:
                flags.append(option.as_flag(getattr(self, option.name)))
        return " ".join(flags)


def _secret_words(settings: Settings, source: str) -> str:
    if settings.secret:
        return f"secret={MASK} ({len(settings.secret)} characters, from {source})"
    # The embedded receiver makes its own: "(none)" would contradict the header's next line.
    return "secret=(none)" if settings.target_url else "secret=(generated for the embedded receiver)"


def _table_is_the_settings() -> None:
    """The option table and :class:`Settings` are one fact: the same names, the same defaults."""
    fields = {f.name for f in dataclasses.fields(Settings) if f.name != "sources"}
    named = {o.name: o for o in OPTIONS if o.name != "secret_file"}
    if fields != set(named):
        raise RuntimeError(f"Settings and OPTIONS differ: {sorted(fields ^ set(named))}")
    defaults = Settings()
    for name, option in named.items():
        if getattr(defaults, name) != option.default:
            raise RuntimeError(
                f"the default of {name} differs: Settings {getattr(defaults, name)!r}, OPTIONS {option.default!r}"
            )


def options_markdown() -> str:
    """The README's table of settings, generated from the option table."""
    rows = ["| Command line | Environment | ini file | What it sets |", "|---|---|---|---|"]
    for option in OPTIONS:
        spelled = f"{option.flag} {option.metavar}" if option.metavar else option.flag
        flag = f"`{spelled}`" + (f" (`check {option.alias}`)" if option.alias else "")
        env = f"`{option.env}`" if option.env else "-"
        ini = f"`{option.ini}`" if option.ini else "(never)"
        rows.append(f"| {flag} | {env} | {ini} | {option.help.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


# Source layers, lowest precedence first.
Layer = tuple[str, Mapping[str, str | bool | None]]


def resolve(
    ini: Mapping[str, str | bool | None],
    env: Mapping[str, str],
    cli: Mapping[str, str | bool | None],
    *,
    arguments: bool = False,
) -> Settings:
    """Merge the three sources into :class:`Settings`.

    ``ini`` and ``cli`` are keyed by :attr:`Option.name`; ``env`` is the process environment.
    Empty values count as not given. With ``arguments``, ``cli`` holds a function's keyword arguments
    (:func:`harness.check`), and errors name them so.
    """
    cli_url = cli.get("target_url")
    last = "argument" if arguments else "command line"
    for layer_name, given in (("environment", env.get("WEBHOOK_TARGET_URL")), (last, cli_url)):
        settled_later = layer_name == "environment" and bool(cli_url and str(cli_url).strip())
        if given is not None and not str(given).strip() and not settled_later:
            # Typically an unset variable in CI: checking the embedded receiver instead would pass silently.
            raise SettingError(
                f"{_where(layer_name, 'target_url')} is set but empty: give the receiver's URL, or unset it to "
                "check the bundled reference receiver"
            )
    layers: list[Layer] = [
        ("ini file", {o.name: ini.get(o.name) for o in OPTIONS if o.ini}),
        ("environment", {o.name: env.get(o.env) for o in OPTIONS if o.env}),
        (last, dict(cli)),
    ]
    chosen: dict[str, tuple[str | bool, str]] = {}
    ambiguous = None  # a layer that gives the secret twice; an error only if no later layer settles it
    for layer_name, values in layers:
        secret_given = [name for name in ("secret", "secret_file") if _given(values.get(name))]
        if secret_given:
            chosen.pop("secret", None)
            chosen.pop("secret_file", None)
            ambiguous = layer_name if len(secret_given) == 2 else None
        for option in OPTIONS:
            value = values.get(option.name)
            if _given(value):
                assert value is not None
                chosen[option.name] = (value, _where(layer_name, option.name))
    if ambiguous is not None:
        raise SettingError(
            f"{_where(ambiguous, 'secret')} and {_where(ambiguous, 'secret_file')} are both set: give one"
        )
    return _build(chosen)


def _given(value: str | bool | None) -> bool:
    # False is given: --no-webhook-strict switches off what the environment or an ini file switched on.
    return value is not None and value != ""


def _where(layer_name: str, name: str) -> str:
    option = next(o for o in OPTIONS if o.name == name)
    if layer_name == "environment":
        return f"environment variable {option.env}"
    if layer_name == "argument":
        return f"argument {name}"
    if layer_name == "ini file":
        return f"ini setting {option.ini}"
    return f"command-line option {option.flag}"


def _build(chosen: Mapping[str, tuple[str | bool, str]]) -> Settings:
    sources = {name: source for name, (_, source) in chosen.items()}
    values: dict[str, object] = {}
    for name, (value, source) in chosen.items():
        option = next(o for o in OPTIONS if o.name == name)
        if option.kind == "count":
            values[name] = _parse_count(value, source, option.limits)
        else:
            values[name] = _PARSERS[option.kind](value, source)
    secret = values.pop("secret", None) or values.pop("secret_file", None) or Secret("")
    values.pop("secret_file", None)
    if "secret_file" in sources:
        sources["secret"] = sources.pop("secret_file")
    return Settings(secret=secret, sources=sources, **values)  # type: ignore[arg-type]


def _parse_url(value: str | bool, source: str) -> str:
    url = str(value).strip()
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises on a port out of range
        # requests' own checks (IDNA host labels and the like), so no URL fails later, mid-run.
        requests.models.PreparedRequest().prepare_url(url, None)
        (parts.hostname or "").encode("idna")  # what the resolver will do: labels of 1-63 characters
    except (ValueError, UnicodeError, requests.exceptions.RequestException) as exc:
        raise SettingError(f"{source}: {url!r} is not a usable URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError(f"{source}: {url!r} is not an http:// or https:// URL with a host")
    if port == 0:
        raise SettingError(f"{source}: {url!r} has port 0, which nothing can listen on")
    return url


def _parse_secret(value: str | bool, source: str) -> Secret:
    secret = str(value)
    problem = _secret_problem(secret)
    if problem:
        raise SettingError(f"{source}: the secret {problem}")
    return Secret(secret)


def _secret_problem(secret: str) -> str | None:
    """Why the Cloud could not send this secret (cloud-sender.md §6), or None."""
    if len(secret) > MAX_SECRET_LENGTH:
        return f"is {len(secret)} characters long; the Cloud stores at most {MAX_SECRET_LENGTH}"
    if secret != secret.lstrip():
        return "starts with white space; the Cloud's HTTP client refuses to send such a header"
    if secret != secret.rstrip():
        return "ends with white space, which HTTP servers strip from header values (RFC 9110): it could never match"
    try:
        secret.encode("latin-1")
    except UnicodeEncodeError:
        return "has characters outside Latin-1; the Cloud's HTTP client cannot send it in a header"
    if any(ord(c) < 32 or ord(c) == 127 for c in secret):
        return "contains control characters, which cannot travel in an HTTP header"
    return None


def _parse_secret_file(value: str | bool, source: str) -> Secret:
    path = Path(str(value)).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingError(f"{source}: cannot read the secret file {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SettingError(f"{source}: the secret file {str(path)!r} is not UTF-8 text") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise SettingError(f"{source}: the secret file {str(path)!r} is empty")
    return _parse_secret(text, f"{source} (file {str(path)!r})")


def _parse_path(value: str | bool, source: str) -> str:
    path = Path(str(value)).expanduser()
    if not path.is_file():
        raise SettingError(f"{source}: {str(path)!r} is not a readable file")
    return str(path)


def _parse_output(value: str | bool, source: str) -> str:
    path = Path(str(value)).expanduser()
    if path.is_dir():
        raise SettingError(f"{source}: {str(path)!r} is a directory, not a file to write")
    if not path.parent.is_dir():
        raise SettingError(f"{source}: cannot write {str(path)!r}: the directory {str(path.parent)!r} does not exist")
    return str(path)


def _parse_seconds(value: str | bool, source: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise SettingError(f"{source}: {value!r} is not a number of seconds") from None
    if not 0 < seconds <= CLOUD_TIMEOUT:
        raise SettingError(
            f"{source}: {value!r} is out of range: more than 0 and at most {CLOUD_TIMEOUT:g} "
            "(the Cloud gives up after 5 s, so a longer timeout would pass receivers the Cloud fails)"
        )
    return seconds


def _parse_count(value: str | bool, source: str, limits: tuple[int, int] = (1, 64)) -> int:
    low, high = limits
    text = str(value).strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise SettingError(f"{source}: {value!r} is not a whole number from {low} to {high}")
    return int(text)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_flag(value: str | bool, source: str) -> bool:
    if isinstance(value, bool):
        return value
    word = value.strip().lower()
    if word in _TRUE | _FALSE:
        return word in _TRUE
    raise SettingError(f"{source}: {value!r} is not a yes/no value (use 1/0, true/false, yes/no, on/off)")


_PARSERS: dict[str, Callable[[str | bool, str], object]] = {
    "url": _parse_url,
    "secret": _parse_secret,
    "secret-file": _parse_secret_file,
    "path": _parse_path,
    "output": _parse_output,
    "seconds": _parse_seconds,
    "flag": _parse_flag,
}

_table_is_the_settings()
