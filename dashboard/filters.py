"""The documents filter the logs, the CSV export and bulk retry share: one form, one keyset walk.

A page is never found with OFFSET, and the list never counts the whole table. Rows come in the order
(updated_at desc, id desc), and a page starts after (or before) an opaque cursor holding the (updated_at, id)
of the row next to it, so page 1 and page 10 000 cost the same.

Every filter the list offers on equality (connection, state) splits the search into "partitions": one
query per (connection, state), each a plain range scan of the index (connection, state, updated_at, id)
or (connection, updated_at, id) that stops after a page of rows, merged here - what PostgreSQL's Merge
Append does for a partitioned table. One query with `connection_id IN (…)` or `state IN (…)` instead
would have to read and sort every matching row before it could return the first fifty.
"""

import base64
import binascii
import datetime as dt
import heapq
from dataclasses import dataclass, field
from itertools import islice

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from connectors import registry
from connectors.middleware import scoped
from connectors.models import Connection, TargetAccount
from syncjobs.models import SyncDocument, kind_family

State = SyncDocument.State

PAGE_SIZE = 50
EARLIEST_DAY, LATEST_DAY = dt.date(2000, 1, 1), dt.date(2099, 12, 31)  # no document is dated outside
# Beyond this many partitions one sorted query is cheaper than many small ones.
MAX_PARTITIONS = 24
# The columns a list row shows: the JSON snapshots stay in the database.
LIST_FIELDS = (
    "id",
    "connection_id",
    "account_id",
    "source_type",
    "source_id",
    "source_label",
    "kind",
    "state",
    "attempts",
    "last_error",
    "last_error_text",
    "updated_at",
)


# --- cursors ----------------------------------------------------------------------------------------------


def encode_cursor(row) -> str:
    raw = f"{row.updated_at.isoformat()}|{row.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str | None) -> tuple[dt.datetime, int] | None:
    """(updated_at, id) from a cursor, or None for a missing or mangled one (then the list starts over)."""
    if not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        stamp, pk = raw.split("|")
        when = dt.datetime.fromisoformat(stamp)
        if timezone.is_naive(when):
            return None
        return when, int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


@dataclass
class Page:
    rows: list = field(default_factory=list)
    next_cursor: str | None = None  # older rows
    prev_cursor: str | None = None  # newer rows
    cursor_ignored: bool = False  # a cursor was given but could not be read: this is the first page


# --- the form ---------------------------------------------------------------------------------------------


def order_number(text: str) -> str:
    """ "#100020", " 100020 " and "100020" are the same order number."""
    return (text or "").strip().lstrip("#").strip()


def kind_choices(connections) -> list[tuple[str, str]]:
    """Every kind the targets of these connections make, labelled by their adapters."""
    return [
        (kind, str(label))
        for kind, label in registry.document_kind_choices(c.target_kind for c in connections)
    ]


