"""``webhook-conformance``: the suite for people who do not live in pytest, on the same core.

check         run the shipped suite against a URL (or the embedded receiver) and print the verdict
check-many    run it against every target of a CSV file, here or on RQ workers, and print the matrix
send          deliver one event exactly as the Cloud would and print the answer
serve         run the reference receiver
requirements  list the requirement catalogue

Exit codes are the suite's (harness.config.exitcodes): 0 ready, 1 a requirement failed, 4 usage error,
69 target unreachable. Results go to stdout, errors to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from harness import __version__
from harness.config.exitcodes import ExitCode
from harness.config.fleet import AT_ONCE, QUEUE_NAME, TIME_LIMIT
from harness.config.inifiles import find_ini, read_ini
from harness.config.settings import OPTIONS, PER_TARGET, SettingError, Settings, resolve
from harness.judging.catalogue import Requirement, catalogue
from harness.judging.doctor import hint, setup_hint
from harness.output.sent import sent
from harness.payloads.deliveries import delivery, right_secret
from harness.payloads.events import KNOWN_EVENTS
from harness.payloads.masking import Masking
from harness.payloads.schemas import delivery_errors
from harness.run.select import keyword_filter
from harness.run.suite import Case, cases
from harness.run.target import clear_hop
from harness.wire import transport

__all__ = ["main", "requirements_markdown"]

EXIT_CODES = f"""exit codes:
  0  every MUST requirement holds (check), or the event got a 2xx (send)
  1  a requirement failed (with --strict, a SHOULD one too), or the event did not get a 2xx
  2  interrupted
  3  the harness itself failed: a bug, please report it
  4  usage error: a bad option, environment variable or file
  5  no checks selected (check, with -- -k ...)
  {ExitCode.TARGET_UNREACHABLE:d} no connection can be made to the target (refused, DNS, TLS)"""


EXIT_CODES_MANY = f"""exit codes:
  0  every target is READY
  1  a target is NOT READY (with --strict, a SHOULD requirement failed on one)
  {ExitCode.TARGET_UNREACHABLE:d} a target cannot be reached and none failed (or the --queue Redis cannot be used)
  4  usage error: a bad option or targets file, a secret not set, a worker without a secret
  3  the harness failed on a target (a bug, please report it)
  2  interrupted, or a target not checked (its run or the --queue-wait ran out)"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits with the suite's usage code (4), as pytest's does."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE_ERROR, f"{self.prog}: error: {message}\n")


