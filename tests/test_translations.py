"""Vietnamese first, Swedish as well: each committed catalogue is complete and compiled, pages speak
Vietnamese by default and Swedish or English when the person picks it in the header."""

import gettext
import json

import polib
import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from tests import factories

# Every language offered but English (the message ids are English) has its own complete catalogue.
TRANSLATED = [code for code, _name in settings.LANGUAGES if code != "en"]


@pytest.fixture(autouse=True)
def _the_default_language_afterwards():
    """The language middleware activates the reader's language on the test's thread and leaves it there:
    put the default back, so that a test run after these does not read Swedish."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def catalogue(language):
    return settings.BASE_DIR / "locale" / language / "LC_MESSAGES"


def test_the_header_offers_vietnamese_english_and_swedish_vietnamese_first():
    assert [code for code, _name in settings.LANGUAGES] == ["vi", "en", "sv"]
    assert settings.LANGUAGE_CODE == "vi" and TRANSLATED == ["vi", "sv"]


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_text_is_translated_and_the_compiled_catalogue_matches(language):
    po = polib.pofile(str(catalogue(language) / "django.po"))
    assert po.untranslated_entries() == [] and po.fuzzy_entries() == []
    assert po.metadata["Language"] == language
    with open(catalogue(language) / "django.mo", "rb") as fh:
        mo = gettext.GNUTranslations(fh)
    for entry in po.translated_entries():
        if entry.msgid_plural:
            for n, text in entry.msgstr_plural.items():
                assert mo.ngettext(entry.msgid, entry.msgid_plural, 1 if n == 0 else 2) == text, entry.msgid
        elif entry.msgctxt:
            assert mo.pgettext(entry.msgctxt, entry.msgid) == entry.msgstr, entry.msgid
        else:
            assert mo.gettext(entry.msgid) == entry.msgstr, entry.msgid


def test_the_catalogues_translate_the_same_texts_with_the_same_placeholders():
    """Swedish says everything Vietnamese says (and nothing it does not), and every translation keeps each
    placeholder of its English text: a lost %(order)s would fail only when that message is shown."""
    import re

    placeholder = re.compile(r"%\([a-z_]+\)s|%s|%%|\{[a-z_]+\}")
    catalogues = {language: polib.pofile(str(catalogue(language) / "django.po")) for language in TRANSLATED}
    ids = {language: {(e.msgctxt, e.msgid) for e in po} for language, po in catalogues.items()}
    assert ids["vi"] <= ids["sv"], sorted(ids["vi"] - ids["sv"])
    for entry in catalogues["sv"]:
        if entry.msgid_plural:
            texts = [(entry.msgid_plural, text) for text in entry.msgstr_plural.values()]
        else:
            texts = [(entry.msgid, entry.msgstr)]
        for english, swedish in texts:
            assert set(placeholder.findall(swedish)) == set(placeholder.findall(english)), entry.msgid
        assert all(text.strip() for _english, text in texts), entry.msgid
        assert not entry.previous_msgid, entry.msgid  # no "#| " leftovers of an older id


def test_pages_are_vietnamese_by_default_and_english_on_request(db):
    user = factories.user(factories.tenant())
    client = Client()
    client.force_login(user)
    assert "Tổng quan" in client.get("/").content.decode()
    assert "Tổng quan" in client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en").content.decode()  # not a choice
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert ">Overview<" in client.get("/").content.decode()
    with translation.override("vi"):
        assert translation.gettext("Overview") == "Tổng quan"


def test_the_header_switches_between_vi_en_and_sv_and_swedish_is_remembered(db):
    user = factories.user(factories.tenant())
    client = Client()
    client.force_login(user)
    header = client.get("/").content.decode()
    for code, name in (("vi", "Tiếng Việt"), ("en", "English"), ("sv", "Svenska")):
        assert f'name="language" value="{code}"' in header
        assert f'title="{name}">{code.upper()}</button>' in header
    assert "Tổng quan" in client.get("/", HTTP_ACCEPT_LANGUAGE="sv-SE,sv").content.decode()  # not a choice
    client.post("/i18n/setlang/", {"language": "sv", "next": "/"})
    page = client.get("/")
    html = page.content.decode()
    assert page.headers["Content-Language"] == "sv" and '<html lang="sv">' in html
    assert ">Översikt<" in html and "Tổng quan" not in html and ">Overview<" not in html
    assert "Översikt" in client.get("/", HTTP_ACCEPT_LANGUAGE="vi,en").content.decode()
    client.post("/i18n/setlang/", {"language": "vi", "next": "/"})
    assert "Tổng quan" in client.get("/").content.decode()
    with translation.override("sv"):
        assert translation.gettext("Overview") == "Översikt"
        assert translation.ngettext("%(counter)s routing rule", "%(counter)s routing rules", 2) == (
            "%(counter)s routningsregler"
        )


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_text_a_screen_renders_is_in_the_catalogue(language, db, sandbox, monkeypatch):
    """Render every screen (and the CSV export and an alert e-mail) in each translated language over
    documents of every kind and state a story makes, and record each message id looked up: one missing
    from the catalogue is an English label on a Vietnamese or Swedish page, which fails here (a label
    built at run time included)."""
    from django.core import mail
    from django.urls import reverse
    from django.utils.translation import trans_real

    from connectors.models import License
    from syncjobs import alerts
    from syncjobs.models import SyncDocument, SyncRun
    from tests import contracts

    missing: set[str] = set()
    translated = trans_real.translation(language)
    messages = translated._catalog

    def recording(name, method):
        def lookup(*args):
            if name == "pgettext":
                key = shown = f"{args[0]}\x04{args[1]}"
            elif name == "ngettext":
                key, shown = (args[0], 0), args[0]
            else:
                key = shown = args[0]
            if shown and key not in messages:
                missing.add(shown)
            return method(*args)

        return lookup

    for name in ("gettext", "ngettext", "pgettext"):
        monkeypatch.setattr(translated, name, recording(name, getattr(translated, name)), raising=False)

    tenant = factories.tenant("Cửa hàng")
    License.objects.get_or_create(
        tenant=tenant, family="haravan_to_meinvoice", defaults={"expires_at": "2099-01-01T00:00Z"}
    )
    make_connection, story = contracts.TARGET_STORIES["meinvoice"]
    connection = make_connection(tenant)
    documents = story(connection, sandbox)
    held = documents[0]
    SyncDocument.objects.filter(pk=held.pk).update(state="blocked")  # "needs a person" on the overview
    run = SyncRun.objects.create(connection=connection, kind="manual", status="done", total=1, processed=1)
    owner = factories.user(tenant, email="chu@cuahang.vn")
    client = factories.signed_in(owner, language=language)
    pages = [*contracts.screens(connection, documents), reverse("dashboard:run_progress", args=[run.pk])]
    reconciliation_pages, exports = reconciliation_screens(connection, held)
    pages += reconciliation_pages
    for url in pages:
        assert client.get(url).status_code == 200, url
    example = contracts.haravan_example(sandbox)
    assert (
        client.post(
            reverse("dashboard:mapping_preview", args=[connection.pk]), {"order_json": json.dumps(example)}
        ).status_code
        == 200
    )
    b"".join(client.get(reverse("dashboard:logs_export")).streaming_content)
    for url in exports:
        b"".join(client.get(url).streaming_content)
    connection.alert_email, connection.alert_language = "ketoan@cuahang.vn", language
    connection.save()
    assert alerts.send_digests() == 1 and mail.outbox
    # Django's own "…" after a truncated text (its Vietnamese catalogue lacks it; it reads the same anyway).
    missing.discard("String to return when truncating text\x04%(truncated_text)s…")
    assert missing == set(), f"rendered without a {language} translation: {sorted(missing)}"
    if language == "sv":
        assert "Översikt" in client.get(reverse("dashboard:overview")).content.decode()


def reconciliation_screens(connection, document) -> tuple[list[str], list[str]]:
    """Checked days of the connection's account with every kind of difference, stock too, one that matches
    and one that could not be checked: (the calendar and the day's page, their CSVs); the digest follows."""
    import datetime as dt

    from django.urls import reverse
    from django.utils import timezone

    from connectors.text import Text, stored
    from syncjobs.models import ReconciledDay

    account = connection.accounts.order_by("-is_default", "pk").first()
    day = timezone.localdate() - dt.timedelta(days=1)
    common = {"tenant": connection.tenant, "connection": connection, "account": account}
    kinds = ("missing", "duplicated", "amount", "waiting", "refused")
    ReconciledDay.objects.create(
        **common,
        day=day,
        differences=[
            {"kind": k, "source": "#1", "target_document": None, "detail": "x", "document_id": document.pk}
            for k in kinds
        ],
        unexpected=[{"source": "#2", "document": "C26TAA-1", "amount": "1000"}],
        stock_differences=[{"sku": "AT-01", "place": "Kho", "source": "2", "target": "1"}],
    )
    ReconciledDay.objects.create(**common, day=day - dt.timedelta(days=1), matches=True, confirmed_count=1)
    error, error_text = stored(Text("meInvoice refused the invoice: %(detail)s", detail="HTTP 503"))
    ReconciledDay.objects.create(**common, day=day - dt.timedelta(days=2), error=error, error_text=error_text)
    month, args = f"?month={day:%Y-%m}", [connection.pk, account.pk, day]
    return [
        f"{reverse('dashboard:reconciliation', args=[connection.pk])}{month}",
        reverse("dashboard:reconciliation_day", args=args),
    ], [
        f"{reverse('dashboard:reconciliation_export', args=[connection.pk])}{month}",
        reverse("dashboard:reconciliation_day_export", args=args),
    ]
