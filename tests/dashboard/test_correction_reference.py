"""The agreement (or notice) reference a held correction waits for, entered on the document's page:
shown to those who may act, stored on the document, scoped to the tenant, refused when malformed."""

from syncjobs.models import SyncAttempt, SyncDocument
from tests.dashboard.test_logs import make_doc, signed_in, world  # noqa: F401 - fixture

WAITING = {"waiting_for": "correction_reference", "business": True}


def held(world):  # noqa: F811
    return make_doc(
        world["conn1"],
        world["acc_a"],
        1,
        state="blocked",
        kind="refund:77",
        result=dict(WAITING),
        last_error="Adjustment for the refund 77: enter the agreement's number and date.",
    )


def test_the_page_of_a_waiting_correction_asks_an_accountant_for_the_reference(world):  # noqa: F811
    doc = held(world)
    html = signed_in(world["accountant"]).get(f"/documents/{doc.pk}/").content.decode()
    assert f'action="/documents/{doc.pk}/reference/"' in html and 'name="csrfmiddlewaretoken"' in html
    assert 'name="text"' in html and 'name="date"' in html
    viewer = signed_in(world["viewer"]).get(f"/documents/{doc.pk}/").content.decode()
    assert "/reference/" not in viewer
    other = make_doc(world["conn1"], world["acc_a"], 2, state="blocked", kind="refund:78")
    assert "/reference/" not in signed_in(world["owner"]).get(f"/documents/{other.pk}/").content.decode()


def test_the_reference_is_stored_with_who_gave_it(world):  # noqa: F811
    doc = held(world)
    client = signed_in(world["accountant"])
    resp = client.post(
        f"/documents/{doc.pk}/reference/", {"text": " 01/2026/BBTT ", "date": "2026-11-21"}, follow=True
    )
    doc.refresh_from_db()
    who = "ke.toan@example.com"
    assert doc.correction_reference == {"text": "01/2026/BBTT", "date": "2026-11-21", "by": who}
    line = SyncAttempt.objects.get(document=doc, action="reference")
    assert "01/2026/BBTT" in line.message and "21/11/2026" in line.message
    assert "Agreement reference saved" in resp.content.decode()
    # It no longer waits for one once given and issued; asking again says so and changes nothing.
    SyncDocument.objects.filter(pk=doc.pk).update(state="queued")
    again = client.post(f"/documents/{doc.pk}/reference/", {"text": "02", "date": "2026-11-22"}, follow=True)
    assert "does not wait for an agreement reference" in again.content.decode()
    doc.refresh_from_db()
    assert doc.correction_reference["text"] == "01/2026/BBTT"


def test_a_malformed_reference_is_refused_with_the_form_again(world):  # noqa: F811
    doc = held(world)
    resp = signed_in(world["owner"]).post(f"/documents/{doc.pk}/reference/", {"text": "  ", "date": "21/11"})
    assert resp.status_code == 400
    assert resp.context["reference_form"].errors.keys() == {"text", "date"}
    doc.refresh_from_db()
    assert doc.correction_reference == {} and not SyncAttempt.objects.filter(action="reference").exists()


def test_only_an_accountant_of_the_tenant_may_give_it(world):  # noqa: F811
    doc = held(world)
    mine = {"text": "01", "date": "2026-11-21"}
    assert signed_in(world["viewer"]).post(f"/documents/{doc.pk}/reference/", mine).status_code == 403
    other = make_doc(
        world["conn_b"], world["acc_other"], 9, state="blocked", kind="refund:77", result=dict(WAITING)
    )
    assert signed_in(world["owner"]).post(f"/documents/{other.pk}/reference/", mine).status_code == 404
    assert signed_in(world["owner"]).get(f"/documents/{doc.pk}/reference/").status_code == 405
    for document in (doc, other):
        document.refresh_from_db()
        assert document.correction_reference == {}
