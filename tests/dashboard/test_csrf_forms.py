"""Every form that posts carries the CSRF token, on every page and every htmx fragment the site serves.

The pages are found by walking the URLconf (a new page is covered without touching this test), their path
parameters filled with objects of a tenant that has one of everything, and each page is fetched as that
tenant's owner. The htmx fragments are the ones those pages load (their hx-get links), fetched as htmx
fetches them. A page that does not answer GET with HTML (POST only, a redirect, a download) is skipped and
counted; a dashboard page that answers with an error fails, as the test could not see its forms.
"""

import collections
import datetime as dt
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

from connectors.middleware import SESSION_KEY
from connectors.models import Membership
from syncjobs.models import ReconciledDay, SyncRun
from tests import factories
from tests.dashboard.test_logs import MST_A, MST_B, make_doc

# Django's own admin (staff only, Django's templates) is not ours to check.
SKIPPED_NAMESPACES = {"admin"}
# Fewer forms than this means pages went missing from the walk, not that the site lost its forms.
MIN_FORMS = 70
PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>\w+)>")


def routes(resolver, prefix="", namespace=""):
    """(route, namespace) of every URL pattern under `resolver`, includes followed."""
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(n for n in (namespace, entry.namespace) if n)
            yield from routes(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), namespace


def urls_for(route: str, objects: dict[str, list[int]]) -> list[str]:
    """The route with each path parameter filled by every object of the kind the segment before it names
    ("connections/<int:pk>/" takes each connection): one URL per combination."""
    if route.startswith("^") or "(?P<" in route:
        raise AssertionError(f"{route}: a regex route; teach this test how to fill it")
    urls = [""]
    rest = route
    while match := PARAMETER.search(rest):
        before = rest[: match.start()]
        kind = before.rstrip("/").rsplit("/", 1)[-1]
        if kind not in objects:
            raise AssertionError(
                f"/{route}: no test object for <{match['name']}> after '{kind}/': add one to the tenant below"
            )
        urls = [f"{url}{before}{pk}" for url in urls for pk in objects[kind]]
        rest = rest[match.end() :]
    return [f"/{url}{rest}" for url in urls]


