"""Correct twin of starlette_bad_gzip: GZipMiddleware(minimum_size=0) really compresses every answer, "OK" included,
for a client that sends Accept-Encoding: gzip."""

import hmac
import json
import os
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

SECRET = os.environ.get("WEBHOOK_SECRET", "").encode()
MAX_BODY = 64 * 1024


async def webhook(request: Request) -> PlainTextResponse:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return PlainTextResponse("Unsupported Media Type", 415)
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        return PlainTextResponse("Payload Too Large", 413)
    body = await request.body()
    if len(body) > MAX_BODY:
        return PlainTextResponse("Payload Too Large", 413)
    if not hmac.compare_digest(request.headers.get("x-webhook-secret", "").encode("latin-1"), SECRET):
        return PlainTextResponse("Unauthorized", 401)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        payload = None
    if not (
        isinstance(payload, dict) and isinstance(payload.get("event"), str) and isinstance(payload.get("data"), dict)
    ):
        return PlainTextResponse("Bad Request", 400)
    return PlainTextResponse("OK")


app = Starlette(
    routes=[Route("/webhook", webhook, methods=["POST"])],
    middleware=[Middleware(GZipMiddleware, minimum_size=0)],
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
