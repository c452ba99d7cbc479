"""Haravan's doors into the product: the webhook endpoint and the app install (OAuth) flow."""

import json
import logging
import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.request import HttpHeaders
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from connectors.http import NotConfiguredError
from syncjobs import intake

from . import services, signature
from .models import HaravanShop

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
    # The fast path, an installed app's shop: signed with our client secret, stored in one statement that
    # finds only installed-app shops. A shop connected with a private token signs with its own webhook
    # secret (Settings → Notifications → Webhooks): looked up first, only when the client secret fails.
    by_app = signature.is_valid(body, settings.HARAVAN_CLIENT_SECRET, given)
    shop = None
    if not by_app:
        shop = _private_shop(org_id) if given and org_id else None
        if shop is None or not signature.is_valid(body, shop.webhook_secret, given):
            return _refuse(
                request, 401, _signature_problem(given, shop), org_id=org_id, topic=topic, body=body
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
        accepted = _store(request, org_id, topic, body, private=not by_app)
    except DatabaseError as exc:  # not stored, so not acknowledged: Haravan delivers again
        log.error("Haravan %s delivery for org %s not stored: %s", topic, org_id, exc)
        answer = JsonResponse(
            {"error": "The event could not be stored just now; it was not accepted. Deliver it again."},
            status=503,
        )
        answer["Retry-After"] = "5"
        return answer
    if accepted is None:
        if by_app and (shop := _private_shop(org_id)) is not None:
            if signature.is_valid(body, shop.webhook_secret, given):  # its secret is our client secret
                return _accept_private(request, org_id, topic, body)
            return _refuse(
                request, 401, _client_secret_on_private(org_id), org_id=org_id, topic=topic, body=body
            )
        return _refuse(
            request,
            404,
            f"Unknown shop: org id {org_id} is not connected (install the app for this shop first).",
            org_id=org_id,
            topic=topic,
            body=body,
        )
    return _answer(accepted)


def _answer(accepted) -> HttpResponse:
    answer = {"status": "duplicate" if accepted.duplicate else "accepted", "event": accepted.event_id}
    # json.dumps without an encoder class reuses one C encoder; JsonResponse builds a new encoder each time.
    return HttpResponse(json.dumps(answer), content_type="application/json")


def _store(request, org_id: str, topic: str, body: bytes, *, private: bool):
    """Store the delivery for the shop's tenant (an installed app's shop, or a private one's)."""
    return intake.accept(
        source_kind="haravan",
        source_key=org_id,
        topic=topic,
        body=body,
        headers=_kept_headers(request),
        remote_addr=_client_ip(request),
        tenant_sql=HaravanShop.private_tenant_sql if private else None,
    )


def _accept_private(request, org_id: str, topic: str, body: bytes) -> HttpResponse:
    accepted = _store(request, org_id, topic, body, private=True)
    if accepted is None:  # switched to the installed app, or uninstalled, since the lookup
        return _refuse(
            request,
            404,
            f"Unknown shop: org id {org_id} is not connected.",
            org_id=org_id,
            topic=topic,
            body=body,
        )
    return _answer(accepted)


def _private_shop(org_id: str) -> HaravanShop | None:
    """The installed shop of `org_id` when it is connected with a private token (its secrets decrypted)."""
    return HaravanShop.objects.filter(
        org_id=org_id, uninstalled_at__isnull=True, token_kind=HaravanShop.TokenKind.PRIVATE
    ).first()


def _signature_problem(given, shop: HaravanShop | None) -> str:
    """Why a delivery's signature was refused, in words for the event log (never a secret)."""
    if not given:
        return (
            "Signature check failed: missing X-Haravan-HmacSha256 header (HMAC-SHA256 of the raw body with "
            "the app's client secret, or a private app's webhook secret)."
        )
    if shop is None:
        return (
            "Signature check failed: X-Haravan-HmacSha256 does not match (HMAC-SHA256 of the raw body with "
            "the app's client secret). Check HARAVAN_CLIENT_SECRET."
        )
    if not shop.webhook_secret:
        return (
            f"Signature check failed: org id {shop.org_id} is connected with a private app token, whose "
            "webhooks Haravan signs with the shop's webhook secret, and none has been entered. Copy it from "
            "Haravan (Settings → Notifications → Webhooks) into the connection's page."
        )
    return (
        f"Signature check failed: X-Haravan-HmacSha256 does not match the webhook secret entered for org id "
        f"{shop.org_id} (a private app token; HMAC-SHA256 of the raw body). Copy the secret again from "
        "Haravan (Settings → Notifications → Webhooks)."
    )


def _client_secret_on_private(org_id: str) -> str:
    return (
        f"Signature check failed: the delivery for org id {org_id} is signed with the app's client secret, "
        "but that shop is connected with a private app token: Haravan signs its webhooks with the shop's "
        "webhook secret (Settings → Notifications → Webhooks), so this one did not come from that shop."
    )


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
    """A private-app token pasted by the shop owner, with the webhook secret from the shop's settings."""
    token = request.POST.get("token", "").strip()
    if not token:
        return HttpResponse("Paste the private app's access token.", status=400, content_type="text/plain")
    try:
        shop = services.connect_private_app(
            user=request.user, token=token, webhook_secret=request.POST.get("webhook_secret", "")
        )
    except services.InstallError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    request.session["tenant_id"] = shop.tenant_id
    return redirect("dashboard:overview")


@login_required
@require_http_methods(["POST"])
def private_webhook_secret(request):
    """Enter or replace a private app's webhook secret: write-only, never shown back."""
    org_id = request.POST.get("org_id", "").strip()
    try:
        shop = services.set_webhook_secret(
            user=request.user, org_id=org_id, webhook_secret=request.POST.get("webhook_secret", "")
        )
    except services.InstallError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    messages.success(request, _("Webhook secret saved. Haravan's next delivery is checked with it."))
    connection = services.connections_for(shop.org_id).filter(tenant=shop.tenant_id).first()
    if connection is None:
        return redirect("dashboard:overview")
    return redirect("dashboard:connection", pk=connection.pk)