class Forms(HTMLParser):
    """The forms of a page (with whether each holds a CSRF token input) and its htmx GET links."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self.hx_gets = [], []
        self._open = None

    def handle_starttag(self, tag, attrs):
        attrs = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._open = {"attrs": attrs, "line": self.getpos()[0], "csrf": False}
            self.forms.append(self._open)
        elif tag == "input" and self._open is not None and attrs.get("name") == "csrfmiddlewaretoken":
            self._open["csrf"] = attrs.get("type") == "hidden" and bool(attrs.get("value"))
        if attrs.get("hx-get"):
            self.hx_gets.append((attrs["hx-get"], attrs.get("hx-target", "")))

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


def describe(form: dict) -> str:
    attrs = form["attrs"]
    shown = " ".join(f'{k}="{attrs[k]}"' for k in ("id", "class", "action", "hx-post") if attrs.get(k))
    return f"<form {shown}> (line {form['line']})"


@pytest.fixture
def owner(db):
    """The owner of a tenant with one of everything a page may show a form for."""
    tenant = factories.tenant("A merchant")
    user = factories.user(tenant)
    other = factories.tenant("B merchant")  # a second merchant: the switcher form
    Membership.objects.create(user=user, tenant=other, role=Membership.Role.VIEWER)
    shop = factories.shop(tenant, org_id="200000001")  # a private-app token: the replace-token form
    conn = factories.connection(tenant, shop, accounts=(MST_A, MST_B))
    with_documents, without = conn.accounts.get(external_id=MST_A), conn.accounts.get(external_id=MST_B)
    rule = factories.rule(conn, "location", "1002", MST_B)
    failed = make_doc(conn, with_documents, 1, state="failed", attempts=8, last_error="HTTP 503")
    draft = make_doc(conn, with_documents, 2, state="draft", payload={"RefID": "x"})
    done = make_doc(conn, with_documents, 3, state="done")
    SyncRun.objects.create(connection=conn, kind=SyncRun.Kind.MANUAL, status=SyncRun.Status.DONE)
    retry = SyncRun.objects.create(connection=conn, kind=SyncRun.Kind.RETRY, created_by=user)
    # Queued for ten minutes: its page offers to send it to a worker again.
    SyncRun.objects.filter(pk=retry.pk).update(created_at=timezone.now() - dt.timedelta(minutes=10))
    # A checked day of each account that differs, naming the failed document: its page offers a retry.
    day = timezone.localdate() - dt.timedelta(days=1)
    for account in (with_documents, without):
        missing = {
            "kind": "missing",
            "source": "#1",
            "target_document": None,
            "detail": "x",
            "document_id": failed.pk,
        }
        ReconciledDay.objects.create(
            tenant=tenant, connection=conn, account=account, day=day, differences=[missing], matches=False
        )
    objects = {
        "connections": [conn.pk],
        "days": [day.isoformat()],
        "accounts": [with_documents.pk, without.pk],
        "rules": [rule.pk],
        "documents": [failed.pk, draft.pk, done.pk],
        "runs": [retry.pk],  # a run's progress, and a bulk retry's page (which shows only those)
        "setup": ["refresh"],  # an action of an account's setup page (POST only)
    }
    return user, tenant, objects


def in_dashboard(url: str) -> bool:
    return resolve(urlsplit(url).path).namespace.split(":")[0] == "dashboard"


def test_every_post_form_on_every_page_carries_the_csrf_token(owner, sandbox):
    user, tenant, objects = owner
    client = factories.signed_in(user)
    session = client.session
    session[SESSION_KEY] = tenant.pk  # the tenant with one of everything, not the one they only view
    session.save()

    pages = [
        (url, {})
        for route, namespace in routes(get_resolver())
        if namespace.split(":")[0] not in SKIPPED_NAMESPACES
        for url in urls_for(route, objects)
    ]
    dashboard_pages = [url for url, _ in pages if in_dashboard(url)]
    assert len(dashboard_pages) >= 30, f"the walk found only these dashboard pages: {dashboard_pages}"

    seen, checked, skipped, missing, errors = set(), collections.Counter(), collections.Counter(), [], []
    while pages:
        url, headers = pages.pop(0)
        if (url, tuple(headers.items())) in seen:
            continue
        seen.add((url, tuple(headers.items())))
        what = f"GET {url}" + (f" (htmx, target #{headers.get('HTTP_HX_TARGET', '')})" if headers else "")
        response = client.get(url, **headers)
        status = response.status_code
        if status == 405:
            skipped["does not answer GET"] += 1
        elif 300 <= status < 400:
            skipped["redirects"] += 1
        elif status != 200 and not in_dashboard(url):  # Haravan's endpoints need what Haravan sends
            skipped[f"outside the dashboard, answers {status} to a bare GET"] += 1
        elif status != 200:
            errors.append(f"{what} answered {status}")
        elif not response["Content-Type"].startswith("text/html"):
            skipped["not an HTML page"] += 1
        else:
            parser = Forms()
            parser.feed(response.content.decode())
            for form in parser.forms:
                if form["attrs"].get("method", "get").lower() == "post":
                    checked[what] += 1
                    if not form["csrf"]:
                        missing.append(f"{what}: {describe(form)} has no csrfmiddlewaretoken input")
            for link, target in parser.hx_gets:  # the fragments this page loads, asked for as htmx asks
                fragment = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": f"http://testserver{url}"}
                if target.startswith("#"):
                    fragment["HTTP_HX_TARGET"] = target[1:]
                if not urlsplit(urljoin(url, link)).netloc:
                    pages.append((urljoin(url, link), fragment))

    assert not errors, "pages the test could not read:\n" + "\n".join(errors)
    assert not missing, "forms without the CSRF token:\n" + "\n".join(missing)
    summary = f"{sum(checked.values())} forms checked: {dict(checked)}; skipped: {dict(skipped)}"
    assert sum(checked.values()) >= MIN_FORMS, summary
    assert any("(htmx" in what for what in checked), f"no htmx fragment with a form was checked: {summary}"
