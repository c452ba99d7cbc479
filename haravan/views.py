"""Haravan's doors into the product: the webhook endpoint and the app install (OAuth) flow."""

import json
import logging
import secrets

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.request import HttpHeaders
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from connectors.http import NotConfiguredError
from syncjobs import intake

from . import services, signature

log = logging.getLogger(__name__)

SIGNATURE_HEADERS = ("HTTP_X_HARAVAN_HMACSHA256", "HTTP_X_HARAVAN_HMAC_SHA256")


def _client_ip(request):
    return request.META.get("REMOTE_ADDR") or None


# Read straight from the WSGI environ: request.headers would first copy every header of the request.
_KEPT_ENVIRON_KEYS = tuple((name, HttpHeaders.to_wsgi_name(name)) for name in intake.KEPT_HEADERS)


def _kept_headers(request) -> dict:
    meta = request.META
    return {name: meta[key] for name, key in _KEPT_ENVIRON_KEYS if key in meta}


def _refuse(request, status: int, message: str, *, org_id="", topic="", body=b"") -> JsonResponse:
    intake.reject(
        source_kind="haravan",
        source_key=org_id,
        topic=topic,
        body=body,
        headers=_kept_headers(request),
        remote_addr=_client_ip(request),
        http_status=status,
        error=message,
    )
    return JsonResponse({"error": message}, status=status)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request):
    if request.method == "GET":
        return _subscribe_handshake(request)
    body = request.body
    topic = request.META.get("HTTP_X_HARAVAN_TOPIC", "").strip()
    org_id = request.META.get("HTTP_X_HARAVAN_ORG_ID", "").strip()
    given = next((request.META[h] for h in SIGNATURE_HEADERS if h in request.META), None)
    if not signature.is_valid(body, settings.HARAVAN_CLIENT_SECRET, given):
        reason = "missing X-Haravan-HmacSha256 header" if not given else "X-Haravan-HmacSha256 does not match"
        return _refuse(
            request,
            401,
            f"Signature check failed: {reason} (HMAC-SHA256 of the raw body with the app's client "
            "secret). Check HARAVAN_CLIENT_SECRET.",
            org_id=org_id,
            topic=topic,
            body=body,
        )
    if not topic or not org_id:
        return _refuse(
            request,
            400,
            "Missing X-Haravan-Topic or X-Haravan-Org-Id header.",
            org_id=org_id,
            topic=topic,
            body=body,
        )
    try:
        payload = intake.parse_body(body)
    except ValueError as exc:
        return _refuse(request, 400, f"Body is not valid JSON: {exc}", org_id=org_id, topic=topic, body=body)
    if not isinstance(payload, dict):
        return _refuse(request, 400, "Body must be a JSON object.", org_id=org_id, topic=topic, body=body)
    try:
        accepted = intake.accept(
            source_kind="haravan",
            source_key=org_id,
            topic=topic,
            body=body,
            headers=_kept_headers(request),
            remote_addr=_client_ip(request),
        )
    except DatabaseError as exc:  # not stored, so not acknowledged: Haravan delivers again
        log.error("Haravan %s delivery for org %s not stored: %s", topic, org_id, exc)
        answer = JsonResponse(
            {"error": "The event could not be stored just now; it was not accepted. Deliver it again."},
            status=503,
        )
        answer["Retry-After"] = "5"
        return answer
    if accepted is None:
        return _refuse(
            request,
            404,
            f"Unknown shop: org id {org_id} is not connected (install the app for this shop first).",
            org_id=org_id,
            topic=topic,
            body=body,
        )
    answer = {"status": "duplicate" if accepted.duplicate else "accepted", "event": accepted.event_id}
    # json.dumps without an encoder class reuses one C encoder; JsonResponse builds a new encoder each time.
    return HttpResponse(json.dumps(answer), content_type="application/json")


def _subscribe_handshake(request):
    mode = request.GET.get("hub.mode")
    token = request.GET.get("hub.verify_token", "")
    if mode != "subscribe":
        return HttpResponseBadRequest("Expected hub.mode=subscribe.", content_type="text/plain")
    if not secrets.compare_digest(token.encode(), settings.HARAVAN_VERIFY_TOKEN.encode()):
        return HttpResponse("hub.verify_token does not match.", status=401, content_type="text/plain")
    return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")


OAUTH_SESSION_KEY = "haravan_oauth_state"


@require_GET
def install_start(request):
    """Send the merchant to Haravan to approve the app; `state` binds the answer to this browser session."""
    state = secrets.token_urlsafe(24)
    try:
        url = services.authorize_url(state=state, nonce=secrets.token_urlsafe(12))
    except NotConfiguredError as exc:
        return not_configured(exc)
    request.session[OAUTH_SESSION_KEY] = state
    return redirect(url)


def not_configured(exc: NotConfiguredError) -> HttpResponse:
    log.error("Haravan install refused: %s", exc)
    return HttpResponse(
        f"The Haravan install is not configured on this server: {exc}", status=503, content_type="text/plain"
    )


@require_GET
def install_callback(request):
    expected = request.session.pop(OAUTH_SESSION_KEY, None)
    given = request.GET.get("state", "")
    if not expected or not secrets.compare_digest(expected.encode(), given.encode()):
        return HttpResponse(
            "This install link has expired or was not started from this browser. Start the install again.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    if "error" in request.GET or not request.GET.get("code"):
        reason = request.GET.get("error_description") or request.GET.get("error") or "no authorization code"
        return HttpResponse(
            f"Haravan did not approve the install: {reason}.", status=400, content_type="text/plain"
        )
    user = request.user if request.user.is_authenticated else None
    try:
        shop = services.complete_install(user=user, code=request.GET["code"])
    except services.InstallError as exc:
        return HttpResponse(str(exc), status=502, content_type="text/plain; charset=utf-8")
    except NotConfiguredError as exc:
        return not_configured(exc)
    if user is None:
        # A first install from Haravan's app store: nobody is signed in yet. The shop's owner e-mail makes
        # a new owner account; an e-mail that already has an account must sign in first (no take-over).
        try:
            user = services.owner_for_install(shop)
        except services.InstallError as exc:
            return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session["tenant_id"] = shop.tenant_id
    return redirect("dashboard:overview")


@login_required
@require_http_methods(["POST"])
def connect_private(request):
    """A private-app token pasted by the shop owner."""
    token = request.POST.get("token", "").strip()
    if not token:
        return HttpResponse("Paste the private app's access token.", status=400, content_type="text/plain")
    try:
        shop = services.connect_private_app(user=request.user, token=token)
    except services.InstallError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    request.session["tenant_id"] = shop.tenant_id
    return redirect("dashboard:overview")
