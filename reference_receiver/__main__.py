"""`python -m reference_receiver --port 8000`: serve the receiver at /webhook in production mode."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys

from reference_receiver import create_app
from reference_receiver.config import Config
from reference_receiver.serve import configure_logging, serve

ENVIRONMENT = """\
environment:
  WEBHOOK_SECRET                 the webhook's secret from the Cloud's dashboard (required; empty = no secret)
  WEBHOOK_SECRET_PREVIOUS        the old secret, still accepted during a rotation
  WEBHOOK_SECRET_PREVIOUS_UNTIL  ISO-8601 time after which the old secret is refused (default: while set)
  WEBHOOK_INBOX                  SQLite file of the inbox (default: webhook-inbox.sqlite3; :memory: = not durable)
  WEBHOOK_MAX_BODY_BYTES         body size limit, 413 past it (default: 65536)
  WEBHOOK_BODY_TIMEOUT           seconds to receive a body, 408 past it (default: 10)
  WEBHOOK_ORDER_WINDOW           seconds an event waits, so that late ones are put in order (default: 5)
  WEBHOOK_MAX_ATTEMPTS           handler attempts before an event is marked failed (default: 5)
  WEBHOOK_RETENTION_DAYS         days processed events are kept, and duplicates recognised (default: 7)
  WEBHOOK_MAX_CONNECTIONS        connections and requests at once, 503 past it (default: 1000)
  WEBHOOK_KEEP_ALIVE_TIMEOUT     seconds an idle connection is kept (default: 5)
  WEBHOOK_SHUTDOWN_TIMEOUT       seconds to finish requests in flight at SIGTERM (default: 20)
  WEBHOOK_LOG_LEVEL              DEBUG, INFO, WARNING or ERROR (default: INFO)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference_receiver",
        description="Serve the reference webhook receiver at /webhook (health: /healthz) under uvicorn.",
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=_port, default=8000, help="port to listen on (default: %(default)s)")
    parser.add_argument(
        "--dev",
        action="store_true",
        help="development mode: reload on code changes, debug logs, loopback only. Never in production.",
    )
    args = parser.parse_args(argv)
    try:
        config = Config.from_env()
    except ValueError as e:  # a bad environment value: one line, no traceback
        sys.stderr.write(f"reference_receiver: {e}\n")
        return 2
    configure_logging("DEBUG" if args.dev else config.log_level)
    if args.dev:
        return _develop(args.host, args.port)
    try:
        started = serve(create_app(config), host=args.host, port=args.port)
    except OSError as e:  # the port is taken, or the address is not this machine's
        sys.stderr.write(f"reference_receiver: cannot listen on {args.host}:{args.port}: {e.strerror or e}\n")
        return 1
    if not started:
        logging.getLogger("reference_receiver").error("could not start: see the messages above")
        return 1
    return 0


def _develop(host: str, port: int) -> int:
    import uvicorn

    if not _is_loopback(host):
        sys.stderr.write(f"reference_receiver: --dev listens on loopback only, not {host!r}\n")
        return 2
    uvicorn.run("reference_receiver:create_app", factory=True, host=host, port=port, reload=True, log_config=None)
    return 0


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


if __name__ == "__main__":
    raise SystemExit(main())
