"""`python -m reference_receiver --port 8000`: serve the receiver with waitress (secret: WEBHOOK_SECRET)."""

from __future__ import annotations

import argparse
import logging
import sys

from reference_receiver.app import create_app
from reference_receiver.serve import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference_receiver",
        description="Serve the reference webhook receiver at /webhook. Configure it with the environment "
        "variables WEBHOOK_SECRET and WEBHOOK_MAX_BODY_BYTES.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=_port, default=8000, help="port to listen on (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app()
    except ValueError as e:  # a bad environment value: one line, no traceback
        sys.stderr.write(f"reference_receiver: {e}\n")
        return 2
    try:
        serve(app, host=args.host, port=args.port)
    except OSError as e:  # the port is taken, or the address is not this machine's
        sys.stderr.write(f"reference_receiver: cannot listen on {args.host}:{args.port}: {e.strerror or e}\n")
        return 1
    return 0


def _port(text: str) -> int:
    # 0 asks for any free port (waitress prints the one it got).
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


if __name__ == "__main__":
    raise SystemExit(main())
