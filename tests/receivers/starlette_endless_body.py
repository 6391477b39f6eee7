"""Starlette that answers a running build's deploy update with 200 and the build's log, streamed: a body that
never ends (16 KiB chunks, as fast as the client reads them, until it disconnects). The Cloud's worker reads on."""

import asyncio
import hmac
import json
import os
import sys
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

SECRET = os.environ.get("WEBHOOK_SECRET", "").encode()
MAX_BODY = 64 * 1024
CHUNK = b"x" * (16 * 1024)


async def endless() -> AsyncIterator[bytes]:
    while True:
        yield CHUNK
        # A turn for the event loop: uvicorn's send() returns at once, without awaiting, once the client is gone,
        # so without this nothing would ever see the disconnect and the loop would spin here forever.
        await asyncio.sleep(0)


async def webhook(request: Request) -> Response:
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
    if payload["event"] == "Bench Deploy Status Update" and payload["data"].get("status") == "Running":
        return StreamingResponse(endless(), media_type="text/plain")
    return PlainTextResponse("OK")


app = Starlette(routes=[Route("/webhook", webhook, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
