"""Correct twin of aiohttp_freshness_on_all_dates: refuses (401) only document events whose data.modified is over
24 hours old (naive server-local times need a wide window), ignores data.timestamp, accepts a missing modified,
and leaves bench updates alone (the Cloud sends a bench's agent-job updates with the modified from before)."""

import hmac
import json
import os
import sys
from datetime import datetime, timedelta

from aiohttp import web

SECRET = os.environ.get("WEBHOOK_SECRET", "").encode()
MAX_BODY = 64 * 1024
DOCUMENT_EVENTS = {"Site Status Update", "Site Plan Change", "Bench Status Update", "Bench Deploy Status Update"}
MAX_AGE = timedelta(hours=24)


def parsed(value: object) -> datetime | None:
    """A Frappe datetime, "YYYY-MM-DD HH:MM:SS[.ffffff]", naive; None when it is not one."""
    for form in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(str(value), form)
        except ValueError:
            pass
    return None


def text(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/plain")


async def webhook(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        return text("Unsupported Media Type", 415)
    if (request.content_length or 0) > MAX_BODY:
        return text("Payload Too Large", 413)
    body = await request.read()  # client_max_size answers 413 to a longer body without a length
    received = next((v for k, v in request.raw_headers if k.lower() == b"x-webhook-secret"), b"")
    if not hmac.compare_digest(received, SECRET):
        return text("Unauthorized", 401)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        payload = None
    if not (
        isinstance(payload, dict) and isinstance(payload.get("event"), str) and isinstance(payload.get("data"), dict)
    ):
        return text("Bad Request", 400)
    if payload["event"] in DOCUMENT_EVENTS and payload["event"] != "Bench Status Update":
        when = parsed(payload["data"].get("modified"))
        if when is not None and when < datetime.now() - MAX_AGE:
            return text("stale event", 401)
    return text("OK")


app = web.Application(client_max_size=MAX_BODY)
app.router.add_post("/webhook", webhook)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
