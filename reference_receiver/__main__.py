"""`python -m reference_receiver --port 8000`: serve the receiver at /webhook in production mode."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys

from . import create_app
from .config import VARIABLES, Config
from .serve import configure_logging, serve
from .workers import refusal, serve_workers

ENVIRONMENT = "environment:\n" + "".join(f"  {name:<30} {text}\n" for name, text in VARIABLES.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}",
        description="Serve the reference webhook receiver at /webhook (health: /healthz) under uvicorn.",
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=_port, default=8000, help="port to listen on (default: %(default)s)")
    parser.add_argument(
        "--workers",
        type=_count,
        default=1,
        help="processes serving the port (default: 1); more than 1 needs a PostgreSQL inbox",
    )
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
    if args.dev:
        return _develop(args.host, args.port)
    refused = refusal(config, args.workers)
    if refused is not None:
        sys.stderr.write(f"reference_receiver: {refused}\n")
        return 2
    configure_logging(config.log_level)
    try:
        if args.workers > 1:
            started = serve_workers(config, args.host, args.port, args.workers)
        else:
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
    configure_logging("DEBUG")
    uvicorn.run(f"{__package__}:create_app", factory=True, host=host, port=port, reload=True, log_config=None)
    return 0


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (1-256)")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


if __name__ == "__main__":
    raise SystemExit(main())
