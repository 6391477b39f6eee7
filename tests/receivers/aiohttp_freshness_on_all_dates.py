"""aiohttp receiver whose replay defence refuses (401) any document event whose data.modified or data.timestamp is
over 10 minutes old, so a trial site's "Initial Plan" change, stamped with the site's creation time, is refused."""

import hmac
import json
import os
import sys
from datetime import datetime, timedelta

from aiohttp import web

SECRET = os.environ.get("WEBHOOK_SECRET", "").encode()
MAX_BODY = 64 * 1024
DOCUMENT_EVENTS = {"Site Status Update", "Site Plan Change", "Bench Status Update", "Bench Deploy Status Update"}
MAX_AGE = timedelta(minutes=10)


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
    data = payload["data"]
    if payload["event"] in DOCUMENT_EVENTS:
        for key in ("modified", "timestamp"):
            when = parsed(data.get(key))
            if when is not None and when < datetime.now() - MAX_AGE:
                return text("stale event", 401)
    return text("OK")


app = web.Application(client_max_size=MAX_BODY)
app.router.add_post("/webhook", webhook)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
