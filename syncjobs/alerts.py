"""Alert digests: one e-mail per connection listing what needs a person, not one mail per order.

Written in the language chosen for the connection's alert address (its owner picks it next to the
address), whatever language the worker runs in.
"""

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from connectors.models import Connection

from .models import SyncCursor, SyncDocument

NEEDS_A_PERSON = (SyncDocument.State.FAILED, SyncDocument.State.BLOCKED)
LISTED = 50


def send_digests(now=None) -> int:
    """Mail each connection's alert address about documents that failed since its last digest."""
    now = now or timezone.now()
    sent = 0
    for connection in Connection.objects.select_related("tenant"):
        recipients = _recipients(connection)
        if not recipients:
            continue
        cursor = SyncCursor.objects.filter(connection=connection, name="alert_digest").first()
        docs = SyncDocument.objects.filter(connection=connection, state__in=NEEDS_A_PERSON)
        if cursor is not None:
            docs = docs.filter(updated_at__gt=cursor.value)
        docs = list(docs.select_related("account", "connection").order_by("-updated_at")[: LISTED + 1])
        if docs:
            with translation.override(connection.alert_language or settings.LANGUAGE_CODE):
                _mail(connection, docs, recipients)
            sent += 1
        SyncCursor.objects.update_or_create(
            connection=connection, name="alert_digest", defaults={"value": now}
        )
    return sent


def _recipients(connection) -> list[str]:
    """The connection's alert address and the ones its target's accounts name (Maventa's error e-mails)."""
    found = [connection.alert_email] if connection.alert_email else []
    for email in connection.target.alert_recipients(connection):
        if email and email.lower() not in {f.lower() for f in found}:
            found.append(email)
    return found


def _mail(connection, docs, recipients) -> None:
    shown = docs[:LISTED]
    by_tag = {}
    for doc in shown:
        by_tag.setdefault(doc.tag, []).append(doc)
    count = f"{len(shown)}{'+' if len(docs) > LISTED else ''}"
    lines = [
        ngettext(
            "%(count)s document of %(connection)s needs a person.",
            "%(count)s documents of %(connection)s need a person.",
            len(shown),
        )
        % {"count": count, "connection": connection.name},
        _("Fix the cause, then retry them from the Logs screen (filter: state Failed / Needs a person)."),
        "",
    ]
    for tag, group in sorted(by_tag.items()):
        lines.append(tag)
        lines.extend(
            "  - "
            + _("%(object)s %(order)s (%(kind)s): %(error)s")
            % {
                "object": connection.source.object_label,
                "order": d.source_label or d.source_id,
                "kind": d.kind_label,
                "error": d.error_display,
            }
            for d in group
        )
        lines.append("")
    tags = ", ".join(sorted(by_tag))
    send_mail(
        subject=ngettext(
            "[LedgerLink] %(count)s document needs attention — %(tags)s",
            "[LedgerLink] %(count)s documents need attention — %(tags)s",
            len(shown),
        )
        % {"count": count, "tags": tags},
        message="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )
