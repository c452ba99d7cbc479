"""Who may do what on the dashboard: one decorator per role level, on top of the tenant scoping.

Owners configure everything, accountants read logs and retry, viewers read. A signed-in user without a
tenant, or with a role too low for the page, gets a page in words, never a stack trace.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from connectors.models import Membership

OWNER = (Membership.Role.OWNER,)
ACCOUNTANT = (Membership.Role.OWNER, Membership.Role.ACCOUNTANT)
ANYONE = tuple(Membership.Role)

ROLE_WORDS = {
    OWNER: gettext_noop("only the shop's owner can change settings"),
    ACCOUNTANT: gettext_noop("only an owner or an accountant can do this"),
}


def role_required(roles=ANYONE):
    """Signed in, with a tenant, and a role among `roles` in it."""

    def decorate(view):
        @login_required
        @wraps(view)
        def guarded(request, *args, **kwargs):
            if request.tenant is None:
                raise Http404(
                    _("Your account is not part of any merchant yet. Ask the shop owner to add you.")
                )
            if request.membership.role not in roles:
                raise PermissionDenied(
                    _("Your role (%(role)s) can look but not change this: %(why)s.")
                    % {
                        "role": request.membership.get_role_display(),
                        "why": _(ROLE_WORDS.get(roles, "")),
                    }
                )
            return view(request, *args, **kwargs)

        return guarded

    return decorate


def can_configure(request) -> bool:
    return getattr(request, "membership", None) is not None and request.membership.role in OWNER


def can_retry(request) -> bool:
    return getattr(request, "membership", None) is not None and request.membership.role in ACCOUNTANT
