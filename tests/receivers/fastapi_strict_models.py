"""FastAPI with per-event models copied from an old docs sample: tags as objects, label and trial_end_date only
ever null, a deploy's build_start always set, so realistic deliveries (tagged or trial sites, queued builds) get
FastAPI's 422."""

import hmac
import json
import os
import sys

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.exceptions import HTTPException

SECRET = os.environ.get("WEBHOOK_SECRET", "").encode()
MAX_BODY = 64 * 1024


class Doc(BaseModel):
    model_config = ConfigDict(extra="allow")
    doctype: str
    name: str
    modified: str


class SiteStatusUpdate(Doc):
    status: str
    tags: list[dict]
    label: None
    trial_end_date: None


class SitePlanChange(Doc):
    type: str
    from_plan: str
    to_plan: str
    site: str


class BenchStatusUpdate(Doc):
    status: str
    group: str


class BenchDeployStatusUpdate(Doc):
    status: str
    group: str
    build_start: str


MODELS: dict[str, type[BaseModel]] = {
    "Site Status Update": SiteStatusUpdate,
    "Site Plan Change": SitePlanChange,
    "Bench Status Update": BenchStatusUpdate,
    "Bench Deploy Status Update": BenchDeployStatusUpdate,
}

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.exception_handler(HTTPException)
async def plain_http_error(request: Request, exc: HTTPException) -> PlainTextResponse:
    return PlainTextResponse(str(exc.detail), exc.status_code, headers=exc.headers)


@app.post("/webhook")
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
    model = MODELS.get(payload["event"])
    if model is not None:
        try:
            model.model_validate(payload["data"])
        except ValidationError as error:
            raise RequestValidationError(error.errors(include_url=False)) from None
    return PlainTextResponse("OK")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
