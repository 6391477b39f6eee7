"""Correct twin of django_append_slash: the same project, but /webhook answers 307 to /webhook/ (same origin), so the
POST is repeated there with its body and headers and answered OK."""

import hmac
import json
import os
import sys

import django
import uvicorn
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

SECRET = os.environ.get("WEBHOOK_SECRET", "").encode()
MAX_BODY = 64 * 1024

settings.configure(
    DEBUG=False,
    SECRET_KEY="gallery-receiver-not-a-secret",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    APPEND_SLASH=True,
    INSTALLED_APPS=[],
)
django.setup()


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    if request.content_type != "application/json":
        return HttpResponse("Unsupported Media Type", status=415, content_type="text/plain")
    if int(request.headers.get("Content-Length") or 0) > MAX_BODY or len(request.body) > MAX_BODY:
        return HttpResponse("Payload Too Large", status=413, content_type="text/plain")
    if not hmac.compare_digest(request.headers.get("X-Webhook-Secret", "").encode("latin-1"), SECRET):
        return HttpResponse("Unauthorized", status=401, content_type="text/plain")
    try:
        payload = json.loads(request.body)
    except (ValueError, RecursionError):
        payload = None
    if not (
        isinstance(payload, dict) and isinstance(payload.get("event"), str) and isinstance(payload.get("data"), dict)
    ):
        return HttpResponse("Bad Request", status=400, content_type="text/plain")
    return HttpResponse("OK", content_type="text/plain")


@csrf_exempt
def moved(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=307, headers={"Location": "/webhook/"})


urlpatterns = [path("webhook", moved), path("webhook/", webhook)]

if __name__ == "__main__":
    from django.core.asgi import get_asgi_application

    uvicorn.run(get_asgi_application(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
