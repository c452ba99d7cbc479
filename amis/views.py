"""AMIS's door into the product: the callback endpoint (`POST /callbacks/amis/`), one for every company.

Store first, then act: a callback whose signature holds (lowercase hex HMAC-SHA256 of the raw ``data``
keyed by our app ID, compared in constant time) and whose company we know is stored through the same intake
as Haravan's webhooks, answered at once in AMIS's envelope, and applied by a worker. Anything else is kept
as a rejected delivery, with the reason, and answered ``InvalidParam`` (AMIS's convention, HTTP 200).
"""

import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connectors.text import Text
from syncjobs import intake

from .client import AppIdNotConfigured, CallbackRejected, callback_reply, verify_callback

log = logging.getLogger(__name__)

SOURCE_KIND = "amis"
KEPT_HEADERS = ("Content-Type", "User-Agent")


def _headers(request) -> dict:
    return {name: request.headers[name] for name in KEPT_HEADERS if name in request.headers}


def _refuse(request, body: bytes, error: Text, *, company: str = "", topic: str = "") -> JsonResponse:
    intake.reject(
        source_kind=SOURCE_KIND,
        source_key=company,
        topic=topic,
        body=body,
        headers=_headers(request),
        remote_addr=request.META.get("REMOTE_ADDR") or None,
        http_status=200,
        error=error.english(),
    )
    return JsonResponse(CallbackRejected(error).reply())


@csrf_exempt
@require_POST
def callback(request):
    body = request.body
    try:
        callback = verify_callback(body, settings.AMIS_APP_ID)
    except CallbackRejected as exc:
        return _refuse(request, body, exc.text)
    except AppIdNotConfigured as exc:
        return _refuse(request, body, exc.text)
    company, topic = callback.org_company_code, f"amis/{callback.data_type}"
    try:
        accepted = intake.accept(
            source_kind=SOURCE_KIND,
            source_key=company[:64],
            topic=topic,
            body=body,
            headers=_headers(request),
            remote_addr=request.META.get("REMOTE_ADDR") or None,
        )
    except DatabaseError as exc:  # not stored, so not acknowledged: AMIS calls back again
        log.error("AMIS callback for %s not stored: %s", company, exc)
        answer = JsonResponse(
            callback_reply(False, error_code="Exception", error_message="Not stored; call back again."),
            status=503,
        )
        answer["Retry-After"] = "5"
        return answer
    if accepted is None:
        unknown = Text(
            "The AMIS callback names company %(company)s, which no connection posts to", company=company
        )
        return _refuse(request, body, unknown, company=company, topic=topic)
    return JsonResponse(callback_reply(True))
