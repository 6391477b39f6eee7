"""A stand-in for the Cloud's delivery call (frappe/press), run by a venv holding the requests the Cloud pins.

Stand-alone: stdlib + requests only, nothing from this project. Reads a JSON scenario on stdin:
    {"url": str, "secret": str, "timeout": float = 5, "deadline": float = 3 * timeout + 5,
     "steps": [[payload, ...], ...]}
Steps run in order; the payloads of one step are sent at once, one thread each (the Cloud runs deliveries
on 8 RQ workers). Writes {"requests": ver, "urllib3": ver, "results": [[send, ...], ...]} on stdout, a send
being {"status": int (0 without a response), "ok": bool, "error": str | null, "note": str | null}.

Line references are to frappe/press at 010bc703ef139e4f0fd4b49337a47d0479bbce6d.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

# Press Webhook Attempt (press_webhook_attempt.json:45-57): response_body is Small Text, which frappe maps
# to a MariaDB `text` column (frappe/database/mariadb/database.py setup_type_map), 65,535 bytes; frappe's
# _validate_length (frappe/model/base_document.py) checks only varchar and int columns, so an over-long text
# reaches the INSERT and MariaDB's default strict sql_mode refuses it (error 1406, "Data too long").
# Approximate when the text holds '<' or '>': frappe HTML-sanitizes Small Text before saving.
RESPONSE_BODY_MAX_BYTES = 65_535
# endpoint is Data: varchar(140), which _validate_length does check (CharacterLengthExceededError).
ENDPOINT_MAX_CHARS = 140
VALIDATE_EVENT = "Webhook Validate"  # press_webhook.py:118, the only payload validate_endpoint sends


def sender_call(url: str, payload: Any, secret: str, timeout: float) -> tuple[int, str, requests.Response | None]:
    """press_webhook_log.py:41-59 (_send_webhook_call), identical to press_webhook.py:116-135 (validate_endpoint),
    with the timeout a parameter (the Cloud's is 5). Returns (status code, the text the Cloud keeps, response)."""
    response = ""
    response_status_code = 0
    req = None
    try:
        req = requests.post(url, json=payload, headers={"X-Webhook-Secret": secret}, timeout=timeout)
        response = req.text or ""
        response_status_code = req.status_code
    except requests.exceptions.ConnectionError:  # also SSLError, ConnectTimeout, and a read timeout in the body
        response = "Failed to connect to the webhook endpoint"
    except requests.exceptions.SSLError:  # unreachable: SSLError subclasses ConnectionError
        response = "SSL Error. Please check if SSL the certificate of the webhook is valid."
    except (requests.exceptions.Timeout, requests.exceptions.ConnectTimeout):  # a read timeout before the headers
        response = "Request Timeout. Please check if the webhook is reachable."
    except Exception as e:  # ContentDecodingError, ChunkedEncodingError, TooManyRedirects, InvalidHeader, ...
        response = str(e)
    return response_status_code, response, req


def origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def redirect_note(url: str, req: requests.Response | None) -> str | None:
    if req is None or not req.history:
        return None
    hops = [f"{r.status_code} {r.headers.get('Location')}" for r in req.history]
    note = "followed redirects: " + ", ".join(hops)
    foreign = sorted({r.url for r in [*req.history[1:], req] if origin(r.url) != origin(url)})
    if foreign:  # requests' rebuild_auth strips Authorization only, never X-Webhook-Secret
        note += "; X-Webhook-Secret was sent to another origin: " + ", ".join(foreign)
    return note


def model(url: str, payload: Any, status: int, text: str, req: requests.Response | None) -> dict[str, Any]:
    """What the Cloud makes of the answer."""
    sent = status >= 200 and status < 300  # press_webhook_log.py:61, press_webhook.py:139
    note = redirect_note(url, req)
    error = None if sent else (text if status == 0 else f"status {status} is not 2xx")
    if isinstance(payload, dict) and payload.get("event") == VALIDATE_EVENT:
        # validate_endpoint returns the answer to the dashboard and stores nothing (press_webhook.py:137-144);
        # activate (press_webhook.py:147-155) saves the webhook only, enabled=1, if the call was 2xx.
        return {"status": status, "ok": sent, "error": error, "note": note}
    # An event: the attempt row is appended (press_webhook_log.py:63-73) and saved by the log's save()
    # (:135 after a first send, outside the try; :75 and :175 on a retry). If that save raises, the job dies
    # and the log stays Queued (process() set it, :193): no attempt, no retry, no auto-disable count.
    unstorable = []
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > RESPONSE_BODY_MAX_BYTES:
        unstorable.append(f"response_body is {size} bytes, its text column holds {RESPONSE_BODY_MAX_BYTES}")
    if len(url) > ENDPOINT_MAX_CHARS:
        unstorable.append(f"endpoint is {len(url)} chars, its Data field holds {ENDPOINT_MAX_CHARS}")
    if unstorable:
        what = "the answer" if sent else f"the failure (status {status})"
        return {
            "status": status,
            "ok": False,
            "error": "not recorded: " + "; ".join(unstorable),
            "note": f"the attempt cannot be saved, so {what} is lost and the log stays Queued"
            + (f"; {note}" if note else ""),
        }
    return {"status": status, "ok": sent, "error": error, "note": note}


def run_step(url: str, secret: str, timeout: float, deadline: float, payloads: list[Any]) -> list[dict[str, Any]]:
    results: list[dict[str, Any] | None] = [None] * len(payloads)
    start = threading.Barrier(len(payloads))

    def send(i: int, payload: Any) -> None:
        start.wait()
        status, text, req = sender_call(url, payload, secret, timeout)
        results[i] = model(url, payload, status, text, req)

    threads = [threading.Thread(target=send, args=(i, p), daemon=True) for i, p in enumerate(payloads)]
    for t in threads:
        t.start()
    until = time.monotonic() + deadline
    for t in threads:
        t.join(max(0.0, until - time.monotonic()))
    for i, t in enumerate(threads):
        if t.is_alive():  # left reading; the process exits with os._exit, so it cannot hold us up
            results[i] = {
                "status": 0,
                "ok": False,
                "error": f"never completes: no result within {deadline:g} s",
                "note": f"the {timeout:g} s read timeout is between bytes, so an answer that never ends keeps "
                "the worker reading until the RQ job timeout (300 s on the default queue) kills it; "
                "the log stays Queued",
            }
    return [r for r in results if r is not None]


def main() -> None:
    scenario = json.load(sys.stdin)
    timeout = float(scenario.get("timeout", 5))
    deadline = float(scenario.get("deadline", 3 * timeout + 5))
    results = [
        run_step(scenario["url"], scenario["secret"], timeout, deadline, step) if step else []
        for step in scenario["steps"]
    ]
    versions = {"requests": requests.__version__, "urllib3": getattr(urllib3, "__version__", "?")}
    json.dump({**versions, "results": results}, sys.stdout)
    sys.stdout.flush()
    os._exit(0)  # do not wait for a thread still reading an answer that never ends


if __name__ == "__main__":
    main()
