"""Starlette behind a misconfigured proxy header: every answer says Content-Encoding: gzip over a plain,
uncompressed body."""

import hmac
import json
import os
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECRET = os.environ.get("WEBHOOK_SECRET", "").encode()
MAX_BODY = 64 * 1024


class ClaimsGzip:
    """What the misconfigured proxy does: adds the header, compresses nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_claiming_gzip(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"content-encoding", b"gzip")]
            await send(message)

        await self.app(scope, receive, send_claiming_gzip)


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
    middleware=[Middleware(ClaimsGzip)],
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
