"""Alert digests: one e-mail per connection listing what needs a person, not one mail per order."""

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from connectors.models import Connection

from .models import SyncCursor, SyncDocument

NEEDS_A_PERSON = (SyncDocument.State.FAILED, SyncDocument.State.BLOCKED)
LISTED = 50


def send_digests(now=None) -> int:
    """Mail each connection's alert address about documents that failed since its last digest."""
    now = now or timezone.now()
    sent = 0
    for connection in Connection.objects.exclude(alert_email="").select_related("tenant"):
        cursor = SyncCursor.objects.filter(connection=connection, name="alert_digest").first()
        docs = SyncDocument.objects.filter(connection=connection, state__in=NEEDS_A_PERSON)
        if cursor is not None:
            docs = docs.filter(updated_at__gt=cursor.value)
        docs = list(docs.select_related("account", "connection").order_by("-updated_at")[: LISTED + 1])
        if docs:
            _mail(connection, docs)
            sent += 1
        SyncCursor.objects.update_or_create(
            connection=connection, name="alert_digest", defaults={"value": now}
        )
    return sent


def _mail(connection, docs) -> None:
    shown = docs[:LISTED]
    by_tag = {}
    for doc in shown:
        by_tag.setdefault(doc.tag, []).append(doc)
    lines = [
        f"{len(shown)}{'+' if len(docs) > LISTED else ''} documents of {connection.name} need a person.",
        "Fix the cause, then retry them from the Logs screen (filter: state Failed / Needs a person).",
        "",
    ]
    for tag, group in sorted(by_tag.items()):
        lines.append(tag)
        lines.extend(f"  - Order {d.source_label or d.source_id} ({d.kind}): {d.last_error}" for d in group)
        lines.append("")
    tags = ", ".join(sorted(by_tag))
    send_mail(
        subject=f"[LedgerLink] {len(shown)} documents need attention — {tags}",
        message="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[connection.alert_email],
    )
