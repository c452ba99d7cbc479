"""What every dashboard page's header needs: the person's rights and what waits for a person."""

import functools

from connectors.middleware import scoped
from syncjobs.models import SyncDocument

from .access import can_configure, can_retry
from .stats import NEEDS_PERSON


def screen_context(request):
    if getattr(request, "tenant", None) is None:
        return {}
    return {
        "can_configure": can_configure(request),
        "can_retry": can_retry(request),
        # Counted once, and only by a page that shows the banner: not by the fragments polled every second.
        "needs_person": functools.cache(
            lambda: scoped(request, SyncDocument).filter(state__in=NEEDS_PERSON).count()
        ),
    }