class DocumentFilterForm(forms.Form):
    """The documents a person asks for, within the signed-in tenant only (every choice comes from there)."""

    connection = forms.TypedChoiceField(
        label=gettext_lazy("Connection"), required=False, coerce=int, empty_value=None
    )
    account = forms.TypedChoiceField(
        label=gettext_lazy("Account"), required=False, coerce=int, empty_value=None
    )
    state = forms.MultipleChoiceField(
        label=gettext_lazy("State"), required=False, widget=forms.CheckboxSelectMultiple
    )
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), required=False)
    updated_from = forms.DateField(
        label=gettext_lazy("Updated from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    updated_to = forms.DateField(
        label=gettext_lazy("to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    order = forms.CharField(
        label=gettext_lazy("Order number"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": "#100020", "autocomplete": "off"}),
    )

    # Which states the form offers, and which it applies when none is ticked (empty: every state).
    states = tuple(State)
    default_states: tuple = ()

    def __init__(self, data, *, request, **kwargs):
        """`data` is a QueryDict (request.GET or request.POST): the form is always bound."""
        super().__init__(data, **kwargs)
        self.request = request
        self.connections = list(scoped(request, Connection).order_by("name", "id"))
        self.accounts = {
            a.pk: a
            for a in scoped(request, TargetAccount)
            .select_related("connection")
            .order_by("connection__name", "external_id")
        }
        self.fields["connection"].choices = [("", _("All connections"))] + [
            (c.pk, c.name) for c in self.connections
        ]
        self.fields["account"].choices = [("", _("All accounts"))] + [
            (a.pk, f"{a.tag} {a.name}".strip()) for a in self.accounts.values()
        ]
        self.fields["state"].choices = [(s.value, s.label) for s in self.states]
        self.fields["kind"].choices = [("", _("All kinds")), *kind_choices(self.connections)]
        if self.default_states and not self.data.getlist("state"):
            self.data = self.data.copy()
            self.data.setlist("state", [str(s) for s in self.default_states])

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("updated_from"), cleaned.get("updated_to")
        for name, day in (("updated_from", start), ("updated_to", end)):
            if day and not EARLIEST_DAY <= day <= LATEST_DAY:
                self.add_error(name, _("Choose a day between 2000 and 2099."))
                cleaned.pop(name, None)
                start, end = cleaned.get("updated_from"), cleaned.get("updated_to")
        if start and end and start > end:
            raise forms.ValidationError(_("The 'from' date is after the 'to' date: swap them."))
        return cleaned

    # --- what the filter means in SQL ---------------------------------------------------------------------

    def values(self) -> dict:
        return self.cleaned_data if self.is_valid() else {}

    def _states(self) -> list[str]:
        return list(dict.fromkeys(self.values().get("state") or ()))  # ?state=x&state=x is one partition

    def _connection_ids(self) -> list[int]:
        values = self.values()
        ids = [c.pk for c in self.connections]
        if values.get("connection"):
            ids = [pk for pk in ids if pk == values["connection"]]
        if values.get("account"):
            account = self.accounts[values["account"]]
            ids = [pk for pk in ids if pk == account.connection_id]
        return ids

    def _narrowing(self) -> Q:
        """Account, dates and order number (connection and state make the partitions, kind is in _base)."""
        values, q = self.values(), Q()
        if values.get("account"):
            q &= Q(account_id=values["account"])
        zone = timezone.get_current_timezone()
        if values.get("updated_from"):
            q &= Q(updated_at__gte=dt.datetime.combine(values["updated_from"], dt.time.min, zone))
        if values.get("updated_to"):
            end = values["updated_to"] + dt.timedelta(days=1)
            q &= Q(updated_at__lt=dt.datetime.combine(end, dt.time.min, zone))
        number = order_number(values.get("order", ""))
        if number:
            q &= Q(source_label__in=[f"#{number}", number])
        return q

    def _base(self):
        qs = scoped(self.request, SyncDocument).filter(self._narrowing())
        kind = self.values().get("kind")
        if kind:
            # "refund" is every "refund:<key>" too; the family expression is the one the index holds.
            qs = qs.alias(kind_family=kind_family()).filter(kind_family=kind)
        return qs

    def partitions(self) -> list:
        """One queryset per (connection, state): each answers in index order."""
        if not self.is_valid():
            return []
        base, states = self._base(), self._states()
        connections = self._connection_ids()
        if not connections:
            return []
        if len(connections) * max(1, len(states)) > MAX_PARTITIONS:
            one = base.filter(connection_id__in=connections)
            return [one.filter(state__in=states) if states else one]
        if not states:
            return [base.filter(connection_id=c) for c in connections]
        return [base.filter(connection_id=c, state=s) for c in connections for s in states]

    def queryset(self):
        """All matching documents as one queryset (counts, id lists, aggregates; not for paging)."""
        parts = self.partitions()
        if not parts:
            return SyncDocument.objects.none()
        states = self._states()
        qs = self._base().filter(connection_id__in=self._connection_ids())
        return qs.filter(state__in=states) if states else qs

    def query_pairs(self) -> list[tuple[str, str]]:
        """The filter as (name, value) pairs: for links, hidden fields and the audit of a bulk retry."""
        pairs = []
        for name in self.fields:
            if name == "state":
                pairs.extend(("state", v) for v in self.data.getlist("state") if v)
            elif self.data.get(name):
                pairs.append((name, self.data.get(name)))
        return pairs

    # --- pages --------------------------------------------------------------------------------------------

    def page(self, *, after: str | None = None, before: str | None = None, size: int = PAGE_SIZE) -> Page:
        """The `size` rows after the cursor `after` (older), or before the cursor `before` (newer)."""
        parts = self.partitions()
        if not parts:
            return Page()
        if before:
            cursor = decode_cursor(before)
            if cursor is not None:
                rows = _fetch(parts, cursor, newer=True, limit=size + 1)
                if len(rows) > size:  # there are newer rows still
                    rows = list(reversed(rows[:size]))
                    return self._page(rows, prev=True, next_=True)
                # Back at the top: show a full first page rather than a short one.
            else:
                page = self.page(size=size)
                page.cursor_ignored = True
                return page
        cursor = decode_cursor(after)
        rows = _fetch(parts, cursor, newer=False, limit=size + 1)
        page = self._page(rows[:size], prev=cursor is not None, next_=len(rows) > size)
        page.cursor_ignored = bool(after) and cursor is None
        return page

    def _page(self, rows, *, prev: bool, next_: bool) -> Page:
        self.attach(rows)
        return Page(
            rows=rows,
            next_cursor=encode_cursor(rows[-1]) if next_ and rows else None,
            prev_cursor=encode_cursor(rows[0]) if prev and rows else None,
        )

    def iter_rows(self, chunk: int = 1000):
        """Every matching row in list order, never all in memory: each partition is read in keyset chunks
        of `chunk` rows, and the partitions are merged as they stream (every row is read once)."""

        def walk(part):
            cursor = None
            while True:
                rows = _fetch([part], cursor, newer=False, limit=chunk)
                self.attach(rows)
                yield from rows
                if len(rows) < chunk:
                    return
                cursor = (rows[-1].updated_at, rows[-1].pk)

        yield from heapq.merge(*(walk(p) for p in self.partitions()), key=_key, reverse=True)

    def attach(self, rows) -> None:
        """Accounts and connections from the form's own lists: no join, no query per row."""
        connections = {c.pk: c for c in self.connections}
        for row in rows:
            row.connection = connections[row.connection_id]
            if row.account_id in self.accounts:
                row.account = self.accounts[row.account_id]


class RetryFilterForm(DocumentFilterForm):
    """Bulk retry picks among documents waiting for a person: failed ones unless told otherwise."""

    states = (State.FAILED, State.BLOCKED)
    default_states = (State.FAILED,)


def _fetch(parts, cursor, *, newer: bool, limit: int) -> list:
    """Up to `limit` rows past the cursor from every partition, merged in list order (newest first), or
    oldest first when reading `newer` rows backwards from the cursor."""
    order = ("updated_at", "id") if newer else ("-updated_at", "-id")
    found = []
    for part in parts:
        qs = part.only(*LIST_FIELDS).order_by(*order)
        if cursor is not None:
            when, pk = cursor
            # The first condition alone is the index range; the second only drops the ties before the cursor.
            if newer:
                qs = qs.filter(updated_at__gte=when).filter(Q(updated_at__gt=when) | Q(id__gt=pk))
            else:
                qs = qs.filter(updated_at__lte=when).filter(Q(updated_at__lt=when) | Q(id__lt=pk))
        found.append(list(qs[:limit]))
    if len(found) == 1:
        return found[0]
    return list(islice(heapq.merge(*found, key=_key, reverse=not newer), limit))


def _key(row):
    return (row.updated_at, row.pk)
