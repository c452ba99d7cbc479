"""Resolves the signed-in user's current tenant once per request."""

from django.conf import settings
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import translation
from django.utils.cache import patch_vary_headers

from .models import Membership

SESSION_KEY = "tenant_id"


class TenantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.tenant = None
        request.membership = None
        request.memberships = []
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            memberships = list(
                Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")
            )
            request.memberships = memberships
            wanted = request.session.get(SESSION_KEY)
            chosen = next((m for m in memberships if m.tenant_id == wanted), None) or next(
                iter(memberships), None
            )
            if chosen is not None:
                request.tenant = chosen.tenant
                request.membership = chosen
        return self.get_response(request)


def tenant_context(request):
    """What every page shows: the tenant, the user's role in it and the tenants they may switch to."""
    return {
        "tenant": getattr(request, "tenant", None),
        "membership": getattr(request, "membership", None),
        "memberships": getattr(request, "memberships", []),
    }


def scoped(request, model):
    """The one place a dashboard query is bound to the signed-in user's tenant."""
    if getattr(request, "tenant", None) is None:
        raise Http404("No tenant")
    return model.objects.for_tenant(request.tenant)


def scoped_object_or_404(request, model, **lookup):
    return get_object_or_404(scoped(request, model), **lookup)


class ChosenLanguageMiddleware:
    """Vietnamese unless the person picked another language with the switcher (Django's language cookie).

    Replaces LocaleMiddleware on purpose: a browser's Accept-Language is not a choice, and many Vietnamese
    accountants run browsers set to English.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.offered = frozenset(code for code, _name in settings.LANGUAGES)  # once, not per request

    def __call__(self, request):
        code = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if code not in self.offered:
            code = settings.LANGUAGE_CODE
        translation.activate(code)
        request.LANGUAGE_CODE = code
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", code)
        patch_vary_headers(response, ("Cookie",))
        return response
