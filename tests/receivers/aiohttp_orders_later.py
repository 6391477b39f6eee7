"""Correct twin of aiohttp_rejects_out_of_order: acknowledges every event with 200 and only records it, leaving the
order to whatever processes the records later (by data.modified)."""

import collections
import hmac
import json
import os
import sys

from aiohttp import web

SECRET = os.environ.get("WEBHOOK_SECRET", "").encode()
MAX_BODY = 64 * 1024
RECEIVED: collections.deque[dict[str, object]] = collections.deque(maxlen=10_000)


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
    RECEIVED.append(payload)
    return text("OK")


app = web.Application(client_max_size=MAX_BODY)
app.router.add_post("/webhook", webhook)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