def _parser() -> _Parser:
    parser = _Parser(
        prog="webhook-conformance",
        description="Check a webhook receiver against the Cloud's real behaviour (the pytest suite's core).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = commands.add_parser(
        "check",
        help="run the conformance suite and print the verdict",
        usage="%(prog)s [URL] [options] [-k EXPRESSION]",
        description=(
            "Run the conformance suite against URL (none: the embedded reference receiver). It reads the same "
            "settings as the pytest suite: the ini file pytest would use (webhook_* keys and "
            "addopts), the environment, then these options."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("url", nargs="?", help="the receiver's URL; none: the embedded reference receiver")
    _add_setting_options(check)
    check.add_argument("-k", dest="keyword", metavar="EXPRESSION", help="run only the checks matching it, as pytest -k")
    check.add_argument("-c", dest="inifile", metavar="FILE", help="read settings from this ini file, as pytest -c")

    many = commands.add_parser(
        "check-many",
        help="check every target of a CSV file (url,secret_env), here or on RQ workers, and print the matrix",
        usage="%(prog)s FILE [--targets-at-once N | --queue redis://...] [options]",
        description=(
            "Run the whole conformance suite against every target of FILE, a CSV file whose header row is "
            "url,secret_env: the receiver's URL, and the name of the environment variable holding its secret "
            "(empty for a webhook without one). Each target's run is check's, with the settings below (read as "
            "check reads them, but for the URL and the secret, which are each target's own). The reports are "
            "the fleet's: targets as rows, requirements as columns, every target's report inside the JSON."
        ),
        epilog=EXIT_CODES_MANY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    many.add_argument("file", metavar="FILE", help="the targets: a CSV file with the header url,secret_env")
    many.add_argument(
        "--targets-at-once",
        type=_count(1, 64),
        metavar="N",
        help=f"targets checked at once on this machine, each in a process of its own (default {AT_ONCE}; 1 to 64)",
    )
    many.add_argument(
        "--queue",
        metavar="REDIS_URL",
        help="enqueue one RQ job per target on this Redis server and collect what `rq worker`s find (each worker "
        "reads the secrets from its own environment)",
    )
    many.add_argument("--queue-name", default=QUEUE_NAME, metavar="NAME", help="the RQ queue (default: %(default)s)")
    many.add_argument(
        "--queue-wait",
        type=_seconds,
        default=TIME_LIMIT,
        metavar="SECONDS",
        help="how long to wait for the workers before the jobs left are cancelled (default: %(default)g)",
    )
    many.add_argument(
        "--target-time-limit",
        type=_seconds,
        default=TIME_LIMIT,
        metavar="SECONDS",
        help="stop a target's run after this long, far past its own deadlines (default: %(default)g)",
    )
    _add_setting_options(many, leave_out=PER_TARGET)
    many.add_argument("-c", dest="inifile", metavar="FILE", help="read settings from this ini file, as pytest -c")

    send = commands.add_parser("send", help="deliver one event as the Cloud would, and print the answer")
    send.add_argument("event", help=f"the event name, e.g. {KNOWN_EVENTS[1]!r}")
    send.add_argument("--to", required=True, metavar="URL", help="the receiver's URL")
    send.add_argument("--data", metavar="FILE", help="a JSON file with the event's data (default: its sample)")
    send.add_argument("--json", action="store_true", help="print the answer as one JSON object, for scripts")
    send.add_argument(
        "--allow-insecure-http",
        "--webhook-allow-insecure-http",
        action="store_true",
        help="send the secret to an http:// receiver on another machine, in clear (refused without this)",
    )
    _add_connection_options(send)

    serve = commands.add_parser("serve", help="run the reference receiver (secret: WEBHOOK_SECRET)")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (default: %(default)s)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument(
        "--workers", default="1", help="processes serving the port (default: 1); more than 1 needs a PostgreSQL inbox"
    )

    listing = commands.add_parser("requirements", help="list the requirement catalogue")
    listing.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    return parser


def _add_setting_options(parser: argparse.ArgumentParser, leave_out: Sequence[str] = ()) -> None:
    """Every option of the settings table, under the pytest plugin's name (and a short alias for some)."""
    for option in OPTIONS:
        if option.name in leave_out:
            continue
        names = [option.flag] + ([option.alias] if option.alias else [])
        if option.kind == "flag":
            parser.add_argument(*names, dest=option.name, action=argparse.BooleanOptionalAction, help=option.full_help)
        else:
            parser.add_argument(*names, dest=option.name, metavar=option.metavar, help=option.full_help)


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    # The pytest plugin's spellings too: hints and error messages use them.
    parser.add_argument(
        "--secret-file",
        "--webhook-secret-file",
        metavar="PATH",
        help="file holding the secret (default: $WEBHOOK_SECRET)",
    )
    parser.add_argument(
        "--timeout", "--webhook-timeout", metavar="SECONDS", help="connect and read timeout (default 5, at most 5)"
    )
    parser.add_argument(
        "--ca-bundle", "--webhook-ca-bundle", metavar="PATH", help="CA bundle for a receiver behind a private CA"
    )


def _count(least: int, most: int) -> Callable[[str], int]:
    def count(text: str) -> int:
        if not text.isdigit() or not least <= int(text) <= most:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {least} to {most}")
        return int(text)

    return count


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def _port(text: str) -> int:
    # 0 asks for any free port (the receiver logs the one it got).
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    # After --, as in earlier versions: pytest's -k is understood, other pytest options are not (no pytest runs).
    extra = words[words.index("--") + 1 :] if "--" in words else []
    words = words[: words.index("--")] if "--" in words else words
    if extra and words[:1] == ["check"]:
        if len(extra) != 2 or extra[0] != "-k":
            _parser().error(
                "check runs the engine, not pytest: after -- only -k EXPRESSION is understood, not "
                f"{shlex.join(extra)!r}; for other pytest options, run the suite under pytest (README: Quick start)"
            )
        words, extra = [*words, *extra], []
    args = _parser().parse_args(words)
    if args.command == "check" and args.url is not None and not args.url.strip():
        # Typically an unset variable in CI: checking the embedded receiver instead would pass silently.
        _parser().error("the URL is empty (is the variable holding it set?); omit it to check the embedded receiver")
    if extra and args.command != "check":
        _parser().error(f"options after -- are for 'check' only, not {args.command!r}")
    command = {
        "check": _check,
        "check-many": _check_many,
        "send": _send,
        "serve": _serve,
        "requirements": _requirements,
    }[args.command]
    try:
        return command(args)
    except BrokenPipeError:  # `requirements | head`: the reader has what it wanted
        _quiet_stdout()
        return ExitCode.OK


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _check(args: argparse.Namespace) -> int:
    from harness.console import run_check  # the engine: only this command needs it

    try:
        settings, selected = _check_settings(args)
    except (SettingError, ValueError) as exc:
        print(f"webhook-conformance check: {exc}", file=sys.stderr)
        return ExitCode.USAGE_ERROR
    return run_check(settings, selected, sys.stdout)


def _check_settings(
    args: argparse.Namespace, leave_out: Sequence[str] = ()
) -> tuple[Settings, Callable[[Case], bool] | None]:
    """The settings pytest would resolve from the same ini file, environment and options; and -k's filter.
    The settings in ``leave_out`` are not read from anywhere (a fleet's targets each have their own)."""
    ini = read_ini(Path(args.inifile)) if args.inifile else find_ini(Path.cwd())
    if ini is None:
        raise ValueError(f"{args.inifile!r} has no pytest section")
    # pytest puts addopts (the ini's, then PYTEST_ADDOPTS) before the command line: they are options too.
    words = shlex.split(ini.addopts) + shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    given, _ = _parser().parse_known_args(["check", *_settings_words(words)])
    kept = [o for o in OPTIONS if o.name not in leave_out]
    cli = {o.name: getattr(given, o.name) for o in kept}
    cli.update({o.name: getattr(args, o.name) for o in kept if getattr(args, o.name) is not None})
    if getattr(args, "url", None):
        cli["target_url"] = args.url
    ignored = {o.env for o in OPTIONS if o.name in leave_out}
    environ = {name: value for name, value in os.environ.items() if name not in ignored}
    settings = resolve({o.name: ini.values.get(o.ini) for o in kept if o.ini}, environ, cli)
    keyword = getattr(args, "keyword", None) or (given.keyword if words and not leave_out else None)
    return settings, None if keyword is None else _validated(keyword_filter(keyword))


def _check_many(args: argparse.Namespace) -> int:
    from harness.console import Fleet, run_check_many  # the engine: only the checking commands need it
    from harness.run.fleet import TargetsError, missing_secrets, read_targets, refusals

    try:
        settings, _ = _check_settings(args, leave_out=PER_TARGET)
        targets = read_targets(args.file)
        problems = refusals(targets, settings, queued=args.queue is not None)
        if args.queue is not None and not args.queue.strip():
            raise ValueError("the --queue URL is empty (is the variable holding it set?)")
        if args.queue is None:
            missing = missing_secrets(targets, os.environ)
            if missing:
                problems.append(f"not set in this environment: {', '.join(missing)} (the targets file names them)")
        elif args.targets_at_once is not None:
            problems.append("--targets-at-once is for a run on this machine; with --queue, start as many workers")
        if problems:
            raise ValueError("\n  ".join(["the targets cannot be checked as they are:", *problems]))
    except (SettingError, TargetsError, ValueError) as exc:
        print(f"webhook-conformance check-many: {exc}", file=sys.stderr)
        return ExitCode.USAGE_ERROR
    fleet = Fleet(
        source=args.file,
        at_once=args.targets_at_once or AT_ONCE,
        queue=args.queue,
        queue_name=args.queue_name,
        queue_wait=args.queue_wait,
        time_limit=args.target_time_limit,
    )
    return run_check_many(settings, targets, fleet, sys.stdout)


def _settings_words(words: Sequence[str]) -> list[str]:
    """The words of ``words`` that are options of ours (with their values), pytest's own left out."""
    ours = {name for o in OPTIONS for name in (o.flag, f"--no-{o.flag[2:]}", o.alias) if name} | {"-k"}
    kept: list[str] = []
    for index, word in enumerate(words):
        name = word.split("=", 1)[0]
        if name in ours:
            kept.append(word)
            flag = next((o for o in OPTIONS if name in (o.flag, o.alias)), None)
            takes_value = name == "-k" or (flag is not None and flag.kind != "flag")
            if "=" not in word and takes_value and index + 1 < len(words):
                kept.append(words[index + 1])
    return kept


def _validated(selected: Callable[[Case], bool]) -> Callable[[Case], bool]:
    selected(cases()[0])  # an expression that does not parse is a usage error now, not a crash mid-run
    return selected


def _send(args: argparse.Namespace) -> int:
    cli = {"target_url": args.to, "secret_file": args.secret_file, "timeout": args.timeout, "ca_bundle": args.ca_bundle}
    try:
        settings = resolve({}, os.environ, cli)
        if args.data:
            data = _read_data(args.data, args.event)
        elif args.event not in KNOWN_EVENTS:
            known = ", ".join(repr(e) for e in KNOWN_EVENTS)
            raise ValueError(f"{args.event!r} is not an event the Cloud sends ({known}); give --data to send it anyway")
        else:
            data = None
    except (SettingError, ValueError) as exc:
        # The settings speak of --target-url; this command calls it --to.
        message = str(exc).replace("command-line option --target-url", "--to")
        print(f"webhook-conformance send: {message}", file=sys.stderr)
        return ExitCode.USAGE_ERROR
    assert settings.target_url is not None
    options = transport.Options(timeout=settings.timeout, verify=settings.ca_bundle or True)
    hop = clear_hop(settings.target_url, options)
    if hop and settings.secret and not args.allow_insecure_http:
        print(
            f"webhook-conformance send: {hop}: the secret would cross the network in clear. Use an https URL, "
            "or pass --allow-insecure-http to send it anyway",
            file=sys.stderr,
        )
        return ExitCode.USAGE_ERROR
    request = delivery(settings.target_url, args.event, right_secret(settings.secret), data=data)
    exchange = transport.send(request, options)
    advice = (exchange.error and setup_hint(exchange.error)) or hint(exchange)
    shown = sent(exchange, Masking(settings.target_url, settings.secret).values, advice)
    print(json.dumps(shown.to_dict(), indent=2) if args.json else "\n".join(shown.lines()))
    if shown.outcome == "delivered":
        return ExitCode.OK
    unreachable = exchange.error is not None and exchange.error.kind in ("connect", "dns", "tls", "connect-timeout")
    return ExitCode.TARGET_UNREACHABLE if unreachable else ExitCode.REQUIREMENT_FAILED


def _read_data(path: str, event: str) -> dict[str, object]:
    """The event's data from a JSON file, checked against the event's schema like the Cloud's would be."""
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except OSError as exc:
        raise ValueError(f"cannot read {path!r}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path!r} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path!r} must hold a JSON object: the event's data")
    errors = delivery_errors({"event": event, "data": data})
    if errors:
        raise ValueError(f"{path!r} does not match the schema of {event!r}:\n  " + "\n  ".join(errors))
    return data


def _serve(args: argparse.Namespace) -> int:
    from reference_receiver.__main__ import main as serve_main

    # The receiver is a template of its own and exits 2 on a bad environment or option; here that is the
    # kit's usage error, as the README's table says.
    try:
        code = serve_main(["--port", str(args.port), "--host", args.host, "--workers", args.workers])
    except SystemExit as exit_:  # argparse, on a bad --workers
        code = exit_.code if isinstance(exit_.code, int) else 2
    return ExitCode.USAGE_ERROR if code == 2 else code


def _requirements(args: argparse.Namespace) -> int:
    entries = list(catalogue().values())
    if args.format == "json":
        print(json.dumps([vars(r) for r in entries], indent=2))
    elif args.format == "markdown":
        print(requirements_markdown(entries), end="")
    else:
        width = max(len(r.id) for r in entries)
        for r in entries:
            print(f"{r.id:<{width}}  {r.level:<6}  {r.statement}")
    return ExitCode.OK


def requirements_markdown(entries: Sequence[Requirement]) -> str:
    """The requirement table of the README, generated from the catalogue."""
    rows = ["| Id | Level | Requirement |", "|---|---|---|"]
    rows += [f"| {r.id} | {r.level} | {r.statement} |" for r in entries]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
