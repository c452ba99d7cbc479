"""Every object URL of another tenant is a 404, whatever the role."""

import pytest
from django.test import Client

from haravan.services import intake_order
from syncjobs.models import SyncDocument
from tests import factories


@pytest.fixture
def two_tenants(db):
    a, b = factories.tenant("A"), factories.tenant("B")
    conn_a = factories.connection(a, factories.shop(a, org_id="111"))
    conn_b = factories.connection(b, factories.shop(b, org_id="222"))
    intake_order("111", factories.order(1), trigger="test")
    intake_order("222", factories.order(2), trigger="test")
    return {
        "user_a": factories.user(a, email="a@example.com"),
        "conn_a": conn_a,
        "conn_b": conn_b,
        "doc_a": SyncDocument.objects.get(connection=conn_a),
        "doc_b": SyncDocument.objects.get(connection=conn_b),
    }


def signed_in(user):
    return factories.signed_in(user)


def test_own_objects_are_visible(two_tenants):
    client = signed_in(two_tenants["user_a"])
    assert client.get(f"/connections/{two_tenants['conn_a'].pk}/").status_code == 200
    page = client.get(f"/documents/{two_tenants['doc_a'].pk}/")
    assert page.status_code == 200 and "[MST 0101243150]" in page.content.decode()


@pytest.mark.parametrize("url", ["/connections/{conn_b.pk}/", "/documents/{doc_b.pk}/"])
def test_other_tenants_objects_are_404(two_tenants, url):
    client = signed_in(two_tenants["user_a"])
    assert client.get(url.format(**two_tenants)).status_code == 404


def test_overview_lists_only_own_documents(two_tenants):
    html = signed_in(two_tenants["user_a"]).get("/").content.decode()
    assert "#1" in html and "#2" not in html


def test_switching_to_a_tenant_without_membership_is_ignored(two_tenants):
    client = signed_in(two_tenants["user_a"])
    client.post("/tenant/switch/", {"tenant": two_tenants["conn_b"].tenant_id})
    assert client.get(f"/documents/{two_tenants['doc_b'].pk}/").status_code == 404


def test_credentials_are_never_rendered(two_tenants):
    html = signed_in(two_tenants["user_a"]).get(f"/connections/{two_tenants['conn_a'].pk}/").content.decode()
    assert "secret-pw" not in html and "password ••••" in html


def test_anonymous_is_sent_to_sign_in(two_tenants):
    resp = Client().get(f"/documents/{two_tenants['doc_a'].pk}/")
    assert resp.status_code == 302 and resp["Location"].startswith("/accounts/login/")
